"""Rotary position embedding (RoPE, Su et al.) with interleaved pairs, as rotary-embedding-torch."""

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """``t * cos(theta) + rotate_half(t) * sin(theta)``, ``rotate_half(t)[2i] = -t[2i+1]`` and
    ``rotate_half(t)[2i+1] = t[2i]``, with ``theta[p, 2i] = theta[p, 2i+1] =
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
        theta = positions.to(self.freqs.dtype)[:, None] * self.freqs  # (n, dim / 2)
        cos, sin = theta.cos(), theta.sin()
        # Pair by pair: (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin), i.e.
        # t * cos + rotate_half(t) * sin without full-width angle tables.
        pairs = t.unflatten(-1, (-1, 2))
        x0, x1 = pairs[..., 0], pairs[..., 1]
        out = torch.stack((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1)
        return out.flatten(-2).to(t.dtype)
