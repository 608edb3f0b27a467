"""The masker's storage convention for ``(batch, C, frames)`` maps: frame-major.

A map is frame-major when ``x.transpose(1, 2)`` is contiguous (2D "channels-last"): each
frame's channels lie together. The CPU kernels TDANet relies on (depthwise convolutions, group
norms, pooling, nearest up-sampling, 1x1 convolutions as one matrix product) are fastest in
that layout, and the fused paths (:mod:`.nearest`, :mod:`.depthwise_grad`) need it.
"""

import torch


def is_frame_major(x: torch.Tensor) -> bool:
    """Whether ``(batch, C, T)`` ``x`` is stored frame-major (unit channel stride, frames
    ``C`` apart)."""
    return x.stride(1) == 1 and x.stride(2) == x.shape[1]


def frame_major(x: torch.Tensor) -> torch.Tensor:
    """``x`` stored frame-major, copied only when it is not."""
    return x if is_frame_major(x) else x.transpose(1, 2).contiguous().transpose(1, 2)
