"""Real dubbed dialogue from Fish Fillets NG (Debian ``fillets-ng-data-cs``, ``-nl``; GPL-2).

The game's two heroes talk through every level, voiced by one actress (the small fish) and
one actor (the big fish) per dubbing: Czech (the original) and Dutch. Each package holds
about 650 lines per hero, 2-6 s of continuous conversational speech each (Ogg Vorbis,
22,050 Hz), named ``<level>/<lang>/<level-prefix>-<m|v>-<line>.ogg`` (``m``: malá, the small
fish; ``v``: velká, the big one). That is four voices with half an hour of speech each: the
closest the mini set gets to read speech (its other real voices are IVR prompts and single
words). The levels' other characters share their lines' names with no fixed speaker code,
so they are left out.

A hero of one dubbing is a speaker, named ``fillets-<lang>-<m|v>``. With only four voices
the mini build makes the group train-only: splitting four speakers three ways would leave
two to train on; the dev and test splits keep their other voices.
"""

import glob
import os
from typing import Dict, List

import numpy as np

from ..generate import Utterance, resample
from .real_bank import load_trimmed

# Package -> licence (debian/copyright: GPL-2, ALTAR interactive and the NG authors).
PACKAGES: Dict[str, str] = {
    "fillets-ng-data-cs": "GPL-2 (Fish Fillets NG Czech dialogue, ALTAR interactive)",
    "fillets-ng-data-nl": "GPL-2 (Fish Fillets NG Dutch dialogue)",
}
SOUNDS = "usr/share/games/fillets-ng/sound"
HEROES = ("m", "v")  # the small fish (an actress), the big fish (an actor)


def index_voices(package_dirs: List[str], min_lines: int = 10) -> Dict[str, List[str]]:
    """``{"fillets-<lang>-<hero>": [line paths]}`` from unpacked packages (voices with fewer
    than ``min_lines`` lines are left out)."""
    voices: Dict[str, List[str]] = {}
    for pkg_dir in package_dirs:
        pattern = os.path.join(pkg_dir, SOUNDS, "**", "*.ogg")
        for path in sorted(glob.glob(pattern, recursive=True)):
            lang = os.path.basename(os.path.dirname(path))
            parts = os.path.splitext(os.path.basename(path))[0].split("-")
            if len(parts) >= 3 and parts[1] in HEROES:
                voices.setdefault(f"fillets-{lang}-{parts[1]}", []).append(path)
    return {k: v for k, v in sorted(voices.items()) if len(v) >= min_lines}


def load_line(path: str, sample_rate: int) -> np.ndarray:
    """One line (mono, at ``sample_rate``) without leading and trailing silence (a line of
    no samples stays empty: the writers of mixtures and sources leave it out)."""
    audio, sr = load_trimmed(path)
    return resample(audio, sr, sample_rate)


def fillets_utterances(
    voices: Dict[str, List[str]],
    names: List[str],
    utts_per_voice: int,
    rng: np.random.Generator,
    sample_rate: int = 8000,
) -> List[Utterance]:
    """``utts_per_voice`` random lines of each voice in ``names`` (every line when 0 or when
    the voice has fewer), in file order."""
    utterances = []
    for name in names:
        lines = voices[name]
        if 0 < utts_per_voice < len(lines):
            picks = [lines[k] for k in sorted(rng.choice(len(lines), utts_per_voice, False))]
        else:  # every line: nothing to draw
            picks = lines
        for path in picks:
            level = os.path.basename(os.path.dirname(os.path.dirname(path)))
            stem = os.path.splitext(os.path.basename(path))[0]
            utterances.append(
                Utterance(
                    f"{name}-{level}-{stem}",
                    name.replace("-", "_"),
                    lambda p=path: (load_line(p, sample_rate), sample_rate),
                )
            )
    return utterances
