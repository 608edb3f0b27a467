"""Model classes by name: ours, then anything registered with ``asteroid.models``."""

from typing import Dict, Type

from torch import nn

from .blstm import BLSTMNet
from .flasepreformer import FLASepReformer
from .flatflocoformer import FLATFLocoformer
from .mel_band_roformer import MelBandRoformer
from .s4m import S4M
from .tdanet import TDANet

MODELS: Dict[str, Type[nn.Module]] = {
    "TDANet": TDANet,
    "S4M": S4M,
    "FLASepReformer": FLASepReformer,
    "FLATFLocoformer": FLATFLocoformer,
    "MelBandRoformer": MelBandRoformer,
    "BLSTMNet": BLSTMNet,
}


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


def n_src_of(model: nn.Module) -> int:
    """Number of sources a model separates into: ours and most of Asteroid's have ``n_src``;
    others (``SuDORMRFNet``, ``DPRNNTasNet``) keep it in their masker / model arguments."""
    for holder in (model, getattr(model, "masker", None)):
        if isinstance(getattr(holder, "n_src", None), int):
            return holder.n_src
    n_src = model.get_model_args().get("n_src") if hasattr(model, "get_model_args") else None
    if n_src is None:
        raise AttributeError(f"{type(model).__name__} does not say how many sources it makes.")
    return int(n_src)
