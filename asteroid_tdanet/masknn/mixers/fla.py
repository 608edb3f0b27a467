"""Gated focused linear attention as a sequence mixer (FLASepformer, Wang et al., 2025)."""

from typing import Optional

import torch
from torch import nn

from ..attention import FocusedLinearAttention
from ..token_norms import build_token_norm
from .base import SequenceMixer


class GatedFocusedLinearAttention(SequenceMixer):
    """``sigmoid(W_g Norm'(x) + b_g) * FLA(Norm(x))`` (``fla``): FLASepformer's gated template
    without its skip (``y = x + gate * FLA(LN(x))``; the block adds ``x``).

    The gate reads the raw input through its own norm ``Norm'`` (a second instance of
    ``norm_type``), not the attention's normalised input. :class:`FocusedLinearAttention` is
    O(N) in time and memory; ``causal=True`` uses prefix sums and a causal ``DWC``.

    Args:
        channels (int): feature size ``Cin`` of the input/output.
        n_heads (int): heads (head width ``attention_dim / n_heads``).
        attention_dim (int, optional): attention width ``C`` (default ``channels``).
        kernel_size (int): odd ``DWC`` kernel (5 in the reference; the paper may say 7).
        focusing_factor (float): ``p`` (3).
        norm_type (str): ``layernorm`` or ``RMSGroupNorm_<G>`` for both norms.
        gated (bool): with the sigmoid gate (FLASepformer) or without.
        causal (bool): attend to past frames only.
        dropout (float): dropout on the attention's output projection.
        chunk_size (int): chunk length of the causal computation.

    Keys (the reference's): ``layer_norm.*``, ``attn.{q, kv, proj, dwc, scale}``,
    ``gate_layer.0.*`` (norm), ``gate_layer.1.*`` (Linear ``Cin -> Cin``).

    Shape: ``(batch, Cin, frames)`` -> ``(batch, Cin, frames)``.
    """

    mixer_name = "fla"

    def __init__(
        self,
        channels: int,
        *,
        n_heads: int = 8,
        attention_dim: Optional[int] = None,
        kernel_size: int = 5,
        focusing_factor: float = 3,
        norm_type: str = "layernorm",
        gated: bool = True,
        causal: bool = False,
        dropout: float = 0.0,
        chunk_size: int = 64,
    ):
        super().__init__()
        self.channels, self.causal, self.gated = channels, causal, gated
        self.layer_norm = build_token_norm(norm_type, channels)
        self.attn = FocusedLinearAttention(
            attention_dim or channels,
            input_dim=channels,
            n_heads=n_heads,
            kernel_size=kernel_size,
            focusing_factor=focusing_factor,
            causal=causal,
            dropout=dropout,
            chunk_size=chunk_size,
        )
        self.gate_layer = (
            nn.Sequential(
                build_token_norm(norm_type, channels), nn.Linear(channels, channels), nn.Sigmoid()
            )
            if gated
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channels_last(x)
        out = self.attn(self.layer_norm(x))
        if self.gate_layer is not None:
            out = self.gate_layer(x) * out
        return out.transpose(1, 2)

    def macs(self, frames: int) -> int:
        c = self.channels
        gate = frames * (c * c + 3 * c) if self.gated else 0
        return int(2 * frames * c * (2 if self.gated else 1) + self.attn.macs(frames) + gate)
