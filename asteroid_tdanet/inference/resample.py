"""Streaming sample-rate conversion that matches ``julius.resample_frac`` on the whole signal.

Long files are resampled block by block so that memory does not grow with their length. The
polyphase filter of :class:`julius.ResampleFrac` computes output group ``g`` (``new`` samples,
rates reduced by their gcd) from the input samples ``[g * old - width, g * old + width + old)``
with replicate padding at both ends, so keeping ``2 * width + old`` samples of context between
blocks gives the same output as one call on the whole signal.
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F
from julius import ResampleFrac

# Largest polyphase filter (``new * (2 * width + old)`` taps) accepted. Rates whose reduced
# ratio is large (44101 Hz -> 16000 Hz: 708 M taps, and as many MACs per output sample) are
# refused with a clear error instead of exhausting memory.
MAX_FILTER_TAPS = 2**22


class ResampleError(ValueError):
    """Raised for a pair of sample rates that cannot be converted."""


def check_resamplable(old_sr: int, new_sr: int) -> None:
    """Raise :class:`ResampleError` if ``old_sr -> new_sr`` is invalid or too costly."""
    if int(old_sr) != old_sr or int(new_sr) != new_sr or old_sr <= 0 or new_sr <= 0:
        raise ResampleError(
            f"cannot resample {old_sr} Hz -> {new_sr} Hz: rates must be positive integers"
        )
    gcd = math.gcd(int(old_sr), int(new_sr))
    old, new = old_sr // gcd, new_sr // gcd
    if old == new:
        return
    # Same width formula as julius (zeros=24, rolloff=0.945).
    width = math.ceil(24 * old / (min(old, new) * 0.945))
    taps = new * (2 * width + old)
    if taps > MAX_FILTER_TAPS:
        raise ResampleError(
            f"cannot resample {old_sr} Hz -> {new_sr} Hz: the reduced ratio {old}/{new} needs a "
            f"{taps:,}-tap filter; convert the file to a common rate first (e.g. with sox)"
        )


class StreamResampler:
    """Resample consecutive blocks of a ``(channels, time)`` signal.

    Args:
        old_sr (int): input rate.
        new_sr (int): output rate.

    ``push(block)`` returns the output samples that are final so far and ``flush(length)``
    the rest; their concatenation equals ``julius.resample_frac(x, old_sr, new_sr, full=True)``
    (cropped or replicate-extended to ``length`` if given).
    Shapes: blocks ``(channels, t)`` -> ``(channels, t')``.
    """

    def __init__(self, old_sr: int, new_sr: int):
        check_resamplable(old_sr, new_sr)
        self.resampler = ResampleFrac(int(old_sr), int(new_sr))
        self.old, self.new = self.resampler.old_sr, self.resampler.new_sr
        self.identity = self.old == self.new
        if not self.identity:
            self.kernel_len = self.resampler.kernel.shape[-1]
            self.width = (self.kernel_len - self.old) // 2
        self.buffer: Optional[torch.Tensor] = None  # input samples [buf_start, ...)
        self.buf_start = 0
        self.n_in = 0  # input samples pushed so far
        self.n_groups = 0  # output groups emitted so far

    def _groups(self, n_groups: int) -> torch.Tensor:
        """Compute output groups ``[self.n_groups, n_groups)`` from the buffer."""
        start = self.n_groups * self.old - self.width - self.buf_start
        stop = (n_groups - 1) * self.old + self.width + self.old - self.buf_start
        segment = self.buffer[:, start:stop]
        kernel = self.resampler.kernel.to(segment)
        out = F.conv1d(segment[:, None], kernel, stride=self.old)  # (channels, new, groups)
        self.n_groups = n_groups
        # Drop what no later group needs.
        keep_from = n_groups * self.old - self.width - self.buf_start
        self.buffer = self.buffer[:, keep_from:]
        self.buf_start += keep_from
        return out.transpose(1, 2).reshape(out.shape[0], -1)

    def push(self, block: torch.Tensor) -> torch.Tensor:
        """Add ``(channels, t)`` input samples; return the output samples now final."""
        self.channels, self.dtype = block.shape[0], block.dtype
        if self.identity:
            self.n_in += block.shape[1]
            return block
        if self.buffer is None:
            # Replicate padding on the left, as julius does.
            self.buffer = block[:, :1].expand(-1, self.width)
            self.buf_start = -self.width
        self.buffer = torch.cat([self.buffer, block], dim=1)
        self.n_in += block.shape[1]
        # Group g is final once input sample g * old + width + old - 1 has arrived.
        ready = max(0, (self.n_in - self.width - self.old) // self.old + 1)
        if ready <= self.n_groups:
            return block.new_zeros(block.shape[0], 0)
        return self._groups(ready)

    def flush(self, length: Optional[int] = None) -> torch.Tensor:
        """Return the remaining output samples, the total being ``length`` samples.

        Default ``length``: ``ceil(n_in * new / old)`` (julius' ``full=True``).
        """
        if self.n_in == 0:
            raise ValueError("flush() called before any input was pushed")
        if self.identity:
            if length not in (None, self.n_in):
                raise ValueError("an identity resampler keeps the input length")
            return torch.zeros(self.channels, 0, dtype=self.dtype)
        if length is None:
            length = -(-self.n_in * self.new // self.old)
        emitted = self.n_groups * self.new
        n_groups = max(self.n_groups, -(-length // self.new))
        # Replicate padding on the right (julius pads ``width + old``; more only if ``length``
        # asks for samples beyond julius' longest output).
        needed = (n_groups - 1) * self.old + self.width + self.old - self.buf_start
        pad = max(0, needed - self.buffer.shape[1])
        self.buffer = torch.cat([self.buffer, self.buffer[:, -1:].expand(-1, pad)], dim=1)
        out = self._groups(n_groups) if n_groups > self.n_groups else self.buffer[:, :0]
        return out[:, : max(0, length - emitted)]
