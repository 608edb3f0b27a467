"""The time a forward pass cannot go below without changing its arithmetic: its dense products.

A TDANet forward pass is matrix products (1x1 convolutions, the GA module's projections and
feed-forward layer, attention) plus memory-bound work (norms, depthwise convolutions, fusions,
pooling). The products' floating-point work is fixed by the model's sizes: two
implementations of the same model (ours, the released code) do the same products, and an
exact rewrite can only shave the memory-bound rest. This module measures that floor:

1. :func:`capture` runs the pass once under a ``TorchDispatchMode`` and records every call
   of a dense operator (:data:`DENSE_OPS`: linear layers and matrix products, attention,
   convolutions with ``groups == 1``) with its arguments' shapes, strides and dtypes (no
   data).
2. :func:`replay_seconds` calls the same operators on fresh random tensors of those shapes
   and strides, in the same order, and times them: the best of ``repeats`` rounds.

The replayed time is what the pass would take if all its other work were free, on this
machine and with this PyTorch build's kernels. Dividing the anchor's time by our floor bounds
the speed-up an exact implementation can reach.

A library module, imported by ``performance.py`` (its dense-floor cases); it is not run on its
own.
"""

import time
from typing import Callable, List, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# Operator packets whose work grows with the products of their sizes. A dispatch mode sees
# the outermost operator a module calls (``linear`` under ``inference_mode``, its ``addmm``
# otherwise; calls made inside a recorded one are not seen again), so both levels are listed.
DENSE_OPS = {
    "linear",
    "matmul",
    "einsum",
    "mm",
    "addmm",
    "bmm",
    "baddbmm",
    "scaled_dot_product_attention",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_attention_math",
    "_native_multi_head_attention",
    "conv1d",
    "conv2d",
    "convolution",
    "_convolution",
}
# Where each convolution operator takes ``groups`` (a positional index, else the keyword).
GROUPS_AT = {"conv1d": 6, "conv2d": 6, "convolution": 8, "_convolution": 8}


def _is_dense(func, args, kwargs) -> bool:
    name = func.overloadpacket.__name__
    if name not in DENSE_OPS:
        return False
    if name in GROUPS_AT:  # depthwise convolutions are memory-bound work
        at = GROUPS_AT[name]
        groups = args[at] if len(args) > at else kwargs.get("groups", 1)
        return groups == 1
    return True


class _Recorder(TorchDispatchMode):
    # Higher-order operators (``flex_attention`` of the ``wsa`` mixer on CUDA) reach the mode
    # as one call whose arguments include functions, which a replay from shapes cannot
    # rebuild: they run unrecorded (the floor leaves them out and stays a lower bound).
    supports_higher_order_operators = True

    def __init__(self):
        super().__init__()
        self.calls: List[Tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if isinstance(func, torch._ops.HigherOrderOperator):
            return func(*args, **kwargs)
        if _is_dense(func, args, kwargs):
            self.calls.append((func, _describe(args), _describe(kwargs)))
        return func(*args, **kwargs)


def _describe(value):
    """``value`` with every tensor replaced by its (shape, stride, dtype, device)."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), tuple(value.stride()), value.dtype, value.device)
    if isinstance(value, (list, tuple)):
        return type(value)(_describe(v) for v in value)
    if isinstance(value, dict):
        return {k: _describe(v) for k, v in value.items()}
    return value


def _materialise(value, made: dict):
    """Random tensors in place of :func:`_describe`'s descriptions; equal descriptions share
    one tensor (``made``), as the shared weights of TDANet's repeated U-block do, and so that
    a long input's replay holds one map per shape, not one per call."""
    if isinstance(value, tuple) and value[:1] == ("tensor",):
        if value not in made:
            _, shape, stride, dtype, device = value
            out = torch.empty_strided(shape, stride, dtype=dtype, device=device)
            made[value] = out.normal_() if out.is_floating_point() else out.zero_()
        return made[value]
    if isinstance(value, (list, tuple)):
        return type(value)(_materialise(v, made) for v in value)
    if isinstance(value, dict):
        return {k: _materialise(v, made) for k, v in value.items()}
    return value


def capture(call: Callable[[], object]) -> List[Tuple]:
    """The dense operator calls of one ``call()``, in order: ``(op, args, kwargs)`` with
    tensors described, not kept."""
    recorder = _Recorder()
    with recorder:
        call()
    return recorder.calls


def replay_seconds(calls: List[Tuple], repeats: int = 3, sync: Callable = lambda: None) -> float:
    """Best-of-``repeats`` wall time of the recorded ``calls`` on random inputs (inputs are
    made outside the timed region; ``sync`` waits for a device)."""
    made: dict = {}
    inputs = [(op, _materialise(a, made), _materialise(k, made)) for op, a, k in calls]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(max(1, repeats) + 1):  # the first round warms the kernels up
            sync()
            start = time.perf_counter()
            for op, args, kwargs in inputs:
                op(*args, **kwargs)
            sync()
            best = min(best, time.perf_counter() - start)
    return best


def summary(calls: List[Tuple]) -> dict:
    """Count of calls per operator packet (what the floor is made of)."""
    counts: dict = {}
    for op, _, _ in calls:
        name = op.overloadpacket.__name__
        counts[name] = counts.get(name, 0) + 1
    return counts
