"""TDANet's mask estimation network (paper sec. 3.1 and fig. 1)."""

import torch
import torch.nn.functional as F
from torch import nn

from .convolutions import DepthwiseConv1d, PointwiseConv1d
from .norms import CAUSAL_NORMS, get_norm
from .ublock import UBlock


class TDANetMasker(nn.Module):
    """Norm + bottleneck, one U-block applied ``n_blocks`` times with shared weights, mask head.

    Block ``k > 1`` receives ``PReLU(dw1x1(bottleneck_feats + previous_output))`` (the summation
    connection of A-FRCNN, as in the released model).

    Args:
        in_chan (int): encoder basis count ``F``.
        n_src (int): number of sources (masks).
        bn_chan (int): bottleneck channels (``out_channels`` in the released code).
        hid_chan (int): U-block channels (``in_channels`` in the released code).
        n_blocks (int): times the U-block is applied (``B``).
        upsampling_depth (int): scales per U-block (``S + 1``).
        n_heads (int): heads of the GA self-attention.
        dropout (float): dropout of the GA module.
        drop_path (float): stochastic-depth rate of the GA residual branches.
        norm_type (str): ``gLN`` or, for causal models, ``cLN`` / ``cgLN``.
        causal (bool): no look-ahead anywhere in the masker.
        use_ga (bool): keep the global attention module (paper Table 1 ablation).
        use_la (bool): keep the local attention decoder layers (paper Table 1 ablation).
        official_compat (bool): reproduce the released model's computation exactly.
        mask_act (str): non-linearity on the masks (``relu`` as released, or ``sigmoid``).

    Shape: ``(batch, in_chan, frames)`` -> masks ``(batch, n_src, in_chan, frames)``.
    """

    def __init__(
        self,
        in_chan: int,
        n_src: int,
        bn_chan: int = 128,
        hid_chan: int = 512,
        n_blocks: int = 16,
        upsampling_depth: int = 5,
        n_heads: int = 8,
        dropout: float = 0.1,
        drop_path: float = 0.1,
        norm_type: str = "gLN",
        causal: bool = False,
        use_ga: bool = True,
        use_la: bool = True,
        official_compat: bool = False,
        mask_act: str = "relu",
    ):
        super().__init__()
        if causal and norm_type not in CAUSAL_NORMS:
            raise ValueError(
                f"causal=True needs a causal norm_type ({' or '.join(CAUSAL_NORMS)}), "
                f"got {norm_type!r}: a global norm looks at the whole signal."
            )
        if causal and official_compat:
            raise ValueError("The released models are not causal: official_compat excludes causal.")
        if mask_act not in ("relu", "sigmoid"):
            raise ValueError(f"mask_act must be 'relu' or 'sigmoid', got {mask_act!r}.")
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}.")
        self.in_chan, self.n_src, self.bn_chan, self.hid_chan = in_chan, n_src, bn_chan, hid_chan
        self.n_blocks, self.upsampling_depth, self.n_heads = n_blocks, upsampling_depth, n_heads
        self.dropout, self.drop_path, self.norm_type = dropout, drop_path, norm_type
        self.causal, self.use_ga, self.use_la = causal, use_ga, use_la
        self.official_compat, self.mask_act = official_compat, mask_act

        self.input_norm = get_norm(norm_type, in_chan)
        self.bottleneck = PointwiseConv1d(in_chan, bn_chan)
        self.ublock = UBlock(
            bn_chan,
            hid_chan,
            upsampling_depth,
            n_heads,
            dropout,
            drop_path,
            norm_type,
            causal,
            use_ga,
            use_la,
            official_compat,
        )
        self.block_input = nn.Sequential(DepthwiseConv1d(bn_chan, 1, bias=True), nn.PReLU())
        self.mask_head = nn.Sequential(nn.PReLU(), PointwiseConv1d(bn_chan, n_src * in_chan))

    def forward(self, mixture_w: torch.Tensor) -> torch.Tensor:
        n_frames = mixture_w.shape[-1]
        if self.causal:
            # Causal pooling/up-sampling align scales exactly when the length is a multiple of
            # the total down-sampling; padding the end keeps earlier frames unaffected.
            factor = 2 ** (self.upsampling_depth - 1)
            mixture_w = F.pad(mixture_w, (0, (-n_frames) % factor))
        feats = self.bottleneck(self.input_norm(mixture_w))
        out = self.ublock(feats)
        for _ in range(self.n_blocks - 1):
            out = self.ublock(self.block_input(feats + out))
        # Frame-major (batch, frames, n_src * in_chan) -> contiguous (batch, n_src, in_chan, T).
        masks = self.mask_head(out).transpose(1, 2)[:, :n_frames]
        masks = masks.reshape(masks.shape[0], n_frames, self.n_src, self.in_chan)
        masks = masks.permute(0, 2, 3, 1).contiguous()
        return torch.relu(masks) if self.mask_act == "relu" else torch.sigmoid(masks)

    def get_config(self) -> dict:
        """Arguments that re-create this masker (``in_chan`` comes from the filterbank)."""
        return dict(
            n_src=self.n_src,
            bn_chan=self.bn_chan,
            hid_chan=self.hid_chan,
            n_blocks=self.n_blocks,
            upsampling_depth=self.upsampling_depth,
            n_heads=self.n_heads,
            dropout=self.dropout,
            drop_path=self.drop_path,
            norm_type=self.norm_type,
            causal=self.causal,
            use_ga=self.use_ga,
            use_la=self.use_la,
            official_compat=self.official_compat,
            mask_act=self.mask_act,
        )
