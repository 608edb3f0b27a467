"""Checking that a state_dict fits a model, with an error that lists what does not."""

from typing import Dict, Sequence

import torch
from torch import nn

# Keys named in an error before "and N more".
SHOWN_KEYS = 4


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model: its weights do not fit the model its arguments
    describe, or its arguments are not the model's (a newer release's file)."""


def format_keys(keys: Sequence[str], shown: int = SHOWN_KEYS) -> str:
    """``"a, b, c, d and 12 more"``: the first ``shown`` keys and how many were left out."""
    keys = list(keys)
    text = ", ".join(keys[:shown])
    return text + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _counted(keys: Sequence[str], what: str, plural: str) -> str:
    return f"{len(keys)} {what if len(keys) == 1 else plural} ({format_keys(keys)})"


def check_state_dict(model: nn.Module, state_dict: Dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state_dict`` has exactly ``model``'s
    keys with the same shapes; the message counts the missing, unexpected and mismatched
    keys and names the first few of each (torch's own error is many lines, one per key)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: {tuple(v.shape)} in the file, {tuple(expected[k].shape)} in the model"
        for k, v in state_dict.items()
        if k in expected and isinstance(v, torch.Tensor) and v.shape != expected[k].shape
    ]
    problems = [
        _counted(keys, what, plural)
        for keys, what, plural in (
            (missing, "missing key", "missing keys"),
            (unexpected, "unexpected key", "unexpected keys"),
            (shapes, "shape mismatch", "shape mismatches"),
        )
        if keys
    ]
    if problems:
        raise CheckpointMismatchError(
            f"{source}: its weights do not fit the {type(model).__name__} its arguments "
            f"describe: {'; '.join(problems)}."
        )
