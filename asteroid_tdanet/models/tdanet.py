"""TDANet (Li, Yang & Hu, ICLR 2023) as an Asteroid encoder-masker-decoder model."""

from typing import Optional

import torch
import torch.nn.functional as F
from asteroid.models.base_models import (
    BaseEncoderMaskerDecoder,
    _shape_reconstructed,
    _unsqueeze_to_3d,
)
from asteroid.utils.torch_utils import jitable_shape, pad_x_to_y
from asteroid_filterbanks import Decoder, Encoder, FreeFB

from ..filterbanks import JointFreeFB
from ..masknn.tdanet_masker import TDANetMasker
from ..version import __version__

DEFAULT_KERNEL_MS = 4.0


def kernel_from_ms(kernel_ms: float, sample_rate: float) -> int:
    """Encoder window in samples for a window in milliseconds (the released rounding)."""
    return int(kernel_ms * sample_rate // 1000)


class TDANet(BaseEncoderMaskerDecoder):
    """TDANet: free encoder, :class:`TDANetMasker`, free decoder.

    Args:
        n_src (int): number of sources.
        sample_rate (float): sample rate of the model's input and outputs.
        kernel_size (int, optional): encoder window ``K`` in samples; default 4 ms.
        stride (int, optional): encoder hop; default ``K // 4``.
        n_filters (int, optional): encoder basis count ``F``; default ``K // 2 + 1``.
        bn_chan, hid_chan, n_blocks, upsampling_depth, n_heads, dropout, drop_path, norm_type,
        causal, use_ga, use_la, mask_act: see :class:`TDANetMasker`.
        official_compat (bool): reproduce the released look2hear model exactly: frame-local
            attention, its top-down skip wiring, its joint decoder (all sources' features feed
            every output) and its waveform padding/cropping. Default ``False`` (the paper's
            model: attention over time, batch-independent, per-source shared decoder).
        encoder_activation (str, optional): activation after the encoder (none, as released).

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
    ``(n_src, time)`` for 1D input, else ``(batch, n_src, time)``; output length = input length.
    """

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: float = 16000,
        kernel_size: Optional[int] = None,
        stride: Optional[int] = None,
        n_filters: Optional[int] = None,
        bn_chan: int = 128,
        hid_chan: int = 512,
        n_blocks: int = 16,
        upsampling_depth: int = 5,
        n_heads: int = 8,
        dropout: float = 0.1,
        drop_path: float = 0.1,
        norm_type: str = "gLN",
        causal: bool = False,
        use_ga: bool = True,
        use_la: bool = True,
        official_compat: bool = False,
        mask_act: str = "relu",
        encoder_activation: Optional[str] = None,
    ):
        kernel_size = kernel_size or kernel_from_ms(DEFAULT_KERNEL_MS, sample_rate)
        stride = stride or kernel_size // 4
        n_filters = n_filters or kernel_size // 2 + 1
        if kernel_size < 2 or stride < 1 or stride > kernel_size:
            raise ValueError(f"Invalid encoder: kernel_size={kernel_size}, stride={stride}.")
        enc_fb = FreeFB(n_filters, kernel_size, stride, sample_rate=sample_rate)
        if official_compat:
            encoder = Encoder(enc_fb, padding=kernel_size // 2)
            dec_fb = JointFreeFB(n_filters, kernel_size, stride, n_src, sample_rate=sample_rate)
            decoder = Decoder(dec_fb, padding=kernel_size // 2)
        else:
            encoder = Encoder(enc_fb)
            decoder = Decoder(FreeFB(n_filters, kernel_size, stride, sample_rate=sample_rate))
        masker = TDANetMasker(
            n_filters,
            n_src,
            bn_chan=bn_chan,
            hid_chan=hid_chan,
            n_blocks=n_blocks,
            upsampling_depth=upsampling_depth,
            n_heads=n_heads,
            dropout=dropout,
            drop_path=drop_path,
            norm_type=norm_type,
            causal=causal,
            use_ga=use_ga,
            use_la=use_la,
            official_compat=official_compat,
            mask_act=mask_act,
        )
        super().__init__(encoder, masker, decoder, encoder_activation=encoder_activation)
        self.n_src = n_src

    # ------------------------------------------------------------------ forward
    def _padding(self, n_samples: int):
        """Zeros added before/after the waveform so that every sample is covered by full
        overlap-add (and, in compat mode, exactly the released amounts)."""
        k, s = self.encoder.filterbank.kernel_size, self.encoder.filterbank.stride
        if self.masker.official_compat:
            rest = k - (s + n_samples % k) % k
            return k - s, rest + k - s
        return k - s, k - s + (-(n_samples + k)) % s

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """Separate ``wav`` (1D, 2D or 3D, time last) into ``n_src`` waveforms of equal length."""
        shape = jitable_shape(wav)
        wav = _unsqueeze_to_3d(wav)
        if wav.shape[1] != 1:
            raise ValueError(f"TDANet takes single-channel audio, got {wav.shape[1]} channels.")
        n_samples = wav.shape[-1]
        left, right = self._padding(n_samples)
        padded = F.pad(wav, (left, right))

        tf_rep = self.forward_encoder(padded)
        masks = self.forward_masker(tf_rep)
        decoded = self.forward_decoder(self.apply_masks(tf_rep, masks))

        decoded = decoded[..., left : decoded.shape[-1] - right]
        reconstructed = pad_x_to_y(decoded, wav)
        return _shape_reconstructed(reconstructed, shape)

    # ------------------------------------------------------------- (de)serialise
    def get_model_args(self) -> dict:
        """Constructor arguments (round-trip through :meth:`serialize` / ``from_pretrained``)."""
        fb = self.encoder.filterbank
        return dict(
            sample_rate=fb.sample_rate,
            kernel_size=fb.kernel_size,
            stride=fb.stride,
            n_filters=fb.n_filters,
            **self.masker.get_config(),
            encoder_activation=self.encoder_activation,
        )

    def serialize(self) -> dict:
        """Asteroid's package dict, loadable with ``torch.load(weights_only=True)``.

        Asteroid stores ``torch.__version__`` (a ``TorchVersion`` object that a safe load
        rejects unless allow-listed); it is stored here as a plain string.
        """
        package = super().serialize()
        versions = package["infos"]["software_versions"]
        versions["torch_version"] = str(versions["torch_version"])
        versions["asteroid_tdanet_version"] = __version__
        return package

    @classmethod
    def from_pretrained(cls, pretrained, *args, **kwargs) -> "TDANet":
        """Load a model from a package dict, a file, or a Hugging Face hub id.

        Args:
            pretrained (str | os.PathLike | dict): one of

                * a dict or file written by :meth:`serialize` (``best_model.pth``,
                  ``pytorch_model.bin`` of our recipes),
                * a released look2hear ``TDANetBest`` file or dict (detected by its layout;
                  loaded with ``official_compat=True``),
                * a hub id ``user/repo`` or ``user/repo@revision``, resolved with
                  ``huggingface_hub`` (its cache is used, so it works offline once cached).
            revision, cache_dir, local_files_only, filename: passed to the hub download.
            **kwargs: other keyword arguments override the stored model arguments
                (e.g. ``dropout=0.0``).

        Files are read with ``torch.load(weights_only=True)`` and an explicit allow-list.
        """
        from ..checkpoints import load_package

        hub_keys = ("revision", "cache_dir", "local_files_only", "filename")
        hub_kwargs = {k: kwargs.pop(k) for k in hub_keys if k in kwargs}
        package = load_package(pretrained, **hub_kwargs)
        if package["model_name"] != cls.__name__:
            raise ValueError(
                f"{pretrained!r} holds a {package['model_name']!r} model, not {cls.__name__}."
            )
        model = cls(*args, **{**package["model_args"], **kwargs})
        model.load_state_dict(package["state_dict"])
        return model

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "TDANet":
        """Build a named configuration, see :data:`asteroid_tdanet.models.presets.PRESETS`."""
        from .presets import preset_args

        return cls(**preset_args(name, **overrides))
