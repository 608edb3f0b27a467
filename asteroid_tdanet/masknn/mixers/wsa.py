"""Windowed sink attention as a sequence mixer (Benetatos, Zang & Leistikow, 2025)."""

from typing import Optional

import torch
from torch import nn

from ..attention.windowed_sink_attention import WindowedSinkAttention
from .base import SequenceMixer


class WindowedSinkAttentionMixer(SequenceMixer):
    """Softmax attention over ``+-window/2`` frames plus ``sinks`` learned tokens (``wsa``).

    The sink tokens (``sink_tokens``, ``(sinks, channels)``, ``randn`` init) are prepended to
    the frames, the sequence goes through :class:`WindowedSinkAttention` (RMSNorm, qkv, RoPE
    with the sinks at positions ``0..S-1``, windowed sink attention, per-head sigmoid gate,
    output projection), and the frame rows are returned (the sinks' own rows are not
    computed). Time and memory grow linearly with the length (blocked computation on CPU,
    ``flex_attention`` on CUDA).

    Args:
        channels (int): feature size ``C``.
        window (int): ``w`` (10: +-5 frames, as released); causal: the ``w`` previous frames.
        sinks (int): number of sink tokens ``S`` (8 as released).
        n_heads (int): heads.
        dim_head (int, optional): head width (default ``channels // n_heads``).
        causal (bool): causal mask.
        dropout (float): dropout on attention weights and output.
        block_size (int): query block of the CPU computation (no effect on results).
        backend (str): ``auto`` (``flex`` on CUDA, else ``blocked``), ``blocked``, ``flex``,
            ``dense``.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    mixer_name = "wsa"

    def __init__(
        self,
        channels: int,
        *,
        window: int = 10,
        sinks: int = 8,
        n_heads: int = 8,
        dim_head: Optional[int] = None,
        causal: bool = False,
        dropout: float = 0.0,
        block_size: int = 32,
        backend: str = "auto",
    ):
        super().__init__()
        if window < 0 or sinks < 0:
            raise ValueError(f"window and sinks must be >= 0, got {window} and {sinks}.")
        if dim_head is None and channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads}).")
        self.channels, self.causal = channels, causal
        self.sink_tokens = nn.Parameter(torch.randn(sinks, channels))
        self.attention = WindowedSinkAttention(
            channels,
            heads=n_heads,
            dim_head=dim_head or channels // n_heads,
            window=window,
            n_sinks=sinks,
            causal=causal,
            dropout=dropout,
            block_size=block_size,
            backend=backend,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self.channels_last(x)
        sinks = self.sink_tokens.to(frames.dtype).expand(frames.shape[0], -1, -1)
        out = self.attention(torch.cat([sinks, frames], dim=1), frames_only=True)
        return out.transpose(1, 2)

    def macs(self, frames: int) -> int:
        return self.attention.macs(frames, frames_only=True)
