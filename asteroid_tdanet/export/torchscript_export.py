"""Export to TorchScript (a traced graph with a dynamic time axis)."""

import os
import warnings
from typing import Optional

import torch
from torch import nn

from ..models.registry import n_src_of
from ..utils.stages import StageLog, maybe_stage
from .exportable import exportable_copy, has_length_limit


def export_torchscript(
    model: nn.Module,
    path,
    example_seconds: float = 1.0,
    max_seconds: float = 60.0,
    log: Optional[StageLog] = None,
) -> str:
    """Trace ``model`` on a ``(1, time)`` example and save it with ``torch.jit.save``.

    The traced module maps ``(batch, time)`` to ``(batch, n_src, time)`` for any batch and
    length, on CPU in float32 (move it with ``.to()`` after ``torch.jit.load``); models with
    an ``s4`` mixer take inputs of up to ``max_seconds`` (their kernels are precomputed). Its
    ``sample_rate`` and ``n_src`` are kept as attributes. ``model`` is not modified.
    ``log`` (:class:`~asteroid_tdanet.utils.stages.StageLog`) reports each step and its time.
    """
    path = os.fspath(path)
    if has_length_limit(model):  # a kernel precomputed for max_seconds takes no longer one
        example_seconds = min(example_seconds, max_seconds)
    example = torch.randn(1, max(1, int(example_seconds * model.sample_rate)))
    with maybe_stage(log, "preparing an exportable copy of the model"):
        export_model = exportable_copy(model, "torchscript", max_seconds=max_seconds)
    with maybe_stage(log, "tracing"), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(export_model, example, check_trace=False)
    extra = {"sample_rate": str(int(model.sample_rate)), "n_src": str(n_src_of(model))}
    with maybe_stage(log, f"saving {path}"):
        torch.jit.save(traced, path, _extra_files=extra)
    return path


def load_torchscript(path):
    """``(module, sample_rate, n_src)`` from a file written by :func:`export_torchscript`."""
    extra = {"sample_rate": "", "n_src": ""}
    module = torch.jit.load(os.fspath(path), map_location="cpu", _extra_files=extra)
    return module, int(extra["sample_rate"]), int(extra["n_src"])
