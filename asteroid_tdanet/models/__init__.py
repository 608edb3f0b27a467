from .presets import PRESETS, preset_args
from .tdanet import TDANet

__all__ = ["TDANet", "PRESETS", "preset_args"]
