"""TF-Locoformer pieces (Saijo et al., 2024) and their FLASepformer variant (Wang et al., 2025).

A TF-Locoformer layer models a ``(batch, frames, freqs, channels)`` feature twice: along
frequency within each frame, then along time within each frequency bin. Each pass is a Macaron
:class:`LocoformerBlock` (FFN, attention, FFN, each pre-normed with a residual) whose FFNs are
:class:`SwiGLUConvDeconv1d` (local modelling by a conv / transposed conv along the sequence).

The block receives its components: the attention along the sequence is a
:class:`RotarySelfAttention` (softmax MHSA with RoPE, the F-path of both models and the T-path
of the original TF-Locoformer) or a :class:`MixerAttention` around any sequence mixer of
:mod:`asteroid_tdanet.masknn.mixers` (the gated ``fla`` mixer on the T-path of FLA-TFLocoformer).
:class:`TFLocoformerLayer` lays the feature out for each path.
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .rotary import RotaryEmbedding


class SwiGLUConvDeconv1d(nn.Module):
    """SwiGLU FFN with a strided conv in and a transposed conv out, along the sequence axis
    (TF-Locoformer's ``swiglu_conv1d``):

        h = Conv1d(D -> 2H, k, stride s)(pad(x)),   y = ConvTranspose1d(H -> D, k, s)(h[:H] * SiLU(h[H:]))

    then ``y[k - s : k - s + L]``. ``pad`` adds ``k - s`` zeros on the left and
    ``ceil((L + 2(k - s) - k) / s) s + k - L - (k - s)`` on the right (3 and 3 for k=4, s=1).

    Args:
        channels (int): feature size ``D``.
        hidden_dim (int): ``H``.
        kernel_size (int): ``k``.
        stride (int): ``s`` (``<= k``).
        dropout (float): after the gated product and on the output.

    Shape: ``(batch, L, D)`` -> ``(batch, L, D)``.
    """

    def __init__(
        self, channels: int, hidden_dim: int, kernel_size: int, stride: int, dropout: float = 0.0
    ):
        super().__init__()
        if not 0 < stride <= kernel_size:
            raise ValueError(f"stride ({stride}) must be in [1, kernel_size={kernel_size}].")
        self.hidden_dim, self.kernel_size, self.stride = hidden_dim, kernel_size, stride
        self.diff_ks = kernel_size - stride
        self.conv1d = nn.Conv1d(channels, 2 * hidden_dim, kernel_size, stride=stride)
        self.deconv1d = nn.ConvTranspose1d(hidden_dim, channels, kernel_size, stride=stride)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        k, s = self.kernel_size, self.stride
        padded = math.ceil((length + 2 * self.diff_ks - k) / s) * s + k
        h = F.pad(x.transpose(1, 2), (self.diff_ks, padded - length - self.diff_ks))
        h = self.conv1d(h)
        h = self.dropout(h[:, : self.hidden_dim] * F.silu(h[:, self.hidden_dim :]))
        h = self.deconv1d(h)[..., self.diff_ks : self.diff_ks + length]
        return self.dropout(h.transpose(1, 2))


class RotarySelfAttention(nn.Module):
    """Softmax multi-head self-attention with rotary positions on queries and keys
    (TF-Locoformer's ``MultiHeadSelfAttention``):

        [q, k, v] = x W_qkv,   o_h = softmax(R(q_h) R(k_h)^T / sqrt(d)) v_h,   y = [o_1 .. o_h] W_o

    ``W_qkv`` is ``Linear(D -> 3A)`` without bias (q, k, v are channel blocks ``[0:A]``,
    ``[A:2A]``, ``[2A:3A]``; head ``i`` takes channels ``[i d : (i+1) d]``, ``d = A / h``);
    ``W_o`` is ``Linear(A -> D)`` without bias. ``R`` is :class:`RotaryEmbedding` over the
    positions ``0 .. L-1`` of the sequence (interleaved pairs, base 10000); the instance may be
    shared by several attentions (the references share one per axis). The product uses
    ``F.scaled_dot_product_attention`` (no ``L x L`` weights held on CPU).

    Args:
        channels (int): feature size ``D``.
        attention_dim (int): ``A`` (divisible by ``n_heads``).
        n_heads (int): ``h``.
        rope (RotaryEmbedding, optional): rotary embedding of width ``d`` (default: a new one).
        dropout (float): on the attention weights (training only) and on the output.

    Shape: ``(batch, L, D)`` -> ``(batch, L, D)``.
    """

    def __init__(
        self,
        channels: int,
        attention_dim: int,
        n_heads: int,
        rope: Optional[RotaryEmbedding] = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        if attention_dim % n_heads:
            raise ValueError(
                f"attention_dim ({attention_dim}) must be divisible by n_heads ({n_heads})."
            )
        self.n_heads, self.attention_dim = n_heads, attention_dim
        head_dim = attention_dim // n_heads
        if rope is None:
            rope = RotaryEmbedding(head_dim)
        if rope.freqs.numel() != head_dim // 2:
            raise ValueError(f"rope must rotate the head width {head_dim}.")
        self.qkv = nn.Linear(channels, 3 * attention_dim, bias=False)
        self.rope = rope
        self.attn_dropout = dropout
        self.out_proj = nn.Linear(attention_dim, channels, bias=False)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length = x.shape[:2]
        # (batch, L, 3 A) -> 3 x (batch, heads, L, d)
        qkv = self.qkv(x).reshape(batch, length, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        q, k = self.rope(qkv[0]), self.rope(qkv[1])
        drop = self.attn_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, qkv[2], dropout_p=drop)
        out = out.transpose(1, 2).reshape(batch, length, self.attention_dim)
        return self.dropout(self.out_proj(out))

    def macs(self, length: int) -> int:
        """Multiply-accumulates of one sequence of ``length``: projections, ``Q K^T``, ``A V``
        (the counters of :mod:`asteroid_tdanet.utils.complexity` call this)."""
        channels, dim = self.qkv.in_features, self.attention_dim
        return int(
            length * channels * 3 * dim + 2 * length * length * dim + length * dim * channels
        )


class MixerAttention(nn.Module):
    """A sequence mixer (``(batch, C, L) -> (batch, C, L)`` residual branch, e.g. the gated
    ``fla`` mixer) used as a :class:`LocoformerBlock` attention on ``(batch, L, C)``:
    ``y = mixer(x)``, or ``y = x + mixer(x)`` with ``keep_input=True``.

    ``keep_input`` reproduces FLASepformer's ``Linear_Attn_Template``, which adds its own skip;
    the block then adds ``x`` again, so the reference T-layers compute
    ``2 x + gate * FLA(LN(x))`` (its "doubled residual").

    Args:
        mixer (nn.Module): the sequence mixer (it owns its input norms).
        keep_input (bool): add the input to the mixer's output.

    Shape: ``(batch, L, C)`` -> ``(batch, L, C)``.
    """

    def __init__(self, mixer: nn.Module, keep_input: bool = False):
        super().__init__()
        self.mixer, self.keep_input = mixer, keep_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.mixer(x.transpose(1, 2)).transpose(1, 2)
        return x + out if self.keep_input else out


class LocoformerBlock(nn.Module):
    """Macaron block on sequences of tokens, from the components it is given:

        x1 = x  + FFN_pre(N_pre(x))
        x2 = x1 + ATTN(N_attn(x1))
        y  = x2 + FFN_post(N_post(x2))

    Args:
        attn (nn.Module): the attention along the sequence, ``(batch, L, D) -> (batch, L, D)``.
        ffn_pre, ffn_post (nn.Module): the FFNs (e.g. :class:`SwiGLUConvDeconv1d`).
        norm_pre, norm_post (nn.Module): their input norms.
        attn_norm (nn.Module, optional): the attention's input norm (``None``: none, for
            mixers that normalise their own input).

    Shape: ``(batch, L, D)`` -> ``(batch, L, D)``.
    """

    def __init__(
        self,
        attn: nn.Module,
        ffn_pre: nn.Module,
        ffn_post: nn.Module,
        norm_pre: nn.Module,
        norm_post: nn.Module,
        attn_norm: Optional[nn.Module] = None,
    ):
        super().__init__()
        self.norm_pre, self.ffn_pre = norm_pre, ffn_pre
        self.attn_norm = attn_norm if attn_norm is not None else nn.Identity()
        self.attn = attn
        self.norm_post, self.ffn_post = norm_post, ffn_post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ffn_pre(self.norm_pre(x))
        x = x + self.attn(self.attn_norm(x))
        return x + self.ffn_post(self.norm_post(x))


class TFLocoformerLayer(nn.Module):
    """One TF-Locoformer layer: ``freq`` along the frequency bins of each frame, then ``time``
    along the frames of each frequency bin.

    Args:
        freq (nn.Module): block on ``(batch * frames, freqs, D)``.
        time (nn.Module): block on ``(batch * freqs, frames, D)``.

    Shape: ``(batch, frames, freqs, D)`` -> ``(batch, frames, freqs, D)``.
    """

    def __init__(self, freq: nn.Module, time: nn.Module):
        super().__init__()
        self.freq, self.time = freq, time

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames, freqs, channels = x.shape
        x = self.freq(x.reshape(batch * frames, freqs, channels))
        x = x.reshape(batch, frames, freqs, channels).transpose(1, 2)
        x = self.time(x.reshape(batch * freqs, frames, channels))
        return x.reshape(batch, freqs, frames, channels).transpose(1, 2)
