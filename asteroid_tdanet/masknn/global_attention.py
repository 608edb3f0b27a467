"""TDANet's global attention (GA) module: a transformer layer on the coarsest-scale features."""

import torch
from torch import nn

from .drop_path import DropPath


class GlobalAttention(nn.Module):
    """``x + drop_path(mixer(x))`` then ``x + drop_path(ffn(x))`` (paper eq. 2-3).

    The paper's GA module uses multi-head self-attention and a convolutional FFN; S4M puts
    an S4 layer and a GELU FFN in the same two slots. Both branches own their norms.

    Args:
        mixer (nn.Module): sequence mixer, ``(batch, C, T) -> (batch, C, T)``; see
            :mod:`asteroid_tdanet.masknn.mixers`.
        ffn (nn.Module): position-wise feed-forward branch, same shapes.
        drop_path (float): stochastic-depth rate of both residual branches.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(self, mixer: nn.Module, ffn: nn.Module, drop_path: float = 0.0):
        super().__init__()
        self.mixer = mixer
        self.ffn = ffn
        self.drop_path = DropPath(drop_path)

    @property
    def causal(self) -> bool:
        return bool(getattr(self.mixer, "causal", False) and getattr(self.ffn, "causal", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.mixer(x))
        return x + self.drop_path(self.ffn(x))
