"""Export-friendly equivalents of the two TDANet operations that ONNX export cannot handle.

The legacy (TorchScript-based) ONNX exporter, the one available without ``onnxscript``:

1. refuses adaptive average pooling to a length known only at run time (the GA module pools
   every scale to the coarsest one), and average pooling with a run-time kernel (causal
   models);
2. records some sequence lengths inside ``nn.MultiheadAttention`` as constants, so the graph
   fails on inputs of another length.

:func:`exportable_copy` returns a copy of a model in which (2) is replaced by
:class:`ExportableSelfAttention`; :func:`traceable_pooling` patches (1) for the duration of a
``with`` block. Both compute the same function (tested against the originals).
"""

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..masknn import ublock
from ..masknn.attention import MultiHeadSelfAttention


def pool_to_length_traceable(x: torch.Tensor, length: int, causal: bool) -> torch.Tensor:
    """Same result as :func:`asteroid_tdanet.masknn.ublock.pool_to_length`, with cumulative sums.

    Adaptive pooling of ``T`` frames to ``L`` averages frames
    ``[floor(j T / L), ceil((j + 1) T / L))`` for output ``j``; the causal pooling averages the
    ``r = T // L`` frames ending at frame ``j r`` (zeros before the start count). A window sum
    is a difference of two cumulative sums (in float64, so long inputs lose no precision).
    Shape: ``(batch, C, T)`` -> ``(batch, C, L)``.
    """
    if x.shape[-1] == length:
        return x
    n_frames = x.shape[-1]
    cumsum = F.pad(torch.cumsum(x.double(), dim=-1), (1, 0))
    j = torch.arange(length, device=x.device)
    if causal:
        ratio = n_frames // length
        end = j * ratio + 1
        start = (end - ratio).clamp(min=0)
        count = torch.full_like(end, ratio)
    else:
        start = torch.div(j * n_frames, length, rounding_mode="floor")
        end = torch.div((j + 1) * n_frames + length - 1, length, rounding_mode="floor")
        count = end - start
    sums = cumsum.index_select(-1, end) - cumsum.index_select(-1, start)
    return (sums / count).to(x.dtype)


@contextlib.contextmanager
def traceable_pooling():
    """Use :func:`pool_to_length_traceable` inside the U-block while the block runs."""
    original = ublock.pool_to_length
    ublock.pool_to_length = pool_to_length_traceable
    try:
        yield
    finally:
        ublock.pool_to_length = original


class ExportableSelfAttention(nn.Module):
    """``nn.MultiheadAttention`` (``batch_first``, self-attention, inference) without constant
    sequence lengths: reshapes use ``-1`` for the time axis.

    Args:
        mha: the trained module (its parameters are shared, not copied).

    ``forward(q, k, v, attn_mask=None, need_weights=False, is_causal=False)`` with ``q is k is
    v`` of shape ``(batch, T, C)`` -> ``(output, None)`` like ``nn.MultiheadAttention``; a
    boolean ``attn_mask`` marks *forbidden* positions, as there.
    """

    def __init__(self, mha: nn.MultiheadAttention):
        super().__init__()
        if not mha.batch_first or not mha._qkv_same_embed_dim or mha.bias_k is not None:
            raise ValueError(
                "Only batch_first self-attention with packed projections is supported."
            )
        self.n_heads, self.channels = mha.num_heads, mha.embed_dim
        self.in_proj_weight, self.in_proj_bias = mha.in_proj_weight, mha.in_proj_bias
        self.out_proj = mha.out_proj

    def forward(self, query, key, value, attn_mask=None, need_weights=False, is_causal=False):
        batch, head_dim = query.shape[0], self.channels // self.n_heads
        qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)
        # (batch, T, 3 C) -> 3 x (batch, heads, T, head_dim)
        qkv = qkv.reshape(batch, -1, 3, self.n_heads, head_dim).permute(2, 0, 3, 1, 4)
        allowed = None if attn_mask is None else ~attn_mask
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=allowed)
        out = out.transpose(1, 2).reshape(batch, -1, self.channels)
        return self.out_proj(out), None


def exportable_copy(model: nn.Module) -> nn.Module:
    """Deep copy of ``model`` (eval mode) with every self-attention made export-friendly."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        # The released model's frame-local attention only uses the projections' weights.
        if isinstance(module, MultiHeadSelfAttention) and not module.frame_local:
            module.mha = ExportableSelfAttention(module.mha)
    return model
