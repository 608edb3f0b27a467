"""Stochastic depth (drop path) for residual branches."""

import torch
from torch import nn


class DropPath(nn.Module):
    """Zero a residual branch for a random subset of batch items during training.

    Kept items are rescaled by ``1 / (1 - p)``; in eval mode (or with ``p == 0``) this is the
    identity. Shape: any ``(batch, ...)`` -> same.
    """

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
        return x * (mask + keep).floor_() / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
