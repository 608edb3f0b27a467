"""Rotary position embedding (RoPE, Su et al.) with interleaved pairs, as rotary-embedding-torch."""

import torch
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)`` over the last axis."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


class RotaryEmbedding(nn.Module):
    """``t * cos(theta) + rotate_half(t) * sin(theta)`` with ``theta[p, 2i] = theta[p, 2i+1] =
    p * f_i``, ``f_i = base^(-2i / dim)``, for positions ``p = 0 .. n-1`` of the second-to-last
    axis (lucidrains' ``rotary-embedding-torch`` ``rotate_queries_or_keys``, default options).

    ``freqs`` is a parameter with ``requires_grad=False``: it is in state_dicts (as in the
    references) but never trained.

    Args:
        dim (int): rotated width (the head width).
        base (float): ``theta`` of the frequencies.

    Shape: ``(..., n, dim)`` -> ``(..., n, dim)``.
    """

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        freqs = 1.0 / (base ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        self.freqs = nn.Parameter(freqs, requires_grad=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(t.shape[-2], device=t.device, dtype=t.dtype)
        theta = positions.to(self.freqs.dtype)[:, None] * self.freqs
        theta = torch.stack((theta, theta), dim=-1).flatten(-2)  # (n, dim): pairs share angles
        return (t * theta.cos() + rotate_half(t) * theta.sin()).to(t.dtype)
