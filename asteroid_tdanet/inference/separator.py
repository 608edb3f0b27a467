"""Separate waveforms and audio files of any length in bounded memory.

Pipeline for a file (every stage streams, so memory does not grow with the file's length)::

    read block -> the model's channels (mono; stereo for stereo stem models) -> resample to
    the model rate -> chunked separation with overlap-add (and permutation alignment for
    speaker models) -> resample to the output rate -> append to one file per output

Outputs are written to unique temporary files next to their destination and published at the
end (:mod:`.outputs`), so an interrupted or failed run never leaves truncated outputs under
the final names, and two runs writing the same output never mix their results.
"""

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import torch

from ..utils.waveform import first_non_finite, output_dtype, to_float_waveform
from .audio import AudioError, AudioInfo, inspect_audio, read_blocks
from .interrupt import Interrupted
from .layout import LayoutRunner, output_layout
from .outputs import OutputFiles
from .overlap_add import MIN_ALIGN_OVERLAP, OverlapAddStream, separate_in_chunks
from .resample import ResampleError, StreamResampler, check_resamplable
from .runner import ModelRunner, resolve_precision

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
    notes: List[str] = field(default_factory=list)  # e.g. a mono file given to a stereo model


BACKENDS = ("pytorch", "onnxruntime")


def whole_rate(value, name: str) -> int:
    """``value`` as a sample rate: a positive whole number of Hz (``16000``, ``16000.0``);
    anything else (0, a negative or fractional rate, ``True``) is a ValueError naming
    ``name``, never replaced by a default or truncated."""
    try:
        rate = int(value)
        valid = rate == value and rate > 0 and not isinstance(value, bool)
    except (TypeError, ValueError, OverflowError):  # None, NaN, inf, text
        valid = False
    if not valid:
        raise ValueError(f"{name} must be a positive whole number of Hz, got {value!r}.")
    return rate


def make_runner(
    model, backend: str, device=None, fp16=False, threads=None, log=None, *, precision=None
):
    """A :class:`~.runner.ModelRunner` (``pytorch``) or an
    :class:`~.onnx_runner.OnnxRunner` (``onnxruntime``, CPU, float32) for ``model``."""
    if backend == "pytorch":
        return ModelRunner(model, device=device, fp16=fp16, threads=threads, precision=precision)
    if backend != "onnxruntime":
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}.")
    if (device not in (None, "cpu")) or resolve_precision(precision, fp16) != "float32":
        raise ValueError(
            "the onnxruntime backend runs on the CPU in float32 (no --device/--fp16/--precision)."
        )
    from .onnx_runner import OnnxRunner

    return OnnxRunner(model, threads=threads, log=log)


