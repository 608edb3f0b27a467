"""Renaming of checkpoint keys by ordered regular-expression rules."""

import re
from typing import Dict, Iterable, List, Optional, Tuple

import torch

from .mismatch import CheckpointMismatchError, format_keys

Rules = List[Tuple[str, str]]


def _renamed(key: str, prefix_rules: Rules, part_rules: Iterable) -> Optional[str]:
    """``key`` after the first matching prefix rule and every part rule (``None``: no rule)."""
    for pattern, repl in prefix_rules:
        if re.search(pattern, key):
            key = re.sub(pattern, repl, key)
            break
    else:
        return None
    for pattern, repl in part_rules:
        key = re.sub(pattern, repl, key)
    return key


def rename_key(key: str, prefix_rules: Rules, part_rules: Iterable = (), source="checkpoint"):
    """Apply the first matching prefix rule, then every part rule.

    Raises ``KeyError`` naming ``source`` for a key no prefix rule matches.
    """
    new = _renamed(key, prefix_rules, list(part_rules))
    if new is None:
        raise KeyError(f"Unexpected key in a {source}: {key!r}")
    return new


def rename_state_dict(
    state_dict: Dict[str, torch.Tensor],
    prefix_rules: Rules,
    part_rules: Iterable = (),
    drop: str = r"(?!)",
    source: str = "checkpoint",
) -> Dict[str, torch.Tensor]:
    """Rename every key (see :func:`rename_key`), leaving out keys matching ``drop``.

    Raises :class:`~.mismatch.CheckpointMismatchError` counting the keys no rule matches and
    naming the first few.
    """
    part_rules = list(part_rules)
    renamed, unknown = {}, []
    for key, value in state_dict.items():
        if re.search(drop, key):
            continue
        new = _renamed(key, prefix_rules, part_rules)
        if new is None:
            unknown.append(key)
        else:
            renamed[new] = value
    if unknown:
        raise CheckpointMismatchError(
            f"{len(unknown)} unexpected key{'' if len(unknown) == 1 else 's'} in a {source}: "
            f"{format_keys(unknown)}."
        )
    return renamed
