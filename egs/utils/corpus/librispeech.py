"""Libri2Mix generation from LibriSpeech + WHAM! noise (when no Libri2Mix exists yet).

Mixes the LibriMix way (see :mod:`.mixing`): utterances of distinct speakers, loudness drawn
in LUFS, WHAM! noise of the matching split, min mode, 8 and 16 kHz. The official LibriMix
metadata (which fixes the exact utterance pairs) is not available offline, so pairs are drawn
with a fixed seed; the numbers of mixtures match Libri2Mix (13900 / 3000 / 3000).

A generation keeps its state in ``<storage_dir>/Libri2Mix``: ``generation_in_progress.json``
(written before the first mixture, updated as each split ends) and, once every split is
written, ``generation.json`` (the counts). A Libri2Mix with neither is a user's own copy, which
stage 0 never writes into.
"""

import glob
import json
import logging
import os
import shutil
from typing import Dict, List, Optional

import numpy as np
import soundfile as sf

from .corpora import LIBRI2MIX
from .generate import Utterance, write_split

logger = logging.getLogger(__name__)

# Libri2Mix split -> (LibriSpeech subset, WHAM! noise split, number of mixtures)
SPLITS: Dict[str, tuple] = {
    "train-100": ("train-clean-100", "tr", 13900),
    "dev": ("dev-clean", "cv", 3000),
    "test": ("test-clean", "tt", 3000),
}


RECORD = "generation.json"  # a finished generation: {split: counts}
IN_PROGRESS = "generation_in_progress.json"  # {settings, done: {split: counts}}


def libri2mix_dir(storage_dir: str) -> str:
    return os.path.join(storage_dir, "Libri2Mix")


def libri2mix_state(storage_dir: str) -> str:
    """``"generated"`` (finished: ``generation.json``), ``"interrupted"`` (a generation's
    in-progress marker, no record), ``"absent"`` (no folder, or an empty one) or ``"user"`` (a
    Libri2Mix that stage 0 did not generate)."""
    out = libri2mix_dir(storage_dir)
    # The record first: it is written before the marker is removed, so both mean finished.
    if os.path.isfile(os.path.join(out, RECORD)):
        return "generated"
    if os.path.isfile(os.path.join(out, IN_PROGRESS)):
        return "interrupted"
    if not os.path.isdir(out) or not os.listdir(out):
        return "absent"
    return "user"


def read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:  # a ValueError that would not name the file
        raise ValueError(f"{path} is not valid JSON ({err}).") from err


