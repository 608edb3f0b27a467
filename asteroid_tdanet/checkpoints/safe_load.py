"""Loading checkpoint files without arbitrary unpickling."""

import os
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
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise NotACheckpointError(
            f"{path!r} is not a loadable model checkpoint ({first_line})."
        ) from err
