"""Chunked separation with overlap-add and permutation alignment, in bounded memory.

The signal is cut into chunks of ``chunk`` samples that overlap by ``overlap`` samples (hop
``chunk - overlap``). Each chunk is separated on its own; its sources are reordered to match the
previous chunk on the overlap (:mod:`.alignment`), and consecutive chunks are cross-faded
with complementary ``sin^2`` / ``cos^2`` ramps over the overlap, which sum to exactly one, so
that a model returning its input unchanged is reconstructed exactly. The first chunk has no
fade-in and the last no fade-out. A signal no longer than ``chunk`` is processed in one call,
identical to whole-signal processing.

Unlike ``asteroid.dsp.overlap_add.LambdaOverlapAdd``, which unfolds the whole input and keeps
every chunk's output until the end (about ``3 * n_src`` copies of the signal), the stream here
keeps only the current chunk, so it also works on data read and written block by block.
"""

import math
from typing import Callable, List, Optional

import torch

from .alignment import align_to_previous

SeparateFn = Callable[[torch.Tensor], torch.Tensor]


def fade_in(overlap: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``sin^2`` ramp of ``overlap`` samples; ``fade_in + fade_in.flip(0) == 1``.

    Computed in float64 on the CPU, then moved: Apple's ``mps`` has no float64."""
    t = (torch.arange(overlap, dtype=torch.float64) + 0.5) / overlap
    return torch.sin(0.5 * math.pi * t).pow(2).to(device=device, dtype=dtype)


class NonFiniteOutput(RuntimeError):
    """The model's outputs for the input samples ``[start, end)`` hold NaN or Inf."""

    def __init__(self, start: int, end: int, sample_rate: Optional[float] = None, hint=""):
        self.start, self.end = start, end
        where = f"input samples {start}-{end}"
        if sample_rate:
            where = f"the chunk at {start / sample_rate:.2f}-{end / sample_rate:.2f} s"
        super().__init__(f"the model produced NaN/Inf samples on {where}{hint}")


# The sources of two chunks are compared on their overlap with the means removed: on one
# sample every comparison is zero and any order would be kept.
MIN_ALIGN_OVERLAP = 2


class OverlapAddStream:
    """Separate a ``(batch, time)`` signal pushed in blocks, chunk by chunk.

    Args:
        separate_fn: maps ``(batch, t)`` to ``(batch, n_src, t)`` for any ``t <= chunk``.
        chunk (int): chunk length in samples.
        overlap (int): overlap between consecutive chunks, ``1 <= overlap <= chunk // 2`` (so
            that only neighbouring chunks overlap); with ``align``, at least
            :data:`MIN_ALIGN_OVERLAP`.
        align (bool): reorder each chunk's sources to match the previous chunk.
        sample_rate (float, optional): rate of the samples, to give times in messages.
        hint (str): added to the message of a chunk whose outputs are not finite.

    A chunk whose outputs hold NaN or Inf raises :class:`NonFiniteOutput` naming where it
    lies in the input (before the alignment, whose correlations it would make NaN).

    ``push(block)`` returns the output samples that are final so far, ``flush()`` the rest;
    the concatenation has shape ``(batch, n_src, total_time)``.
    """

    def __init__(
        self,
        separate_fn: SeparateFn,
        chunk: int,
        overlap: int,
        align: bool = True,
        *,
        sample_rate: Optional[float] = None,
        hint: str = "",
    ):
        if chunk < 2 or not 1 <= overlap <= chunk // 2:
            raise ValueError(
                f"Need chunk >= 2 and 1 <= overlap <= chunk // 2, got chunk={chunk}, "
                f"overlap={overlap}."
            )
        if align and overlap < MIN_ALIGN_OVERLAP:
            raise ValueError(
                f"Aligning sources needs an overlap of at least {MIN_ALIGN_OVERLAP} samples "
                f"(compared with their means removed), got overlap={overlap}."
            )
        self.separate_fn, self.chunk, self.overlap, self.align = separate_fn, chunk, overlap, align
        self.hop = chunk - overlap
        self.blocks: List[torch.Tensor] = []  # input not yet fully processed
        self.n_buffered = 0
        self.tail = None  # previous chunk's last `overlap` outputs (aligned, not faded)
        self.n_chunks = 0
        self.sample_rate, self.hint = sample_rate, hint

    def _take_chunk(self, length: int, advance: int) -> torch.Tensor:
        """First ``length`` buffered samples; drop the first ``advance`` of them."""
        buffered = torch.cat(self.blocks, dim=-1) if len(self.blocks) > 1 else self.blocks[0]
        chunk = buffered[..., :length]
        rest = buffered[..., advance:]
        self.blocks, self.n_buffered = ([rest] if rest.shape[-1] else []), rest.shape[-1]
        return chunk

    def _process(self, chunk: torch.Tensor, last: bool) -> torch.Tensor:
        """Separate one chunk; return its final outputs (up to the next chunk's overlap)."""
        est = self.separate_fn(chunk)
        if est.ndim != 3 or est.shape[-1] != chunk.shape[-1]:
            raise RuntimeError(
                f"The model returned shape {tuple(est.shape)} for input {tuple(chunk.shape)}."
            )
        if not bool(torch.isfinite(est).all()):
            start = self.n_chunks * self.hop
            raise NonFiniteOutput(start, start + chunk.shape[-1], self.sample_rate, self.hint)
        if self.tail is not None:
            if self.align:
                est = align_to_previous(self.tail, est, self.overlap)
            ramp = fade_in(self.overlap, est.device, est.dtype)
            head = est[..., : self.overlap] * ramp + self.tail * ramp.flip(0)
            est = torch.cat([head, est[..., self.overlap :]], dim=-1)
        self.n_chunks += 1
        if last:
            self.tail = None
            return est
        self.tail = est[..., self.hop :]
        return est[..., : self.hop]

    def push(self, block: torch.Tensor) -> torch.Tensor:
        """Add ``(batch, t)`` samples; return ``(batch, n_src, t')`` final output samples."""
        if block.shape[-1]:
            self.blocks.append(block)
            self.n_buffered += block.shape[-1]
        outputs = []
        # A chunk is known not to be the last one once a sample after it has arrived.
        while self.n_buffered > self.chunk:
            outputs.append(self._process(self._take_chunk(self.chunk, self.hop), last=False))
        return torch.cat(outputs, dim=-1) if outputs else None

    def flush(self) -> torch.Tensor:
        """Process the last chunk; return the remaining ``(batch, n_src, t')`` outputs."""
        if not self.n_buffered:
            if self.tail is not None:  # unreachable: a processed chunk always leaves input
                raise RuntimeError("Stream ended inside an overlap.")
            return None
        return self._process(self._take_chunk(self.n_buffered, self.n_buffered), last=True)


def separate_in_chunks(
    separate_fn: SeparateFn,
    wav: torch.Tensor,
    chunk: int,
    overlap: int,
    align: bool = True,
    **stream_args,
) -> torch.Tensor:
    """Chunked separation of a whole ``(batch, time)`` tensor -> ``(batch, n_src, time)``.

    See :class:`OverlapAddStream` (``stream_args``: its keyword arguments); peak memory is the
    output plus one chunk's computation.
    """
    stream = OverlapAddStream(separate_fn, chunk, overlap, align, **stream_args)
    outputs = [out for out in (stream.push(wav), stream.flush()) if out is not None]
    return torch.cat(outputs, dim=-1)
