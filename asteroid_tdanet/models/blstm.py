"""uPIT-BLSTM (Kolbaek et al. 2017): STFT magnitude masks from stacked bidirectional LSTMs."""

from typing import Optional

from .base import constructor_args
from .free_filterbank import FreeFilterbankModel, encoder_geometry, n_features
from ..masknn.blstm_masker import BLSTMMasker

# Constructor arguments of the filterbank (FreeFilterbankModel); the rest are the masker's.
ENCODER_ARGS = ("n_src", "sample_rate", "kernel_size", "stride", "n_filters", "fb_name")


class BLSTMNet(FreeFilterbankModel):
    """STFT, :class:`~asteroid_tdanet.masknn.blstm_masker.BLSTMMasker`, inverse STFT.

    uPIT-BLSTM: the masker reads the log-magnitude ``log |X(f, t)|`` of a fixed STFT and
    gives each source a mask per bin, ``S_i(f, t) = M_i(f, t) X(f, t)`` with the mixture's
    phase (``mask_domain="magnitude"``; ``coefficients`` masks the real and imaginary parts
    instead), trained with utterance-level PIT. The 64 ms window and 16 ms hop by default are
    those ``benchmarks/mini_budget_sweep`` found best for small magnitude-mask models; the
    ``blstm-mini`` preset hops 32 ms: half the frames, so a CPU fits about 1.5x the training
    steps in a fixed time, which scored higher on real speech (README, the mini set).

    Args:
        n_src (int): number of sources.
        sample_rate (float): sample rate of inputs and outputs.
        kernel_size (int, optional): STFT window in samples; default 64 ms, rounded up to an
            even number of samples (the FFT size must be even: 512 at 8 kHz, 1,024 at 16 kHz,
            1,412 at 22.05 kHz), so that any sample rate builds.
        stride (int, optional): hop; default ``kernel_size // 4``.
        n_filters (int, optional): FFT size; default ``kernel_size`` (plus one when it is odd).
        hidden (int): LSTM units per direction.
        n_layers (int): stacked LSTM layers.
        dropout (float): dropout between LSTM layers.
        causal (bool): forward LSTMs and a causal input norm: a frame's masks depend on past
            frames only (the STFT window still reaches ``kernel_size - stride`` samples ahead).
        norm_type (str, optional): input norm; ``gLN`` (``cLN`` when causal) by default.
        mask_act (str): ``sigmoid`` or ``relu``.
        fb_name (str): ``stft`` (fixed; default) or ``free`` (learned, coefficients only).
        mask_domain (str): ``magnitude`` (default) or ``coefficients``.

    Shape: ``(time,)``, ``(batch, time)`` or ``(batch, 1, time)`` ->
    ``(n_src, time)`` for 1D input, else ``(batch, n_src, time)``; output length = input length.
    """

    default_kernel_ms = 64.0
    preset_prefix = "blstm"
    default_preset = "blstm"
    paper = dict(
        cite='uPIT-BLSTM (Kolbaek, Yu, Tan & Jensen, "Multitalker speech separation with '
        'utterance-level permutation invariant training of deep recurrent neural networks", '
        "IEEE/ACM TASLP 2017)",
        arxiv="1703.06284",
        authors="uPIT by Morten Kolbaek, Dong Yu, Zheng-Hua Tan, Jesper Jensen",
    )

    def __init__(
        self,
        n_src: int = 2,
        sample_rate: float = 8000,
        kernel_size: Optional[int] = None,
        stride: Optional[int] = None,
        n_filters: Optional[int] = None,
        *,
        hidden: int = 128,
        n_layers: int = 2,
        dropout: float = 0.0,
        causal: bool = False,
        norm_type: Optional[str] = None,
        mask_act: str = "sigmoid",
        fb_name: str = "stft",
        mask_domain: str = "magnitude",
    ):
        args = constructor_args(locals())
        kernel_size, stride, n_filters = encoder_geometry(
            sample_rate, kernel_size, stride, n_filters, self.default_kernel_ms, fb_name
        )
        feats = n_features(fb_name, n_filters, kernel_size, stride, sample_rate, mask_domain)
        masker = BLSTMMasker(
            feats,
            n_src,
            hidden=hidden,
            n_layers=n_layers,
            dropout=dropout,
            causal=causal,
            norm_type=norm_type,
            mask_act=mask_act,
        )
        super().__init__(
            masker,
            n_src=n_src,
            sample_rate=sample_rate,
            kernel_size=kernel_size,
            stride=stride,
            n_filters=n_filters,
            fb_name=fb_name,
            mask_domain=mask_domain,
        )
        self._config = {k: v for k, v in args.items() if k not in ENCODER_ARGS + ("mask_domain",)}

    def get_model_args(self) -> dict:
        """Constructor arguments (round-trip through :meth:`serialize` / ``from_pretrained``)."""
        args = self.encoder_args()
        for name in ("official_compat", "encoder_activation"):  # not options of this model
            args.pop(name)
        return {**args, **self._config}
