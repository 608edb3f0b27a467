"""The masker's storage convention for ``(batch, C, frames)`` maps: frame-major.

A map is frame-major when ``x.transpose(1, 2)`` is contiguous (2D "channels-last"): each
frame's channels lie together. The CPU kernels TDANet relies on (depthwise convolutions, group
norms, pooling, nearest up-sampling, 1x1 convolutions as one matrix product) are fastest in
that layout, and the fused paths (:mod:`.nearest`, :mod:`.depthwise_grad`) need it.

The convention is a CPU one: on other devices (CUDA) the maps stay channel-major, the layout
the GPU kernels of those operators are written for (:func:`prefers_frame_major`).
"""

import torch


def is_frame_major(x: torch.Tensor) -> bool:
    """Whether ``(batch, C, T)`` ``x`` is stored frame-major (unit channel stride, frames
    ``C`` apart)."""
    return x.stride(1) == 1 and x.stride(2) == x.shape[1]


# Devices whose maps are stored frame-major. On a GPU the channels-last forms of the depthwise
# convolutions and group norms are slower than the plain ones, and the fused up-sampling of
# :mod:`.nearest` is one small kernel per run of frames.
FRAME_MAJOR_DEVICES = ("cpu",)


def prefers_frame_major(x: torch.Tensor) -> bool:
    """Whether maps on ``x``'s device are stored frame-major (:data:`FRAME_MAJOR_DEVICES`)."""
    return x.device.type in FRAME_MAJOR_DEVICES


def frame_major(x: torch.Tensor) -> torch.Tensor:
    """``x`` stored frame-major, copied only when it is not."""
    return x if is_frame_major(x) else x.transpose(1, 2).contiguous().transpose(1, 2)
