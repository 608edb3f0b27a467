from .feed_forward import FeedForward, TransformerFeedForward
from .global_attention import GlobalAttention
from .mixers import MIXERS, SequenceMixer, build_mixer
from .tdanet_masker import TDANetMasker
from .ublock import UBlock

__all__ = [
    "FeedForward",
    "GlobalAttention",
    "MIXERS",
    "SequenceMixer",
    "TDANetMasker",
    "TransformerFeedForward",
    "UBlock",
    "build_mixer",
]
