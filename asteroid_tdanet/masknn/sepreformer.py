"""SepReformer's asymmetric U-shaped separator (Shin et al., NeurIPS 2024), with the global
blocks' mixer chosen by the caller: gated focused linear attention (FLA-SepReformer, Wang et
al., Interspeech 2025) or SepReformer's pooled softmax EGA.

Attribute names are the reference's (``pos_emb``, ``enc_stages``, ``bottleneck_G``,
``spk_split_block``, ``simple_fusion``, ``dec_stages``), so ``separator.separator.*`` of the
ModelScope port (and ``separator.*`` of SepReformer) load 1:1.
"""

from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .nearest import upsample_nearest
from .sepreformer_blocks import (
    DownConv,
    GlobalBlock,
    LocalBlock,
    RelativePositionalEncoding,
    SpkAttention,
    SpkSplit,
)

MixerFactory = Callable[[], nn.Module]


class SepEncStage(nn.Module):
    """Encoder stage: ``[GlobalBlock, LocalBlock] x 2`` (``g_block_1``, ``l_block_1``,
    ``g_block_2``, ``l_block_2``), then (if ``down``) :class:`DownConv` (``downconv``).

    ``forward(x, pos_k)`` -> ``(downsampled x, skip)``: ``(batch, F, T)`` ->
    ``(batch, F, ceil(T / 2))`` and ``(batch, F, T)``."""

    def __init__(
        self,
        make_mixer: MixerFactory,
        channels: int,
        cla_kernel: int,
        down_kernel: int,
        dropout: float,
        down: bool = True,
    ):
        super().__init__()
        for j in (1, 2):
            setattr(self, f"g_block_{j}", GlobalBlock(make_mixer(), channels, dropout))
            setattr(self, f"l_block_{j}", LocalBlock(channels, cla_kernel, dropout))
        self.downconv = DownConv(channels, down_kernel) if down else None

    def forward(
        self, x: torch.Tensor, pos_k: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.l_block_1(self.g_block_1(x, pos_k))
        x = self.l_block_2(self.g_block_2(x, pos_k))
        return (x if self.downconv is None else self.downconv(x)), x


class SepDecStage(nn.Module):
    """Decoder stage on the ``batch * n_src`` streams: ``[GlobalBlock, LocalBlock,
    SpkAttention] x 3`` (``g_block_j``, ``l_block_j``, ``spk_attn_j``, j = 1..3).

    Shape: ``(batch * n_src, F, T)`` -> ``(batch * n_src, F, T)``."""

    def __init__(
        self,
        make_mixer: MixerFactory,
        channels: int,
        n_heads: int,
        n_src: int,
        cla_kernel: int,
        dropout: float,
    ):
        super().__init__()
        for j in (1, 2, 3):
            setattr(self, f"g_block_{j}", GlobalBlock(make_mixer(), channels, dropout))
            setattr(self, f"l_block_{j}", LocalBlock(channels, cla_kernel, dropout))
            setattr(self, f"spk_attn_{j}", SpkAttention(channels, n_heads, n_src, dropout))

    def forward(self, x: torch.Tensor, pos_k: Optional[torch.Tensor] = None) -> torch.Tensor:
        for j in (1, 2, 3):
            x = getattr(self, f"g_block_{j}")(x, pos_k)
            x = getattr(self, f"l_block_{j}")(x)
            x = getattr(self, f"spk_attn_{j}")(x)
        return x


class SepReformerSeparator(nn.Module):
    """The U-shaped separator of SepReformer:

    1. zero-pad the frames at the end to a multiple of ``2^R``;
    2. ``R`` encoder stages (:class:`SepEncStage`, each halving the frame rate); every skip
       goes through the one shared :class:`SpkSplit` (``spk_split_block``);
    3. the bottleneck ``bottleneck_G`` (an encoder stage without downsampling), split too;
    4. ``R`` decoder stages: nearest-upsample to the skip's length, concatenate with the
       skip, ``Conv1x1(2F -> F)`` (``simple_fusion.i``), :class:`SepDecStage`.

    Args:
        make_mixer: builds one global-block mixer (called once per global block).
        channels (int): feature size ``F``.
        n_src (int): speakers ``S``.
        n_stages (int): ``R``.
        n_heads (int): heads of the speaker attention (and of the relative positions).
        cla_kernel, down_kernel (int): CLA and downsampling kernels (65, 5).
        dropout (float): dropout of GCFN / CLA / softmax attention.
        pos_maxlen (int, optional): build ``pos_emb`` (relative-position keys of
            :class:`~.sepreformer_blocks.SoftmaxEGA`, ``Embedding(2 pos_maxlen, F / n_heads)``);
            computed only when a mixer reads it. ``None``: no ``pos_emb``.

    ``forward(x)``: ``(batch, F, T)`` -> ``(last, stage_inputs)``: the last decoder stage's
    output ``(batch * S, F, T_pad)`` and the input of every decoder stage (the split
    bottleneck output first), each ``(batch * S, F, T_pad / 2^(R - i))``.
    """

    def __init__(
        self,
        make_mixer: MixerFactory,
        channels: int,
        n_src: int,
        n_stages: int,
        n_heads: int,
        cla_kernel: int = 65,
        down_kernel: int = 5,
        dropout: float = 0.0,
        pos_maxlen: Optional[int] = None,
    ):
        super().__init__()
        self.n_stages = n_stages
        self.pos_emb = (
            RelativePositionalEncoding(channels // n_heads, pos_maxlen)
            if pos_maxlen is not None
            else None
        )
        self.enc_stages = nn.ModuleList(
            SepEncStage(make_mixer, channels, cla_kernel, down_kernel, dropout)
            for _ in range(n_stages)
        )
        self.bottleneck_G = SepEncStage(
            make_mixer, channels, cla_kernel, down_kernel, dropout, down=False
        )
        self.spk_split_block = SpkSplit(channels, n_src)
        self.simple_fusion = nn.ModuleList(
            nn.Conv1d(2 * channels, channels, 1) for _ in range(n_stages)
        )
        self.dec_stages = nn.ModuleList(
            SepDecStage(make_mixer, channels, n_heads, n_src, cla_kernel, dropout)
            for _ in range(n_stages)
        )
        self.needs_pos_k = any(
            getattr(m, "needs_pos_k", False) for m in self.modules() if m is not self
        )
        if self.needs_pos_k and self.pos_emb is None:
            raise ValueError("The global blocks' mixer reads relative positions: give pos_maxlen.")

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        unit = 2**self.n_stages
        x = F.pad(x, (0, -x.shape[-1] % unit))
        pos_k = self.pos_emb(x.shape[-1] // unit) if self.needs_pos_k else None
        skips = []
        for stage in self.enc_stages:
            x, skip = stage(x, pos_k)
            skips.append(self.spk_split_block(skip))
        x = self.spk_split_block(self.bottleneck_G(x, pos_k)[0])
        stage_inputs = []
        for i, stage in enumerate(self.dec_stages):
            stage_inputs.append(x)
            skip = skips[self.n_stages - 1 - i]
            x = upsample_nearest(x, skip.shape[-1])
            x = stage(self.simple_fusion[i](torch.cat([x, skip], dim=1)), pos_k)
        return x, stage_inputs