def _write_json(path: str, data: dict) -> None:
    """Atomically (a kill leaves the old file or the new one, never half of one)."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def generated_problems(storage_dir: str, sample_rate: int) -> List[str]:
    """What a finished generation at ``sample_rate`` lacks: folders that are absent or empty,
    or that hold fewer files than ``generation.json`` says were written."""
    counts = read_json(os.path.join(libri2mix_dir(storage_dir), RECORD))
    problems = LIBRI2MIX.missing_folders(storage_dir, sample_rate)
    root = LIBRI2MIX.root(storage_dir, sample_rate)
    for split in LIBRI2MIX.splits:
        written = counts.get(split, {}).get("written")
        for sub in LIBRI2MIX.split_folders():
            folder = os.path.join(root, split, sub)
            if written is None or folder in problems:
                continue
            n = sum(f.endswith(".wav") for f in os.listdir(folder))
            if n != written:
                problems.append(f"{folder} ({n} of {written} files)")
    return problems


def any_ingredients(storage_dir: str) -> bool:
    """Whether the user put any of the ingredients (LibriSpeech/, wham_noise/) in place."""
    return any(os.path.isdir(os.path.join(storage_dir, d)) for d in ("LibriSpeech", "wham_noise"))


def read_first_channel(path: str):
    """``(samples (time,), sample_rate)``: the first channel of an audio file, as LibriMix
    reads its inputs (a stereo file would otherwise reach the mixer as (time, 2))."""
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio[:, 0], sr


def check_ingredients(storage_dir: str, splits=tuple(SPLITS), n_src: int = 2) -> dict:
    """Every split's utterances ``{split: [Utterance]}``, once each LibriSpeech subset has
    ``.flac`` files of at least ``n_src`` speakers and each WHAM! noise split ``.wav`` files.

    Checked before anything is mixed, so that a missing test set stops stage 0 in seconds,
    not after hours of mixing train; every problem is named (split and path) at once.
    """
    problems, utterances = [], {}
    for split in splits:
        subset, noise_split, _ = SPLITS[split]
        subset_dir = os.path.join(storage_dir, "LibriSpeech", subset)
        try:
            utts = librispeech_utterances(subset_dir)
        except FileNotFoundError as err:
            problems.append(f"{split}: {err}")
        else:
            n_speakers = len({u.speaker for u in utts})
            if n_speakers < n_src:
                problems.append(
                    f"{split}: {subset_dir} has {n_speakers} speaker(s), mixing needs {n_src}."
                )
            utterances[split] = utts
        noise_dir = os.path.join(storage_dir, "wham_noise", noise_split)
        if not glob.glob(os.path.join(noise_dir, "*.wav")):
            problems.append(f"{split}: no WHAM! noise .wav files under {noise_dir}.")
    if problems:
        raise FileNotFoundError("Cannot mix Libri2Mix: " + " ".join(problems))
    return utterances


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
        return lambda: read_first_channel(path)

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
        noise, sr = read_first_channel(files[rng.integers(len(files))])
        noise = resample(noise, sr, sample_rate)
        if len(noise) < n_samples:
            noise = np.tile(noise, int(np.ceil(n_samples / len(noise))))
        return noise[:n_samples]

    return sample


def generate_libri2mix(
    storage_dir: str, seed: int = 0, splits=tuple(SPLITS), n_mixtures: Optional[dict] = None
) -> dict:
    """Write ``<storage_dir>/Libri2Mix/wav{8,16}k/min/<split>/...`` and ``generation.json``;
    return the counts ``{split: counts}``.

    ``n_mixtures`` ({split: n}) overrides the Libri2Mix sizes (for tests and quick trials).
    Every ingredient is checked first (:func:`check_ingredients`). An interrupted generation
    of the same settings is resumed: its finished splits are kept, an unfinished split is
    removed and mixed again. Each split draws from its own seeded generator, so a resumed run
    writes what an uninterrupted one would.
    """
    out = libri2mix_dir(storage_dir)
    marker = os.path.join(out, IN_PROGRESS)
    settings = dict(
        seed=seed,
        n_mixtures={s: (n_mixtures or {}).get(s, SPLITS[s][2]) for s in splits},
        sample_rates=sorted(LIBRI2MIX.sample_rates, reverse=True),
    )
    state = read_json(marker) if os.path.isfile(marker) else {}
    done: Dict[str, dict] = state.get("done", {}) if state.get("settings") == settings else {}
    if state and state.get("settings") != settings:
        logger.info(
            "%s: other settings (%s); mixing every split again", marker, state.get("settings")
        )
    utterances = check_ingredients(storage_dir, [s for s in splits if s not in done])
    os.makedirs(out, exist_ok=True)
    _write_json(marker, dict(settings=settings, done=done))
    for split in splits:
        if split in done:
            logger.info("Keeping the finished split %s (%s)", split, done[split])
            continue
        for sr in settings["sample_rates"]:  # what an interrupted run left of this split
            shutil.rmtree(os.path.join(out, f"wav{sr // 1000}k", "min", split), ignore_errors=True)
        # One generator per split (its index in SPLITS): a resumed split draws the same.
        rng = np.random.default_rng([seed, list(SPLITS).index(split)])
        noise_fn = noise_sampler(os.path.join(storage_dir, "wham_noise", SPLITS[split][1]), rng)
        done[split] = write_split(
            out,
            split,
            utterances[split],
            settings["n_mixtures"][split],
            settings["sample_rates"],
            rng,
            noise_fn=noise_fn,
        )
        _write_json(marker, dict(settings=settings, done=done))
    counts = {split: done[split] for split in splits}
    _write_json(os.path.join(out, RECORD), counts)
    os.remove(marker)  # after the record: a kill in between still reads as finished
    return counts
