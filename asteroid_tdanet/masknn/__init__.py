from .tdanet_masker import TDANetMasker
from .ublock import UBlock

__all__ = ["TDANetMasker", "UBlock"]
