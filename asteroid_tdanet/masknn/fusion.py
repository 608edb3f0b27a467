"""Top-down fusion of a coarse ("global") feature into a finer ("local") one."""

import torch
import torch.nn.functional as F
from torch import nn

from .convolutions import ConvNorm


def upsample_nearest(x: torch.Tensor, length: int) -> torch.Tensor:
    """Nearest-neighbour resampling of ``(batch, C, T)`` to ``(batch, C, length)``."""
    if x.shape[-1] == length:
        return x
    # 2D form: same indices as 1D nearest, channels-last kernel for frame-major inputs.
    return F.interpolate(x.unsqueeze(2), size=(1, length), mode="nearest").squeeze(2)


class AttentionFusion(nn.Module):
    """Sigmoid-gated top-down modulation (paper eq. 4 / the LA layer).

    ``out = e(x_l) * up(sigmoid(h1(x_g))) + up(h2(x_g))`` where ``e``, ``h1``, ``h2`` are
    depthwise convolutions + norm applied at their input's own resolution and ``up`` is
    nearest interpolation to the length of ``x_l``. With ``kernel_size=1`` this is the fusion
    of the GA output into every scale; with ``kernel_size=5`` it is a decoder LA layer.

    Args:
        channels (int): feature size ``C``.
        kernel_size (int): depthwise kernel of ``e``, ``h1``, ``h2``.
        norm_type (str): norm after each convolution.
        causal (bool): causal padding of the convolutions.

    Shape: ``x_l (batch, C, T_l)``, ``x_g (batch, C, T_g)`` -> ``(batch, C, T_l)``.
    """

    def __init__(self, channels: int, kernel_size: int = 1, norm_type="gLN", causal=False):
        super().__init__()
        args = dict(depthwise=True, bias=False, norm_type=norm_type, causal=causal)
        self.local_proj = ConvNorm(channels, channels, kernel_size, **args)
        self.global_proj = ConvNorm(channels, channels, kernel_size, **args)
        self.global_gate = ConvNorm(channels, channels, kernel_size, **args)

    def forward(self, x_l: torch.Tensor, x_g: torch.Tensor) -> torch.Tensor:
        length = x_l.shape[-1]
        gate = upsample_nearest(torch.sigmoid(self.global_gate(x_g)), length)
        glob = upsample_nearest(self.global_proj(x_g), length)
        return torch.addcmul(glob, self.local_proj(x_l), gate)


class AdditiveFusion(nn.Module):
    """Ablation without attention (``use_la=False`` / ``use_ga=False``): ``x_l + up(x_g)``.

    Shape: ``x_l (batch, C, T_l)``, ``x_g (batch, C, T_g)`` -> ``(batch, C, T_l)``.
    """

    def forward(self, x_l: torch.Tensor, x_g: torch.Tensor) -> torch.Tensor:
        return x_l + upsample_nearest(x_g, x_l.shape[-1])
