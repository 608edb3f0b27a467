"""Loading checkpoint files without arbitrary unpickling."""

import os
import re
from typing import Any

import numpy as np
import torch
from torch.torch_version import TorchVersion


class NotACheckpointError(ValueError):
    """Raised when a file is not a readable PyTorch checkpoint."""


def _numpy_globals() -> list:
    """numpy objects that released checkpoints may hold (scalars in ``infos``/``model_args``)."""
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    dtype_classes = [type(np.dtype(t)) for t in ("float32", "float64", "int32", "int64", "bool")]
    return [scalar, np.dtype, *dtype_classes]


# Classes a checkpoint may contain besides tensors and plain Python containers.
SAFE_GLOBALS = [TorchVersion, *_numpy_globals()]


def safe_torch_load(path: "str | os.PathLike") -> Any:
    """``torch.load(path, weights_only=True)`` with :data:`SAFE_GLOBALS` allowed, on CPU.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        NotACheckpointError: if the file is not a PyTorch checkpoint, or holds objects outside
            the allow-list (the message names the file and the offending object).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file at {path!r}.")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle/zip/runtime errors depending on the file
        raise NotACheckpointError(
            f"{path!r} is not a loadable model checkpoint: {load_error_reason(err).rstrip('.')}."
        ) from err


def load_error_reason(err: Exception) -> str:
    """Why a safe ``torch.load`` failed, in one line.

    torch's message starts with advice to re-run with ``weights_only=False`` (which would
    execute whatever the file holds) and names the refused object further down; this keeps
    the object (e.g. ``posix.system``) and drops the advice.
    """
    text = str(err).strip()
    blocked = re.search(r"GLOBAL ([\w.]+)", text)
    if blocked:
        return (
            f"it holds the Python object {blocked.group(1)}, which a safe load refuses to "
            "import (unpickling it could run arbitrary code; nothing in the file was run)"
        )
    marker = "WeightsUnpickler error:"
    if marker in text:
        detail = next(
            (line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()), ""
        )
        return f"not a PyTorch checkpoint (unpickling stopped: {detail or type(err).__name__})"
    return text.splitlines()[0] if text else type(err).__name__
