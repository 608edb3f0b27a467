"""The windowed sink attention sub-layer of the windowed-roformer (Mel-Band RoFormer WSA)."""

from typing import Optional

import torch

from ..rotary import RotaryEmbedding
from .gated_rotary_attention import GatedRotaryAttention
from .windowed_sink_attend import window_bounds, windowed_sink_attend


class WindowedSinkAttention(GatedRotaryAttention):
    """``to_out(sigmoid(to_gates(x_n)) * WSA(RoPE(q), RoPE(k), v))`` with ``x_n = RMSNorm(x)``.

    The input sequence starts with ``n_sinks`` sink tokens (RoPE positions ``0..S-1``, frames
    ``S..``; the reference's convention). Per-head sigmoid gate from the normalised input;
    no residual (the caller adds it). See
    :func:`~.windowed_sink_attend.windowed_sink_attend` for the mask.

    Args:
        dim (int): model width.
        heads (int): attention heads.
        dim_head (int): head width (``inner = heads * dim_head`` may differ from ``dim``).
        window (int): ``w``: a frame attends to frames within ``+-w/2`` (causal: ``w`` back).
        n_sinks (int): sink tokens at the start of the sequence.
        causal (bool): causal mask.
        dropout (float): dropout on attention weights and on the output.
        rotary (RotaryEmbedding, optional): shared RoPE module (one is made if omitted).
        block_size (int): query block of the ``blocked`` computation.
        backend (str): ``auto``, ``blocked``, ``flex`` or ``dense``.

    Keys (the reference's): ``rotary_embed.freqs``, ``norm.gamma``, ``to_qkv.weight``,
    ``to_gates.{weight,bias}``, ``to_out.0.weight``.

    Shape: ``(batch, S + T, dim)`` -> ``(batch, S + T, dim)``, or ``(batch, T, dim)`` with
    ``frames_only=True``.
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 8,
        dim_head: int = 64,
        window: int = 10,
        n_sinks: int = 8,
        causal: bool = False,
        dropout: float = 0.0,
        rotary: Optional[RotaryEmbedding] = None,
        block_size: int = 32,
        backend: str = "auto",
    ):
        super().__init__(dim, heads=heads, dim_head=dim_head, dropout=dropout, rotary=rotary)
        self.window, self.n_sinks, self.causal = window, n_sinks, causal
        self.block_size, self.backend = block_size, backend

    def forward(self, x: torch.Tensor, frames_only: bool = False) -> torch.Tensor:
        x_n = self.norm(x)
        q, k, v = self.rotated_qkv(x_n)
        out = windowed_sink_attend(
            q,
            k,
            v,
            n_sinks=self.n_sinks,
            window=self.window,
            causal=self.causal,
            frames_only=frames_only,
            block_size=self.block_size,
            dropout=self.dropout if self.training else 0.0,
            backend=self.backend,
        )
        return self.gated_output(out, x_n[:, self.n_sinks :] if frames_only else x_n)

    def macs(self, frames: int, frames_only: bool = False) -> int:
        """Multiply-accumulates for ``frames`` frames plus the sinks (batch 1)."""
        tokens, inner = self.n_sinks + frames, self.heads * self.dim_head
        dim = self.to_qkv.in_features
        queries = frames if frames_only else tokens
        lo, hi = window_bounds(self.window, self.causal)
        keys = min(hi - lo + 1, frames) + self.n_sinks
        products = 2 * queries * keys * inner
        if not frames_only and not self.causal:
            products += 2 * self.n_sinks * (tokens - keys) * inner  # sinks see everything
        projections = tokens * dim * 3 * inner + queries * (dim * self.heads + inner * dim)
        rope = 2 * 2 * tokens * inner
        return int(2 * tokens * dim + projections + rope + products + 2 * queries * inner)
