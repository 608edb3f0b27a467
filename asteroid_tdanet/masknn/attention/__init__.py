"""Attention operators shared by the sequence mixers (and by the models built on them)."""

from .focused_linear import FocusedLinearAttention
from .gated_rotary_attention import GatedRotaryAttention
from .windowed_sink_attend import windowed_sink_attend, windowed_sink_mask
from .windowed_sink_attention import WindowedSinkAttention

__all__ = [
    "FocusedLinearAttention",
    "GatedRotaryAttention",
    "WindowedSinkAttention",
    "windowed_sink_attend",
    "windowed_sink_mask",
]
