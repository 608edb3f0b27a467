"""The gated rotary attention sub-layer of the (Mel-)Band RoFormer (lucidrains' BS-RoFormer,
as vendored by the windowed-roformer reference); the windowed sink attention derives from it."""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..rotary import RotaryEmbedding
from ..token_norms import RMSNorm


class GatedRotaryAttention(nn.Module):
    """Full softmax self-attention with RoPE and a per-head sigmoid gate (BS-RoFormer's
    ``Attention`` with ``Attend(flash=True)``):
    ``to_out(sigmoid(to_gates(x_n)) * softmax(RoPE(q) RoPE(k)^T / sqrt(d)) v)``,
    ``x_n = RMSNorm(x)``, ``q, k, v = to_qkv(x_n)`` (no bias; split as ``(qkv, heads, d)``).
    No residual (the transformer adds it). RoPE positions are ``0..n-1`` over the whole
    sequence (sink tokens included, first).

    Subclasses change only how the rotated ``q, k, v`` attend (:meth:`attend`, or their own
    ``forward`` built from :meth:`rotated_qkv` and :meth:`gated_output`, as
    :class:`~.windowed_sink_attention.WindowedSinkAttention`), so a full-attention teacher and
    a windowed student share parameters and keys: ``rotary_embed.freqs``, ``norm.gamma``,
    ``to_qkv.weight``, ``to_gates.{weight,bias}``, ``to_out.0.weight``.

    Args:
        dim (int): model width.
        heads (int): attention heads.
        dim_head (int): head width (``inner = heads * dim_head`` may differ from ``dim``).
        dropout (float): dropout on the attention weights (training only) and on the output.
        rotary (RotaryEmbedding, optional): shared RoPE module (one is made if omitted).

    Shape: ``(batch, n, dim)`` -> ``(batch, n, dim)``.
    """

    def __init__(
        self,
        dim: int,
        *,
        heads: int = 8,
        dim_head: int = 64,
        dropout: float = 0.0,
        rotary: Optional[RotaryEmbedding] = None,
    ):
        super().__init__()
        self.heads, self.dim_head, self.dropout = heads, dim_head, dropout
        inner = heads * dim_head
        self.rotary_embed = rotary if rotary is not None else RotaryEmbedding(dim_head)
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_gates = nn.Linear(dim, heads)
        self.to_out = nn.Sequential(nn.Linear(inner, dim, bias=False), nn.Dropout(dropout))

    def rotated_qkv(self, x_n: torch.Tensor):
        """``(batch, n, dim)`` normalised input -> ``q, k, v`` ``(batch, heads, n, d)``, RoPE
        applied to ``q`` and ``k``."""
        qkv = self.to_qkv(x_n).reshape(x_n.shape[0], -1, 3, self.heads, self.dim_head)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 'b n (qkv h d) -> qkv b h n d'
        return self.rotary_embed(q), self.rotary_embed(k), v

    def gated_output(self, out: torch.Tensor, gate_in: torch.Tensor) -> torch.Tensor:
        """Per-head sigmoid gate of ``gate_in`` ``(batch, n, dim)`` on the attention output
        ``(batch, heads, n, d)``, then ``to_out``: ``(batch, n, dim)``."""
        out = out * torch.sigmoid(self.to_gates(gate_in)).transpose(1, 2).unsqueeze(-1)
        return self.to_out(out.transpose(1, 2).flatten(2))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Softmax attention, ``(batch, heads, n, d)`` each, scale ``d^-1/2``."""
        drop = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_n = self.norm(x)
        return self.gated_output(self.attend(*self.rotated_qkv(x_n)), x_n)

    def macs(self, frames: int, frames_only: bool = False) -> int:
        """Multiply-accumulates of one sequence of ``frames`` tokens (batch 1): the norm,
        the qkv / gate / output projections, RoPE, ``Q K^T`` and ``A V`` (quadratic), the
        gate. ``frames_only`` is the windowed subclass's (this class has no sinks)."""
        n, inner, dim = frames, self.heads * self.dim_head, self.to_qkv.in_features
        projections = n * dim * 3 * inner + n * (dim * self.heads + inner * dim)
        return int(2 * n * dim + projections + 2 * 2 * n * inner + 2 * n * n * inner + n * inner)
