"""The layout shared by the released look2hear TDANet and the reference S4M checkpoints.

Both are ``sm.unet.*`` (the U-block), ``sm.concat_block``, ``ln``, ``bottleneck``,
``mask_net``, ``encoder``/``decoder`` with look2hear constructor arguments (window in ms);
they differ only in the global module. The pieces here serve both converters.
"""

from .keymap import Rules
from .safe_load import NotACheckpointError

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


def released_encoder_args(args: dict) -> dict:
    """Arguments shared by the look2hear TDANet and the reference S4M constructors.

    Raises :class:`~.safe_load.NotACheckpointError` when ``enc_kernel_size`` (the encoder
    window in ms, which has no default) is missing, listing the arguments there are.
    """
    if "enc_kernel_size" not in args:
        raise NotACheckpointError(
            "its model_args lack 'enc_kernel_size' (the encoder window in ms), needed to "
            f"rebuild the model; they hold {sorted(args) or 'nothing'}."
        )
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


def converted_infos(package: dict, source: str) -> dict:
    """``infos`` of a converted package: plain-string versions and where it came from."""
    infos = dict(package.get("infos") or {})
    versions = {k: str(v) for k, v in (infos.get("software_versions") or {}).items()}
    return dict(software_versions=versions, converted_from=source)
