"""Running a module for inference without changing how the caller left it."""

import contextlib
from typing import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def inference_context(module: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``module`` in eval mode and under ``torch.inference_mode()``.

    Dropout and drop-path are off and no autograd state is kept; on exit every submodule
    gets back its own training flag (a model being trained stays in training mode, frozen
    parts stay frozen).
    """
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.inference_mode():
            yield module
    finally:
        for m, training in flags:
            m.training = training
