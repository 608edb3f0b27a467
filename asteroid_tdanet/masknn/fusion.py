"""Top-down fusion of a coarse ("global") feature into a finer ("local") one."""

import torch
from torch import nn

from .convolutions import ConvNorm
from .nearest import upsample_addcmul


class AttentionFusion(nn.Module):
    """Sigmoid-gated top-down modulation (paper eq. 4 / the LA layer).

    ``out = e(x_l) * up(sigmoid(h1(x_g))) + up(h2(x_g))`` where ``e``, ``h1``, ``h2`` are
    depthwise convolutions + norm applied at their input's own resolution and ``up`` is
    nearest interpolation to the length of ``x_l`` (not materialised in inference: see
    :func:`~.nearest.upsample_addcmul`). With ``kernel_size=1`` this is the fusion
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
        gate = torch.sigmoid(self.global_gate(x_g))
        return upsample_addcmul(self.global_proj(x_g), self.local_proj(x_l), gate)


class AdditiveFusion(nn.Module):
    """Ablation without attention (``use_la=False`` / ``use_ga=False``): ``x_l + up(x_g)``.

    Shape: ``x_l (batch, C, T_l)``, ``x_g (batch, C, T_g)`` -> ``(batch, C, T_l)``.
    """

    def forward(self, x_l: torch.Tensor, x_g: torch.Tensor) -> torch.Tensor:
        return upsample_addcmul(x_g, x_l)
