"""Position-wise feed-forward branches of the global module (TDANet's and S4M's)."""

import torch
from torch import nn

from .convolutions import ConvNorm, DepthwiseConv1d, PointwiseConv1d


class FeedForward(nn.Module):
    """TDANet's convolutional FFN: 1x1 conv+norm up, depthwise k5, ReLU, 1x1 conv+norm down.

    Args:
        channels (int): feature size ``C``.
        hidden (int): inner size (``2 C`` in TDANet).
        dropout (float): dropout after the activation and on the output.
        norm_type (str): norm after each 1x1 convolution.
        causal (bool): causal depthwise convolution (with a causal ``norm_type``).

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(self, channels, hidden, dropout=0.1, norm_type="gLN", causal=False):
        super().__init__()
        self.causal = causal
        self.fc1 = ConvNorm(channels, hidden, 1, bias=False, norm_type=norm_type)
        self.dwconv = DepthwiseConv1d(hidden, 5, bias=True, causal=causal)
        self.fc2 = ConvNorm(hidden, channels, 1, bias=False, norm_type=norm_type)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.relu(self.dwconv(self.fc1(x))))
        return self.dropout(self.fc2(x))


class TransformerFeedForward(nn.Module):
    """Pre-norm transformer FFN: ``W2 GELU(W1 LayerNorm(x))`` over channels (S4M's ``ff``).

    ``W1``: ``C -> expand C``, ``W2``: ``expand C -> C``, both 1x1 convolutions with bias
    (SaShiMi's ``FFBlock``). Every frame is processed on its own, so it is causal.

    Args:
        channels (int): feature size ``C``.
        expand (int): inner size factor.
        dropout (float): dropout after the activation.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    causal = True

    def __init__(self, channels: int, expand: int = 2, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.fc1 = PointwiseConv1d(channels, expand * channels)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = PointwiseConv1d(expand * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.fc2(self.dropout(self.activation(self.fc1(x))))
