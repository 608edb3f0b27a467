"""Reading audio files block by block, with validation and channel selection.

Everything soundfile (libsndfile) reads is accepted: WAV, FLAC, OGG/Vorbis/Opus, AIFF, MP3
(libsndfile >= 1.1), ... Every problem with a file is raised as :class:`AudioError`, whose
message is one line starting with the file name.
"""

import os
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import soundfile as sf

from ..utils.errors import first_line

# The file extensions of the formats libsndfile reads (its major formats are not extensions:
# NIST SPHERE files are .sph/.wv1/.wv2 (TIMIT, WSJ0), IRCAM ones .sf). Not listed: RAW
# (headerless: it cannot be read without being told its rate and sample format), and .mat
# and .mpc, which are more often MATLAB data and Musepack audio than MAT4/5 and MPC2K.
FORMAT_EXTENSIONS = {
    "WAV": (".wav",),
    "RF64": (".rf64",),
    "W64": (".w64",),
    "AIFF": (".aiff", ".aif", ".aifc"),
    "AU": (".au", ".snd"),
    "AVR": (".avr",),
    "CAF": (".caf",),
    "FLAC": (".flac",),
    "HTK": (".htk",),
    "IRCAM": (".sf",),
    "MP3": (".mp3",),
    "NIST": (".sph", ".wv1", ".wv2", ".nist"),
    "OGG": (".ogg", ".oga", ".opus"),
    "PAF": (".paf",),
    "PVF": (".pvf",),
    "SD2": (".sd2",),
    "SDS": (".sds",),
    "SVX": (".svx", ".8svx"),
    "VOC": (".voc",),
    "WVE": (".wve",),
    "XI": (".xi",),
}
# Extensions picked up when a folder is given (case-insensitive): those of the formats this
# libsndfile reads.
AUDIO_EXTENSIONS = frozenset(
    ext for fmt in sf.available_formats() for ext in FORMAT_EXTENSIONS.get(fmt, ())
)


class AudioError(ValueError):
    """A file cannot be separated; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path = os.fspath(path)


@dataclass
class AudioInfo:
    """What is known about an input file before separation."""

    path: str
    sample_rate: int
    frames: int  # samples per channel
    channels: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def sf_path(path):
    """``path`` as soundfile should be given it: on POSIX its bytes (``os.fsencode``).

    soundfile encodes a ``str`` path with the file system encoding *without* Python's
    ``surrogateescape``, so a file name that is not valid UTF-8 (a Latin-1 ``caf\xe9.wav``,
    which Python lists as ``'caf\udce9.wav'``) could not be opened; the bytes are the name
    itself. Windows paths are text and are left as they are.
    """
    return os.fspath(path) if os.name == "nt" else os.fsencode(path)


def open_audio(path) -> sf.SoundFile:
    """Open ``path`` for reading; :class:`AudioError` if it is not a readable audio file."""
    if not os.path.isfile(path):
        if os.path.isdir(path):
            raise AudioError(path, "is a folder")
        # A FIFO, socket or device: soundfile needs a file it can seek in.
        raise AudioError(path, "not a regular file" if os.path.exists(path) else "no such file")
    try:
        return sf.SoundFile(sf_path(path))
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError/TypeError
        # libsndfile's own reason, without soundfile's "Error opening <the path's repr>".
        reason = getattr(err, "error_string", None) or first_line(err)
        raise AudioError(path, f"not a readable audio file ({reason})") from err


def check_channel_options(
    path, channels: int, channel: Optional[int], mix_down: bool, model_channels: int = 1
) -> None:
    """Input that does not match the model's channels needs an explicit choice; a chosen
    channel must exist. A multichannel model (``model_channels``, e.g. a stereo music model)
    takes files with that many channels as they are, and mono files (duplicated). ``channel``
    applies to multichannel files: a mono file is its own channel (so one ``--channel`` serves
    a folder of mono and stereo files)."""
    if channel is not None and mix_down:
        raise ValueError("Pass either a channel or mix_down, not both.")
    if channel is not None and channels > 1 and not 0 <= channel < channels:
        raise AudioError(path, f"has {channels} channel(s), cannot select channel {channel}")
    if channel is not None or mix_down or channels in (1, model_channels):
        return
    if model_channels == 1:
        raise AudioError(
            path,
            f"has {channels} channels; the model separates one channel: choose one with "
            "--channel N (0 = first) or average them with --mix-down",
        )
    raise AudioError(
        path,
        f"has {channels} channels; the model takes {model_channels} (or 1, duplicated): "
        "choose one with --channel N or average them with --mix-down",
    )


def to_mono(block: np.ndarray, channel: Optional[int], mix_down: bool) -> np.ndarray:
    """``(frames, channels)`` -> ``(frames,)``: the chosen channel (a mono block's only
    one), or the channels' mean."""
    if channel is not None and block.shape[1] > 1:
        return block[:, channel]
    if mix_down:
        return block.mean(axis=1, dtype=np.float32)
    return block[:, 0]


