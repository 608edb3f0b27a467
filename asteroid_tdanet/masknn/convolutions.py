"""Convolution building blocks of the TDANet masker.

Every module maps ``(batch, C_in, frames)`` to ``(batch, C_out, frames_out)``. Parameters keep
the layout of ``nn.Conv1d`` (``weight``: ``(C_out, C_in // groups, kernel)``) so that released
checkpoints map onto them one to one.

Memory layout: inside the masker, ``(batch, C, frames)`` tensors are stored frame-major
(``x.transpose(1, 2)`` is contiguous, i.e. 2D "channels-last"). On CPU the depthwise
convolutions, group norms, pooling and nearest up-sampling of TDANet are 5-10x faster in that
layout, and 1x1 convolutions become a single matrix product. The modules here produce that
layout on the CPU (channel-major elsewhere: :func:`~.frame_major.prefers_frame_major`) and
accept any layout.
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .depthwise_grad import depthwise_conv1d
from .frame_major import prefers_frame_major
from .norms import get_norm


class DepthwiseConv1d(nn.Module):
    """Depthwise 1D convolution with "same" (centred) or causal padding.

    Args:
        channels (int): number of channels ``C``.
        kernel_size (int): odd kernel size ``k``.
        stride (int): down-sampling factor.
        bias (bool): learn a per-channel bias.
        causal (bool): pad ``k - 1`` frames on the left only, so that output frame ``t``
            sees input frames ``<= t * stride``.

    Shape: ``(batch, C, T)`` -> ``(batch, C, ceil(T / stride))``.

    A 1x1 depthwise convolution is a per-channel scale; it is computed as a broadcast
    multiply because the generic depthwise kernel is an order of magnitude slower on CPU.
    """

    def __init__(
        self, channels: int, kernel_size: int, stride: int = 1, bias: bool = True, causal=False
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.channels, self.kernel_size, self.stride, self.causal = (
            channels,
            kernel_size,
            stride,
            causal,
        )
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel_size))
        self.bias = nn.Parameter(torch.empty(channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        # Same initialisation as nn.Conv1d (fan_in = kernel_size for depthwise).
        ref = nn.Conv1d(self.channels, self.channels, self.kernel_size, groups=self.channels)
        with torch.no_grad():
            self.weight.copy_(ref.weight)
            if self.bias is not None:
                self.bias.copy_(ref.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size == 1:
            out = x[..., :: self.stride] * self.weight.view(1, -1, 1)
            return out if self.bias is None else out + self.bias.view(1, -1, 1)
        # Causal: pad k-1 on both sides and keep the first ceil(T / stride) outputs, which
        # only see left padding.
        pad = self.kernel_size - 1 if self.causal else (self.kernel_size - 1) // 2
        out = depthwise_conv1d(x, self.weight, self.bias, self.stride, pad)
        if self.causal:
            out = out[..., : -(-x.shape[-1] // self.stride)]
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"bias={self.bias is not None}, causal={self.causal}"
        )


class PointwiseConv1d(nn.Conv1d):
    """1x1 convolution (``nn.Conv1d`` parameters) computed as one matrix product per item.

    Shape: ``(batch, in_chan, T)`` -> ``(batch, out_chan, T)``, stored frame-major on the CPU
    and channel-major elsewhere (:func:`~.frame_major.prefers_frame_major`).
    """

    def __init__(self, in_chan: int, out_chan: int, bias: bool = True):
        super().__init__(in_chan, out_chan, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if prefers_frame_major(x):
            return F.linear(x.transpose(1, 2), self.weight.squeeze(-1), self.bias).transpose(1, 2)
        # W x as a batched matrix product (cuBLAS: no TF32 unless the user allows it for
        # matmuls, unlike cuDNN convolutions), whatever x's layout.
        out = torch.matmul(self.weight.squeeze(-1), x)
        return out if self.bias is None else out + self.bias.unsqueeze(-1)


class ConvNorm(nn.Module):
    """Convolution followed by a normalisation and an optional PReLU.

    Args:
        in_chan (int): input channels.
        out_chan (int): output channels.
        kernel_size (int): kernel size (odd).
        stride (int): stride.
        depthwise (bool): depthwise convolution (requires ``in_chan == out_chan``).
        bias (bool): convolution bias.
        norm_type (str): see :func:`asteroid_tdanet.masknn.norms.get_norm`.
        activation (bool): append a single-slope PReLU.
        causal (bool): causal padding (depthwise convolutions only; 1x1 convolutions are
            causal anyway).

    Shape: ``(batch, in_chan, T)`` -> ``(batch, out_chan, ceil(T / stride))``.
    """

    def __init__(
        self,
        in_chan: int,
        out_chan: int,
        kernel_size: int = 1,
        stride: int = 1,
        depthwise: bool = False,
        bias: bool = True,
        norm_type: str = "gLN",
        activation: bool = False,
        causal: bool = False,
    ):
        super().__init__()
        if depthwise:
            if in_chan != out_chan:
                raise ValueError("A depthwise convolution keeps the channel count.")
            self.conv = DepthwiseConv1d(out_chan, kernel_size, stride, bias=bias, causal=causal)
        else:
            if kernel_size != 1 or stride != 1:
                raise ValueError("Dense convolutions of the masker are 1x1 with stride 1.")
            self.conv = PointwiseConv1d(in_chan, out_chan, bias=bias)
        self.norm = get_norm(norm_type, out_chan)
        self.act: Optional[nn.Module] = nn.PReLU() if activation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.norm(self.conv(x))
        return out if self.act is None else self.act(out)
