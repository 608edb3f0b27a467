"""TDANet (ICLR 2023) speech separation for the Asteroid toolkit."""

from .masknn import TDANetMasker
from .models import PRESETS, TDANet
from .registration import register_asteroid_models
from .version import __version__

register_asteroid_models()

__all__ = ["TDANet", "TDANetMasker", "PRESETS", "register_asteroid_models", "__version__"]
