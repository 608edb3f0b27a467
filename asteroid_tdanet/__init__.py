"""TDANet (ICLR 2023), S4M, FLASepformer and efficient sequence mixers for speech separation,
and Mel-Band RoFormer with windowed sink attention for vocal separation, for Asteroid."""

from .masknn import TDANetMasker
from .models import (
    MODELS,
    PRESETS,
    S4M,
    BLSTMNet,
    FLASepReformer,
    FLATFLocoformer,
    MelBandRoformer,
    TDANet,
    load_model,
)
from .registration import register_asteroid_models
from .version import __version__

register_asteroid_models()

__all__ = [
    "TDANet",
    "S4M",
    "FLASepReformer",
    "FLATFLocoformer",
    "MelBandRoformer",
    "BLSTMNet",
    "TDANetMasker",
    "MODELS",
    "PRESETS",
    "load_model",
    "register_asteroid_models",
    "__version__",
]
