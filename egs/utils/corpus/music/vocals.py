"""The vocals stem: real recorded voices from Debian's Asterisk prompt packages.

The prompts (8 kHz mono studio recordings, one speaker per voice; see
:mod:`corpus.mini.real_bank` for packages and licences) are joined with short pauses into
phrases (:func:`corpus.mini.kde_bank.talk`, resampling to 44.1 kHz), and the phrases are laid
out like a song's vocal line: an instrumental intro, then phrases separated by vocal-free
breaks. The line is placed in stereo with a random pan and width.
"""

from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..mini import kde_bank, real_bank
from . import MusicUnavailable


def fetch_speakers(cache_dir: str, packages: Sequence[str]) -> Dict[str, dict]:
    """``{speaker: {"files", "gender", "packages"}}`` of the prompt ``packages``, fetched
    into ``cache_dir`` (reused when already there)."""
    try:
        dirs = real_bank.fetch_packages(cache_dir, packages=tuple(packages))
    except real_bank.RealSpeechUnavailable as err:
        raise MusicUnavailable(f"the Asterisk voice prompts could not be had: {err}") from err
    speakers = real_bank.index_speakers(dirs)
    if len(speakers) < 2:
        raise MusicUnavailable(
            f"the packages {', '.join(packages)} hold {len(speakers)} speaker(s); 2 are "
            "needed for speaker-disjoint train and test songs"
        )
    return speakers


def vocal_line(
    files: Sequence[str], seconds: float, rng: np.random.Generator, sample_rate: int
) -> Tuple[np.ndarray, List[Tuple[float, float]]]:
    """A mono vocal line of ``seconds`` made of prompts in ``files``.

    Returns:
        ``(audio (n,), phrases)``: the line (float32, prompts at unit RMS) and the
        ``(start, end)`` seconds of its phrases; outside them it is exactly zero.
    """
    n = int(round(seconds * sample_rate))
    line = np.zeros(n, np.float32)
    phrases = []
    # Lengths scale with the song so that short test songs still get an intro and a break.
    t = rng.uniform(0.1, 0.2) * seconds
    while seconds - t >= 0.5:
        length = min(float(np.clip(rng.uniform(0.2, 0.4) * seconds, 1.0, 8.0)), seconds - t)
        audio = kde_bank.talk(files, length, rng, sample_rate, gap_range=(0.08, 0.35))
        start = int(round(t * sample_rate))
        audio = audio[: min(len(audio), n - start, int(round(length * sample_rate)))]
        fade = min(len(audio), int(0.02 * sample_rate))  # a cut prompt must not click
        audio[len(audio) - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
        line[start : start + len(audio)] = audio
        phrases.append((round(t, 3), round(t + len(audio) / sample_rate, 3)))
        t += length + float(np.clip(rng.uniform(0.06, 0.15) * seconds, 0.3, 3.0))
    return line, phrases


def stereo(mono: np.ndarray, rng: np.random.Generator, sample_rate: int) -> Tuple[np.ndarray, dict]:
    """``((n, 2) float32, {"pan", "width"})``: ``mono`` panned (constant power) and widened
    by a short delayed copy added in opposite polarity to the two channels."""
    pan = float(rng.uniform(-0.25, 0.25))
    width = float(rng.uniform(0.0, 0.3))
    delay = int(rng.uniform(0.008, 0.02) * sample_rate)
    angle = (pan + 1) * np.pi / 4
    gains = np.sqrt(2) * np.array([np.cos(angle), np.sin(angle)], np.float32)
    side = np.zeros_like(mono)
    side[delay:] = width * mono[: len(mono) - delay]
    out = mono[:, None] * gains[None, :]
    out[:, 0] += side
    out[:, 1] -= side
    return out.astype(np.float32), dict(pan=round(pan, 2), width=round(width, 2))


def split_speakers(
    names: Sequence[str], test_fraction: float, rng: np.random.Generator
) -> Dict[str, List[str]]:
    """Disjoint ``{"train": [...], "test": [...]}`` speakers, at least one each."""
    names = [names[i] for i in rng.permutation(len(names))]
    n_test = min(len(names) - 1, max(1, int(round(test_fraction * len(names)))))
    return dict(train=sorted(names[n_test:]), test=sorted(names[:n_test]))
