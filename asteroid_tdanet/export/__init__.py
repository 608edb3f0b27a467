"""Export of separation models to ONNX and TorchScript."""

from .exportable import (
    ExportNotSupported,
    check_model_exportable,
    exportable_copy,
    has_length_limit,
    pool_to_length_traceable,
    traceable_pooling,
)
from .onnx_export import default_opset, export_onnx, run_onnx
from .torchscript_export import export_torchscript, load_torchscript

__all__ = [
    "ExportNotSupported",
    "check_model_exportable",
    "exportable_copy",
    "pool_to_length_traceable",
    "traceable_pooling",
    "default_opset",
    "export_onnx",
    "run_onnx",
    "export_torchscript",
    "load_torchscript",
]
