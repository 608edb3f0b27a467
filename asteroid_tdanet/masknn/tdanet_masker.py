"""TDANet's mask estimation network (paper sec. 3.1 and fig. 1)."""

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .convolutions import DepthwiseConv1d, PointwiseConv1d
from .mask_activations import apply_mask_act, check_mask_act
from .norms import check_causal_norm, get_norm
from .ublock import UBlock


class TDANetMasker(nn.Module):
    """Norm + bottleneck, one U-block applied ``n_blocks`` times with shared weights, mask head.

    Block ``k > 1`` receives ``PReLU(dw1x1(bottleneck_feats + previous_output))`` (the summation
    connection of A-FRCNN, as in the released model). The model decides what the U-block's
    global module is (TDANet: GA with a sequence mixer; S4M: S4 + FFN) and passes it in.

    Args:
        in_chan (int): encoder basis count ``F``.
        n_src (int): number of sources (masks).
        bn_chan (int): bottleneck channels (``out_channels`` in the released code).
        hid_chan (int): U-block channels (``in_channels`` in the released code).
        n_blocks (int): times the U-block is applied (``B``).
        upsampling_depth (int): scales per U-block (``S + 1``).
        global_module (nn.Module, optional): the U-block's global module, for ``hid_chan``
            channels (``None``: the "without GA" ablation).
        norm_type (str): ``gLN`` or, for causal models, ``cLN`` / ``cgLN``.
        causal (bool): no look-ahead anywhere in the masker (the global module must be
            causal too).
        use_la (bool): keep the local attention decoder layers (paper Table 1 ablation).
        top_down_input (str): ``coarsest`` (paper) or ``released``; see :class:`UBlock`.
        mask_act (str): non-linearity on the masks (``relu`` as released, or ``sigmoid``).

    Shape: ``(batch, in_chan, frames)`` -> masks ``(batch, n_src, in_chan, frames)``.
    """

    def __init__(
        self,
        in_chan: int,
        n_src: int,
        *,
        bn_chan: int = 128,
        hid_chan: int = 512,
        n_blocks: int = 16,
        upsampling_depth: int = 5,
        global_module: Optional[nn.Module] = None,
        norm_type: str = "gLN",
        causal: bool = False,
        use_la: bool = True,
        top_down_input: str = "coarsest",
        mask_act: str = "relu",
    ):
        super().__init__()
        check_causal_norm(norm_type, causal)
        if causal and global_module is not None and not getattr(global_module, "causal", False):
            raise ValueError(
                "causal=True needs a causal global module (a causal sequence mixer and FFN)."
            )
        check_mask_act(mask_act)
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}.")
        self.in_chan, self.n_src, self.n_blocks = in_chan, n_src, n_blocks
        self.upsampling_depth, self.causal, self.mask_act = upsampling_depth, causal, mask_act

        self.input_norm = get_norm(norm_type, in_chan)
        self.bottleneck = PointwiseConv1d(in_chan, bn_chan)
        self.ublock = UBlock(
            bn_chan,
            hid_chan,
            upsampling_depth,
            global_module=global_module,
            norm_type=norm_type,
            causal=causal,
            use_la=use_la,
            top_down_input=top_down_input,
        )
        self.block_input = nn.Sequential(DepthwiseConv1d(bn_chan, 1, bias=True), nn.PReLU())
        self.mask_head = nn.Sequential(nn.PReLU(), PointwiseConv1d(bn_chan, n_src * in_chan))
        # Training option (not an architecture argument): recompute each U-block in the
        # backward pass instead of keeping its activations (see ``_ublock``).
        self.gradient_checkpointing = False

    def _ublock(self, x: torch.Tensor) -> torch.Tensor:
        """One U-block application; with ``gradient_checkpointing`` (training with autograd)
        only its input is kept for the backward pass and its activations are recomputed
        there (``torch.utils.checkpoint``, RNG state restored, so dropout and drop-path draw
        the same masks: the gradients are the same). Peak training memory then holds one
        U-block's activations instead of ``n_blocks``', for about one more forward pass."""
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(self.ublock, x, use_reentrant=False)
        return self.ublock(x)

    def forward(self, mixture_w: torch.Tensor) -> torch.Tensor:
        n_frames = mixture_w.shape[-1]
        if self.causal:
            # Causal pooling/up-sampling align scales exactly when the length is a multiple of
            # the total down-sampling; padding the end keeps earlier frames unaffected.
            factor = 2 ** (self.upsampling_depth - 1)
            mixture_w = F.pad(mixture_w, (0, (-n_frames) % factor))
        feats = self.bottleneck(self.input_norm(mixture_w))
        out = self._ublock(feats)
        for _ in range(self.n_blocks - 1):
            out = self._ublock(self.block_input(feats + out))
        # Frame-major (batch, frames, n_src * in_chan) -> contiguous (batch, n_src, in_chan, T).
        masks = self.mask_head(out).transpose(1, 2)[:, :n_frames]
        masks = masks.reshape(masks.shape[0], n_frames, self.n_src, self.in_chan)
        masks = masks.permute(0, 2, 3, 1).contiguous()
        return apply_mask_act(self.mask_act, masks)
