"""Multi-head self-attention over frames, as used by TDANet's global attention (GA) module."""

import torch
import torch.nn.functional as F
from torch import nn

from .positional_encoding import SinusoidalPositionalEncoding


class MultiHeadSelfAttention(nn.Module):
    """Pre-norm multi-head self-attention with a sinusoidal position encoding.

    ``out = LayerNorm(a + dropout(a))`` with ``a = MHA(PE(LayerNorm(x)))``: the block's output
    norm is applied to the attention output plus its dropped-out copy, as in the released model
    (the real skip connection is the GA module's own residual around this block).

    Args:
        channels (int): feature size ``C`` (divisible by ``n_heads``).
        n_heads (int): number of heads.
        dropout (float): dropout on attention weights and on the output.
        causal (bool): frame ``t`` attends to frames ``<= t`` only.
        frame_local (bool): reproduce the released model, whose ``nn.MultiheadAttention`` got
            ``(batch, time, C)`` without ``batch_first`` and so attended across the batch. The
            released checkpoints were trained at batch size 1, where every frame attends to
            itself only: the block reduces to ``out_proj(v_proj(x))``, which is computed here for
            each item independently (batch-independent by construction).

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(
        self,
        channels: int,
        n_heads: int = 8,
        dropout: float = 0.1,
        causal: bool = False,
        frame_local: bool = False,
    ):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads}).")
        self.causal, self.frame_local, self.n_heads = causal, frame_local, n_heads
        self.pos_enc = SinusoidalPositionalEncoding(channels)
        self.in_norm = nn.LayerNorm(channels)
        self.mha = nn.MultiheadAttention(channels, n_heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.pos_enc(self.in_norm(x.transpose(1, 2)))
        if self.frame_local:
            out = self._frame_local_attention(q)
        else:
            mask = None
            if self.causal:
                n = q.shape[1]
                mask = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
            out = self.mha(q, q, q, attn_mask=mask, need_weights=False, is_causal=self.causal)[0]
        out = self.out_norm(out + self.dropout(out))
        return out.transpose(1, 2)

    def _frame_local_attention(self, q: torch.Tensor) -> torch.Tensor:
        """Attention of each frame to itself: softmax over one key is 1, so only values remain."""
        c = q.shape[-1]
        w_v = self.mha.in_proj_weight[2 * c :]
        b_v = self.mha.in_proj_bias[2 * c :]
        v = F.linear(q, w_v, b_v)
        if self.training and self.mha.dropout > 0:
            # Dropout on the single attention weight of each (frame, head).
            b, t, _ = v.shape
            keep = F.dropout(v.new_ones(b, t, self.n_heads, 1), self.mha.dropout, True)
            v = (v.view(b, t, self.n_heads, -1) * keep).view(b, t, c)
        return self.mha.out_proj(v)
