"""Model classes by name: ours, then anything registered with ``asteroid.models``."""

from typing import Dict, Type

from torch import nn

from .s4m import S4M
from .tdanet import TDANet

MODELS: Dict[str, Type[nn.Module]] = {"TDANet": TDANet, "S4M": S4M}


def get_model_class(name: str) -> Type[nn.Module]:
    """The class called ``name`` (case-insensitive): one of :data:`MODELS`, else any model
    registered with ``asteroid.models`` (``ConvTasNet``, ``DPRNNTasNet``, ...)."""
    for key, cls in MODELS.items():
        if key.lower() == str(name).lower():
            return cls
    import asteroid.models

    try:
        return asteroid.models.get(name)
    except ValueError:
        raise ValueError(
            f"Unknown model {name!r}: not one of {sorted(MODELS)} nor registered with "
            "asteroid.models."
        ) from None
