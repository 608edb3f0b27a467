"""Nearest-neighbour up-sampling, alone or fused into the sum that consumes it.

TDANet's fusions (paper eq. 4) add and multiply coarse features, up-sampled by nearest
interpolation, into a finer one: ``up(g) + x * up(s)``. Materialising ``up(g)`` and ``up(s)``
costs two full-resolution maps per fusion (about a tenth of a CPU forward pass at 10 s).
:func:`upsample_addcmul` computes the same sum by broadcasting each coarse frame over the run
of fine frames that nearest interpolation maps onto it, with the same arithmetic (one
``addcmul`` per element): the result is bit-identical to the materialised form.

The runs come from ``F.interpolate`` itself (applied to frame indices), so they follow its
float32 index arithmetic exactly: for 5002 -> 10003 frames one run in the middle has length
1, not the last one as exact arithmetic would have it.
"""

import functools
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

# Below this many elements per item the per-segment calls cost more than the saved copies.
MIN_FUSED_ELEMENTS = 1 << 16


def upsample_nearest(x: torch.Tensor, length: int) -> torch.Tensor:
    """Nearest-neighbour resampling of ``(batch, C, T)`` to ``(batch, C, length)``."""
    if x.shape[-1] == length:
        return x
    # 2D form: same indices as 1D nearest, channels-last kernel for frame-major inputs.
    return F.interpolate(x.unsqueeze(2), size=(1, length), mode="nearest").squeeze(2)


@functools.lru_cache(maxsize=512)
def nearest_runs(coarse: int, fine: int) -> Tuple[Tuple[int, int, int, int], ...]:
    """Segments ``(c0, c1, f0, run)``: coarse frames ``c0 .. c1 - 1`` each cover ``run``
    consecutive fine frames starting at ``f0`` when :func:`upsample_nearest` maps ``coarse``
    frames to ``fine`` ones (runs of equal length grouped; ``fine >= coarse``)."""
    index = upsample_nearest(torch.arange(coarse, dtype=torch.float32).view(1, 1, -1), fine)
    runs = torch.bincount(index.view(-1).long(), minlength=coarse).tolist()
    segments, start, first_fine = [], 0, 0
    while start < coarse:
        stop = start
        while stop < coarse and runs[stop] == runs[start]:
            stop += 1
        segments.append((start, stop, first_fine, runs[start]))
        first_fine += (stop - start) * runs[start]
        start = stop
    return tuple(segments)


def _fusable(fine: torch.Tensor, *coarse: torch.Tensor) -> bool:
    frames, channels = fine.shape[-1], fine.shape[1]
    if frames * channels < MIN_FUSED_ELEMENTS or frames < coarse[0].shape[-1]:
        return False
    # out= kernels have no autograd, and traced/exported graphs must not bake in the runs.
    if torch.is_grad_enabled() and any(t.requires_grad for t in (fine,) + coarse):
        return False
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    # Frame-major storage (``fine.transpose(1, 2)`` has unit channel stride) is what lets a
    # run of fine frames be viewed as one more axis.
    return fine.stride(1) == 1 and fine.stride(2) == channels


def upsample_addcmul(
    coarse_add: torch.Tensor, fine: torch.Tensor, coarse_mul: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """``up(coarse_add) + fine * up(coarse_mul)`` (or ``+ fine`` without ``coarse_mul``).

    ``up`` is :func:`upsample_nearest` to ``fine``'s length. Inference on frame-major inputs
    broadcasts the coarse frames instead of materialising ``up(.)``; otherwise (autograd,
    tracing, other layouts, small maps) it is computed literally. Same result either way.

    Shape: ``coarse_* (batch, C, T_c)``, ``fine (batch, C, T)`` with ``T >= T_c`` ->
    ``(batch, C, T)``, stored frame-major on the fused path.
    """
    coarse = (coarse_add,) if coarse_mul is None else (coarse_add, coarse_mul)
    length = fine.shape[-1]
    if not _fusable(fine, *coarse):
        if coarse_mul is None:
            return upsample_nearest(coarse_add, length) + fine
        return torch.addcmul(
            upsample_nearest(coarse_add, length), fine, upsample_nearest(coarse_mul, length)
        )
    batch, channels = fine.shape[:2]
    fine_t = fine.transpose(1, 2)  # (batch, T, C), channels contiguous
    add_t = coarse_add.transpose(1, 2)
    mul_t = None if coarse_mul is None else coarse_mul.transpose(1, 2)
    dtype = torch.result_type(coarse_add, fine)
    out = torch.empty(batch, length, channels, dtype=dtype, device=fine.device)
    for c0, c1, f0, run in nearest_runs(coarse_add.shape[-1], length):
        f1 = f0 + (c1 - c0) * run
        shape = (batch, c1 - c0, run, channels)
        dst, src = out[:, f0:f1].view(shape), fine_t[:, f0:f1].view(shape)
        if mul_t is None:
            torch.add(add_t[:, c0:c1, None], src, out=dst)
        else:
            torch.addcmul(add_t[:, c0:c1, None], src, mul_t[:, c0:c1, None], out=dst)
    return out.transpose(1, 2)