class Separator:
    """Chunked separation with a :class:`~.runner.ModelRunner`, permutation-aligned for
    speaker models, channel-preserving for stem models (see :mod:`.layout`).

    Args:
        model: separation model with ``sample_rate``: a speaker model (``n_src``,
            ``(batch, time) -> (batch, n_src, time)``, e.g. :class:`asteroid_tdanet.TDANet`)
            or a stem model (``stems``, ``audio_channels``, ``(batch, channels, time) ->``
            its stems, e.g. :class:`asteroid_tdanet.MelBandRoformer`).
        device, fp16, threads, precision: see :class:`~.runner.ModelRunner`.
        chunk_seconds (float, optional): length of the chunks the model sees (bounds
            memory); default: the model's ``inference_chunk_seconds`` if it has one (the
            Mel-Band RoFormer: 8 s, what it was trained on), else 10 s.
        overlap_seconds (float, optional): overlap between chunks, used to align the sources
            of consecutive chunks and cross-fade them; at most half a chunk (a larger value
            is refused); default: the model's ``inference_overlap_seconds``, else 2 s, capped
            at half a chunk.
        align (bool): align source order between chunks (speaker models; stem models are
            never reordered).
        backend (str): what runs the model: ``pytorch`` (default) or ``onnxruntime`` (CPU,
            from the model's exported ONNX graph, cached: :mod:`.onnx_runner`; models without
            an ONNX form raise ``ExportNotSupported``). The chunking, alignment and
            cross-fading are the same.
        log (callable, optional): told of long one-off steps (the ONNX export).
    """

    def __init__(
        self,
        model,
        device: Optional[str] = None,
        fp16: bool = False,
        threads: Optional[int] = None,
        chunk_seconds: Optional[float] = None,
        overlap_seconds: Optional[float] = None,
        align: bool = True,
        backend: str = "pytorch",
        log: Optional[Callable[[str], None]] = None,
        *,
        precision: Optional[str] = None,
    ):
        self.layout = output_layout(model)
        self.runner = make_runner(model, backend, device, fp16, threads, log, precision=precision)
        self.separate_fn = LayoutRunner(self.runner, self.layout)  # what the chunks go through
        self.sample_rate = self.runner.sample_rate
        if chunk_seconds is None:
            chunk_seconds = getattr(model, "inference_chunk_seconds", DEFAULT_CHUNK_SECONDS)
        default_overlap = overlap_seconds is None
        if default_overlap:
            overlap_seconds = getattr(model, "inference_overlap_seconds", DEFAULT_OVERLAP_SECONDS)
        self.chunk = int(round(chunk_seconds * self.sample_rate))
        self.overlap = int(round(overlap_seconds * self.sample_rate))
        if self.overlap > self.chunk // 2:
            if not default_overlap:  # the user's value, checked as given (every model)
                raise ValueError(
                    f"overlap_seconds ({overlap_seconds:g}) must be at most half of "
                    f"chunk_seconds ({chunk_seconds:g}): lower the overlap or lengthen the "
                    "chunks."
                )
            # The default overlap, with chunks shorter than twice it: half a chunk.
            self.overlap = self.chunk // 2
            overlap_seconds = self.overlap / self.sample_rate
        # Models on a frame grid (STFT hop) give the one-pass result best when every chunk
        # starts on the whole input's grid: the chunk hop is rounded to a multiple of it
        # (the overlap grows by less than a frame; never to more than half a chunk).
        step = int(getattr(model, "chunk_step_multiple", 1))
        if step > 1 and self.chunk > step:
            hop = max(step, step * round((self.chunk - self.overlap) / step))
            while self.chunk - hop > self.chunk // 2:
                hop += step
            while self.chunk - hop < 1 and hop > step:
                hop -= step
            self.overlap = self.chunk - hop
        # Speaker order is kept between chunks; one source has no order to keep.
        self.align = align and self.layout.align and self.layout.n_outputs > 1
        self.min_input_samples = int(getattr(model, "min_input_samples", 1))
        self._check_chunking(model, chunk_seconds, overlap_seconds)

    def _check_chunking(self, model, chunk_seconds: float, overlap_seconds: float) -> None:
        """Chunk and overlap sizes as errors naming the options, in seconds: the overlap at
        most half a chunk, and the shortest chunk a file can end with (the overlap plus one
        sample) at least what the model takes (:attr:`min_input_samples`)."""
        rate = self.sample_rate
        if self.chunk < 2 or self.overlap < 1:
            raise ValueError(
                f"chunk_seconds ({chunk_seconds:g}) and overlap_seconds ({overlap_seconds:g}) "
                f"must be at least 2 and 1 samples at {rate} Hz."
            )
        if self.align and self.overlap < MIN_ALIGN_OVERLAP:
            raise ValueError(
                f"overlap_seconds ({overlap_seconds:g}) is {self.overlap} sample at {rate} Hz: "
                f"aligning the sources of consecutive chunks compares them on the overlap "
                f"(mean removed), which needs at least {MIN_ALIGN_OVERLAP} samples; use a "
                f"longer overlap (the default is {DEFAULT_OVERLAP_SECONDS:g} s)."
            )
        if self.overlap > self.chunk // 2:
            raise ValueError(
                f"overlap_seconds ({self.overlap / rate:g}) must be at most half of "
                f"chunk_seconds ({self.chunk / rate:g}): lower the overlap or lengthen the chunks."
            )
        shortest = self.min_input_samples
        if self.overlap + 1 < shortest:
            used = self.overlap / rate
            grid = "" if abs(used - overlap_seconds) < 0.5 / rate else f", {used:g} on its grid"
            least = math.ceil((shortest - 1) / rate * 1000) / 1000  # whole milliseconds, up
            raise ValueError(
                f"overlap_seconds ({overlap_seconds:g}{grid}) is too short for "
                f"{type(model).__name__}: the last chunk of a file can be as short as the "
                f"overlap plus one sample, and the model takes at least {shortest} samples "
                f"({shortest / rate:.3g} s); use an overlap of at least {least:g} s."
            )

    def _stream_args(self) -> dict:
        """Keyword arguments of the chunking: times and a precision hint for its errors."""
        precision = getattr(self.runner, "precision", "float32")
        hint = f" (computed in {precision}: try float32)" if precision != "float32" else ""
        return dict(sample_rate=self.sample_rate, hint=hint)

    def _stream(self) -> OverlapAddStream:
        return OverlapAddStream(
            self.separate_fn, self.chunk, self.overlap, self.align, **self._stream_args()
        )

    def separate_tensor(self, wav: torch.Tensor, sample_rate: Optional[int] = None) -> torch.Tensor:
        """Separate a waveform held in memory.

        Args:
            wav: speaker models: ``(time,)`` or ``(batch, time)``; stem models:
                ``(channels, time)`` or ``(batch, channels, time)`` (``channels`` = the
                model's ``audio_channels``); at ``sample_rate`` (default: the model's);
                floats of any precision, or integer PCM (int16, int32, int8, uint8), which is
                scaled to ``[-1, 1)`` (int16: divided by 32768).
            sample_rate (int, optional): rate of ``wav`` (a positive whole number of Hz);
                resampled to the model's and back.

        Returns:
            speaker models ``(n_src, time)`` or ``(batch, n_src, time)``; stem models
            ``(n_outputs, channels, time)`` or ``(batch, n_outputs, channels, time)`` (the
            outputs in the order of ``self.layout.names``, e.g. vocals, accompaniment); at
            ``sample_rate``, same length, in the input's float dtype (float32 for integer
            PCM, on the ``[-1, 1)`` scale).
        """
        layout = self.layout
        item_dims = 2 if layout.is_stem_model else 1
        if wav.ndim not in (item_dims, item_dims + 1) or (
            layout.is_stem_model and wav.shape[-2] != layout.channels
        ):
            expected = (
                f"({layout.channels}, time) or (batch, {layout.channels}, time)"
                if layout.is_stem_model
                else "(time,) or (batch, time)"
            )
            raise ValueError(f"Expected {expected}, got shape {tuple(wav.shape)}.")
        if wav.numel() == 0:
            raise ValueError(f"wav is empty (shape {tuple(wav.shape)}): nothing to separate.")
        batch = wav if wav.ndim == item_dims + 1 else wav[None]
        rate = self.sample_rate if sample_rate is None else whole_rate(sample_rate, "sample_rate")
        with torch.inference_mode():
            samples = to_float_waveform(batch, torch.float32)
            first = first_non_finite(samples)
            if first is not None:  # it would make every output NaN, silently
                raise ValueError(
                    f"wav holds NaN or Inf samples (first at sample {first}, "
                    f"{first / rate:.3f} s): nothing to separate."
                )
            flat = samples.reshape(-1, samples.shape[-1])  # (batch [* channels], time)
            model_in = self._resample_whole(flat, rate, self.sample_rate)
            model_in = model_in.reshape(*batch.shape[:-1], -1)
            est = separate_in_chunks(
                self.separate_fn,
                model_in,
                self.chunk,
                self.overlap,
                self.align,
                **self._stream_args(),
            )
            n_rows = est.shape[1]
            est = self._resample_whole(est.flatten(0, 1), self.sample_rate, rate, batch.shape[-1])
            est = est.reshape(batch.shape[0], n_rows, -1).to(output_dtype(wav, torch.float32))
            if layout.is_stem_model:
                est = est.reshape(batch.shape[0], layout.n_outputs, layout.channels, -1)
        return est if wav.ndim == item_dims + 1 else est[0]

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
        """Separate the audio file ``path`` into one file per output: a mono file per
        source (speaker models), a file per stem with the model's channels (stem models).

        Args:
            path: input file (anything soundfile reads).
            output_paths: one path per output, in the order of ``self.layout.names``
                (their extension gives the format; a WAV output over 4 GiB is written as
                RF64, the 64-bit WAV, under the same name).
            channel (int, optional): channel to separate (0-based) for multichannel input
                (a stereo model gets it on both channels).
            mix_down (bool): average the channels of multichannel input instead. A stereo
                model takes stereo files as they are and mono files duplicated (a note in
                :attr:`FileResult.notes` says so).
            output_rate (int, optional): rate of the outputs, a positive whole number of Hz
                (default: the input's).
            subtype (str): soundfile subtype of the outputs (default 32-bit float, which
                cannot clip; integer subtypes clip, and the clipped samples are counted).
            progress (callable, optional): called with ``(seconds of input just consumed,
                file duration in seconds)``.
            overwrite (bool): replace existing outputs; ``False``: an output that exists
                when the file is done (e.g. written meanwhile by another run) is kept and
                :class:`~.outputs.OutputExistsError` raised (see :mod:`.outputs`).

        Raises:
            ValueError: not one path per output in ``output_paths``, or an ``output_rate``
                that is not a positive whole number (before the file is read).
            AudioError: the input cannot be read or is invalid (see :func:`.audio.inspect_audio`),
                or its rate cannot be converted to the model's.
            Interrupted: SIGINT/SIGTERM under :func:`.interrupt.signals_raise`; the partial
                outputs are removed, unless the signal came while they were being published:
                they are then complete, and its ``completed`` is this file's
                :class:`FileResult`.
        """
        start = time.perf_counter()
        names = self.layout.names
        if isinstance(output_paths, (str, bytes, os.PathLike)) or len(output_paths) != len(names):
            given = 1 if isinstance(output_paths, (str, bytes, os.PathLike)) else len(output_paths)
            raise ValueError(
                f"output_paths: {given} path(s) given for the model's {len(names)} outputs "
                f"({', '.join(names)}); pass one path per output, in that order."
            )
        if output_rate is not None:
            output_rate = whole_rate(output_rate, "output_rate")
        channels = self.layout.channels
        info = inspect_audio(path, channel, mix_down, model_channels=channels)
        notes = []
        if channels > 1 and (info.channels == 1 or channel is not None or mix_down):
            what = (
                "mono input"
                if info.channels == 1
                else ("the mix-down" if mix_down else f"channel {channel}")
            )
            notes.append(
                f"{path}: {what} duplicated to the {channels} channels the model takes; the "
                f"outputs have {channels} channels"
            )
        out_rate = info.sample_rate if output_rate is None else output_rate
        try:
            check_resamplable(info.sample_rate, self.sample_rate)
            check_resamplable(self.sample_rate, out_rate)
        except ResampleError as err:
            raise AudioError(path, str(err)) from err
        n_model = -(-info.frames * self.sample_rate // info.sample_rate)
        n_out = -(-info.frames * out_rate // info.sample_rate)
        if n_model < self.min_input_samples:  # said in the file's terms, before any work
            least = self.min_input_samples / self.sample_rate
            raise AudioError(
                path,
                f"too short for this model: {info.frames} samples at {info.sample_rate} Hz "
                f"({info.seconds * 1000:.3g} ms) are {n_model} at the model's "
                f"{self.sample_rate:g} Hz, and it takes at least {self.min_input_samples} "
                f"({least * 1000:.3g} ms)",
            )

        to_model = StreamResampler(info.sample_rate, self.sample_rate)
        to_output = StreamResampler(self.sample_rate, out_rate)
        stream = self._stream()

        def batched(x: torch.Tensor) -> torch.Tensor:
            """Resampler rows -> the stream's input: speaker models ``(1, t)`` as they are,
            stem models ``(channels, t) -> (1, channels, t)``."""
            return x[None] if self.layout.is_stem_model else x

        block_frames = max(1, int(READ_BLOCK_SECONDS * info.sample_rate))
        with OutputFiles(
            output_paths, out_rate, subtype, overwrite, channels, frames=n_out
        ) as writers:
            with torch.inference_mode():
                for block in read_blocks(path, block_frames, channel, mix_down, channels):
                    # (channels, t) for the resampler; the stream takes a batch of one.
                    samples = torch.from_numpy(block.T.copy() if channels > 1 else block[None])
                    est = stream.push(batched(to_model.push(samples)))
                    if est is not None:
                        writers.write(to_output.push(est[0]))
                    if progress is not None:
                        progress(len(block) / info.sample_rate, info.seconds)
                tail = [stream.push(batched(to_model.flush(n_model))), stream.flush()]
                for est in tail:
                    if est is not None:
                        writers.write(to_output.push(est[0]))
                writers.write(to_output.flush(n_out))
            try:
                writers.commit()
            except Interrupted as err:
                if writers.committed:  # the signal came while publishing: the file is done
                    seconds = time.perf_counter() - start
                    err.completed = FileResult(
                        info, list(output_paths), seconds, writers.clipped, notes
                    )
                raise
        seconds = time.perf_counter() - start
        return FileResult(info, list(output_paths), seconds, writers.clipped, notes)
