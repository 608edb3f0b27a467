"""Loading checkpoint files without arbitrary unpickling."""

import os
import re
import tarfile
import zipfile
from typing import Any

import numpy as np
import torch
from torch.torch_version import TorchVersion

from ..utils.errors import first_line


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
        NotACheckpointError: if the file is not a PyTorch checkpoint, is a zip archive with a
            damaged record (CRC check, see :func:`damaged_record`), or holds objects outside
            the allow-list (the message names the file and the offending object or record).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint file at {path!r}.")
    problem = format_problem(path) or damaged_record(path)
    if problem:
        raise NotACheckpointError(f"{path!r} is not a loadable model checkpoint: {problem}.")
    if not hasattr(torch.serialization, "safe_globals"):  # an install made with --no-deps
        raise RuntimeError(
            f"Reading {path!r} safely needs torch >= 2.5 (torch.serialization.safe_globals); "
            f"this is torch {torch.__version__}: pip install 'torch>=2.5'."
        )
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle/zip/runtime errors depending on the file
        raise NotACheckpointError(
            f"{path!r} is not a loadable model checkpoint: {load_error_reason(err).rstrip('.')}."
        ) from err


# Leading bytes of a zip archive's first record (torch.save's format since torch 1.6).
ZIP_LOCAL_HEADER = b"PK\x03\x04"
# Leading bytes of files users mistake for a model (an input passed as --model, say).
_KNOWN_FORMATS = {
    b"RIFF": "a RIFF file (WAV audio?)",
    b"fLaC": "a FLAC audio file",
    b"OggS": "an Ogg file (Vorbis / Opus audio?)",
    b"ID3": "an MP3 audio file",
    b"\x89HDF": "an HDF5 file (a Keras / TensorFlow model?)",
    b"{": "a JSON / text file",
}


def format_problem(path: str) -> "str | None":
    """Why ``path`` cannot be a ``torch.save`` file, judged from its first bytes, or ``None``.

    torch.save writes a zip archive (torch >= 1.6) or a pickle (protocol 2+, first byte
    ``0x80``; older releases; very old ones a tar archive). Anything else fails deep inside
    the unpickler with messages such as ``pop from empty list``; this names the file type
    instead.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        return "the file is empty"
    if zipfile.is_zipfile(path) or head[:1] == b"\x80" or tarfile.is_tarfile(path):
        return None
    if head.startswith(ZIP_LOCAL_HEADER):
        # A zip archive keeps its directory at the end: a file cut short has the first
        # record's header but no directory, which zipfile does not take for an archive.
        return (
            "it is a truncated or damaged zip archive (torch.save's format, but the "
            "directory at the end of the archive is missing), as an interrupted download or "
            "copy leaves"
        )
    kind = next((kind for magic, kind in _KNOWN_FORMATS.items() if head.startswith(magic)), None)
    return (
        f"it is {kind}, not a PyTorch checkpoint"
        if kind
        else "not a PyTorch checkpoint (neither a zip archive, torch.save's format, nor a pickle)"
    )


def damaged_record(path: str) -> "str | None":
    """Which record of the zip archive ``path`` fails its CRC check, or ``None``.

    ``torch.load`` does not check the CRCs that ``torch.save`` writes: a file damaged inside a
    tensor's record (a bad disk, an incomplete copy) loads without an error and with wrong
    weights (1e38 and more). Reading every record once costs a pass over the file, small next
    to building the model. Records stored with CRC 0 are not checked: that is what
    ``torch.save`` writes when its ``compute_crc32`` option is off (such files load with
    ``torch.load``), and a computed CRC is 0 for one record in four billion.
    """
    if not zipfile.is_zipfile(path):
        return None
    bad = None
    try:
        with zipfile.ZipFile(path) as archive:
            for record in archive.infolist():
                if record.CRC == 0:
                    continue
                try:
                    with archive.open(record) as stream:  # raises at the end on a bad CRC
                        while stream.read(1 << 24):
                            pass
                except zipfile.BadZipFile:
                    bad = record.filename
                    break
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, OSError) as err:
        return f"its zip archive is damaged ({first_line(err).rstrip('.')})"
    if bad is None:
        return None
    return (
        f"its zip archive's record {bad!r} is damaged: the CRC check fails (corrupted on disk "
        "or in a download or copy)"
    )


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
    return first_line(err)
