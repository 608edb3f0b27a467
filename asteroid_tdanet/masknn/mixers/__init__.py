"""Sequence mixers: interchangeable modules that give TDANet's global feature its context.

Every mixer maps ``(batch, channels, frames) -> (batch, channels, frames)`` (the residual
branch; the caller adds the input), states whether it is causal, counts its MACs for a given
length and says which export formats it supports (:class:`~.base.SequenceMixer`).

``MIXERS`` maps each name to its class. Adding a mixer is one file holding a
:class:`SequenceMixer` subclass plus one line here.
"""

import inspect
from typing import Dict, Type

from .base import EXPORT_FORMATS, ExportNotSupported, SequenceMixer
from .fla import GatedFocusedLinearAttention
from .mhsa import MultiHeadSelfAttention
from .mhsa_frame_local import FrameLocalSelfAttention
from .s4 import S4Mixer
from .wsa import WindowedSinkAttentionMixer

MIXERS: Dict[str, Type[SequenceMixer]] = {
    "mhsa": MultiHeadSelfAttention,
    "mhsa-frame-local": FrameLocalSelfAttention,
    "s4": S4Mixer,
    "fla": GatedFocusedLinearAttention,
    "wsa": WindowedSinkAttentionMixer,
}


def build_mixer(name: str, channels: int, **kwargs) -> SequenceMixer:
    """Build mixer ``name`` for ``channels`` features.

    Every mixer takes ``causal`` and ``dropout``; the other keyword arguments are the
    mixer's own (see its class). Unknown names or arguments raise a ``ValueError`` that
    lists the valid ones.
    """
    if name not in MIXERS:
        raise ValueError(f"Unknown sequence mixer {name!r}; choose one of {sorted(MIXERS)}.")
    cls = MIXERS[name]
    accepted = mixer_arguments(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"The {name!r} mixer does not take {unknown}; its arguments are {sorted(accepted)}."
        )
    return cls(channels, **kwargs)


def mixer_arguments(name: str) -> Dict[str, object]:
    """Keyword arguments of mixer ``name`` with their defaults."""
    params = inspect.signature(MIXERS[name].__init__).parameters
    return {p.name: p.default for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


__all__ = [
    "MIXERS",
    "EXPORT_FORMATS",
    "ExportNotSupported",
    "SequenceMixer",
    "build_mixer",
    "mixer_arguments",
    "MultiHeadSelfAttention",
    "FrameLocalSelfAttention",
    "S4Mixer",
    "GatedFocusedLinearAttention",
    "WindowedSinkAttentionMixer",
]
