"""Renaming of checkpoint keys by ordered regular-expression rules."""

import re
from typing import Dict, Iterable, List, Tuple

import torch

Rules = List[Tuple[str, str]]


def rename_key(key: str, prefix_rules: Rules, part_rules: Iterable = (), source="checkpoint"):
    """Apply the first matching prefix rule, then every part rule.

    Raises ``KeyError`` naming ``source`` for a key no prefix rule matches.
    """
    for pattern, repl in prefix_rules:
        if re.search(pattern, key):
            key = re.sub(pattern, repl, key)
            break
    else:
        raise KeyError(f"Unexpected key in a {source}: {key!r}")
    for pattern, repl in part_rules:
        key = re.sub(pattern, repl, key)
    return key


def rename_state_dict(
    state_dict: Dict[str, torch.Tensor],
    prefix_rules: Rules,
    part_rules: Iterable = (),
    drop: str = r"(?!)",
    source: str = "checkpoint",
) -> Dict[str, torch.Tensor]:
    """Rename every key (see :func:`rename_key`), leaving out keys matching ``drop``."""
    part_rules = list(part_rules)
    return {
        rename_key(k, prefix_rules, part_rules, source): v
        for k, v in state_dict.items()
        if not re.search(drop, k)
    }
