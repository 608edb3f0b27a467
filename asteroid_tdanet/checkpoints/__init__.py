from .hub import hub_download, is_hub_id
from .look2hear import is_look2hear_package, look2hear_to_package
from .mismatch import CheckpointMismatchError, check_state_dict
from .package import load_package, source_name
from .safe_load import NotACheckpointError, safe_torch_load

__all__ = [
    "CheckpointMismatchError",
    "check_state_dict",
    "source_name",
    "hub_download",
    "is_hub_id",
    "is_look2hear_package",
    "look2hear_to_package",
    "load_package",
    "NotACheckpointError",
    "safe_torch_load",
]
