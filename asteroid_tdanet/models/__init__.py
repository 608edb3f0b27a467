from .base import SeparationBaseModel, SeparationModel, package_model
from .blstm import BLSTMNet
from .flasepreformer import FLASepReformer
from .flatflocoformer import FLATFLocoformer
from .mel_band_roformer import MelBandRoformer
from .presets import PRESETS, preset_args
from .registry import MODELS, get_model_class, n_src_of
from .s4m import S4M
from .tdanet import TDANet

load_model = SeparationModel.from_pretrained

__all__ = [
    "SeparationModel",
    "SeparationBaseModel",
    "BLSTMNet",
    "FLASepReformer",
    "FLATFLocoformer",
    "MelBandRoformer",
    "TDANet",
    "S4M",
    "MODELS",
    "PRESETS",
    "get_model_class",
    "load_model",
    "package_model",
    "n_src_of",
    "preset_args",
]
