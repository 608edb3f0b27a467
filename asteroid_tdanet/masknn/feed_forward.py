"""Convolutional feed-forward block of TDANet's global attention (GA) module."""

import torch
from torch import nn

from .convolutions import ConvNorm, DepthwiseConv1d


class FeedForward(nn.Module):
    """Convolutional feed-forward block: 1x1 conv+norm up, depthwise k5, ReLU, 1x1 conv+norm down.

    Shape: ``(batch, C, frames)`` -> ``(batch, C, frames)``.
    """

    def __init__(self, channels, hidden, dropout=0.1, norm_type="gLN", causal=False):
        super().__init__()
        self.fc1 = ConvNorm(channels, hidden, 1, bias=False, norm_type=norm_type)
        self.dwconv = DepthwiseConv1d(hidden, 5, bias=True, causal=causal)
        self.fc2 = ConvNorm(hidden, channels, 1, bias=False, norm_type=norm_type)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(torch.relu(self.dwconv(self.fc1(x))))
        return self.dropout(self.fc2(x))
