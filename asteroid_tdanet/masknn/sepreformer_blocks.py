"""Blocks of SepReformer (Shin et al., NeurIPS 2024) and FLA-SepReformer (Wang et al., 2025).

Attribute names are the reference's (``dmlguq456/SepReformer`` and the ModelScope port of
FLA-SepReformer), so their state_dicts load without renaming:

* :class:`GCFN` (``net1``, ``depthwise``, ``net2``, ``Layer_scale``): gated conv feed-forward;
* :class:`CLA` (``layer_norm``, ``linear1``, ``dw_conv_1d``, ``linear2``, ``BN``, ``linear3``,
  ``Layer_scale``): convolutional local attention;
* :class:`GlobalBlock` (``block.ega``, ``block.gcfn``): a sequence mixer (gated focused linear
  attention, or :class:`SoftmaxEGA`) plus GCFN;
* :class:`LocalBlock` (``block.cla``, ``block.gcfn``);
* :class:`SpkAttention` (``self_attn``, ``feed_forward``): attention across speakers per frame;
* :class:`SpkSplit` (``linear``, ``norm``), :class:`DownConv` (``down_conv``, ``BN``),
  :class:`OutputLayer` (``end_conv1x1``), :class:`RelativePositionalEncoding` (``pe_k``).

Between blocks the layout is ``(batch, channels, frames)``; blocks permute internally.
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .nearest import upsample_nearest


class LayerScale(nn.Module):
    """``x * gamma`` with a learned per-channel ``gamma`` (``layer_scale``, shape (1, 1, C)),
    initialised to ``init``. Shape: ``(..., C)`` -> ``(..., C)``."""

    def __init__(self, channels: int, init: float = 1e-5):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.full((1, 1, channels), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.layer_scale


class GCFN(nn.Module):
    """Gated convolutional feed-forward network:

        y = x + LS * Linear_{3C->C}(GLU(DWConv_3(Linear_{C->6C}(LN(x))))),

    GLU over channels (first ``3C`` times sigmoid of the last ``3C``), dropout after GLU and
    after the last Linear. Shape: ``(batch, frames, C)`` -> ``(batch, frames, C)``.
    """

    def __init__(self, channels: int, dropout: float = 0.0):
        super().__init__()
        self.net1 = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, 6 * channels))
        self.depthwise = nn.Conv1d(6 * channels, 6 * channels, 3, padding=1, groups=6 * channels)
        self.net2 = nn.Sequential(
            nn.GLU(),
            nn.Dropout(dropout),
            nn.Linear(3 * channels, channels),
            nn.Dropout(dropout),
        )
        self.Layer_scale = LayerScale(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net1(x)
        y = self.depthwise(y.transpose(1, 2)).transpose(1, 2)
        return x + self.Layer_scale(self.net2(y))


class CLA(nn.Module):
    """Convolutional local attention:

        y = x + LS * Linear_{2C->C}(GELU(BN(Linear_{C->2C}(DWConv_k(GLU(Linear_{C->2C}(LN(x))))))))

    with a depthwise ``'same'`` convolution of kernel ``k`` (65) and BatchNorm over ``2C``
    channels. Shape: ``(batch, frames, C)`` -> ``(batch, frames, C)``.
    """

    def __init__(self, channels: int, kernel_size: int = 65, dropout: float = 0.0):
        super().__init__()
        self.layer_norm = nn.LayerNorm(channels)
        self.linear1 = nn.Linear(channels, 2 * channels)
        self.GLU = nn.GLU()
        self.dw_conv_1d = nn.Conv1d(
            channels, channels, kernel_size, padding="same", groups=channels
        )
        self.linear2 = nn.Linear(channels, 2 * channels)
        self.BN = nn.BatchNorm1d(2 * channels)
        self.linear3 = nn.Sequential(
            nn.GELU(), nn.Linear(2 * channels, channels), nn.Dropout(dropout)
        )
        self.Layer_scale = LayerScale(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.GLU(self.linear1(self.layer_norm(x)))
        y = self.dw_conv_1d(y.transpose(1, 2)).transpose(1, 2)
        y = self.BN(self.linear2(y).transpose(1, 2)).transpose(1, 2)
        return x + self.Layer_scale(self.linear3(y))


class MultiHeadAttention(nn.Module):
    """SepReformer's softmax attention branch (no residual):

        LS * Dropout(W_o softmax((Q K^T + Q P^T) / sqrt(d)) V),   Q, K, V = W_{q,k,v} LN(x),

    ``P`` the relative-position keys ``pos_k`` (``(N, N, d)``, or ``None``: no positional
    term), heads = contiguous blocks of ``d = C / n_heads`` channels.

    Shape: ``(batch, tokens, C)`` -> ``(batch, tokens, C)``.
    """

    def __init__(self, n_heads: int, channels: int, dropout: float = 0.0):
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must be divisible by n_heads ({n_heads}).")
        self.d_k, self.h = channels // n_heads, n_heads
        self.layer_norm = nn.LayerNorm(channels)
        self.linear_q = nn.Linear(channels, channels)
        self.linear_k = nn.Linear(channels, channels)
        self.linear_v = nn.Linear(channels, channels)
        self.linear_out = nn.Linear(channels, channels)
        self.dropout = nn.Dropout(dropout)
        self.Layer_scale = LayerScale(channels)

    def forward(self, x: torch.Tensor, pos_k: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, n, _ = x.shape
        x = self.layer_norm(x)
        q, k, v = (
            lin(x).view(b, n, self.h, self.d_k).transpose(1, 2)
            for lin in (self.linear_q, self.linear_k, self.linear_v)
        )
        scores = q @ k.transpose(-2, -1)
        if pos_k is not None:  # (N, N, d): q_i . p_ij for every head
            scores = scores + torch.einsum("bhid,ijd->bhij", q, pos_k)
        attn = self.dropout(torch.softmax(scores / math.sqrt(self.d_k), dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, n, self.h * self.d_k)
        return self.Layer_scale(self.dropout(self.linear_out(out)))

    def macs(self, length: int) -> int:
        """Multiply-accumulates of one sequence of ``length``: the four projections, ``Q K^T``,
        the relative-position term ``Q P^T`` and ``A V`` (counted as if ``pos_k`` is given)."""
        channels = self.h * self.d_k
        return int(4 * length * channels * channels + 3 * length * length * channels)


class RelativePositionalEncoding(nn.Module):
    """Relative-position keys of SepReformer's EGA: ``pe_k`` = Embedding(2 maxlen, d) of
    ``clamp(i - j, -maxlen, maxlen - 1) + maxlen``. ``forward(n)`` -> ``(n, n, d)``."""

    def __init__(self, head_dim: int, maxlen: int = 2000):
        super().__init__()
        self.maxlen = maxlen
        self.pe_k = nn.Embedding(2 * maxlen, head_dim)

    def forward(self, length: int) -> torch.Tensor:
        pos = torch.arange(length, device=self.pe_k.weight.device)
        rel = (pos[:, None] - pos[None, :]).clamp(-self.maxlen, self.maxlen - 1) + self.maxlen
        return self.pe_k(rel)


class SoftmaxEGA(nn.Module):
    """SepReformer's efficient global attention (the softmax twin of the gated FLA), residual
    branch only (the :class:`GlobalBlock` adds ``x``):

        y = sigmoid(W_g LN'(x) + b_g) * Up_T(MHSA(Pool_{N}(x), pos_k)),

    ``Pool_N`` = adaptive average pooling to ``N`` = ``len(pos_k)`` frames (the bottleneck
    length ``T / 2^R`` in every stage), ``Up_T`` = nearest upsampling back to ``T``.
    Keys: ``block.self_attn.*`` (:class:`MultiHeadAttention`), ``block.linear.{0,1}``.

    Shape: ``(batch, C, T)`` -> ``(batch, C, T)``; ``pos_k`` ``(N, N, C / n_heads)``.
    """

    needs_pos_k = True

    def __init__(self, channels: int, *, n_heads: int = 8, dropout: float = 0.0):
        super().__init__()
        self.block = nn.ModuleDict(
            {
                "self_attn": MultiHeadAttention(n_heads, channels, dropout),
                "linear": nn.Sequential(
                    nn.LayerNorm(channels), nn.Linear(channels, channels), nn.Sigmoid()
                ),
            }
        )

    def forward(self, x: torch.Tensor, pos_k: torch.Tensor) -> torch.Tensor:
        down = F.adaptive_avg_pool1d(x, pos_k.shape[0]).transpose(1, 2)
        down = self.block["self_attn"](down, pos_k).transpose(1, 2)
        up = upsample_nearest(down, x.shape[-1])
        return self.block["linear"](x.transpose(1, 2)).transpose(1, 2) * up


class GlobalBlock(nn.Module):
    """``x <- x + mixer(x)`` (``block.ega``), then :class:`GCFN` (``block.gcfn``).

    ``mixer`` maps ``(batch, C, T)`` to ``(batch, C, T)`` (the residual branch): the gated
    focused linear attention (``fla`` mixer) of FLA-SepReformer, or :class:`SoftmaxEGA` of
    SepReformer (which also reads the relative-position keys ``pos_k``).

    Shape: ``(batch, C, T)`` -> ``(batch, C, T)``.
    """

    def __init__(self, mixer: nn.Module, channels: int, dropout: float = 0.0):
        super().__init__()
        self.needs_pos_k = bool(getattr(mixer, "needs_pos_k", False))
        self.block = nn.ModuleDict({"ega": mixer, "gcfn": GCFN(channels, dropout)})

    def forward(self, x: torch.Tensor, pos_k: Optional[torch.Tensor] = None) -> torch.Tensor:
        ega = self.block["ega"]
        x = x + (ega(x, pos_k) if self.needs_pos_k else ega(x))
        return self.block["gcfn"](x.transpose(1, 2)).transpose(1, 2)


class LocalBlock(nn.Module):
    """:class:`CLA` (``block.cla``) then :class:`GCFN` (``block.gcfn``).

    Shape: ``(batch, C, T)`` -> ``(batch, C, T)``."""

    def __init__(self, channels: int, kernel_size: int = 65, dropout: float = 0.0):
        super().__init__()
        self.block = nn.ModuleDict(
            {"cla": CLA(channels, kernel_size, dropout), "gcfn": GCFN(channels, dropout)}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block["gcfn"](self.block["cla"](x.transpose(1, 2)))
        return x.transpose(1, 2)


class SpkAttention(nn.Module):
    """Attention across the ``n_src`` speaker streams at each frame, then GCFN along time:

        x <- x + MHA(x) over (batch * frames, n_src, C),   x <- GCFN(x) over frames.

    The MHA (``self_attn``) has no positional term. Shape: ``(batch * n_src, C, T)`` ->
    ``(batch * n_src, C, T)``, speaker ``s`` of item ``b`` at batch index ``b * n_src + s``.
    """

    def __init__(self, channels: int, n_heads: int, n_src: int, dropout: float = 0.0):
        super().__init__()
        self.n_src = n_src
        self.self_attn = MultiHeadAttention(n_heads, channels, dropout)
        self.feed_forward = GCFN(channels, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bs, c, t = x.shape
        b = bs // self.n_src
        y = x.view(b, self.n_src, c, t).permute(0, 3, 1, 2).reshape(b * t, self.n_src, c)
        y = y + self.self_attn(y)
        y = y.view(b, t, self.n_src, c).permute(0, 2, 1, 3).reshape(bs, t, c)
        return self.feed_forward(y).transpose(1, 2)


class SpkSplit(nn.Module):
    """Split one stream into ``n_src``: ``Conv1x1(C -> 4 C S)``, GLU over channels,
    ``Conv1x1(2 C S -> C S)``, then speaker ``s`` takes channels ``[s C, (s+1) C)`` and
    ``GroupNorm(1, C, eps=1e-8)`` (``linear.{0,2}``, ``norm``).

    Shape: ``(batch, C, T)`` -> ``(batch * n_src, C, T)``."""

    def __init__(self, channels: int, n_src: int):
        super().__init__()
        self.n_src = n_src
        self.linear = nn.Sequential(
            nn.Conv1d(channels, 4 * channels * n_src, 1),
            nn.GLU(dim=-2),
            nn.Conv1d(2 * channels * n_src, channels * n_src, 1),
        )
        self.norm = nn.GroupNorm(1, channels, eps=1e-8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x)
        b, _, t = x.shape
        return self.norm(x.reshape(b * self.n_src, -1, t))


class DownConv(nn.Module):
    """Halve the frame rate: depthwise ``Conv1d(k, stride 2, pad (k-1)/2)``, BatchNorm1d, GELU
    (``down_conv``, ``BN``). Shape: ``(batch, C, T)`` -> ``(batch, C, ceil(T / 2))``."""

    def __init__(self, channels: int, kernel_size: int = 5):
        super().__init__()
        self.down_conv = nn.Conv1d(
            channels,
            channels,
            kernel_size,
            stride=2,
            padding=(kernel_size - 1) // 2,
            groups=channels,
        )
        self.BN = nn.BatchNorm1d(channels)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gelu(self.BN(self.down_conv(x)))


class OutputLayer(nn.Module):
    """Features to encoder space: ``Linear(F, 4F)``, GLU, ``Linear(2F, E)`` per frame
    (``end_conv1x1``); with ``masking`` (the aux heads) the result is ``ReLU(.)`` times the
    encoder output ``enc`` of the stream's mixture.

    Shape: ``(batch * n_src, F, >= T0)``, ``enc`` ``(batch, E, T0)`` ->
    ``(batch * n_src, E, T0)`` (cropped to ``T0``)."""

    def __init__(self, enc_channels: int, feature_dim: int, n_src: int, masking: bool = False):
        super().__init__()
        self.n_src, self.masking = n_src, masking
        self.end_conv1x1 = nn.Sequential(
            nn.Linear(feature_dim, 4 * feature_dim),
            nn.GLU(),
            nn.Linear(2 * feature_dim, enc_channels),
        )

    def forward(self, x: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        x = self.end_conv1x1(x[..., : enc.shape[-1]].transpose(1, 2)).transpose(1, 2)
        if self.masking:
            x = torch.relu(x) * enc.repeat_interleave(self.n_src, dim=0)
        return x
