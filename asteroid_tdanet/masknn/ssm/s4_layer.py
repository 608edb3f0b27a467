"""The S4 layer: SSM convolution, skip, GELU, 1x1 conv + GLU (S4 paper, sec. 3.4)."""

import torch
import torch.nn.functional as F
from torch import nn

from ..convolutions import PointwiseConv1d
from .frozen_kernel import FrozenKernel
from .nplr_kernel import NPLRKernel


class S4Layer(nn.Module):
    """``GLU(W GELU(k * u + D u))`` over ``H`` channels, each with its own SSM kernel ``k``.

    Bidirectional (S4M): a forward kernel ``k0`` and a backward kernel ``k1`` summed,

        y[t] = sum_{j>=0} k0[j] u[t-j] + sum_{d>=1} k1[d-1] u[t+d],

    i.e. the backward kernel starts one frame in the future, as in the reference (its
    ``pad(k0, (0, L)) + pad(flip(k1), (L, 0))`` FFT convolution of size ``2L``). Causal: the
    forward kernel only. Computed by FFT in the input's dtype.

    Args:
        channels (int): ``H``.
        state_size (int): ``N`` of every SSM (16 in S4M).
        bidirectional (bool): forward and backward kernels (non-causal).
        dropout (float): dropout after the activation.
        dt_min, dt_max (float): initial step range.

    Parameters: ``D`` (1, H), ``kernel`` (:class:`NPLRKernel`), ``output_linear`` (1x1 conv
    ``H -> 2H``, then GLU over channels: first half times sigmoid of the second).

    Shape: ``(batch, H, frames)`` -> ``(batch, H, frames)``.
    """

    def __init__(
        self,
        channels: int,
        *,
        state_size: int = 16,
        bidirectional: bool = True,
        dropout: float = 0.0,
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
    ):
        super().__init__()
        self.bidirectional = bidirectional
        self.D = nn.Parameter(torch.randn(1, channels))
        self.kernel = NPLRKernel(
            channels, state_size, 2 if bidirectional else 1, dt_min=dt_min, dt_max=dt_max
        )
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.output_linear = PointwiseConv1d(channels, 2 * channels)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        length = u.shape[-1]
        k = self.kernel(length)
        if self.bidirectional:
            k = F.pad(k[0], (0, length)) + F.pad(k[1].flip(-1), (length, 0))
        else:
            k = k[0]
        n = 2 * length  # linear (not circular) convolution
        y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(k, n=n), n=n)[..., :length]
        y = y + u * self.D[0, :, None]
        y = self.dropout(self.activation(y))
        return F.glu(self.output_linear(y), dim=1)

    def freeze_kernel(self, max_length: int) -> None:
        """Replace the kernel generator by a table for up to ``max_length`` frames (export)."""
        with torch.no_grad():
            self.kernel = FrozenKernel(self.kernel(max_length))
