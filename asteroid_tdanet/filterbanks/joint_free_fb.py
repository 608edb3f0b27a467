"""Free filterbank that synthesises all sources jointly (the released TDANet decoder)."""

import torch
from torch import nn
from asteroid_filterbanks.enc_dec import Filterbank


class JointFreeFB(Filterbank):
    """Learnable synthesis filterbank mixing every source's masked features into every output.

    The released TDANet decodes with ``ConvTranspose1d(n_src * F, n_src, K, stride)``: output
    ``j`` is synthesised from the masked features of *all* sources, unlike Asteroid's usual
    per-source decoder that shares one ``F``-basis filterbank. Used through
    ``asteroid_filterbanks.Decoder`` like any filterbank.

    Args:
        n_filters (int): basis count ``F`` per source.
        kernel_size (int): filter length ``K`` in samples.
        stride (int): hop in samples.
        n_src (int): number of sources.
        sample_rate (float): sample rate of the signals.

    Shapes: :meth:`filters` is ``(n_src * F, n_src, K)`` (``nn.ConvTranspose1d`` layout);
    :meth:`pre_synthesis` maps ``(batch, n_src, F, frames)`` to ``(batch, n_src * F, frames)``,
    so the decoder returns ``(batch, n_src, time)``.
    """

    def __init__(self, n_filters, kernel_size, stride=None, n_src=2, sample_rate=8000.0):
        super().__init__(n_filters, kernel_size, stride=stride, sample_rate=sample_rate)
        self.n_src = n_src
        self._filters = nn.Parameter(torch.empty(n_src * n_filters, n_src, kernel_size))
        # nn.ConvTranspose1d's initialisation, as in the released model.
        ref = nn.ConvTranspose1d(n_src * n_filters, n_src, kernel_size, stride=self.stride)
        with torch.no_grad():
            self._filters.copy_(ref.weight)

    def filters(self) -> torch.Tensor:
        return self._filters

    def pre_synthesis(self, spec: torch.Tensor) -> torch.Tensor:
        return spec.reshape(spec.shape[0], -1, spec.shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n_src": self.n_src}
