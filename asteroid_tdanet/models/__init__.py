from .base import SeparationModel
from .presets import PRESETS, preset_args
from .registry import MODELS, get_model_class
from .s4m import S4M
from .tdanet import TDANet

load_model = SeparationModel.from_pretrained

__all__ = [
    "SeparationModel",
    "TDANet",
    "S4M",
    "MODELS",
    "PRESETS",
    "get_model_class",
    "load_model",
    "preset_args",
]
