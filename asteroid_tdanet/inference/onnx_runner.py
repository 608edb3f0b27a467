"""A separation model run by onnxruntime (CPU) from its exported ONNX graph, behind the same
interface as :class:`~.runner.ModelRunner`, so the chunking, alignment and streaming of
:class:`~.separator.Separator` are the same whatever runs the model.

The graph is exported once per model (weights, arguments, torch version and opset) into a
cache folder (``$ASTEROID_TDANET_CACHE/onnx``, default ``~/.cache/asteroid_tdanet/onnx``) and
reused afterwards: exporting a full-size TDANet takes tens of seconds.
"""

import hashlib
import json
import os
import tempfile
from typing import Callable, Optional

import torch

from ..utils.errors import first_line
from ..utils.waveform import to_float_waveform

CACHE_ENV = "ASTEROID_TDANET_CACHE"


class OnnxRuntimeUnavailable(RuntimeError):
    """onnxruntime is not installed (it comes with ``asteroid-tdanet[export]``)."""


class OnnxCacheError(RuntimeError):
    """The cache folder cannot be written, or a graph cannot be loaded."""


def cache_dir() -> str:
    """Folder of the exported graphs."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "asteroid_tdanet"
    )
    return os.path.join(root, "onnx")


def model_fingerprint(model, opset: int) -> str:
    """Hex digest of what the exported graph depends on: class, constructor arguments,
    every tensor of the state_dict, torch version, opset, and this package's version (a
    release that changes how a model exports must not reuse the graphs of an earlier one)."""
    from ..version import __version__

    digest = hashlib.sha256()
    args = model.get_model_args() if hasattr(model, "get_model_args") else {}
    header = dict(cls=type(model).__name__, args=args, torch=torch.__version__, opset=opset)
    header["asteroid_tdanet"] = __version__
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def cached_onnx(model, folder: Optional[str] = None, log: Optional[Callable] = None) -> str:
    """Path of ``model``'s ONNX graph in the cache, exported (atomically) when missing.

    Raises :class:`~asteroid_tdanet.export.ExportNotSupported` for models without an ONNX
    form (S4 mixers, the STFT models)."""
    from ..export import check_model_exportable, default_opset
    from ..export.onnx_export import EXPORT_LOCK

    check_model_exportable(model, "onnx")  # before hashing the weights of a refused model
    opset = default_opset()
    folder = folder or cache_dir()
    path = os.path.join(folder, f"{type(model).__name__}-{model_fingerprint(model, opset)}.onnx")
    if os.path.exists(path):
        return path
    with EXPORT_LOCK:  # threads starting together: the first exports, the others find it
        if os.path.exists(path):
            return path
        return _export_to_cache(model, folder, path, opset, log)


def _export_to_cache(model, folder: str, path: str, opset: int, log) -> str:
    """Export ``model`` through a temporary in ``folder``, published as ``path`` at once."""
    from ..export import export_onnx

    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=folder)
    except OSError as err:
        raise OnnxCacheError(
            f"cannot write the ONNX cache folder {folder!r} ({err.strerror or err}); set "
            f"{CACHE_ENV} to a writable folder"
        ) from err
    os.close(fd)
    if log is not None:
        log(f"exporting the model to ONNX once (cached as {path})")
    try:
        export_onnx(model, tmp, opset=opset)
        os.replace(tmp, path)  # a concurrent export of the same model writes the same graph
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class OnnxRunner:
    """Calls a model's exported graph with onnxruntime on the CPU.

    Args:
        model: the separation model (speaker models taking ``(batch, time)``): its
            ``sample_rate`` and ``n_src``, and its weights for the export.
        threads (int, optional): onnxruntime intra-op threads (default: its own, all cores).
        onnx_path (str, optional): an exported graph of this model to use instead of the cache.
        log (callable, optional): told when the model is being exported.

    Shape: ``(batch, time)`` -> ``(batch, n_src, time)``, float32 on the input's device.
    """

    def __init__(
        self,
        model,
        threads: Optional[int] = None,
        onnx_path: Optional[str] = None,
        log: Optional[Callable] = None,
    ):
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise OnnxRuntimeUnavailable(
                "the onnxruntime backend needs onnxruntime: pip install 'asteroid-tdanet[export]'"
            ) from err
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}.")
        self.model = model
        self.sample_rate = int(model.sample_rate)
        self.n_src = getattr(model, "n_src", None)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1

        def session(path):
            return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        self.path = onnx_path or cached_onnx(model, log=log)
        try:
            self.session = session(self.path)
        except Exception as err:  # onnxruntime's InvalidProtobuf, InvalidGraph, NoSuchFile...
            if onnx_path is not None:
                reason = first_line(err)
                raise OnnxCacheError(f"{onnx_path}: onnxruntime cannot load it ({reason})") from err
            # A cached graph cut short (a full disk, a killed copy) or damaged: export again.
            if log is not None:
                log(f"the cached ONNX graph {self.path} cannot be loaded; exporting it again")
            try:
                os.remove(self.path)
            except FileNotFoundError:  # another process sharing the cache removed it first
                pass
            self.path = cached_onnx(model, log=log)
            try:
                self.session = session(self.path)
            except Exception as again:  # not damage: onnxruntime refuses the graph itself
                raise OnnxCacheError(
                    f"onnxruntime cannot load the model's ONNX graph {self.path} "
                    f"({first_line(again)})"
                ) from again
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, wav: torch.Tensor) -> torch.Tensor:
        x = to_float_waveform(wav, torch.float32).detach().cpu().numpy()
        (out,) = self.session.run(None, {self.input_name: x})
        return torch.from_numpy(out).to(wav.device)
