"""Conversion of released look2hear ``TDANetBest`` checkpoints to TDANet packages."""

import re
from typing import Dict, List, Tuple

import torch

LOOK2HEAR_MODEL_NAMES = ("TDANetBest", "TDANet")

# (pattern on the released key, replacement) applied in order; the first match wins.
_KEY_RULES: List[Tuple[str, str]] = [
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
    (
        r"^sm\.unet\.globalatt\.attn\.attn_in_norm\.",
        "masker.ublock.global_attention.attention.in_norm.",
    ),
    (r"^sm\.unet\.globalatt\.attn\.attn\.", "masker.ublock.global_attention.attention.mha."),
    (r"^sm\.unet\.globalatt\.attn\.norm\.", "masker.ublock.global_attention.attention.out_norm."),
    (r"^sm\.unet\.globalatt\.mlp\.", "masker.ublock.global_attention.ffn."),
]
# Sub-module names inside the fusion layers, and the norms' parameter names.
_PART_RULES: List[Tuple[str, str]] = [
    (r"\.local_embedding\.", ".local_proj."),
    (r"\.global_embedding\.", ".global_proj."),
    (r"\.global_act\.", ".global_gate."),
    (r"\.gamma$", ".weight"),
    (r"\.beta$", ".bias"),
]
# Buffers of the released model that are not weights (recomputed on the fly here).
_DROPPED = re.compile(r"\.pos_enc\.pe$")


def is_look2hear_package(package) -> bool:
    """Whether ``package`` is a released look2hear TDANet checkpoint dict."""
    if not isinstance(package, dict) or "state_dict" not in package:
        return False
    if package.get("model_name") in LOOK2HEAR_MODEL_NAMES and "enc_kernel_size" in package.get(
        "model_args", {}
    ):
        return True
    return any(k.startswith("sm.unet.") for k in package["state_dict"])


def convert_key(key: str) -> str:
    """Our parameter name for the released parameter ``key``."""
    for pattern, repl in _KEY_RULES:
        if re.search(pattern, key):
            key = re.sub(pattern, repl, key)
            break
    else:
        raise KeyError(f"Unexpected key in a look2hear TDANet checkpoint: {key!r}")
    for pattern, repl in _PART_RULES:
        key = re.sub(pattern, repl, key)
    return key


def convert_model_args(args: dict) -> dict:
    """TDANet arguments for look2hear ``model_args`` (window given in ms there)."""
    sample_rate = int(args.get("sample_rate", 16000))
    kernel_size = int(args["enc_kernel_size"] * sample_rate // 1000)
    return dict(
        n_src=int(args.get("num_sources", 2)),
        sample_rate=sample_rate,
        kernel_size=kernel_size,
        stride=kernel_size // 4,
        n_filters=kernel_size // 2 + 1,
        bn_chan=int(args.get("out_channels", 128)),
        hid_chan=int(args.get("in_channels", 512)),
        n_blocks=int(args.get("num_blocks", 16)),
        upsampling_depth=int(args.get("upsampling_depth", 4)),
        official_compat=True,
    )


def convert_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename every released parameter; drop the position-encoding buffer."""
    return {convert_key(k): v for k, v in state_dict.items() if not _DROPPED.search(k)}


def look2hear_to_package(package: dict) -> dict:
    """Convert a released checkpoint dict into a TDANet package (as from ``serialize()``)."""
    if "model_args" not in package:
        raise ValueError("A look2hear checkpoint needs 'model_args' to rebuild the model.")
    infos = dict(package.get("infos") or {})
    versions = {k: str(v) for k, v in (infos.get("software_versions") or {}).items()}
    return dict(
        model_name="TDANet",
        model_args=convert_model_args(package["model_args"]),
        state_dict=convert_state_dict(package["state_dict"]),
        infos=dict(software_versions=versions, converted_from="look2hear TDANetBest"),
    )
