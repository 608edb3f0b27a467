"""Conversion of released look2hear ``TDANetBest`` checkpoints to TDANet packages."""

from typing import Dict

import torch

from .keymap import TDANET_FAMILY_PARTS, TDANET_FAMILY_RULES, rename_key, rename_state_dict

LOOK2HEAR_MODEL_NAMES = ("TDANetBest", "TDANet")
SOURCE = "look2hear TDANet checkpoint"

_GA = "masker.ublock.global_module."
_KEY_RULES = TDANET_FAMILY_RULES + [
    (r"^sm\.unet\.globalatt\.attn\.attn_in_norm\.", _GA + "mixer.in_norm."),
    (r"^sm\.unet\.globalatt\.attn\.attn\.", _GA + "mixer.mha."),
    (r"^sm\.unet\.globalatt\.attn\.norm\.", _GA + "mixer.out_norm."),
    (r"^sm\.unet\.globalatt\.mlp\.", _GA + "ffn."),
]
# Buffers of the released model that are not weights (recomputed on the fly here).
_DROPPED = r"\.pos_enc\.pe$"


def is_look2hear_package(package) -> bool:
    """Whether ``package`` is a released look2hear TDANet checkpoint dict."""
    if not isinstance(package, dict) or not isinstance(package.get("state_dict"), dict):
        return False
    if package.get("model_name") in LOOK2HEAR_MODEL_NAMES and "enc_kernel_size" in package.get(
        "model_args", {}
    ):
        return True
    return any(k.startswith("sm.unet.globalatt.") for k in package["state_dict"])


def convert_key(key: str) -> str:
    """Our parameter name for the released parameter ``key``."""
    return rename_key(key, _KEY_RULES, TDANET_FAMILY_PARTS, SOURCE)


def convert_model_args(args: dict) -> dict:
    """TDANet arguments for look2hear ``model_args`` (window given in ms there)."""
    return dict(
        **released_encoder_args(args),
        upsampling_depth=int(args.get("upsampling_depth", 4)),
        official_compat=True,
    )


def released_encoder_args(args: dict) -> dict:
    """Arguments shared by the look2hear TDANet and the reference S4M constructors."""
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
    )


def convert_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename every released parameter; drop the position-encoding buffer."""
    return rename_state_dict(state_dict, _KEY_RULES, TDANET_FAMILY_PARTS, _DROPPED, SOURCE)


def look2hear_to_package(package: dict) -> dict:
    """Convert a released checkpoint dict into a TDANet package (as from ``serialize()``)."""
    if "model_args" not in package:
        raise ValueError("A look2hear checkpoint needs 'model_args' to rebuild the model.")
    return dict(
        model_name="TDANet",
        model_args=convert_model_args(package["model_args"]),
        state_dict=convert_state_dict(package["state_dict"]),
        infos=converted_infos(package, "look2hear TDANetBest"),
    )


def converted_infos(package: dict, source: str) -> dict:
    """``infos`` of a converted package: plain-string versions and where it came from."""
    infos = dict(package.get("infos") or {})
    versions = {k: str(v) for k, v in (infos.get("software_versions") or {}).items()}
    return dict(software_versions=versions, converted_from=source)
