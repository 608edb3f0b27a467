"""Multi-head self-attention over frames: TDANet's GA mixer (paper eq. 2)."""

import torch
import torch.nn.functional as F
from torch import nn

from ..positional_encoding import SinusoidalPositionalEncoding
from .base import SequenceMixer


class MultiHeadSelfAttention(SequenceMixer):
    """Pre-norm multi-head self-attention with a sinusoidal position encoding (``mhsa``).

    ``out = LayerNorm(a + dropout(a))`` with ``a = MHA(PE(LayerNorm(x)))``: the output norm is
    applied to the attention output plus its dropped-out copy, as in the released model (the
    real skip connection is the GA module's residual around this mixer).

    The parameters live in an ``nn.MultiheadAttention`` (``mha``: ``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``) so that released checkpoints map one to one; the product
    is computed with ``F.scaled_dot_product_attention``, whose CPU and CUDA kernels never hold
    the ``frames x frames`` weight matrix, and whose graph exports with a dynamic time axis.

    Args:
        channels (int): feature size ``C`` (divisible by ``n_heads``).
        n_heads (int): number of heads.
        dropout (float): dropout on attention weights and on the output.
        causal (bool): frame ``t`` attends to frames ``<= t`` only.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    mixer_name = "mhsa"

    def __init__(self, channels: int, *, n_heads: int = 8, dropout: float = 0.0, causal=False):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads}).")
        self.channels, self.n_heads, self.causal = channels, n_heads, causal
        self.pos_enc = SinusoidalPositionalEncoding(channels)
        self.in_norm = nn.LayerNorm(channels)
        self.mha = nn.MultiheadAttention(channels, n_heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.pos_enc(self.in_norm(self.channels_last(x)))
        out = self.attend(q)
        out = self.out_norm(out + self.dropout(out))
        return out.transpose(1, 2)

    def attend(self, q: torch.Tensor) -> torch.Tensor:
        """``nn.MultiheadAttention(q, q, q)`` without weights: ``(batch, T, C) -> (batch, T, C)``."""
        batch, head_dim = q.shape[0], self.channels // self.n_heads
        qkv = F.linear(q, self.mha.in_proj_weight, self.mha.in_proj_bias)
        # (batch, T, 3 C) -> 3 x (batch, heads, T, head_dim); -1 keeps the time axis dynamic.
        qkv = qkv.reshape(batch, -1, 3, self.n_heads, head_dim).permute(2, 0, 3, 1, 4)
        drop = self.mha.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(
            qkv[0], qkv[1], qkv[2], dropout_p=drop, is_causal=self.causal
        )
        out = out.transpose(1, 2).reshape(batch, -1, self.channels)
        return self.mha.out_proj(out)

    def macs(self, frames: int) -> int:
        # ptflops' nn.MultiheadAttention formula: projections with bias, QK^T, softmax, AV.
        c = self.channels
        projections = 4 * frames * c * (c + 1)
        products = 2 * frames * frames * c + self.n_heads * frames * frames
        return int(projections + products)
