"""Preparing a model for export: mixer capabilities, and one traceable U-block operation.

1. Every sequence mixer says which formats it exports to
   (:attr:`~asteroid_tdanet.masknn.mixers.SequenceMixer.export_formats`); :func:`exportable_copy`
   refuses a model holding one that cannot, with the mixer's reason, and lets each mixer
   prepare itself (:meth:`~asteroid_tdanet.masknn.mixers.SequenceMixer.make_exportable`) for
   the longest input the graph must handle.
2. The legacy (TorchScript-based) ONNX exporter, the one available without ``onnxscript``,
   refuses adaptive average pooling to a length known only at run time (the U-block pools
   every scale to the coarsest one) and average pooling with a run-time kernel (causal
   models); :func:`traceable_pooling` swaps in an equivalent made of cumulative sums for the
   duration of a ``with`` block.
"""

import contextlib
import copy
import math
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..masknn import ublock
from ..masknn.mixers import ExportNotSupported, SequenceMixer

__all__ = [
    "ExportNotSupported",
    "check_model_exportable",
    "exportable_copy",
    "pool_to_length_traceable",
    "traceable_pooling",
]

# Margin (frames) added to the extrapolated longest mixer input.
_FRAME_MARGIN = 16


def pool_to_length_traceable(x: torch.Tensor, length: int, causal: bool) -> torch.Tensor:
    """Same result as :func:`asteroid_tdanet.masknn.ublock.pool_to_length`, with cumulative sums.

    Adaptive pooling of ``T`` frames to ``L`` averages frames
    ``[floor(j T / L), ceil((j + 1) T / L))`` for output ``j``; the causal pooling averages the
    ``r = T // L`` frames ending at frame ``j r`` (zeros before the start count). A window sum
    is a difference of two cumulative sums (in float64, so long inputs lose no precision).
    Shape: ``(batch, C, T)`` -> ``(batch, C, L)``.
    """
    if x.shape[-1] == length:
        return x
    n_frames = x.shape[-1]
    cumsum = F.pad(torch.cumsum(x.double(), dim=-1), (1, 0))
    j = torch.arange(length, device=x.device)
    if causal:
        ratio = n_frames // length
        end = j * ratio + 1
        start = (end - ratio).clamp(min=0)
        count = torch.full_like(end, ratio)
    else:
        start = torch.div(j * n_frames, length, rounding_mode="floor")
        end = torch.div((j + 1) * n_frames + length - 1, length, rounding_mode="floor")
        count = end - start
    sums = cumsum.index_select(-1, end) - cumsum.index_select(-1, start)
    return (sums / count).to(x.dtype)


@contextlib.contextmanager
def traceable_pooling():
    """Use :func:`pool_to_length_traceable` inside the U-block while the block runs."""
    original = ublock.pool_to_length
    ublock.pool_to_length = pool_to_length_traceable
    try:
        yield
    finally:
        ublock.pool_to_length = original


def mixer_frames(model: nn.Module, n_samples: int) -> Dict[SequenceMixer, int]:
    """Longest sequence each mixer of ``model`` sees for a ``(1, n_samples)`` input."""
    seen: Dict[SequenceMixer, int] = {}

    def record(module, inputs):
        seen[module] = max(seen.get(module, 0), inputs[0].shape[-1])

    mixers = [m for m in model.modules() if isinstance(m, SequenceMixer)]
    handles = [m.register_forward_pre_hook(record) for m in mixers]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, n_samples))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def check_model_exportable(model: nn.Module, fmt: str) -> None:
    """Raise :class:`ExportNotSupported` when the model class refuses ``fmt`` (its
    ``export_formats`` / ``export_refusal`` attributes); cheap, nothing is copied."""
    formats = getattr(model, "export_formats", None)
    if formats is not None and fmt not in formats:
        raise ExportNotSupported(f"the model cannot be exported to {fmt}: {model.export_refusal}")


def has_length_limit(model: nn.Module) -> bool:
    """Whether an export of ``model`` takes inputs of at most ``max_seconds`` only: some
    mixer of it is prepared for a longest input (e.g. ``s4``, whose kernel is precomputed)."""
    return any(
        type(m).make_exportable is not SequenceMixer.make_exportable
        for m in model.modules()
        if isinstance(m, SequenceMixer)
    )


def exportable_copy(model: nn.Module, fmt: str, max_seconds: float = 60.0) -> nn.Module:
    """Deep copy of ``model`` (eval mode, CPU, float32) ready to be traced for ``fmt``.

    Raises :class:`ExportNotSupported` if the model (its ``export_formats`` /
    ``export_refusal`` class attributes) or a mixer of it cannot be exported to ``fmt`` (the
    message names the model or mixer and why). Mixers that need it (e.g. ``s4``, whose kernel
    is precomputed) are prepared for inputs of up to ``max_seconds``.
    """
    check_model_exportable(model, fmt)
    model = copy.deepcopy(model).cpu().float().eval()
    mixers = [m for m in model.modules() if isinstance(m, SequenceMixer)]
    for mixer in mixers:
        mixer.check_exportable(fmt)
    if has_length_limit(model):
        # Frames per sample measured on a short input, extrapolated to the longest one.
        probe = max(1, int(model.sample_rate))
        longest = int(math.ceil(max_seconds * model.sample_rate))
        for mixer, frames in mixer_frames(model, probe).items():
            mixer.make_exportable(int(math.ceil(frames * longest / probe)) + _FRAME_MARGIN)
    return model
