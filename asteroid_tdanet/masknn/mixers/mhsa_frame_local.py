"""The released TDANet's attention, which attends across the batch instead of over time."""

import torch
import torch.nn.functional as F

from .mhsa import MultiHeadSelfAttention


class FrameLocalSelfAttention(MultiHeadSelfAttention):
    """:class:`MultiHeadSelfAttention` as the released look2hear model computes it
    (``mhsa-frame-local``).

    The released model fed ``(batch, time, C)`` to ``nn.MultiheadAttention`` without
    ``batch_first`` and so attended across the batch. Its checkpoints were trained at batch
    size 1, where every frame attends to itself only: softmax over one key is 1 and the
    block reduces to ``out_proj(v_proj(x))``, computed here for each item independently
    (batch-independent by construction). Same parameters as ``mhsa``.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    mixer_name = "mhsa-frame-local"

    def __init__(self, channels: int, *, n_heads: int = 8, dropout: float = 0.0, causal=False):
        super().__init__(channels, n_heads=n_heads, dropout=dropout, causal=causal)
        self.causal = True  # whatever was asked: every frame sees itself only

    def attend(self, q: torch.Tensor) -> torch.Tensor:
        c = self.channels
        v = F.linear(q, self.mha.in_proj_weight[2 * c :], self.mha.in_proj_bias[2 * c :])
        if self.training and self.mha.dropout > 0:
            # Dropout of the single attention weight of each (frame, head).
            b, t, _ = v.shape
            keep = F.dropout(v.new_ones(b, t, self.n_heads, 1), self.mha.dropout, True)
            v = (v.view(b, t, self.n_heads, -1) * keep).view(b, t, c)
        return self.mha.out_proj(v)

    def macs(self, frames: int) -> int:
        # Only the value and output projections contribute to the output.
        return int(2 * frames * self.channels * (self.channels + 1))
