"""S4 state-space layer as a sequence mixer (S4M, Chen et al., Interspeech 2023)."""

import math

import torch
from torch import nn

from ..ssm import S4Layer
from .base import SequenceMixer


class S4Mixer(SequenceMixer):
    """``S4(LayerNorm(x))`` over channels (``s4``): S4M's ``s4`` residual block without its skip.

    As S4M uses it: full S4 (NPLR kernel, HiPPO-LegS, ``state_size`` N = 16), bidirectional,
    GELU, 1x1 conv + GLU, ``D`` skip, computed as an FFT convolution over the whole sequence:
    O(T log T) time, O(T) memory, any length. ``causal=True`` keeps the forward kernel only.

    The kernel's ``C`` parameter is the length-adjusted ``C~`` with an int64 internal-length
    buffer ``L`` (see :class:`~asteroid_tdanet.masknn.ssm.NPLRKernel`): a forward pass on a
    sequence longer than ``L`` doubles ``L`` and updates ``C~`` in place, exactly as the
    reference does, so reference state_dicts load and behave identically.

    Export: TorchScript, with the kernel precomputed for the longest input; not ONNX.

    Args:
        channels (int): feature size ``H``.
        state_size (int): SSM state size ``N``.
        causal (bool): unidirectional (forward kernel only).
        dropout (float): dropout after the S4 activation.
        dt_min, dt_max (float): initial SSM step range.

    Keys: ``norm.*`` (LayerNorm), ``layer.D``, ``layer.kernel.{C, log_dt, B, P, inv_w_real,
    w_imag, L}``, ``layer.output_linear.*``.

    Shape: ``(batch, H, frames)`` -> ``(batch, H, frames)``.
    """

    mixer_name = "s4"
    export_formats = ("torchscript",)
    export_refusal = (
        "its convolution runs through torch.fft, which torch's ONNX exporter does not "
        "support; export the model to TorchScript instead"
    )

    def __init__(
        self,
        channels: int,
        *,
        state_size: int = 16,
        causal: bool = False,
        dropout: float = 0.0,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
    ):
        super().__init__()
        self.channels, self.causal = channels, causal
        self.norm = nn.LayerNorm(channels)
        self.layer = S4Layer(
            channels,
            state_size=state_size,
            bidirectional=not causal,
            dropout=dropout,
            dt_min=dt_min,
            dt_max=dt_max,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.norm(self.channels_last(x)).transpose(1, 2))

    def macs(self, frames: int) -> int:
        # Per input: norm, three real FFTs of 2T points (about n log2 n MACs each), the
        # spectral product, the D skip and the 1x1 conv to 2H. The kernel itself is a
        # function of the parameters and the length (cached during inference): not counted.
        h, n = self.channels, 2 * frames
        fft = 3 * h * n * max(1, math.ceil(math.log2(n)))
        spectral = 4 * h * (n // 2 + 1)
        pointwise = frames * h * 2 * h + 2 * h * frames
        return int(2 * h * frames + fft + spectral + h * frames + pointwise)

    def make_exportable(self, max_frames: int) -> None:
        self.layer.freeze_kernel(max_frames)
