"""Encoder / masker / decoder on a free (or STFT) filterbank with the look2hear conventions.

TDANet and S4M share this front and back end: a learned 1D convolutional encoder (window
``K``, hop ``K // 4``, ``K // 2 + 1`` filters by default), the masks applied to its output, and
a learned transposed convolution. With ``official_compat`` the released code's two
conventions are chosen instead, once, here: its joint decoder (every output source reads all
sources' masked features) and its waveform padding. ``fb_name="stft"`` puts a fixed STFT
(real and imaginary parts, as Asteroid's ``fb_name="stft"`` models) in place of the learned
filters: far fewer frames than a 4 ms free encoder, so a small model learns faster on a CPU;
``mask_domain="magnitude"`` then masks its magnitudes (see :mod:`.mask_domains`).
"""

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from asteroid.models.base_models import _shape_reconstructed, _unsqueeze_to_3d
from asteroid.utils.torch_utils import jitable_shape, pad_x_to_y
from asteroid_filterbanks import Decoder, Encoder, FreeFB, STFTFB
from torch import nn

from ..filterbanks import JointFreeFB
from ..utils.waveform import any_sample_format
from .base import SeparationModel
from .mask_domains import get_mask_domain
from .presets import kernel_from_ms


# Filterbanks the encoder and decoder may use (asteroid-filterbanks classes).
FILTERBANKS = {"free": FreeFB, "stft": STFTFB}


def encoder_geometry(
    sample_rate: float,
    kernel_size: Optional[int],
    stride: Optional[int],
    n_filters: Optional[int],
    default_ms: float,
    fb_name: str = "free",
) -> Tuple[int, int, int]:
    """``(kernel_size, stride, n_filters)`` with the released defaults filled in (for the
    STFT, ``n_filters`` is the FFT size, ``kernel_size`` by default).

    The STFT's FFT size must be even, and ``default_ms`` is not a whole even number of
    samples at every rate (64 ms: 1,411.2 samples at 22.05 kHz, 705.6 at 11.025 kHz): the
    default STFT window is rounded up to an even length (1,412; at 8, 16, 44.1 and 48 kHz it
    is even already and unchanged), and an odd window given in samples gets the next even FFT
    size by default (one sample of zero padding), so that every sample rate builds.
    """
    if fb_name not in FILTERBANKS:
        raise ValueError(f"Unknown fb_name {fb_name!r}; choose one of {sorted(FILTERBANKS)}.")
    if not kernel_size:
        kernel_size = kernel_from_ms(default_ms, sample_rate)
        if fb_name == "stft":
            kernel_size += kernel_size % 2
    stride = stride or kernel_size // 4
    if not n_filters:
        n_filters = kernel_size // 2 + 1 if fb_name == "free" else kernel_size + kernel_size % 2
    if kernel_size < 2 or stride < 1 or stride > kernel_size:
        raise ValueError(f"Invalid encoder: kernel_size={kernel_size}, stride={stride}.")
    return kernel_size, stride, n_filters


def make_filterbank(fb_name: str, n_filters: int, kernel_size: int, stride: int, sample_rate):
    """The ``fb_name`` filterbank (``n_feats_out`` channels: see :func:`n_features`)."""
    return FILTERBANKS[fb_name](n_filters, kernel_size, stride, sample_rate=sample_rate)


def n_features(
    fb_name: str,
    n_filters: int,
    kernel_size: int,
    stride: int,
    sample_rate,
    mask_domain: str = "coefficients",
) -> int:
    """Channels the masker reads and masks: ``n_filters`` for ``free``; for the STFT,
    ``n_filters + 2`` real and imaginary parts, or ``n_filters // 2 + 1`` bins with
    ``mask_domain="magnitude"``. Without building a free filterbank, whose random init would
    shift the random stream the model's weights are drawn from."""
    domain = get_mask_domain(mask_domain, fb_name)
    if fb_name == "free":
        return n_filters
    fb = make_filterbank(fb_name, n_filters, kernel_size, stride, sample_rate)
    return domain.n_features(fb.n_feats_out)


def centred_padding(n_samples: int, kernel: int, stride: int) -> Tuple[int, int]:
    """Zeros before/after the waveform so that every sample is covered by full overlap-add."""
    return kernel - stride, kernel - stride + (-(n_samples + kernel)) % stride


def released_padding(n_samples: int, kernel: int, stride: int) -> Tuple[int, int]:
    """The released look2hear ``pad_input`` amounts (``rest`` zeros, then ``K - S`` each side)."""
    rest = kernel - (stride + n_samples % kernel) % kernel
    return kernel - stride, rest + kernel - stride


