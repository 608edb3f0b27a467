"""TDANet's U-block: bottom-up encoder, global module, top-down decoder (paper sec. 3.2-3.4)."""

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .convolutions import ConvNorm, PointwiseConv1d
from .fusion import AdditiveFusion, AttentionFusion


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


TOP_DOWN_INPUTS = ("coarsest", "released")


class UBlock(nn.Module):
    """One TDANet encoder-decoder block (applied ``n_blocks`` times with shared weights).

    1. ``proj_in``: 1x1 conv + norm + PReLU, ``bn_chan -> hid_chan``.
    2. ``bottom_up``: depthwise k5 stride-1 conv + norm, then ``depth - 1`` depthwise k5
       stride-2 conv + norm: features ``F_0 .. F_{depth-1}``, each half as long as the previous.
    3. Global feature: every ``F_i`` average-pooled to the coarsest length and summed, then
       ``global_module`` (TDANet's GA module: :class:`GlobalAttention`) gives ``G``.
    4. ``global_fusion``: ``F'_i = fuse(F_i, G)`` (1x1 :class:`AttentionFusion`).
    5. ``top_down``: from the coarsest scale down, ``X_i = LA_i(F'_i, X_{i+1})`` with
       ``X_{depth-1} = F'_{depth-1}`` (k5 :class:`AttentionFusion`).
    6. ``proj_out``: 1x1 conv ``hid_chan -> bn_chan`` plus the block's input (residual).

    Args:
        bn_chan (int): bottleneck (input/output) channels.
        hid_chan (int): channels inside the block.
        upsampling_depth (int): number of scales (``S + 1``; ``S`` down-samplings), >= 2.
        global_module (nn.Module, optional): maps the pooled ``(batch, hid_chan, T_coarsest)``
            feature to ``G``; ``None`` is the "without GA" ablation (no global feature, no
            fusion: ``F'_i = F_i``).
        norm_type (str): ``gLN`` (non-causal) or a causal norm.
        causal (bool): causal convolutions and pooling.
        use_la (bool): ablation switch: without it the decoder fuses by up-sampling and
            summation (``X_i = F'_i + up(X_{i+1})``).
        top_down_input (str): what feeds the top LA layer: ``"coarsest"``, the paper's
            ``F'_{depth-1}``, or ``"released"``, the released code's ``F'_{depth-3}`` (python
            index ``i - 1`` at ``i = depth - 2``), which leaves the coarsest fused scale unused.

    Shape: ``(batch, bn_chan, T)`` -> ``(batch, bn_chan, T)``.
    """

    def __init__(
        self,
        bn_chan: int = 128,
        hid_chan: int = 512,
        upsampling_depth: int = 5,
        *,
        global_module: Optional[nn.Module] = None,
        norm_type: str = "gLN",
        causal: bool = False,
        use_la: bool = True,
        top_down_input: str = "coarsest",
    ):
        super().__init__()
        if upsampling_depth < 2:
            raise ValueError(f"upsampling_depth must be >= 2, got {upsampling_depth}.")
        if top_down_input not in TOP_DOWN_INPUTS:
            raise ValueError(f"top_down_input must be one of {TOP_DOWN_INPUTS}.")
        self.depth, self.causal = upsampling_depth, causal
        conv = dict(norm_type=norm_type, causal=causal)
        self.proj_in = ConvNorm(bn_chan, hid_chan, 1, activation=True, norm_type=norm_type)
        self.bottom_up = nn.ModuleList(
            ConvNorm(hid_chan, hid_chan, 5, stride=1 if i == 0 else 2, depthwise=True, **conv)
            for i in range(upsampling_depth)
        )
        self.global_module = global_module
        if global_module is not None:
            self.global_fusion = nn.ModuleList(
                AttentionFusion(hid_chan, 1, **conv) for _ in range(upsampling_depth)
            )
        self.top_down = nn.ModuleList(
            AttentionFusion(hid_chan, 5, **conv) if use_la else AdditiveFusion()
            for _ in range(upsampling_depth - 1)
        )
        self.proj_out = PointwiseConv1d(hid_chan, bn_chan)
        # Index of the fused scale that feeds the top LA layer.
        self._top_index = (
            self.depth - 1 if top_down_input == "coarsest" else (self.depth - 3) % self.depth
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scales: List[torch.Tensor] = [self.bottom_up[0](self.proj_in(x))]
        for layer in self.bottom_up[1:]:
            scales.append(layer(scales[-1]))

        if self.global_module is not None:
            coarsest = scales[-1].shape[-1]
            pooled = pool_to_length(scales[0], coarsest, self.causal)
            for feat in scales[1:]:
                pooled = pooled + pool_to_length(feat, coarsest, self.causal)
            glob = self.global_module(pooled)
            scales = [fuse(feat, glob) for fuse, feat in zip(self.global_fusion, scales)]

        out = scales[self._top_index]
        for i in range(self.depth - 2, -1, -1):
            out = self.top_down[i](scales[i], out)
        return self.proj_out(out) + x
