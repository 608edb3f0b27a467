"""A precomputed SSM kernel, for exported graphs."""

import torch
from torch import nn


class FrozenKernel(nn.Module):
    """Returns slices of a fixed kernel table: ``forward(length) -> table[..., :length]``.

    Exported graphs cannot run the NPLR kernel generation (complex arithmetic, state set up
    in Python); an exported S4 layer reads its kernel from this table instead, which covers
    sequences of up to ``table.shape[-1]`` frames. A longer sequence raises: in PyTorch with
    a message naming the table's length; in a traced graph through ``narrow``, whose length
    is traced with the input's and which refuses to read past the table (``start (0) +
    length (...) exceeds dimension size (...)``), where a slice would silently return the
    kernel cut at the table's length.

    Args:
        table (Tensor): ``(n_kernels, channels, max_length)`` kernel.
    """

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table.detach().clone())

    def forward(self, length: int) -> torch.Tensor:
        if not torch.jit.is_tracing() and length > self.table.shape[-1]:
            raise ValueError(
                f"this exported S4 kernel covers {self.table.shape[-1]} frames, got {length}: "
                "export with a larger max_seconds, or process the input in chunks."
            )
        return self.table.narrow(-1, 0, length)
