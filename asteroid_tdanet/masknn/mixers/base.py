"""The contract every sequence mixer of the package fulfils."""

from typing import Tuple

import torch
from torch import nn

EXPORT_FORMATS = ("onnx", "torchscript")


class ExportNotSupported(RuntimeError):
    """A model holds a mixer that cannot be exported to the requested format."""


class SequenceMixer(nn.Module):
    """A module that gives every frame context from other frames.

    ``forward(x)`` maps ``(batch, channels, frames) -> (batch, channels, frames)`` and returns
    the *residual branch* only: the block that holds the mixer adds the input (TDANet's GA
    module: ``x + drop_path(mixer(x))``). A mixer owns the norms it applies to its input.

    Every mixer states:

    * ``causal``: output frame ``t`` depends on input frames ``<= t`` only;
    * :meth:`macs`: multiply-accumulates of one call on ``frames`` frames (batch 1), used by
      :func:`asteroid_tdanet.utils.count_macs`;
    * ``export_formats``: the formats among ``("onnx", "torchscript")`` it exports to, and
      :attr:`export_refusal`: why the others are refused (shown to the user).

    :meth:`make_exportable` is called on a deep copy of the model before export, with
    ``max_frames``, the largest sequence the exported graph must handle.
    """

    causal: bool = False
    export_formats: Tuple[str, ...] = EXPORT_FORMATS
    export_refusal: str = ""

    def macs(self, frames: int) -> int:
        """Multiply-accumulates of one forward pass on ``frames`` frames, batch 1."""
        raise NotImplementedError

    def make_exportable(self, max_frames: int) -> None:
        """Prepare this (copied) module for tracing; the default needs nothing."""

    def check_exportable(self, fmt: str) -> None:
        """Raise :class:`ExportNotSupported` unless this mixer exports to ``fmt``."""
        if fmt not in self.export_formats:
            name = getattr(self, "mixer_name", type(self).__name__)
            raise ExportNotSupported(
                f"the {name!r} sequence mixer cannot be exported to {fmt}: {self.export_refusal}"
            )

    @staticmethod
    def channels_last(x: torch.Tensor) -> torch.Tensor:
        """``(batch, C, T) -> (batch, T, C)``, the layout sequence models compute in."""
        return x.transpose(1, 2)
