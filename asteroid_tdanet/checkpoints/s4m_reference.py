"""Conversion of reference S4M (JusperLee/S4M) weights to S4M packages.

The reference repository ships code only (no checkpoints, no training code). Its model is
the look2hear TDANet layout with ``sm.unet.s4`` (S4 residual block) and ``sm.unet.ff``
(FF residual block) in place of the GA module; a file of it is either a bare
``model.state_dict()`` or a look2hear-style dict ``{"model_name": "S4M", "model_args":
<S4M(...) kwargs>, "state_dict": ...}``. A bare state_dict does not record the sample rate
and the number of blocks, so it needs :meth:`asteroid_tdanet.models.S4M.from_reference`.
"""

from .keymap import rename_key, rename_state_dict
from .released_layout import (
    TDANET_FAMILY_PARTS,
    TDANET_FAMILY_RULES,
    converted_infos,
    released_encoder_args,
)
from .safe_load import NotACheckpointError

SOURCE = "reference S4M checkpoint"
# Reference constructor defaults (S4M.py: S4M(out_channels=128, in_channels=512,
# num_blocks=16, upsampling_depth=4, enc_kernel_size=21, num_sources=2, sample_rate=16000)).
REFERENCE_DEFAULTS = dict(
    out_channels=128,
    in_channels=512,
    num_blocks=16,
    upsampling_depth=4,
    enc_kernel_size=21,
    num_sources=2,
    sample_rate=16000,
)

_GM = "masker.ublock.global_module."
_KEY_RULES = TDANET_FAMILY_RULES + [
    (r"^sm\.unet\.s4\.", _GM + "mixer."),
    (r"^sm\.unet\.ff\.norm\.", _GM + "ffn.norm."),
    (r"^sm\.unet\.ff\.layer\.ff\.0\.0\.", _GM + "ffn.fc1."),
    (r"^sm\.unet\.ff\.layer\.ff\.2\.", _GM + "ffn.fc2."),
]
# Inside the S4 block: the reference's SSKernel wrapper and Sequential(Conv1d, GLU).
S4_BLOCK_PARTS = [
    (r"\.kernel\.kernel\.", ".kernel."),
    (r"\.output_linear\.0\.", ".output_linear."),
]


def is_reference_state_dict(obj) -> bool:
    """A bare reference S4M ``state_dict``."""
    return isinstance(obj, dict) and "sm.unet.s4.layer.kernel.kernel.C" in obj


def is_reference_package(package) -> bool:
    """A look2hear-style dict holding a reference S4M state_dict (or a bare one)."""
    if is_reference_state_dict(package):
        return True
    return isinstance(package, dict) and is_reference_state_dict(package.get("state_dict"))


def convert_key(key: str) -> str:
    """Our parameter name for the reference key ``key``."""
    return rename_key(key, _KEY_RULES, TDANET_FAMILY_PARTS + S4_BLOCK_PARTS, SOURCE)


def convert_model_args(config: dict) -> dict:
    """S4M arguments for the reference constructor's ``config`` (window in ms there)."""
    args = {**REFERENCE_DEFAULTS, **config}
    return dict(
        **released_encoder_args(args),
        upsampling_depth=int(args["upsampling_depth"]),
        official_compat=True,
    )


def reference_to_package(package: dict) -> dict:
    """An S4M package (as from ``serialize()``) from ``{"state_dict", "model_args"}``."""
    if is_reference_state_dict(package):
        raise NotACheckpointError(
            "This is a bare reference S4M state_dict: it does not record the sample rate or "
            "the number of blocks. Load it with S4M.from_reference(state_dict, config), "
            "config holding the reference S4M(...) arguments."
        )
    parts = TDANET_FAMILY_PARTS + S4_BLOCK_PARTS
    return dict(
        model_name="S4M",
        model_args=convert_model_args(dict(package.get("model_args") or {})),
        state_dict=rename_state_dict(package["state_dict"], _KEY_RULES, parts, source=SOURCE),
        infos=converted_infos(package, "reference S4M (JusperLee/S4M)"),
    )


def convert_s4_block_state_dict(state_dict: dict) -> dict:
    """The reference ``ResidualBlock(d, S4(...))`` state_dict (``layer.*``, ``norm.*``) as an
    ``s4`` mixer's (:class:`~asteroid_tdanet.masknn.mixers.S4Mixer`)."""
    return rename_state_dict(state_dict, [(r"^", "")], S4_BLOCK_PARTS, source=SOURCE)
