"""Running a module for inference without changing how the caller left it."""

import contextlib
import threading
import weakref
from typing import Iterator

import torch
from torch import nn


# Modules inside inference_context: their count of active callers and the training flags
# saved by the first (threads sharing one model must not save each other's eval state).
_ACTIVE: "weakref.WeakKeyDictionary[nn.Module, list]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@contextlib.contextmanager
def inference_context(module: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``module`` in eval mode and under ``torch.inference_mode()``.

    Dropout and drop-path are off and no autograd state is kept; on exit every submodule
    gets back its own training flag (a model being trained stays in training mode, frozen
    parts stay frozen). Threads may share the module: the first to enter saves the flags and
    the last to leave restores them. Meanwhile the module is in eval mode for everyone, so a
    model must not be trained in one thread while another separates with it.
    """
    with _LOCK:
        entry = _ACTIVE.get(module)
        if entry is None:
            entry = _ACTIVE[module] = [0, [(m, m.training) for m in module.modules()]]
            module.eval()
        entry[0] += 1
    try:
        with torch.inference_mode():
            yield module
    finally:
        with _LOCK:
            entry[0] -= 1
            if not entry[0]:
                del _ACTIVE[module]
                for m, training in entry[1]:
                    m.training = training
