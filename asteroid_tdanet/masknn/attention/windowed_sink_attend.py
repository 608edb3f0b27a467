"""Windowed sink attention: softmax attention over a band of frames plus global sink tokens.

For a sequence of ``S`` sink tokens followed by ``T`` frames (sequence positions ``0..S-1`` and
``S..S+T-1``), position ``q`` may attend to position ``k`` iff

* non-causal (Benetatos, Zang & Leistikow, 2025; the windowed-roformer ``mask_mod``):
  ``q < S or k < S or |q - k| <= window // 2``: a frame sees every sink and the frames within
  ``+-window/2``; a sink sees everything;
* causal: a frame sees every sink and the frames ``q - window .. q``; a sink sees the sinks.

Three computations of the same function (:func:`windowed_sink_attend`, ``backend=``):

* ``blocked``: queries in blocks of ``block_size`` frames, each against the sinks and the
  ``block_size + window`` frames around it (gathered): O(T (block + window + S)) time and
  memory, exact;
* ``flex``: ``torch.nn.attention.flex_attention`` with a block mask (compiled on CUDA);
* ``dense``: ``scaled_dot_product_attention`` with the explicit boolean mask (O(T^2)).

``auto`` picks ``flex`` on CUDA; elsewhere ``dense`` for sequences of at most
:data:`DENSE_MAX_LENGTH` positions (one fused ``scaled_dot_product_attention`` beats the
blocks' bookkeeping there: 0.03 s vs 0.07-0.09 s for 60 x 8 heads of 109 positions, d 64, one
CPU thread) and ``blocked`` beyond (801 frames: 0.90 s vs 1.18 s dense; 3001: 2.5 s vs 11.9 s).
"""

import functools
import warnings

import torch
import torch.nn.functional as F

BACKENDS = ("auto", "blocked", "flex", "dense")
# Longest sequence (sinks + frames) ``auto`` computes densely off CUDA.
DENSE_MAX_LENGTH = 256


