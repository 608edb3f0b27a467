"""TDANet's U-block: bottom-up encoder, global attention, top-down decoder (paper sec. 3.2-3.4)."""

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from .convolutions import ConvNorm, PointwiseConv1d
from .fusion import AdditiveFusion, AttentionFusion
from .global_attention import GlobalAttention


def pool_to_length(x: torch.Tensor, length: int, causal: bool) -> torch.Tensor:
    """Average-pool ``(batch, C, T)`` down to ``(batch, C, length)``.

    Non-causal: adaptive average pooling. Causal: ``T`` must be a multiple of ``length``
    (the masker pads to ensure it); output frame ``j`` averages the ``r = T // length`` input
    frames *ending* at ``j * r``, so it never sees frames that the nearest up-sampling later
    maps before them.
    """
    if x.shape[-1] == length:
        return x
    # 2D forms (height 1): channels-last kernels for frame-major inputs.
    if not causal:
        return F.adaptive_avg_pool2d(x.unsqueeze(2), (1, length)).squeeze(2)
    ratio = x.shape[-1] // length
    padded = F.pad(x, (ratio - 1, 0)).unsqueeze(2)
    return F.avg_pool2d(padded, (1, ratio), (1, ratio)).squeeze(2)[..., :length]


class UBlock(nn.Module):
    """One TDANet encoder-decoder block (applied ``n_blocks`` times with shared weights).

    1. ``proj_in``: 1x1 conv + norm + PReLU, ``bn_chan -> hid_chan``.
    2. ``bottom_up``: depthwise k5 stride-1 conv + norm, then ``depth - 1`` depthwise k5
       stride-2 conv + norm: features ``F_0 .. F_{depth-1}``, each half as long as the previous.
    3. GA: every ``F_i`` average-pooled to the coarsest length and summed, then
       :class:`GlobalAttention` gives the global feature ``G``.
    4. ``global_fusion``: ``F'_i = fuse(F_i, G)`` (1x1 :class:`AttentionFusion`).
    5. ``top_down``: from the coarsest scale down, ``X_i = LA_i(F'_i, X_{i+1})`` with
       ``X_{depth-1} = F'_{depth-1}`` (k5 :class:`AttentionFusion`).
    6. ``proj_out``: 1x1 conv ``hid_chan -> bn_chan`` plus the block's input (residual).

    Args:
        bn_chan (int): bottleneck (input/output) channels.
        hid_chan (int): channels inside the block.
        upsampling_depth (int): number of scales (``S + 1``; ``S`` down-samplings), >= 2.
        n_heads, dropout, drop_path: GA settings.
        norm_type (str): ``gLN`` (non-causal) or a causal norm.
        causal (bool): causal convolutions, pooling and attention.
        use_ga (bool): ablation switch: without it the GA module and the fusion of ``G`` are
            dropped (``F'_i = F_i``).
        use_la (bool): ablation switch: without it the decoder fuses by up-sampling and
            summation (``X_i = F'_i + up(X_{i+1})``).
        official_compat (bool): reproduce the released model: frame-local attention and the
            top LA layer fed ``F'_{depth-3}`` instead of the coarsest ``F'_{depth-1}``.

    Shape: ``(batch, bn_chan, T)`` -> ``(batch, bn_chan, T)``.
    """

    def __init__(
        self,
        bn_chan: int = 128,
        hid_chan: int = 512,
        upsampling_depth: int = 5,
        n_heads: int = 8,
        dropout: float = 0.1,
        drop_path: float = 0.1,
        norm_type: str = "gLN",
        causal: bool = False,
        use_ga: bool = True,
        use_la: bool = True,
        official_compat: bool = False,
    ):
        super().__init__()
        if upsampling_depth < 2:
            raise ValueError(f"upsampling_depth must be >= 2, got {upsampling_depth}.")
        self.depth, self.causal, self.use_ga, self.official_compat = (
            upsampling_depth,
            causal,
            use_ga,
            official_compat,
        )
        conv = dict(norm_type=norm_type, causal=causal)
        self.proj_in = ConvNorm(bn_chan, hid_chan, 1, activation=True, norm_type=norm_type)
        self.bottom_up = nn.ModuleList(
            ConvNorm(hid_chan, hid_chan, 5, stride=1 if i == 0 else 2, depthwise=True, **conv)
            for i in range(upsampling_depth)
        )
        if use_ga:
            self.global_attention = GlobalAttention(
                hid_chan, n_heads, dropout, drop_path, norm_type, causal, official_compat
            )
            self.global_fusion = nn.ModuleList(
                AttentionFusion(hid_chan, 1, **conv) for _ in range(upsampling_depth)
            )
        self.top_down = nn.ModuleList(
            AttentionFusion(hid_chan, 5, **conv) if use_la else AdditiveFusion()
            for _ in range(upsampling_depth - 1)
        )
        self.proj_out = PointwiseConv1d(hid_chan, bn_chan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scales: List[torch.Tensor] = [self.bottom_up[0](self.proj_in(x))]
        for layer in self.bottom_up[1:]:
            scales.append(layer(scales[-1]))

        if self.use_ga:
            coarsest = scales[-1].shape[-1]
            pooled = pool_to_length(scales[0], coarsest, self.causal)
            for feat in scales[1:]:
                pooled = pooled + pool_to_length(feat, coarsest, self.causal)
            glob = self.global_attention(pooled)
            scales = [fuse(feat, glob) for fuse, feat in zip(self.global_fusion, scales)]

        # The released code feeds the top LA layer scales[depth - 3] (python index i - 1 at
        # i = depth - 2), so its coarsest fused scale is computed but never used.
        top = (self.depth - 3) % self.depth if self.official_compat else self.depth - 1
        out = scales[top]
        for i in range(self.depth - 2, -1, -1):
            out = self.top_down[i](scales[i], out)
        return self.proj_out(out) + x
