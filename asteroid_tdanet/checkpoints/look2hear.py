"""Conversion of released look2hear ``TDANetBest`` checkpoints to TDANet packages."""

from typing import Dict

import torch

from .keymap import rename_key, rename_state_dict
from .released_layout import (
    TDANET_FAMILY_PARTS,
    TDANET_FAMILY_RULES,
    converted_infos,
    released_encoder_args,
)
from .safe_load import NotACheckpointError

LOOK2HEAR_MODEL_NAMES = ("TDANetBest", "TDANet")
SOURCE = "look2hear TDANet checkpoint"
# Heads of the released GA attention (MultiHeadAttention(in_chan, 8, ...) in its code).
RELEASED_N_HEADS = 8

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
    args = package.get("model_args")
    if (
        package.get("model_name") in LOOK2HEAR_MODEL_NAMES
        and isinstance(args, dict)  # not a package at all otherwise: load_package says so
        and "enc_kernel_size" in args
    ):
        return True
    return any(k.startswith("sm.unet.globalatt.") for k in package["state_dict"])


def convert_key(key: str) -> str:
    """Our parameter name for the released parameter ``key``."""
    return rename_key(key, _KEY_RULES, TDANET_FAMILY_PARTS, SOURCE)


def convert_model_args(args: dict) -> dict:
    """TDANet arguments for look2hear ``model_args`` (window given in ms there).

    The GA mixer is named here, so that the converted package is today's form and never taken
    for one of release 0.1.0 (whose upgrade would record a history the file does not have):
    the released attention is frame-local with 8 heads, a number its code fixes (its
    ``model_args`` have no head count).
    """
    return dict(
        **released_encoder_args(args),
        upsampling_depth=int(args.get("upsampling_depth", 4)),
        official_compat=True,
        ga_mixer="mhsa-frame-local",
        ga_mixer_args={"n_heads": RELEASED_N_HEADS},
    )


def convert_state_dict(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename every released parameter; drop the position-encoding buffer."""
    return rename_state_dict(state_dict, _KEY_RULES, TDANET_FAMILY_PARTS, _DROPPED, SOURCE)


def look2hear_to_package(package: dict) -> dict:
    """Convert a released checkpoint dict into a TDANet package (as from ``serialize()``)."""
    if not isinstance(package.get("model_args"), dict):
        args = package.get("model_args")
        found = "none" if "model_args" not in package else f"{args!r}"[:40]
        raise NotACheckpointError(
            "a look2hear checkpoint needs 'model_args' (a dict) to rebuild the model; it has "
            f"{found}."
        )
    return dict(
        model_name="TDANet",
        model_args=convert_model_args(package["model_args"]),
        state_dict=convert_state_dict(package["state_dict"]),
        infos=converted_infos(package, "look2hear TDANetBest"),
    )
