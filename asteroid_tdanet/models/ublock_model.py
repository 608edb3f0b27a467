"""Models whose masker is TDANet's U-block masker: TDANet and S4M differ in the global module."""

import copy
from typing import Optional

from torch import nn

from ..masknn.tdanet_masker import TDANetMasker
from .free_filterbank import FreeFilterbankModel, encoder_geometry, n_features

# Constructor arguments handled by FreeFilterbankModel (the others are the model's own).
ENCODER_ARGS = (
    "n_src",
    "sample_rate",
    "kernel_size",
    "stride",
    "n_filters",
    "official_compat",
    "encoder_activation",
    "fb_name",
    "mask_domain",
)
MASKER_ARGS = (
    "bn_chan",
    "hid_chan",
    "n_blocks",
    "upsampling_depth",
    "norm_type",
    "causal",
    "use_la",
    "mask_act",
)


class UBlockModel(FreeFilterbankModel):
    """Free encoder/decoder around :class:`~asteroid_tdanet.masknn.TDANetMasker`.

    Subclasses build the U-block's global module from their own arguments and pass it with
    every constructor argument (``args``, resolved values); this class builds the encoder,
    masker and decoder once for all of them, with ``official_compat`` picking the released
    top-down wiring, and returns ``args`` from :meth:`get_model_args` (the encoder's as the
    filterbank holds them).

    Args:
        global_module (nn.Module, optional): the U-block's global module (``None``: none).
        args (dict): the subclass's constructor arguments.
    """

    default_kernel_ms = 4.0

    def __init__(self, global_module: Optional[nn.Module], args: dict):
        kernel_size, stride, n_filters = encoder_geometry(
            args["sample_rate"],
            args["kernel_size"],
            args["stride"],
            args["n_filters"],
            self.default_kernel_ms,
            args["fb_name"],
        )
        masker = TDANetMasker(
            n_features(
                args["fb_name"],
                n_filters,
                kernel_size,
                stride,
                args["sample_rate"],
                args["mask_domain"],
            ),
            args["n_src"],
            global_module=global_module,
            top_down_input="released" if args["official_compat"] else "coarsest",
            **{k: args[k] for k in MASKER_ARGS},
        )
        super().__init__(
            masker,
            n_src=args["n_src"],
            sample_rate=args["sample_rate"],
            kernel_size=kernel_size,
            stride=stride,
            n_filters=n_filters,
            official_compat=args["official_compat"],
            encoder_activation=args["encoder_activation"],
            fb_name=args["fb_name"],
            mask_domain=args["mask_domain"],
        )
        self._config = {k: v for k, v in args.items() if k not in ENCODER_ARGS}

    def get_model_args(self) -> dict:
        """Constructor arguments (round-trip through :meth:`serialize` / ``from_pretrained``)."""
        return {**self.encoder_args(), **copy.deepcopy(self._config)}
