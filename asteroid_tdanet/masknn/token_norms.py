"""Norms over the channels of each token, for ``(batch, tokens, channels)`` inputs."""

import re

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    """``x / ||x|| * sqrt(C) * gamma`` (``F.normalize``, eps 1e-12 on the norm), as in
    lucidrains' BS-RoFormer and the windowed-roformer reference.

    Shape: ``(..., C)`` -> ``(..., C)``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.scale = channels**0.5
        self.gamma = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=-1) * self.scale * self.gamma


class RMSGroupNorm(nn.Module):
    """RMS norm per group of ``C / groups`` contiguous channels, no bias (TF-Locoformer):
    ``y = x / (rms(x_group) + eps) * gamma``, the eps added to the RMS (not under the root).

    Shape: ``(..., C)`` -> ``(..., C)``.
    """

    def __init__(self, groups: int, channels: int, eps: float = 1e-5):
        super().__init__()
        if channels % groups:
            raise ValueError(f"channels ({channels}) must be divisible by groups ({groups}).")
        self.groups, self.eps = groups, eps
        self.gamma = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # reshape, not unflatten: torch's ONNX exporter turns unflatten's sizes into
        # constants (the batch and length of the example input).
        grouped = x.reshape(x.shape[:-1] + (self.groups, -1))
        rms = grouped.norm(dim=-1, keepdim=True) * grouped.shape[-1] ** -0.5
        return (grouped / (rms + self.eps)).flatten(-2) * self.gamma


def build_token_norm(norm_type: str, channels: int) -> nn.Module:
    """``layernorm`` (``nn.LayerNorm``, eps 1e-5) or ``RMSGroupNorm_<G>`` (case-insensitive),
    the spellings of the FLASepformer reference."""
    if norm_type.lower() == "layernorm":
        return nn.LayerNorm(channels)
    match = re.fullmatch(r"rmsgroupnorm_(\d+)", norm_type.lower())
    if match:
        return RMSGroupNorm(int(match.group(1)), channels)
    raise ValueError(f"Unknown norm_type {norm_type!r}: use 'layernorm' or 'RMSGroupNorm_<G>'.")
