"""What a model's outputs are as files: the two kinds of separation model the toolkit runs.

* **Speaker models** (TDANet, S4M, Conv-TasNet, ...): one mono channel in, ``n_src`` mono
  sources out in no particular order; files ``<name>_s1.wav`` ... ``<name>_s<n>.wav``;
  consecutive chunks are aligned by permutation.
* **Stem models** (music: :class:`~asteroid_tdanet.models.MelBandRoformer`): ``channels``
  audio channels in (stereo), named stems out with the input's channels (``stems``, e.g.
  ``("vocals",)``), plus optionally the residual ``mixture - sum(stems)`` under
  ``residual_stem`` (``"accompaniment"``); files ``<name>_vocals.wav``,
  ``<name>_accompaniment.wav``, each stereo; no alignment (the outputs have fixed meanings).

A model declares itself a stem model with the class attributes ``stems`` (names of the
stems its forward returns, in order) and ``residual_stem`` (or ``None``), and the instance
attribute ``audio_channels``.
"""

from dataclasses import dataclass
from typing import Tuple

import torch


@dataclass(frozen=True)
class OutputLayout:
    """Output files of a model.

    Attributes:
        names: file-name suffixes, one per output (``s1``, ``s2`` / ``vocals``, ...).
        channels: audio channels of the model's input and of every output.
        align: reorder outputs between chunks (permutation-invariant speaker models).
        residual: the last output is the input less the model's outputs.
    """

    names: Tuple[str, ...]
    channels: int = 1
    align: bool = True
    residual: bool = False

    @property
    def is_stem_model(self) -> bool:
        return not self.align

    @property
    def n_outputs(self) -> int:
        return len(self.names)


def speaker_names(n_src: int) -> Tuple[str, ...]:
    """File-name suffixes of a speaker model's outputs: ``s1 .. s<n_src>``."""
    return tuple(f"s{i}" for i in range(1, n_src + 1))


def output_layout(model) -> OutputLayout:
    """The :class:`OutputLayout` of ``model``."""
    stems = getattr(model, "stems", None)
    if stems:
        residual = getattr(model, "residual_stem", None)
        names = tuple(stems) + ((residual,) if residual else ())
        channels = int(getattr(model, "audio_channels", 1))
        return OutputLayout(names, channels=channels, align=False, residual=bool(residual))
    from ..models.registry import n_src_of

    return OutputLayout(speaker_names(n_src_of(model)))


class LayoutRunner:
    """Calls a model runner and returns every output of ``layout`` stacked on one axis.

    Speaker models: ``(batch, time) -> (batch, n_src, time)``, unchanged. Stem models:
    ``(batch, channels, time) -> (batch, n_outputs * channels, time)``, rows
    ``[stem_0 channels..., stem_1 channels..., residual channels...]``: the chunking
    (:mod:`.overlap_add`) works on the last axis only, so it needs no knowledge of stems.
    Cross-fading is linear, so the residual computed per chunk equals the residual of the
    cross-faded stems.

    A model may return fewer samples than it was given: a Mel-Band RoFormer loaded with
    ``official_compat=True`` returns, as the reference does, ``hop * (T // hop)``. The
    outputs are then completed with zeros at the end (under a hop; the residual there is the
    mixture), so that every caller gets the input's length. A longer output is an error.
    """

    def __init__(self, runner, layout: OutputLayout):
        self.runner, self.layout = runner, layout

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        est = self.runner(wav)
        missing = wav.shape[-1] - est.shape[-1]
        if missing < 0:
            raise RuntimeError(
                f"The model returned {est.shape[-1]} samples for an input of {wav.shape[-1]}."
            )
        if missing:
            est = torch.nn.functional.pad(est, (0, missing))
        if not self.layout.is_stem_model:
            return est
        batch, channels, time = wav.shape
        n_stems = self.layout.n_outputs - int(self.layout.residual)
        est = est.reshape(batch, n_stems, channels, est.shape[-1])
        if self.layout.residual:
            rest = wav[:, None].to(est.dtype) - est.sum(1, keepdim=True)
            est = torch.cat([est, rest], dim=1)
        return est.reshape(batch, -1, est.shape[-1])