class FreeFilterbankModel(SeparationModel):
    """Encoder-masker-decoder on free filterbanks; subclasses supply the masker.

    Args:
        masker (nn.Module): ``(batch, n_filters, frames) -> (batch, n_src, n_filters, frames)``.
        n_src (int): number of sources.
        sample_rate (float): sample rate of inputs and outputs.
        kernel_size, stride, n_filters (int): encoder geometry (see :func:`encoder_geometry`).
        official_compat (bool): released joint decoder and padding (see module docstring).
        encoder_activation (str, optional): activation after the encoder.
        fb_name (str): ``free`` (learned, default) or ``stft`` (fixed STFT, real and
            imaginary parts masked; not with ``official_compat``).
        mask_domain (str): what the masker sees and masks (:data:`.mask_domains.MASK_DOMAINS`):
            ``coefficients`` (default: the encoder's outputs) or, with ``fb_name="stft"``,
            ``magnitude`` (log-magnitude in, one mask per bin).

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
    ``(n_src, time)`` for 1D input, else ``(batch, n_src, time)``; output length = input length.
    """

    def __init__(
        self,
        masker: nn.Module,
        *,
        n_src: int,
        sample_rate: float,
        kernel_size: int,
        stride: int,
        n_filters: int,
        official_compat: bool = False,
        encoder_activation: Optional[str] = None,
        fb_name: str = "free",
        mask_domain: str = "coefficients",
    ):
        self.mask_domain = mask_domain
        self._domain = get_mask_domain(mask_domain, fb_name)
        if official_compat and fb_name != "free":
            raise ValueError(
                "The released models use free filterbanks: official_compat "
                f"excludes fb_name={fb_name!r}."
            )
        enc_fb = make_filterbank(fb_name, n_filters, kernel_size, stride, sample_rate)
        if official_compat:
            encoder = Encoder(enc_fb, padding=kernel_size // 2)
            dec_fb = JointFreeFB(n_filters, kernel_size, stride, n_src, sample_rate=sample_rate)
            decoder = Decoder(dec_fb, padding=kernel_size // 2)
        else:
            encoder = Encoder(enc_fb)
            decoder = Decoder(make_filterbank(fb_name, n_filters, kernel_size, stride, sample_rate))
        self.fb_name = fb_name
        super().__init__(encoder, masker, decoder, encoder_activation=encoder_activation)
        self.n_src = n_src
        self.official_compat = official_compat
        self._padding = released_padding if official_compat else centred_padding

    @any_sample_format
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """Separate ``wav`` (1D, 2D or 3D, time last) into ``n_src`` waveforms of equal length.

        Any sample format is accepted (:func:`~asteroid_tdanet.utils.waveform.any_sample_format`:
        floats cast to the model's dtype and back, integer PCM scaled to ``[-1, 1)``).
        """
        return self._separate(wav)

    def forward_masker(self, tf_rep: torch.Tensor) -> torch.Tensor:
        """Masks ``(batch, n_src, n_features, frames)`` from the encoder's output."""
        return self.masker(self._domain.features(tf_rep))

    def apply_masks(self, tf_rep: torch.Tensor, est_masks: torch.Tensor) -> torch.Tensor:
        """The encoder's output ``(batch, C, frames)`` masked per source."""
        return self._domain.apply(tf_rep, est_masks)

    def _separate(self, wav: torch.Tensor) -> torch.Tensor:
        shape = jitable_shape(wav)
        wav = _unsqueeze_to_3d(wav)
        if wav.shape[1] != 1:
            raise ValueError(
                f"{type(self).__name__} takes single-channel audio, got {wav.shape[1]} channels."
            )
        fb = self.encoder.filterbank
        left, right = self._padding(wav.shape[-1], fb.kernel_size, fb.stride)
        padded = F.pad(wav, (left, right))

        tf_rep = self.forward_encoder(padded)
        masks = self.forward_masker(tf_rep)
        decoded = self.forward_decoder(self.apply_masks(tf_rep, masks))

        decoded = decoded[..., left : decoded.shape[-1] - right]
        reconstructed = pad_x_to_y(decoded, wav)
        return _shape_reconstructed(reconstructed, shape)

    def encoder_args(self) -> dict:
        """The constructor arguments this class handles (for ``get_model_args``)."""
        fb = self.encoder.filterbank
        return dict(
            n_src=self.n_src,
            sample_rate=fb.sample_rate,
            kernel_size=fb.kernel_size,
            stride=fb.stride,
            n_filters=fb.n_filters,
            official_compat=self.official_compat,
            encoder_activation=self.encoder_activation,
            fb_name=self.fb_name,
            mask_domain=self.mask_domain,
        )
