"""Separation of waveforms and audio files of any length (chunked, bounded memory)."""

from .alignment import align_to_previous, best_permutation
from .audio import AudioError, AudioInfo, inspect_audio, read_blocks
from .batch import Job, Summary, plan, run_jobs
from .overlap_add import OverlapAddStream, separate_in_chunks
from .resample import ResampleError, StreamResampler, check_resamplable
from .runner import ModelRunner
from .separator import DEFAULT_CHUNK_SECONDS, DEFAULT_OVERLAP_SECONDS, FileResult, Separator

__all__ = [
    "align_to_previous",
    "best_permutation",
    "AudioError",
    "AudioInfo",
    "inspect_audio",
    "read_blocks",
    "Job",
    "Summary",
    "plan",
    "run_jobs",
    "OverlapAddStream",
    "separate_in_chunks",
    "ResampleError",
    "StreamResampler",
    "check_resamplable",
    "ModelRunner",
    "DEFAULT_CHUNK_SECONDS",
    "DEFAULT_OVERLAP_SECONDS",
    "FileResult",
    "Separator",
]