def to_model_channels(
    block: np.ndarray, channel: Optional[int], mix_down: bool, model_channels: int
) -> np.ndarray:
    """``(frames, channels)`` -> what the model takes: ``(frames,)`` for a mono model,
    ``(frames, model_channels)`` for a multichannel one (a file with as many channels as it
    is, otherwise the chosen channel / the mean / the mono file, duplicated)."""
    if model_channels == 1:
        return to_mono(block, channel, mix_down)
    if channel is None and not mix_down and block.shape[1] == model_channels:
        return block
    mono = to_mono(block, channel, mix_down)
    return np.repeat(mono[:, None], model_channels, axis=1)


def read_blocks(
    path,
    block_frames: int,
    channel: Optional[int] = None,
    mix_down: bool = False,
    model_channels: int = 1,
) -> Iterator[np.ndarray]:
    """Yield consecutive float32 blocks of the whole file: ``(<= block_frames,)`` for a mono
    model, ``(<= block_frames, model_channels)`` otherwise (see :func:`to_model_channels`)."""
    with open_audio(path) as f:
        check_channel_options(path, f.channels, channel, mix_down, model_channels)
        while True:
            try:
                block = f.read(block_frames, dtype="float32", always_2d=True)
            except Exception as err:  # a truncated or corrupt file fails part-way
                raise AudioError(path, f"read error ({first_line(err)})") from err
            if not len(block):
                return
            yield to_model_channels(block, channel, mix_down, model_channels)


def inspect_audio(
    path,
    channel: Optional[int] = None,
    mix_down: bool = False,
    block_frames: int = 1 << 18,
    model_channels: int = 1,
) -> AudioInfo:
    """Check that ``path`` can be separated, reading it once in blocks (bounded memory).

    Raises:
        AudioError: unreadable or non-audio file; no samples; only zeros; NaN or Inf samples;
            input whose channels the model does not take without ``channel``/``mix_down``.
    """
    with open_audio(path) as f:
        info = AudioInfo(os.fspath(path), int(f.samplerate), int(f.frames), int(f.channels))
    check_channel_options(path, info.channels, channel, mix_down, model_channels)
    if info.sample_rate <= 0:
        raise AudioError(path, f"invalid sample rate {info.sample_rate}")
    frames, nonzero = 0, False
    for block in read_blocks(path, block_frames, channel, mix_down, model_channels):
        finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if not finite.all():
            first = frames + int(np.argmin(finite))
            raise AudioError(  # read as float32: a float64 sample beyond 3.4e38 is Inf too
                path,
                f"contains NaN or Inf samples, or float64 ones beyond float32's range (first at "
                f"{first / info.sample_rate:.3f} s)",
            )
        nonzero = nonzero or bool(np.any(block))
        frames += len(block)
    if frames == 0:
        raise AudioError(path, "is empty (no audio samples)")
    if not nonzero:
        raise AudioError(path, "is silent (all samples are zero): nothing to separate")
    info.frames = frames  # the decoded count (some containers only estimate it)
    return info
