"""Depthwise 1D convolution whose backward pass avoids PyTorch's slow CPU kernel.

On CPU, PyTorch's backward pass of a depthwise convolution (``groups == channels``) computes
the weight and bias gradients on a generic path: for TDANet's k5 convolutions on frame-major
maps (4 x 512 x 3,001 frames) it takes 20-35x the forward pass and was a third of a training
step (``benchmarks/depthwise_backward.py``).
:func:`depthwise_conv1d` computes the same forward pass and writes the backward pass from
the convolution's definition ``y[c, t] = b[c] + sum_j w[c, j] x[c, s t + j - p]``:

* ``dx = conv_transpose(dy, w)`` (the adjoint: one depthwise transposed convolution, exact);
* ``dw[c, j] = sum_{n, t} dy[n, c, t] x[n, c, s t + j - p]``: one product and sum per tap
  ``j`` over the frames where the tap meets the input (padding contributes zeros);
* ``db[c] = sum_{n, t} dy[n, c, t]``.

Gradients equal PyTorch's up to float rounding (tested against float64). Used for float32 /
float64 CPU inputs of at least :data:`MIN_ELEMENTS` elements while autograd records; other
devices (PyTorch's GPU kernels need no help), smaller
maps, tracing, scripting, compiling and autocast keep the plain call (the function has no
double backward).
"""

from typing import Optional

import torch
import torch.nn.functional as F

from .frame_major import frame_major

DIFFERENTIABLE_DTYPES = (torch.float32, torch.float64)
# Below this many elements in a map, the per-tap calls cost more than PyTorch's kernel saves.
MIN_ELEMENTS = 1 << 16


def _forward(x, weight, bias, stride: int, padding: int) -> torch.Tensor:
    # As a 2D convolution over a height-1 image: frame-major inputs take oneDNN's
    # channels-last path; padding inside the call (an F.pad copy first is several times slower).
    out = F.conv2d(
        x.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), (0, padding), groups=x.shape[1]
    )
    return out.squeeze(2)


# Frames per block of the weight gradient, as elements (batch x channels x frames): blocks of
# about 512 KiB keep a block of ``dy`` and ``x`` in a core's L2 cache across the k taps
# (1.4x faster than whole-map products for 4 x 512 x 3,003 frames).
WEIGHT_GRAD_BLOCK_ELEMENTS = 1 << 17


def weight_grad(grad: torch.Tensor, x: torch.Tensor, kernel_size: int, stride: int, padding: int):
    """``dL/dw`` of :func:`depthwise_conv1d`: ``(C, 1, kernel_size)`` from ``grad``
    ``(batch, C, T_out)`` and the input ``x`` ``(batch, C, T)``."""
    batch, channels, length = x.shape
    frames_out = grad.shape[-1]
    block = max(1, WEIGHT_GRAD_BLOCK_ELEMENTS // (batch * channels))
    out = grad.new_zeros(channels, kernel_size)
    for start in range(0, frames_out, block):
        stop = min(frames_out, start + block)
        for j in range(kernel_size):
            # Output frames t whose tap j reads an input frame (0 <= s t + j - p < T).
            lo = max(start, -(-(padding - j) // stride))
            hi = min(stop, (length - 1 - j + padding) // stride + 1)
            if hi <= lo:
                continue
            first = lo * stride + j - padding
            taps = x[..., first : first + stride * (hi - lo - 1) + 1 : stride]
            out[:, j] += (grad[..., lo:hi] * taps).sum((0, 2))
    return out.unsqueeze(1)


class _DepthwiseConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return _forward(x, weight, bias, stride, padding)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.stride, ctx.padding
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad = frame_major(grad)
        grad_x = grad_w = grad_b = None
        if need_x:
            # conv_transpose's output length drops the frames the stride skipped at the end.
            extra = (x.shape[-1] + 2 * padding - weight.shape[-1]) % stride
            grad_x = F.conv_transpose2d(
                grad.unsqueeze(2),
                weight.unsqueeze(2),
                None,
                (1, stride),
                (0, padding),
                (0, extra),
                groups=x.shape[1],
            ).squeeze(2)
        if need_w:
            grad_w = weight_grad(grad, x, weight.shape[-1], stride, padding)
        if need_b:
            grad_b = grad.sum((0, 2))
        return grad_x, grad_w, grad_b, None, None


def _plain(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether to keep PyTorch's own autograd (nothing recorded, or a context the function
    does not serve)."""
    if not torch.is_grad_enabled() or not (x.requires_grad or weight.requires_grad):
        return True
    if x.numel() < MIN_ELEMENTS:
        return True
    if x.device.type != "cpu":
        # The per-tap loop is a CPU cache optimisation; on a GPU it would be hundreds of small
        # kernel launches where PyTorch's own backward kernels are one each.
        return True
    if x.dtype not in DIFFERENTIABLE_DTYPES or x.dtype != weight.dtype:
        return True
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return True
    return torch.is_autocast_enabled(x.device.type)


def depthwise_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """Depthwise convolution of ``x`` with zero ``padding`` frames on both sides.

    Shape: ``x (batch, C, T)``, ``weight (C, 1, k)``, ``bias (C,)`` ->
    ``(batch, C, (T + 2 padding - k) // stride + 1)``.
    """
    if _plain(x, weight):
        return _forward(x, weight, bias, stride, padding)
    return _DepthwiseConv1d.apply(x, weight, bias, stride, padding)
