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

from .frame_major import frame_major, is_frame_major

# Below this many elements per item the per-segment calls cost more than the saved copies.
MIN_FUSED_ELEMENTS = 1 << 16


def upsample_nearest(x: torch.Tensor, length: int) -> torch.Tensor:
    """Nearest-neighbour resampling of ``(batch, C, T)`` to ``(batch, C, length)``."""
    if x.shape[-1] == length:
        return x
    if torch.onnx.is_in_onnx_export():
        # ONNX's Resize takes frame floor(i / (length / T)), PyTorch floor(i * float32(T /
        # length)): they differ at some boundaries (86 -> 1370 frames), which changed about
        # one input length in eleven by up to 1e-2. The index map, written out, is exact.
        return x.index_select(-1, nearest_index(x.shape[-1], length, x.device))
    # 2D form: same indices as 1D nearest, channels-last kernel for frame-major inputs.
    return F.interpolate(x.unsqueeze(2), size=(1, length), mode="nearest").squeeze(2)


def nearest_index(frames: int, length: int, device=None) -> torch.Tensor:
    """Source frame of each of ``length`` output frames of :func:`upsample_nearest` from
    ``frames`` frames: ``min(floor(i * float32(frames / length)), frames - 1)``, PyTorch's
    nearest-interpolation arithmetic in float32, as operators (traced sizes stay dynamic)."""
    positions = torch.arange(length, device=device, dtype=torch.float32)
    source = torch.ones((), device=device, dtype=torch.float32) * frames
    return torch.minimum((positions * (source / length)).floor(), source - 1).long()


# Data types whose interpolation kernels can be asked for their index map (an arange of the
# same type holds every frame index exactly); others take the literal path.
INDEXABLE_DTYPES = (torch.float32, torch.float64)


@functools.lru_cache(maxsize=512)
def nearest_runs(
    coarse: int, fine: int, dtype: torch.dtype = torch.float32, device_type: str = "cpu"
) -> Tuple[Tuple[int, int, int, int], ...]:
    """Segments ``(c0, c1, f0, run)``: coarse frames ``c0 .. c1 - 1`` each cover ``run``
    consecutive fine frames starting at ``f0`` when :func:`upsample_nearest` maps ``coarse``
    frames to ``fine`` ones (runs of equal length grouped; ``fine >= coarse``), for data of
    ``dtype`` on ``device_type`` (the kernels' index arithmetic may differ between them)."""
    source = torch.arange(coarse, dtype=dtype, device=device_type).view(1, 1, -1)
    index = upsample_nearest(source, fine).cpu()
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
    if any(t.dtype not in INDEXABLE_DTYPES for t in (fine,) + coarse):
        return False
    # Traced/exported graphs must not bake in the runs.
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    # Frame-major storage is what lets a run of fine frames be viewed as one more axis.
    return is_frame_major(fine)


def _runs(coarse: torch.Tensor, length: int):
    """``(c0, c1, f0, f1, view_shape)`` of every segment of :func:`nearest_runs`."""
    batch, channels = coarse.shape[:2]
    segments = nearest_runs(coarse.shape[-1], length, coarse.dtype, coarse.device.type)
    for c0, c1, f0, run in segments:
        yield c0, c1, f0, f0 + (c1 - c0) * run, (batch, c1 - c0, run, channels)


def _fused_forward(coarse_add, fine, coarse_mul):
    """The broadcast sum, frame-major ``(batch, T, C)`` storage, returned as ``(batch, C, T)``."""
    batch, channels, length = fine.shape
    fine_t, add_t = fine.transpose(1, 2), coarse_add.transpose(1, 2)
    mul_t = None if coarse_mul is None else coarse_mul.transpose(1, 2)
    dtype = torch.result_type(coarse_add, fine)
    out = torch.empty(batch, length, channels, dtype=dtype, device=fine.device)
    for c0, c1, f0, f1, shape in _runs(coarse_add, length):
        dst, src = out[:, f0:f1].view(shape), fine_t[:, f0:f1].view(shape)
        if mul_t is None:
            torch.add(add_t[:, c0:c1, None], src, out=dst)
        else:
            torch.addcmul(add_t[:, c0:c1, None], src, mul_t[:, c0:c1, None], out=dst)
    return out.transpose(1, 2)


