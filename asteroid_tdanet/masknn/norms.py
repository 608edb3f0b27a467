"""Normalisation layers used by the TDANet masker.

All layers take and return ``(batch, channels, frames)`` tensors.

* ``gLN``  -- global layer norm over channels and frames (non-causal, the paper's choice).
  Implemented with the native ``group_norm`` kernel: the hand-written mean/variance of the
  released code was the largest single cost of its CPU profile.
* ``cLN``  -- channel-wise layer norm, one frame at a time (causal).
* ``cgLN`` -- cumulative layer norm: statistics over channels and all *past* frames (causal).
"""

import torch
from torch import nn
from asteroid.masknn.norms import CumLN

# The released implementation adds 1e-8 to the variance; keep it so that loaded
# checkpoints reproduce their outputs.
GLOBAL_NORM_EPS = 1e-8


class GlobalLayerNorm(nn.GroupNorm):
    """Global layer norm (gLN): one group spanning every channel and frame.

    Args:
        num_channels (int): number of channels ``C``.
        eps (float): added to the variance.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(self, num_channels: int, eps: float = GLOBAL_NORM_EPS):
        super().__init__(1, num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # As a height-1 image so that frame-major inputs use the channels-last kernel.
        return super().forward(x.unsqueeze(2)).squeeze(2)


class ChannelLayerNorm(nn.LayerNorm):
    """Channel-wise layer norm (cLN): normalises each frame over its channels.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(self, num_channels: int, eps: float = GLOBAL_NORM_EPS):
        super().__init__(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class CumulativeLayerNorm(CumLN):
    """Cumulative layer norm (cgLN) from Conv-TasNet, as implemented by Asteroid.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """


NORMS = {"gLN": GlobalLayerNorm, "cLN": ChannelLayerNorm, "cgLN": CumulativeLayerNorm}
CAUSAL_NORMS = ("cLN", "cgLN")


def check_causal_norm(norm_type: str, causal: bool) -> None:
    """A causal model needs a norm that only looks back: error otherwise."""
    if causal and norm_type not in CAUSAL_NORMS:
        raise ValueError(
            f"causal=True needs a causal norm_type ({' or '.join(CAUSAL_NORMS)}), "
            f"got {norm_type!r}: a global norm looks at the whole signal."
        )


def get_norm(norm_type: str, num_channels: int) -> nn.Module:
    """Build the norm called ``norm_type`` (one of ``gLN``, ``cLN``, ``cgLN``)."""
    if norm_type not in NORMS:
        raise ValueError(f"Unknown norm_type {norm_type!r}; choose one of {sorted(NORMS)}.")
    return NORMS[norm_type](num_channels)
