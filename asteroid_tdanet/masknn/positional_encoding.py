"""Sinusoidal position encoding without a length limit."""

import math
from typing import Dict, Tuple

import torch
from torch import nn


def sinusoidal_table(length: int, channels: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Return the ``(length, channels)`` table of Vaswani et al.

    Even channels hold ``sin(t * w_i)``, odd channels ``cos(t * w_i)`` with
    ``w_i = 10000 ** (-2i / channels)``; computed in float32 exactly as the released model
    builds its (fixed, 10000-row) buffer, then cast to ``dtype``.
    """
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div_term = torch.exp(
        torch.arange(0, channels, 2, device=device, dtype=torch.float32)
        * -(math.log(10000.0) / channels)
    )
    table = torch.zeros(length, channels, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term[: channels // 2])
    return table.to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds a sinusoidal position encoding to ``(batch, frames, channels)`` inputs.

    The released model stores a fixed 10000-frame buffer and fails on longer inputs
    (about 160 s of audio for the 4 ms model). Here the table is computed for the length at
    hand and cached per (length, device, dtype); under tracing/export it is computed inline so
    that exported graphs keep a dynamic time axis.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self._cache: Dict[Tuple[int, str, torch.dtype], torch.Tensor] = {}

    def table(self, length: int, device, dtype) -> torch.Tensor:
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return sinusoidal_table(length, self.channels, device, dtype)
        key = (length, str(device), dtype)
        if key not in self._cache:
            if len(self._cache) > 16:  # bounded: inference on many lengths must not leak
                self._cache.clear()
            self._cache[key] = sinusoidal_table(length, self.channels, device, dtype)
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table(x.shape[1], x.device, x.dtype)
