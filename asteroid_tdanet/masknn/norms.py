"""Normalisation layers used by the TDANet masker.

All layers take and return ``(batch, channels, frames)`` tensors.

* ``gLN``  -- global layer norm over channels and frames (non-causal, the paper's choice).
  On the CPU the native ``group_norm`` kernel (the hand-written mean/variance of the released
  code was the largest single cost of its CPU profile); on a GPU the same kernel for small
  items and one device-wide reduction for large ones (:func:`global_layer_norm`: the CUDA
  ``group_norm`` kernel uses one block per item).
* ``cLN``  -- channel-wise layer norm, one frame at a time (causal).
* ``cgLN`` -- cumulative layer norm: statistics over channels and all *past* frames (causal).
"""

import math

import torch
from torch import nn
from asteroid.masknn.norms import CumLN

# The released implementation adds 1e-8 to the variance; keep it so that loaded
# checkpoints reproduce their outputs.
GLOBAL_NORM_EPS = 1e-8

# Devices where gLN is PyTorch's native group_norm (one fused kernel on the CPU); elsewhere
# :func:`global_layer_norm` (see there why) for items above GROUP_NORM_MAX_ITEM elements.
GROUP_NORM_DEVICES = ("cpu",)
# Off those devices, items (channels x frames) up to this many elements still take group_norm:
# its one block per item is then quicker than the several launches of global_layer_norm. On an
# H200 (``benchmarks/results_device_paths_cuda_h200.json``), group_norm / var_mean at every
# size: 59 / 76 ms for a 1 s pass at 16 kHz (items up to 513,536), 355 / 77 ms at 10 s (up to
# 5.1 M), 0.29 / 0.41 s per training step; this limit: 68 ms at 10 s and 0.26 s per step, the
# quickest of the limits 2**18 to 2**21 at 10 s.
GROUP_NORM_MAX_ITEM = 2**19


def uses_group_norm(x: torch.Tensor) -> bool:
    """Whether gLN of ``x (batch, C, *)`` takes PyTorch's ``group_norm`` (else
    :func:`global_layer_norm`): always on :data:`GROUP_NORM_DEVICES`, elsewhere for items of
    at most :data:`GROUP_NORM_MAX_ITEM` elements."""
    if x.device.type in GROUP_NORM_DEVICES:
        return True
    return math.prod(x.shape[1:]) <= GROUP_NORM_MAX_ITEM


def global_layer_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float
) -> torch.Tensor:
    """gLN from its definition (Conv-TasNet eq. 13, TDANet's norm):
    ``gamma * (x - E[x]) / sqrt(Var[x] + eps) + beta``, ``E`` and ``Var`` (biased) over every
    dimension but the batch, ``gamma`` and ``beta`` per channel.

    The statistics come from one ``torch.var_mean`` reduction, spread over the whole device,
    and the affine map is one ``addcmul`` with a per-(item, channel) scale and shift. PyTorch's
    CUDA ``group_norm`` reduces each (item, group) row within one thread block: with one group
    that is one block (of a GPU's hundreds of cores) per item, 90 % of a TDANet forward pass on
    an H200 (``benchmarks/log_op_profile_cuda_h200.txt``). Statistics in float32 for half
    inputs; the output keeps ``x``'s dtype.

    Shape: ``x (batch, C, *)``, ``weight``, ``bias (C,)`` -> like ``x``.
    """
    dims = tuple(range(1, x.dim()))
    var, mean = torch.var_mean(x.float(), dim=dims, keepdim=True, correction=0)
    view = (1, -1) + (1,) * (x.dim() - 2)
    scale = weight.float().view(view) * torch.rsqrt(var + eps)
    shift = bias.float().view(view) - mean * scale
    return torch.addcmul(shift, x, scale).to(x.dtype)


class GlobalLayerNorm(nn.GroupNorm):
    """Global layer norm (gLN): one group spanning every channel and frame.

    Args:
        num_channels (int): number of channels ``C``.
        eps (float): added to the variance.

    On the CPU PyTorch's ``group_norm`` kernel computes it (as a height-1 image, so that
    frame-major maps take the channels-last kernel); on other devices the same kernel for
    small items and :func:`global_layer_norm`, whose reduction uses the whole GPU, for large
    ones (:func:`uses_group_norm`).

    Shape: ``(batch, C, *)`` -> the same.
    """

    def __init__(self, num_channels: int, eps: float = GLOBAL_NORM_EPS):
        super().__init__(1, num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if uses_group_norm(x):
            if x.dim() == 3:
                return super().forward(x.unsqueeze(2)).squeeze(2)
            return super().forward(x)
        return global_layer_norm(x, self.weight, self.bias, self.eps)


class ChannelLayerNorm(nn.LayerNorm):
    """Channel-wise layer norm (cLN): normalises each frame over its channels.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(self, num_channels: int, eps: float = GLOBAL_NORM_EPS):
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class CumulativeLayerNorm(CumLN):
    """Cumulative layer norm (cgLN) from Conv-TasNet, as implemented by Asteroid.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """


NORMS = {"gLN": GlobalLayerNorm, "cLN": ChannelLayerNorm, "cgLN": CumulativeLayerNorm}
CAUSAL_NORMS = ("cLN", "cgLN")


def check_causal_norm(norm_type: str, causal: bool) -> None:
    """A causal model needs a norm that only looks back: error otherwise."""
    if causal and norm_type not in CAUSAL_NORMS:
        raise ValueError(
            f"causal=True needs a causal norm_type ({' or '.join(CAUSAL_NORMS)}), "
            f"got {norm_type!r}: a global norm looks at the whole signal."
        )


def get_norm(norm_type: str, num_channels: int) -> nn.Module:
    """Build the norm called ``norm_type`` (one of ``gLN``, ``cLN``, ``cgLN``)."""
    if norm_type not in NORMS:
        raise ValueError(f"Unknown norm_type {norm_type!r}; choose one of {sorted(NORMS)}.")
    return NORMS[norm_type](num_channels)
