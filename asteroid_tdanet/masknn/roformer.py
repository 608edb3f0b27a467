"""Building blocks of the (Mel-)Band RoFormer (lucidrains' BS-RoFormer, as vendored by the
windowed-roformer reference of Benetatos, Zang & Leistikow, 2025): feed-forward, the depth-1 transformer that receives its attention module, the band-split
embedding and the per-band MLP mask estimator.

Module and parameter names are the reference's, so that its state_dicts load as they are:
a transformer is ``layers.<i>.0`` (attention), ``layers.<i>.1.net`` (feed-forward) and
``norm`` (output RMSNorm); the attention (:class:`~asteroid_tdanet.masknn.attention.
GatedRotaryAttention` or its windowed sink variant
:class:`~asteroid_tdanet.masknn.attention.WindowedSinkAttention`) is ``rotary_embed``,
``norm``, ``to_qkv``, ``to_gates``, ``to_out.0``.
"""

from typing import Sequence

import torch
from torch import nn

from .token_norms import RMSNorm


class FeedForward(nn.Module):
    """``net = [RMSNorm, Linear(dim, mult dim), GELU, Dropout, Linear(mult dim, dim),
    Dropout]`` (BS-RoFormer's; keys ``net.0.gamma``, ``net.1.*``, ``net.4.*``).

    Shape: ``(..., dim)`` -> ``(..., dim)``.
    """

    def __init__(self, dim: int, mult: float = 4, dropout: float = 0.0):
        super().__init__()
        inner = int(dim * mult)
        self.net = nn.Sequential(
            RMSNorm(dim),
            nn.Linear(dim, inner),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(inner, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class RoformerTransformer(nn.Module):
    """Pre-norm transformer given its attention modules: for each ``attn``
    ``x = attn(x) + x; x = FF(x) + x``, then ``RMSNorm(x)`` (``norm_output``).

    Args:
        dim (int): model width.
        attentions (sequence of nn.Module): one attention sub-layer per depth step (e.g.
            :class:`GatedRotaryAttention` or ``WindowedSinkAttention``), ``(b, n, dim) ->
            (b, n, dim)`` without residual.
        ff_mult (float): feed-forward expansion.
        ff_dropout (float): feed-forward dropout.
        norm_output (bool): final RMSNorm (else identity).

    Keys: ``layers.<i>.0.*`` (attention), ``layers.<i>.1.net.*`` (feed-forward),
    ``norm.gamma``.

    Shape: ``(batch, n, dim)`` -> ``(batch, n, dim)``.
    """

    def __init__(
        self,
        dim: int,
        attentions: Sequence[nn.Module],
        *,
        ff_mult: float = 4,
        ff_dropout: float = 0.0,
        norm_output: bool = True,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList([attn, FeedForward(dim, ff_mult, ff_dropout)]) for attn in attentions
        )
        self.norm = RMSNorm(dim) if norm_output else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class BandSplit(nn.Module):
    """Per band ``b``: ``Linear(d_b, dim)(RMSNorm(d_b)(x_b))`` on the band's chunk ``x_b`` of the
    last axis (keys ``to_features.<b>.0.gamma``, ``to_features.<b>.1.*``).

    Shape: ``(..., sum(dim_inputs))`` -> ``(..., bands, dim)``.
    """

    def __init__(self, dim: int, dim_inputs: Sequence[int]):
        super().__init__()
        self.dim_inputs = tuple(int(d) for d in dim_inputs)
        self.to_features = nn.ModuleList(
            nn.Sequential(RMSNorm(d), nn.Linear(d, dim)) for d in self.dim_inputs
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.split(self.dim_inputs, dim=-1)
        return torch.stack([net(c) for c, net in zip(chunks, self.to_features)], dim=-2)


def mlp(dim_in: int, dim_out: int, dim_hidden: int, depth: int) -> nn.Sequential:
    """``Linear, Tanh`` ``depth`` times (``dim_in -> dim_hidden -> ...``), then ``Linear(->
    dim_out)`` (BS-RoFormer's ``MLP``: keys ``0``, ``2``, ..., ``2 depth``)."""
    dims = (dim_in, *((dim_hidden,) * depth), dim_out)
    layers = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class MaskEstimator(nn.Module):
    """Per band ``b``: ``GLU(MLP(x_b))`` with ``MLP: dim -> hidden (Tanh) x depth -> 2 d_b``
    (``hidden = mlp_expansion_factor * dim``); the GLU halves it to ``d_b`` values
    (``first half * sigmoid(second half)``). Keys ``to_freqs.<b>.0.<2i>.*``.

    Shape: ``(..., bands, dim)`` -> ``(..., sum(dim_inputs))``.
    """

    def __init__(
        self, dim: int, dim_inputs: Sequence[int], depth: int = 2, mlp_expansion_factor: int = 4
    ):
        super().__init__()
        self.dim_inputs = tuple(int(d) for d in dim_inputs)
        hidden = dim * mlp_expansion_factor
        self.to_freqs = nn.ModuleList(
            nn.Sequential(mlp(dim, 2 * d, hidden, depth), nn.GLU(dim=-1)) for d in self.dim_inputs
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands = x.unbind(dim=-2)
        return torch.cat([net(band) for band, net in zip(bands, self.to_freqs)], dim=-1)
