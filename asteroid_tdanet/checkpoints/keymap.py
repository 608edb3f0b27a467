"""Renaming of checkpoint keys by ordered regular-expression rules.

The released look2hear TDANet and the reference S4M share one layout (``sm.unet.*``: the
U-block, ``sm.concat_block``, ``ln``, ``bottleneck``, ``mask_net``, ``encoder``/``decoder``);
:data:`TDANET_FAMILY_RULES` maps it onto our modules once for both converters.
"""

import re
from typing import Dict, Iterable, List, Tuple

import torch

Rules = List[Tuple[str, str]]

# Released/reference TDANet-family prefix -> ours. The first matching rule applies.
TDANET_FAMILY_RULES: Rules = [
    (r"^encoder\.weight$", "encoder.filterbank._filters"),
    (r"^decoder\.weight$", "decoder.filterbank._filters"),
    (r"^ln\.", "masker.input_norm."),
    (r"^bottleneck\.", "masker.bottleneck."),
    (r"^mask_net\.", "masker.mask_head."),
    (r"^sm\.concat_block\.0\.", "masker.block_input.0."),
    (r"^sm\.concat_block\.1\.", "masker.block_input.1."),
    (r"^sm\.unet\.proj_1x1\.", "masker.ublock.proj_in."),
    (r"^sm\.unet\.spp_dw\.", "masker.ublock.bottom_up."),
    (r"^sm\.unet\.res_conv\.", "masker.ublock.proj_out."),
    (r"^sm\.unet\.loc_glo_fus\.", "masker.ublock.global_fusion."),
    (r"^sm\.unet\.last_layer\.", "masker.ublock.top_down."),
]
# Sub-module names inside the fusion layers, and the global layer norms' parameter names.
TDANET_FAMILY_PARTS: Rules = [
    (r"\.local_embedding\.", ".local_proj."),
    (r"\.global_embedding\.", ".global_proj."),
    (r"\.global_act\.", ".global_gate."),
    (r"\.gamma$", ".weight"),
    (r"\.beta$", ".bias"),
]


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
