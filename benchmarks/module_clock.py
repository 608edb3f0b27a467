"""Where a forward pass spends its time, per module role, from forward hooks.

``torch.profiler`` on the CPU slowed a 10 s TDANet forward pass 1.8-3x on this project's VM
(2.6 s unprofiled; 4.8 and 8.0 s profiled in two runs) and the slowdown fell unevenly on the
operators, overstating the memory-bound ones (group norms looked like 18-30 % of the time). Forward pre/post hooks that read
``time.perf_counter`` cost microseconds per call, so they leave the pass as it is.

Times are inclusive (a module's time contains its children's) and summed per *role*: the
module's class and the attribute it is stored under, ModuleList indices dropped, so the 16
calls of a shared U-block's ``proj_in`` add up in ``ConvNorm:proj_in`` and the five
``bottom_up[i]`` convolutions in ``ConvNorm:bottom_up``.

A library module, imported by ``op_profile.py``; it is not run on its own.
"""

import time
from collections import Counter, defaultdict
from functools import partial
from typing import Callable, List

from torch import nn


def role(name: str, module: nn.Module) -> str:
    """``Class:attribute`` of the module stored at dotted path ``name`` (``Class`` at the
    root), with ModuleList / Sequential indices dropped."""
    parts = [p for p in name.split(".") if p and not p.isdigit()]
    kind = type(module).__name__
    return f"{kind}:{parts[-1]}" if parts else kind


class ModuleClock:
    """Inclusive wall time and call count per :func:`role` of ``model``'s modules since the
    last :meth:`reset` (``sync`` waits for a device before each reading)."""

    def __init__(self, model: nn.Module, sync: Callable[[], None] = lambda: None):
        self.sync = sync
        self.seconds: dict = defaultdict(float)
        self.calls: Counter = Counter()
        self._starts: dict = {}
        self.handles = []
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(self._pre))
            self.handles.append(
                module.register_forward_hook(partial(self._post, role(name, module)))
            )

    def _pre(self, module, inputs):
        self.sync()
        self._starts[id(module)] = time.perf_counter()

    def _post(self, key, module, inputs, output):
        self.sync()
        self.seconds[key] += time.perf_counter() - self._starts.pop(id(module))
        self.calls[key] += 1

    def reset(self):
        self.seconds.clear()
        self.calls.clear()

    def close(self):
        for handle in self.handles:
            handle.remove()

    def top(self, n: int, total: float, passes: int = 1) -> List[dict]:
        """The ``n`` roles with the most time, per pass, with their share of ``total`` (the
        seconds of one pass)."""
        ranked = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)[:n]
        return [
            dict(
                module=key,
                calls=self.calls[key] // passes,
                ms=seconds / passes * 1e3,
                share=seconds / passes / total,
            )
            for key, seconds in ranked
        ]