class _FusedUpsampleAddcmul(torch.autograd.Function):
    """Autograd of the broadcast sum: keeps ``fine`` and the coarse ``mul`` for the backward
    pass (the literal form keeps the up-sampled ``mul``, a full-resolution map)."""

    @staticmethod
    def forward(ctx, coarse_add, fine, coarse_mul):
        ctx.save_for_backward(fine, coarse_mul)
        ctx.add_dtype = coarse_add.dtype
        return _fused_forward(coarse_add, fine, coarse_mul)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        fine, coarse_mul = ctx.saved_tensors
        batch, channels, length = fine.shape
        grad_t = frame_major(grad).transpose(1, 2)  # whatever layout autograd passed
        fine_t, mul_t = fine.transpose(1, 2), coarse_mul.transpose(1, 2)
        coarse = coarse_mul.shape[-1]
        need_add, need_fine, need_mul = ctx.needs_input_grad
        d_add = grad.new_empty(batch, coarse, channels) if need_add else None
        d_fine = torch.empty_like(grad_t) if need_fine else None
        d_mul = grad.new_empty(batch, coarse, channels) if need_mul else None
        for c0, c1, f0, f1, shape in _runs(coarse_mul, length):
            g = grad_t[:, f0:f1].view(shape)
            if need_add:  # up's adjoint: the sum over each run
                torch.sum(g, dim=2, out=d_add[:, c0:c1])
            if need_fine:
                torch.mul(g, mul_t[:, c0:c1, None], out=d_fine[:, f0:f1].view(shape))
            if need_mul:
                torch.sum(g * fine_t[:, f0:f1].view(shape), dim=2, out=d_mul[:, c0:c1])
        return (
            None if d_add is None else d_add.transpose(1, 2).to(ctx.add_dtype),
            None if d_fine is None else d_fine.transpose(1, 2),
            None if d_mul is None else d_mul.transpose(1, 2),
        )


def upsample_addcmul(
    coarse_add: torch.Tensor, fine: torch.Tensor, coarse_mul: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """``up(coarse_add) + fine * up(coarse_mul)`` (or ``+ fine`` without ``coarse_mul``).

    ``up`` is :func:`upsample_nearest` to ``fine``'s length. Frame-major inputs broadcast the
    coarse frames instead of materialising ``up(.)`` (with autograd: through a function whose
    backward pass does the same, for the gated form); otherwise (tracing, other layouts,
    small maps) it is computed literally. Same forward result either way.

    Shape: ``coarse_* (batch, C, T_c)``, ``fine (batch, C, T)`` with ``T >= T_c`` ->
    ``(batch, C, T)``, stored frame-major on the fused path.
    """
    coarse = (coarse_add,) if coarse_mul is None else (coarse_add, coarse_mul)
    if not _fusable(fine, *coarse):
        return _literal(coarse_add, fine, coarse_mul)
    if torch.is_grad_enabled() and any(t.requires_grad for t in (fine,) + coarse):
        if coarse_mul is None:  # the ablation's plain sum: literal, as in training anyway
            return _literal(coarse_add, fine, None)
        return _FusedUpsampleAddcmul.apply(coarse_add, fine, coarse_mul)
    return _fused_forward(coarse_add, fine, coarse_mul)


def _literal(coarse_add, fine, coarse_mul):
    """:func:`upsample_addcmul` as written, the up-sampled maps materialised."""
    length = fine.shape[-1]
    if coarse_mul is None:
        return upsample_nearest(coarse_add, length) + fine
    return torch.addcmul(
        upsample_nearest(coarse_add, length), fine, upsample_nearest(coarse_mul, length)
    )
