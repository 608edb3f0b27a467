"""TDANet's global attention (GA) module: a transformer layer on the coarsest-scale features."""

import torch
from torch import nn

from .attention import MultiHeadSelfAttention
from .drop_path import DropPath
from .feed_forward import FeedForward


class GlobalAttention(nn.Module):
    """``x + drop_path(MHSA(x))`` then ``x + drop_path(FFN(x))`` (paper eq. 2-3).

    Args:
        channels (int): feature size ``C``.
        n_heads (int): attention heads.
        dropout (float): dropout inside attention and FFN.
        drop_path (float): stochastic-depth rate of both residual branches.
        norm_type (str): norm of the FFN's 1x1 convolutions.
        causal (bool): causal attention mask and causal depthwise convolution.
        frame_local (bool): released-model attention, see :class:`MultiHeadSelfAttention`.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(
        self,
        channels: int,
        n_heads: int = 8,
        dropout: float = 0.1,
        drop_path: float = 0.1,
        norm_type: str = "gLN",
        causal: bool = False,
        frame_local: bool = False,
    ):
        super().__init__()
        self.attention = MultiHeadSelfAttention(channels, n_heads, dropout, causal, frame_local)
        self.ffn = FeedForward(channels, 2 * channels, dropout, norm_type, causal)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attention(x))
        return x + self.drop_path(self.ffn(x))
