"""Real human voices from KDE's educational games (Debian ``ktuberling-data``, ``klettres-data``).

Each language folder of these packages holds words, letters and syllables recorded by one
volunteer: about 40 voices over 30 languages (GPL-2+), fetched like the Asterisk prompts
(:func:`.real_bank.fetch_packages`). A voice is a speaker, named ``<game>-<language>``.
Single words are too short to mix, so an utterance is a random sequence of one voice's
words with short pauses between them: continuous talk at the voice's own pitch and timbre,
which is what a separation model must learn to tell apart.
"""

import glob
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..generate import Utterance, resample
from .real_bank import load_trimmed

# Package -> licence (from each package's debian/copyright).
PACKAGES: Dict[str, str] = {
    "ktuberling-data": "GPL-2+ (KTuberling sounds, KDE)",
    "klettres-data": "GPL-2+ (KLettres sounds, Anne-Marie Mahfouf and KDE translators)",
}
# Package -> (game name, folder whose sub-folders are languages).
ROOTS: Dict[str, Tuple[str, str]] = {
    "ktuberling-data": ("ktuberling", "usr/share/ktuberling/sounds"),
    "klettres-data": ("klettres", "usr/share/klettres"),
}
EXTENSIONS = (".ogg", ".wav")


def index_voices(package_dirs: List[str], min_words: int = 10) -> Dict[str, dict]:
    """``{voice: {"files": [...], "package"}}`` from unpacked packages.

    Voices with fewer than ``min_words`` recordings are left out (a few words repeat too
    often to make varied talk), and so are script variants (``sr@latin``: the same
    recordings as ``sr``).
    """
    voices: Dict[str, dict] = {}
    for pkg_dir in package_dirs:
        package = os.path.basename(pkg_dir)
        if package not in ROOTS:
            continue
        game, root = ROOTS[package]
        for lang_dir in sorted(glob.glob(os.path.join(pkg_dir, root, "*"))):
            lang = os.path.basename(lang_dir)
            if "@" in lang or not os.path.isdir(lang_dir):
                continue
            files = sorted(
                path
                for path in glob.glob(os.path.join(lang_dir, "**", "*"), recursive=True)
                if path.endswith(EXTENSIONS)
            )
            if len(files) >= min_words:
                voices[f"{game}-{lang}"] = dict(files=files, package=package)
    return voices


def talk(
    files: Sequence[str],
    seconds: float,
    rng: np.random.Generator,
    sample_rate: int,
    speed: float = 1.0,
    gap_range: Tuple[float, float] = (0.03, 0.25),
) -> np.ndarray:
    """Random words of ``files`` (each trimmed, at unit RMS) joined by pauses of
    ``gap_range`` seconds until ``seconds`` of audio at ``sample_rate`` are reached."""
    parts, total, failures = [], 0, 0
    target = int(seconds * sample_rate)
    while total < target:
        path = files[rng.integers(len(files))]
        try:
            audio, sr = load_trimmed(path, speed)
        except RuntimeError as err:  # soundfile's errors (a damaged file): skip the word
            failures += 1
            if failures > 20:
                raise RuntimeError(f"KDE voice recordings unreadable, e.g. {path}: {err}") from err
            continue
        audio = resample(audio, sr, sample_rate)
        audio = audio / (np.sqrt(np.mean(audio**2)) + 1e-6)
        gap = np.zeros(int(rng.uniform(*gap_range) * sample_rate), np.float32)
        parts += [audio.astype(np.float32), gap]
        total += len(audio) + len(gap)
    return np.concatenate(parts[:-1])  # no trailing pause


def kde_utterances(
    voices: Dict[str, dict],
    names: List[str],
    utts_per_voice: int,
    rng: np.random.Generator,
    sample_rate: int = 8000,
    seconds_range: Tuple[float, float] = (3.0, 6.0),
    speed_factors: Sequence[float] = (),
) -> List[Utterance]:
    """``utts_per_voice`` utterances of talk (:func:`talk`) for each voice in ``names``.

    Lengths are drawn from ``seconds_range``. Each factor ``f`` of ``speed_factors`` adds a
    virtual speaker ``<voice>@f`` whose words are played ``f`` times faster (as
    :func:`.real_bank.real_utterances` does). An utterance's words are fixed by a seed drawn
    here, so loading it twice gives the same audio.
    """
    utterances = []
    for name in names:
        files = voices[name]["files"]
        for factor in (1.0, *speed_factors):
            speaker = f"kde_{name}" if factor == 1.0 else f"kde_{name}@{factor:g}"
            for k in range(utts_per_voice):
                seed = int(rng.integers(2**31))
                seconds = float(rng.uniform(*seconds_range))
                utterances.append(
                    Utterance(
                        f"{speaker.replace('_', '-')}-talk{k:03d}",
                        speaker,
                        lambda s=seed, n=seconds, f=factor, fs=files: (
                            talk(fs, n, np.random.default_rng(s), sample_rate, f),
                            sample_rate,
                        ),
                    )
                )
    return utterances


def kde_words(voices: Dict[str, dict], names: List[str], sample_rate: int = 8000):
    """Every recording of each voice in ``names`` as a ``join`` utterance: dynamic mixing
    strings a voice's words into fresh talk at every draw (as :func:`talk` does once, at
    build time, for the fixed mixtures)."""
    utterances = []
    for name in names:
        speaker = f"kde_{name}"
        for k, path in enumerate(voices[name]["files"]):
            utterances.append(
                Utterance(
                    f"{speaker.replace('_', '-')}-w{k:04d}",
                    speaker,
                    lambda p=path: _word(p, sample_rate),
                    join=True,
                )
            )
    return utterances


def _word(path: str, sample_rate: int):
    audio, sr = load_trimmed(path)
    return resample(audio, sr, sample_rate), sample_rate
