from .hub import hub_download, is_hub_id
from .look2hear import is_look2hear_package, look2hear_to_package
from .package import load_package
from .safe_load import NotACheckpointError, safe_torch_load

__all__ = [
    "hub_download",
    "is_hub_id",
    "is_look2hear_package",
    "look2hear_to_package",
    "load_package",
    "NotACheckpointError",
    "safe_torch_load",
]
