"""Separate waveforms and audio files of any length in bounded memory.

Pipeline for a file (every stage streams, so memory does not grow with the file's length)::

    read block -> mono -> resample to the model rate -> chunked separation with overlap-add
    and permutation alignment -> resample to the output rate -> append to one file per source

Outputs are written to unique temporary files next to their destination and published at the
end (:mod:`.outputs`), so an interrupted or failed run never leaves truncated outputs under
the final names, and two runs writing the same output never mix their results.
"""

import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import torch

from ..utils.waveform import output_dtype, to_float_waveform
from .audio import AudioError, AudioInfo, inspect_audio, read_blocks
from .outputs import OutputFiles
from .overlap_add import OverlapAddStream, separate_in_chunks
from .resample import ResampleError, StreamResampler, check_resamplable
from .runner import ModelRunner

DEFAULT_CHUNK_SECONDS = 10.0
DEFAULT_OVERLAP_SECONDS = 2.0
READ_BLOCK_SECONDS = 4.0


@dataclass
class FileResult:
    """Outcome of one separated file."""

    info: AudioInfo
    outputs: List[str]
    seconds_spent: float
    clipped: int = 0  # output samples clipped to [-1, 1] by an integer subtype


class Separator:
    """Chunked, permutation-aligned separation with a :class:`~.runner.ModelRunner`.

    Args:
        model: separation model (``sample_rate`` and ``n_src`` attributes,
            ``(batch, time) -> (batch, n_src, time)``), e.g. :class:`asteroid_tdanet.TDANet`.
        device, fp16, threads: see :class:`~.runner.ModelRunner`.
        chunk_seconds (float): length of the chunks the model sees (bounds memory).
        overlap_seconds (float): overlap between chunks, used to align the sources of
            consecutive chunks and cross-fade them; at most half a chunk.
        align (bool): align source order between chunks (keep ``True`` for PIT models).
    """

    def __init__(
        self,
        model,
        device: Optional[str] = None,
        fp16: bool = False,
        threads: Optional[int] = None,
        chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
        overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
        align: bool = True,
    ):
        self.runner = ModelRunner(model, device=device, fp16=fp16, threads=threads)
        self.sample_rate = self.runner.sample_rate
        self.chunk = int(round(chunk_seconds * self.sample_rate))
        self.overlap = int(round(overlap_seconds * self.sample_rate))
        self.align = align
        OverlapAddStream(self.runner, self.chunk, self.overlap)  # validates the sizes early

    def _stream(self) -> OverlapAddStream:
        return OverlapAddStream(self.runner, self.chunk, self.overlap, self.align)

    def separate_tensor(self, wav: torch.Tensor, sample_rate: Optional[int] = None) -> torch.Tensor:
        """Separate a waveform held in memory.

        Args:
            wav: ``(time,)`` or ``(batch, time)`` at ``sample_rate`` (default: the model's);
                floats of any precision, or integer PCM (int16, int32, int8, uint8), which is
                scaled to ``[-1, 1)`` (int16: divided by 32768).
            sample_rate (int, optional): rate of ``wav``; resampled to the model's and back.

        Returns:
            ``(n_src, time)`` or ``(batch, n_src, time)`` at ``sample_rate``, same length, in
            the input's float dtype (float32 for integer PCM, on the ``[-1, 1)`` scale).
        """
        if wav.ndim not in (1, 2):
            raise ValueError(f"Expected (time,) or (batch, time), got shape {tuple(wav.shape)}.")
        batch = wav if wav.ndim == 2 else wav[None]
        rate = int(sample_rate or self.sample_rate)
        with torch.inference_mode():
            samples = to_float_waveform(batch, torch.float32)
            model_in = self._resample_whole(samples, rate, self.sample_rate)
            est = separate_in_chunks(self.runner, model_in, self.chunk, self.overlap, self.align)
            n_src = est.shape[1]
            est = self._resample_whole(est.flatten(0, 1), self.sample_rate, rate, batch.shape[-1])
            est = est.reshape(batch.shape[0], n_src, -1).to(output_dtype(wav, torch.float32))
        return est if wav.ndim == 2 else est[0]

    @staticmethod
    def _resample_whole(x: torch.Tensor, old: int, new: int, length: Optional[int] = None):
        resampler = StreamResampler(old, new)
        return torch.cat([resampler.push(x), resampler.flush(length)], dim=-1)

    def separate_file(
        self,
        path,
        output_paths: Sequence[str],
        channel: Optional[int] = None,
        mix_down: bool = False,
        output_rate: Optional[int] = None,
        subtype: str = "FLOAT",
        progress: Optional[Callable[[float, float], None]] = None,
        overwrite: bool = True,
    ) -> FileResult:
        """Separate the audio file ``path`` into one mono file per source.

        Args:
            path: input file (anything soundfile reads).
            output_paths: one path per source (their extension gives the format).
            channel (int, optional): channel to separate (0-based) for multichannel input.
            mix_down (bool): average the channels of multichannel input instead.
            output_rate (int, optional): rate of the outputs (default: the input's).
            subtype (str): soundfile subtype of the outputs (default 32-bit float, which
                cannot clip; integer subtypes clip, and the clipped samples are counted).
            progress (callable, optional): called with ``(seconds of input just consumed,
                file duration in seconds)``.
            overwrite (bool): replace existing outputs; ``False``: an output that exists
                when the file is done (e.g. written meanwhile by another run) is kept and
                :class:`~.outputs.OutputExistsError` raised (see :mod:`.outputs`).

        Raises:
            AudioError: the input cannot be read or is invalid (see :func:`.audio.inspect_audio`),
                or its rate cannot be converted to the model's.
        """
        start = time.perf_counter()
        info = inspect_audio(path, channel, mix_down)
        out_rate = int(output_rate or info.sample_rate)
        try:
            check_resamplable(info.sample_rate, self.sample_rate)
            check_resamplable(self.sample_rate, out_rate)
        except ResampleError as err:
            raise AudioError(path, str(err)) from err
        n_model = -(-info.frames * self.sample_rate // info.sample_rate)
        n_out = -(-info.frames * out_rate // info.sample_rate)

        to_model = StreamResampler(info.sample_rate, self.sample_rate)
        to_output = StreamResampler(self.sample_rate, out_rate)
        stream = self._stream()
        block_frames = max(1, int(READ_BLOCK_SECONDS * info.sample_rate))
        with OutputFiles(output_paths, out_rate, subtype, overwrite) as writers:
            with torch.inference_mode():
                for block in read_blocks(path, block_frames, channel, mix_down):
                    est = stream.push(to_model.push(torch.from_numpy(block)[None]))
                    if est is not None:
                        writers.write(to_output.push(est[0]))
                    if progress is not None:
                        progress(len(block) / info.sample_rate, info.seconds)
                tail = [stream.push(to_model.flush(n_model)), stream.flush()]
                for est in tail:
                    if est is not None:
                        writers.write(to_output.push(est[0]))
                writers.write(to_output.flush(n_out))
            writers.commit()
        seconds = time.perf_counter() - start
        return FileResult(info, list(output_paths), seconds, writers.clipped)
