"""Export to ONNX with a dynamic batch and time axis."""

import contextlib
import importlib.util
import os
import threading
import warnings
from typing import Iterator, Optional

import torch
from torch import nn

from ..utils.stages import StageLog, maybe_stage
from .exportable import exportable_copy, traceable_pooling

INPUT_NAME, OUTPUT_NAME = "mixture", "sources"


def default_opset() -> int:
    """The opset the installed torch exports by default."""
    from torch.onnx import _constants

    return _constants.ONNX_DEFAULT_OPSET


@contextlib.contextmanager
def graph_lint_skipped() -> Iterator[None]:
    """Skip the TorchScript graph linter while torch's ONNX exporter runs.

    The exporter lints the whole graph about ten times; on full-size TDANet's unrolled graph
    (about 33,000 nodes) that was 30 of 44 s of an export on one thread. The linter only
    checks the graph's invariants (it raises on an internal error and changes nothing), and
    the file written is byte-identical without it (tested).
    """
    lint = getattr(torch._C, "_jit_pass_lint", None)
    if lint is None:  # a torch without it: nothing to skip
        yield
        return
    torch._C._jit_pass_lint = lambda graph: None
    try:
        yield
    finally:
        torch._C._jit_pass_lint = lint


def export_onnx(
    model: nn.Module,
    path,
    opset: Optional[int] = None,
    example_seconds: float = 1.0,
    log: Optional[StageLog] = None,
) -> str:
    """Write ``model`` as an ONNX graph ``mixture (batch, time) -> sources (batch, n_src, time)``.

    Args:
        model: a TDANet (or any model with ``sample_rate`` taking ``(batch, time)``).
        path: output file.
        opset (int, optional): ONNX opset (default: the installed torch's default).
        example_seconds (float): length of the example input used for tracing; the exported
            graph accepts any length.
        log (StageLog, optional): reports each step and its time (the export itself takes
            14-16 s for the full-size ``tdanet`` on one CPU thread, and reports nothing on its
            own).

    Uses torch's TorchScript-based exporter (``dynamo=False``), which needs the ``onnx``
    package (the ``export`` extra) but not ``onnxscript``, on an
    :func:`~.exportable.exportable_copy` of the model; ``model`` is not modified.
    Raises :class:`~.exportable.ExportNotSupported` when a sequence mixer of the model has no
    ONNX form, ``ImportError`` (one line naming the extra) without ``onnx``. Returns the path
    written.
    """
    if importlib.util.find_spec("onnx") is None:
        raise ImportError(
            "ONNX export needs the onnx package: pip install 'asteroid-tdanet[export]'"
        )
    # torch's exporter keeps process-wide state (GLOBALS.in_onnx_export) and
    # traceable_pooling patches a module function: one export at a time per process.
    with EXPORT_LOCK:
        return _export_onnx(model, os.fspath(path), opset, example_seconds, log)


# Held by every ONNX export (see export_onnx); the ONNX cache holds it too, so that threads
# starting together export a model once.
EXPORT_LOCK = threading.RLock()


def _export_onnx(model, path: str, opset, example_seconds: float, log) -> str:
    opset = opset or default_opset()
    example = torch.randn(1, max(1, int(example_seconds * model.sample_rate)))
    with maybe_stage(log, "preparing an exportable copy of the model"):
        export_model = exportable_copy(model, "onnx")
    stage = f"tracing and converting to ONNX (opset {opset}) into {path}"
    with maybe_stage(log, stage), traceable_pooling(), graph_lint_skipped():
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about every Python-level shape comparison; the dynamic axes are
            # verified by running the exported graph on other lengths instead (see tests).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
            torch.onnx.export(
                export_model,
                (example,),
                path,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={
                    INPUT_NAME: {0: "batch", 1: "time"},
                    OUTPUT_NAME: {0: "batch", 2: "time"},
                },
            )
    return path


def run_onnx(path, wav: torch.Tensor) -> torch.Tensor:
    """Run an exported graph with onnxruntime (CPU): ``(batch, time)`` -> ``(batch, n_src, time)``."""
    import onnxruntime as ort

    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    (out,) = session.run([OUTPUT_NAME], {INPUT_NAME: wav.detach().cpu().float().numpy()})
    return torch.from_numpy(out)
