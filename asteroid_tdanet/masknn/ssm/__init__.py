"""Structured state-space (S4) building blocks: HiPPO init, the NPLR kernel, the S4 layer."""

from .frozen_kernel import FrozenKernel
from .hippo import legs_nplr
from .nplr_kernel import NPLRKernel
from .s4_layer import S4Layer

__all__ = ["FrozenKernel", "NPLRKernel", "S4Layer", "legs_nplr"]
