"""Libri2Mix generation from LibriSpeech + WHAM! noise (when no Libri2Mix exists yet).

Mixes the LibriMix way (see :mod:`.mixing`): utterances of distinct speakers, loudness drawn
in LUFS, WHAM! noise of the matching split, min mode, 8 and 16 kHz. The official LibriMix
metadata (which fixes the exact utterance pairs) is not available offline, so pairs are drawn
with a fixed seed; the numbers of mixtures match Libri2Mix (13900 / 3000 / 3000).
"""

import glob
import os
from typing import Dict, List, Optional

import numpy as np
import soundfile as sf

from .generate import Utterance, write_split

# Libri2Mix split -> (LibriSpeech subset, WHAM! noise split, number of mixtures)
SPLITS: Dict[str, tuple] = {
    "train-100": ("train-clean-100", "tr", 13900),
    "dev": ("dev-clean", "cv", 3000),
    "test": ("test-clean", "tt", 3000),
}


def ingredients_present(storage_dir: str) -> bool:
    return all(
        os.path.isdir(os.path.join(storage_dir, "LibriSpeech", subset))
        and os.path.isdir(os.path.join(storage_dir, "wham_noise", noise))
        for subset, noise, _ in SPLITS.values()
    )


def librispeech_utterances(subset_dir: str) -> List[Utterance]:
    """All ``.flac`` of a LibriSpeech subset: ``<speaker>/<chapter>/*.flac`` (the corpus) or
    ``<speaker>/*.flac`` (excerpts); the speaker is the first folder under ``subset_dir``."""
    files = sorted(
        glob.glob(os.path.join(subset_dir, "*", "*", "*.flac"))
        + glob.glob(os.path.join(subset_dir, "*", "*.flac"))
    )
    if not files:
        raise FileNotFoundError(f"No LibriSpeech .flac files under {subset_dir}.")

    def loader(path):
        return lambda: sf.read(path, dtype="float32")

    return [
        Utterance(
            os.path.splitext(os.path.basename(f))[0],
            os.path.relpath(f, subset_dir).split(os.sep)[0],
            loader(f),
        )
        for f in files
    ]


def noise_sampler(noise_dir: str, rng: np.random.Generator):
    """``fn(n_samples, sample_rate)``: a random WHAM! noise (first channel), looped if short."""
    from .generate import resample

    files = sorted(glob.glob(os.path.join(noise_dir, "*.wav")))
    if not files:
        raise FileNotFoundError(f"No WHAM! noise .wav files under {noise_dir}.")

    def sample(n_samples: int, sample_rate: int) -> np.ndarray:
        noise, sr = sf.read(files[rng.integers(len(files))], dtype="float32", always_2d=True)
        noise = resample(noise[:, 0], sr, sample_rate)
        if len(noise) < n_samples:
            noise = np.tile(noise, int(np.ceil(n_samples / len(noise))))
        return noise[:n_samples]

    return sample


def generate_libri2mix(
    storage_dir: str, seed: int = 0, splits=tuple(SPLITS), n_mixtures: Optional[dict] = None
) -> dict:
    """Write ``<storage_dir>/Libri2Mix/wav{8,16}k/min/<split>/...``; return counts.

    ``n_mixtures`` ({split: n}) overrides the Libri2Mix sizes (for tests and quick trials).
    """
    rng = np.random.default_rng(seed)
    out = os.path.join(storage_dir, "Libri2Mix")
    counts = {}
    for split in splits:
        subset, noise_split, n_mix = SPLITS[split]
        n_mix = (n_mixtures or {}).get(split, n_mix)
        utts = librispeech_utterances(os.path.join(storage_dir, "LibriSpeech", subset))
        noise_fn = noise_sampler(os.path.join(storage_dir, "wham_noise", noise_split), rng)
        counts[split] = write_split(out, split, utts, n_mix, [16000, 8000], rng, noise_fn=noise_fn)
    return counts