def window_bounds(window: int, causal: bool):
    """``(lo, hi)``: frame ``t`` attends to frames ``t + lo .. t + hi``."""
    return (-window, 0) if causal else (-(window // 2), window // 2)


def windowed_sink_mask(
    n_sinks: int, n_frames: int, window: int, causal: bool = False, device=None
) -> torch.Tensor:
    """Boolean ``(S + T, S + T)`` mask, True where the query (row) may attend to the key."""
    pos = torch.arange(n_sinks + n_frames, device=device)
    q, k = pos[:, None], pos[None, :]
    lo, hi = window_bounds(window, causal)
    band = (k - q >= lo) & (k - q <= hi)
    if causal:
        return (k < n_sinks) | ((q >= n_sinks) & band)
    return (q < n_sinks) | (k < n_sinks) | band


# Compiled flex attention on CUDA refuses heads narrower than this (seen on an H100 with torch
# 2.11: "NYI: embedding dimension of the query, key, and value must be at least 16").
FLEX_MIN_HEAD_DIM = 16


def auto_backend(on_cuda: bool, length: int, head_dim: int = FLEX_MIN_HEAD_DIM) -> str:
    """What ``backend="auto"`` computes for a sequence of ``length`` positions (sinks +
    frames) and heads of ``head_dim`` channels: ``flex`` on CUDA (when available, heads of at
    least :data:`FLEX_MIN_HEAD_DIM`), else ``dense`` up to :data:`DENSE_MAX_LENGTH` positions
    and ``blocked`` beyond; traced graphs always get ``blocked`` (their length is dynamic)."""
    if on_cuda and head_dim >= FLEX_MIN_HEAD_DIM and _flex_available():
        return "flex"
    short = length <= DENSE_MAX_LENGTH and not torch.jit.is_tracing()
    return "dense" if short else "blocked"


def windowed_sink_attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    n_sinks: int,
    window: int,
    causal: bool = False,
    frames_only: bool = False,
    block_size: int = 32,
    dropout: float = 0.0,
    backend: str = "auto",
) -> torch.Tensor:
    """Windowed sink attention of ``(batch, heads, S + T, d)`` queries, keys and values.

    Scale ``d^-1/2``. Returns ``(batch, heads, S + T, d)``, or only the frame rows
    ``(batch, heads, T, d)`` with ``frames_only`` (the sink rows are then not computed by the
    ``blocked`` backend). ``dropout`` applies to the attention weights (``flex``: not
    supported, the ``blocked`` computation is used while it is active).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    if backend == "auto":
        backend = auto_backend(q.is_cuda, q.shape[-2], q.shape[-1])
    if backend == "flex" and dropout > 0:
        backend = "blocked"
    if backend == "dense":
        out = _dense(q, k, v, n_sinks, window, causal, dropout)
    elif backend == "flex":
        out = _flex(q, k, v, n_sinks, window, causal)
    else:
        frames = _blocked_frames(q, k, v, n_sinks, window, causal, block_size, dropout)
        if frames_only:
            return frames
        return torch.cat([_sink_rows(q, k, v, n_sinks, causal, dropout), frames], dim=2)
    return out[:, :, n_sinks:] if frames_only else out


def _dense(q, k, v, n_sinks, window, causal, dropout):
    mask = windowed_sink_mask(n_sinks, q.shape[-2] - n_sinks, window, causal, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)


def _sink_rows(q, k, v, n_sinks, causal, dropout):
    """Rows of the sinks: everything (non-causal) or the sinks only (causal)."""
    keys = slice(0, n_sinks) if causal else slice(None)
    return F.scaled_dot_product_attention(
        q[:, :, :n_sinks], k[:, :, keys], v[:, :, keys], dropout_p=dropout
    )


# Query blocks processed together: as many as keep the gathered keys of a group (batch x
# heads x blocks x keys x d) under this many elements (8 MB in float32), which bounds the
# temporaries (gathered keys and values, scores) whatever the batch and head count: long
# inputs stay in cache and their memory is linear with a small constant.
_GROUP_ELEMENTS = 1 << 21


def _blocked_frames(q, k, v, n_sinks, window, causal, block, dropout):
    """Frame rows, ``(batch, heads, T, d)``, block by block (see the module docstring).

    Each block of queries meets one gathered key set: the sinks, then its window of
    zero-padded frames; out-of-band and padded keys are masked. Blocks are processed in
    groups (one group when traced, so that exported graphs keep a dynamic length).
    """
    q_f = q[:, :, n_sinks:] * q.shape[-1] ** -0.5
    n_frames = q_f.shape[2]
    lo, hi = window_bounds(window, causal)
    width = block + hi - lo  # frames a block of queries can see
    n_blocks = (n_frames + block - 1) // block  # ceil; positive operands also when traced
    pad_q = n_blocks * block - n_frames
    batch, heads, _, dim = q_f.shape
    q_b = F.pad(q_f, (0, 0, 0, pad_q)).reshape(batch, heads, -1, block, dim)  # (b, h, nb, B, d)
    # Keys of block j: the sinks, then frames j*block + lo .. j*block + block - 1 + hi, taken
    # from [sinks, zero-padded frames] (index_select rather than unfold: it exports with
    # dynamic sizes).
    k_all = torch.cat([k[:, :, :n_sinks], F.pad(k[:, :, n_sinks:], (0, 0, -lo, pad_q + hi))], 2)
    v_all = torch.cat([v[:, :, :n_sinks], F.pad(v[:, :, n_sinks:], (0, 0, -lo, pad_q + hi))], 2)
    tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
    per_block = batch * heads * (n_sinks + width) * dim
    group = n_blocks if tracing else max(1, _GROUP_ELEMENTS // per_block)
    if tracing or n_blocks <= group:
        return _block_group(q_b, k_all, v_all, 0, n_frames, n_sinks, lo, hi, width, dropout)[
            :, :, :n_frames
        ]
    out = q_f.new_empty(batch, heads, n_blocks * block, dim)
    for first in range(0, n_blocks, group):
        rows = _block_group(
            q_b[:, :, first : first + group],
            k_all,
            v_all,
            first,
            n_frames,
            n_sinks,
            lo,
            hi,
            width,
            dropout,
        )
        out[:, :, first * block : first * block + rows.shape[2]] = rows
    return out[:, :, :n_frames]


def _block_group(q_b, k_all, v_all, first, n_frames, n_sinks, lo, hi, width, dropout):
    """Rows of query blocks ``first .. first + q_b.shape[2] - 1``: ``(b, h, blocks * B, d)``."""
    batch, heads, n_group, block, dim = q_b.shape
    device = q_b.device
    offsets = (torch.arange(n_group, device=device) + first) * block
    window_index = n_sinks + offsets[:, None] + torch.arange(width, device=device)
    sink_index = torch.arange(n_sinks, device=device).expand(window_index.shape[0], n_sinks)
    index = torch.cat([sink_index, window_index], dim=1).flatten()
    keys = n_sinks + width
    k_b = k_all.index_select(2, index).reshape(batch, heads, -1, keys, dim)
    v_b = v_all.index_select(2, index).reshape(batch, heads, -1, keys, dim)
    scores = q_b @ k_b.transpose(-2, -1)  # (b, h, blocks, B, S + W)
    query = offsets.view(-1, 1, 1) + torch.arange(block, device=device).view(1, -1, 1)
    key = (offsets + lo).view(-1, 1, 1) + torch.arange(width, device=device)
    in_band = (key - query >= lo) & (key - query <= hi) & (key >= 0) & (key < n_frames)
    sinks_seen = torch.ones(in_band.shape[0], block, n_sinks, dtype=torch.bool, device=device)
    valid = torch.cat([sinks_seen, in_band], dim=-1)
    weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)
    weights = F.dropout(weights, dropout, training=dropout > 0)
    return (weights @ v_b).reshape(batch, heads, -1, dim)


def _flex_available() -> bool:
    try:
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=32)
def _block_mask(n_sinks: int, length: int, window: int, causal: bool, device: str):
    from torch.nn.attention.flex_attention import create_block_mask

    lo, hi = window_bounds(window, causal)

    def mask_mod(b, h, q_idx, kv_idx):
        band = (kv_idx - q_idx >= lo) & (kv_idx - q_idx <= hi)
        if causal:
            return (kv_idx < n_sinks) | ((q_idx >= n_sinks) & band)
        return (q_idx < n_sinks) | (kv_idx < n_sinks) | band

    return create_block_mask(mask_mod, B=None, H=None, Q_LEN=length, KV_LEN=length, device=device)


@functools.lru_cache(maxsize=1)
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def _flex(q, k, v, n_sinks, window, causal):
    from torch.nn.attention.flex_attention import flex_attention

    mask = _block_mask(n_sinks, q.shape[-2], window, causal, str(q.device))
    if q.is_cuda:
        return _compiled_flex()(q, k, v, block_mask=mask)
    with warnings.catch_warnings():  # eager flex on CPU: correct, slow, warns (tests only)
        warnings.simplefilter("ignore", UserWarning)
        return flex_attention(q, k, v, block_mask=mask)
