"""The non-linearity that turns a masker's last layer into masks (TDANet's, the BLSTM's)."""

import torch

# relu: unbounded masks, as the released TDANet; sigmoid: masks in [0, 1] (the mini presets).
MASK_ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid}


def check_mask_act(name: str) -> str:
    """``name`` if it is one of :data:`MASK_ACTIVATIONS`, else an error naming the choices."""
    if name not in MASK_ACTIVATIONS:
        choices = " or ".join(repr(k) for k in MASK_ACTIVATIONS)
        raise ValueError(f"mask_act must be {choices}, got {name!r}.")
    return name


def apply_mask_act(name: str, x: torch.Tensor) -> torch.Tensor:
    """The ``name`` activation of ``x`` (looked up by name: the module keeps a string)."""
    return MASK_ACTIVATIONS[name](x)
