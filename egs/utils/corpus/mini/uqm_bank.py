"""Real acted English voices from The Ur-Quan Masters (Debian ``uqm-voice``, non-free).

The package holds the dialogue of the game's 3DO release: about 11 hours of English lines
spoken by the voice actors of 27 alien races and human characters, one folder per race
(``3dovoice/<race>/<race>-NNN.ogg``), Ogg Vorbis at 11,025 Hz inside a zip archive
(``*.uqm``). It is continuous, expressive speech of many real voices, the closest thing on
the package registries to a read-speech corpus (the mini set's other real voices are IVR
prompts and single words). Some races' voices are processed (pitch-shifted, filtered); they
are kept, a separation model must still tell them apart. Opt-in
(``--mini_uqm_utts_per_voice N``): in ``benchmarks/mini_budget_sweep``'s pipeline these voices
raised the SI-SNRi on unseen LibriSpeech speakers by 0.25-0.35 dB, but in the mini recipe's
own runs they lowered it (README: "The embedded mini dataset").

A race is a speaker. Lines run up to a minute; an utterance is a random window of at most
``max_seconds`` of one line, trimmed of leading and trailing silence.

Licence: CC BY-NC-SA 2.5 (non-commercial). The package comes from Debian's ``non-free``
component, fetched from the mirror's pool (:mod:`.debian_pool`) when apt's sources lack it.
"""

import glob
import io
import os
import zipfile
from typing import Dict, List

import numpy as np
import soundfile as sf

from ..generate import Utterance, resample
from .real_bank import mono_trimmed

PACKAGES: Dict[str, str] = {
    "uqm-voice": "CC-BY-NC-SA-2.5 (The Ur-Quan Masters 3DO voice content; non-commercial)",
}
ARCHIVES = "usr/share/games/uqm/content/**/*.uqm"


def index_voices(package_dirs: List[str], min_lines: int = 10) -> Dict[str, dict]:
    """``{race: {"archive": path, "members": [...]}}`` from unpacked packages.

    Every ``.ogg`` of a ``*.uqm`` archive (a zip) in a folder named for its race; races with
    fewer than ``min_lines`` lines are left out.
    """
    voices: Dict[str, dict] = {}
    for pkg_dir in package_dirs:
        for archive in sorted(glob.glob(os.path.join(pkg_dir, ARCHIVES), recursive=True)):
            with zipfile.ZipFile(archive) as z:
                for member in sorted(z.namelist()):
                    parts = member.split("/")
                    if member.endswith(".ogg") and len(parts) >= 2:
                        entry = voices.setdefault(parts[-2], dict(archive=archive, members=[]))
                        if entry["archive"] == archive:
                            entry["members"].append(member)
    return {k: v for k, v in voices.items() if len(v["members"]) >= min_lines}


def load_line(archive: str, member: str, sample_rate: int) -> np.ndarray:
    """One line (mono, at ``sample_rate``) without leading and trailing silence."""
    with zipfile.ZipFile(archive) as z:
        audio, sr = sf.read(io.BytesIO(z.read(member)), dtype="float32")
    return resample(mono_trimmed(audio), sr, sample_rate)


def uqm_utterances(
    voices: Dict[str, dict],
    names: List[str],
    utts_per_voice: int,
    rng: np.random.Generator,
    sample_rate: int = 8000,
    max_seconds: float = 8.0,
) -> List[Utterance]:
    """``utts_per_voice`` random lines (all when fewer) of each race in ``names``, each cut
    to a random window of at most ``max_seconds`` (fixed here: loading twice gives the same
    audio)."""
    utterances = []
    for name in names:
        entry = voices[name]
        count = min(utts_per_voice, len(entry["members"]))
        for k in sorted(rng.choice(len(entry["members"]), size=count, replace=False)):
            member = entry["members"][k]
            start = float(rng.uniform())  # fraction of the spare length to skip
            stem = os.path.splitext(os.path.basename(member))[0]
            utterances.append(
                Utterance(
                    f"uqm-{stem}",
                    f"uqm_{name}",
                    lambda a=entry["archive"], m=member, s=start: (
                        _window(load_line(a, m, sample_rate), int(max_seconds * sample_rate), s),
                        sample_rate,
                    ),
                )
            )
    return utterances


def _window(audio: np.ndarray, length: int, start_fraction: float) -> np.ndarray:
    spare = max(len(audio) - length, 0)
    start = int(start_fraction * spare)
    return audio[start : start + length]
