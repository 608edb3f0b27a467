"""Write a LibriMix-layout mixture set from per-split utterance lists.

Used for Libri2Mix (from LibriSpeech + WHAM! noise) and for the embedded mini dataset, so
both are mixed by the same code. Output layout (that of LibriMix)::

    <root>/wav<k>k/min/<split>/{mix_clean,mix_both,s1,s2,noise}/<mixture_ID>.wav
"""

import logging
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly
from tqdm import tqdm

from .mixing import LoudnessError, mix_min

logger = logging.getLogger(__name__)

MIX_DIRS = ("mix_clean", "mix_both", "noise")


@dataclass
class Utterance:
    """One utterance of one speaker; ``load()`` returns ``(samples (time,), sample_rate)``.

    ``join``: a word or short phrase, which dynamic mixing joins with other such clips of its
    speaker into continuous talk (:func:`write_sources`)."""

    utt_id: str
    speaker: str
    load: Callable[[], tuple]
    join: bool = False


# The whole utterances of a split, for dynamic mixing: <split dir>/sources/<ID>.wav + index.
SOURCES_DIR = "sources"
SOURCES_INDEX = "index.csv"


def resample(signal: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Polyphase resampling (exact rational ratio) of a 1D signal."""
    if orig_sr == new_sr:
        return signal
    gcd = np.gcd(int(orig_sr), int(new_sr))
    return resample_poly(signal, new_sr // gcd, orig_sr // gcd).astype(np.float32)


def pick_pairs(
    utterances: Sequence[Utterance],
    n_mixtures: int,
    n_src: int,
    rng: np.random.Generator,
    split: str = "",
) -> List[List[int]]:
    """Indices of ``n_src`` utterances of distinct speakers per mixture.

    Utterances are used in rounds (each once before any is reused), as LibriMix does.
    ``split`` names the split in the error raised when it has too few speakers.
    """
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < n_src:
        where = f"split {split!r}" if split else "a split"
        raise ValueError(
            f"Need at least {n_src} speakers per split, got {len(speakers)} in {where}."
        )
    pool: List[int] = []
    pairs = []
    while len(pairs) < n_mixtures:
        if len(pool) < n_src:
            pool = list(rng.permutation(len(utterances)))
        first = pool.pop()
        chosen, used = [first], {utterances[first].speaker}
        for j in range(len(pool) - 1, -1, -1):
            if utterances[pool[j]].speaker not in used:
                chosen.append(pool.pop(j))
                used.add(utterances[chosen[-1]].speaker)
                if len(chosen) == n_src:
                    break
        if len(chosen) == n_src:
            pairs.append(chosen)
        else:  # the rest of this round is one speaker: start a new round
            pool = []
    return pairs


def write_split(
    root: str,
    split: str,
    utterances: Sequence[Utterance],
    n_mixtures: int,
    sample_rates: Sequence[int],
    rng: np.random.Generator,
    n_src: int = 2,
    noise_fn: Optional[Callable[[int, int], np.ndarray]] = None,
    min_seconds: float = 0.5,
    subtype: str = "PCM_16",
    redraw: bool = False,
) -> Dict[str, int]:
    """Generate ``n_mixtures`` min-mode mixtures of ``split`` at each of ``sample_rates``.

    Args:
        noise_fn: ``noise_fn(n_samples, sample_rate) -> (n_samples,)`` noise at the highest
            rate, or ``None`` for no noise (then ``mix_both`` equals ``mix_clean``).
        min_seconds: mixtures shorter than this (shortest source) are not written (counted).
        subtype: soundfile subtype; 16-bit PCM as LibriMix writes (peaks are kept <= 0.9, so
            nothing clips; ``"FLOAT"`` makes mixtures equal the sum of sources exactly).
        redraw: draw another pair for each mixture not written (too short, or a source
            silent over the kept part), so that ``n_mixtures`` are written (at most
            ``10 n_mixtures + 100`` redraws; the counts still record what was skipped).

    Returns:
        counts ``{"written": n, "too_short": n, "silent": n}`` (skipped mixtures are logged).
    """
    top_sr = max(sample_rates)
    dirs = {
        sr: {
            d: os.path.join(root, f"wav{sr // 1000}k", "min", split, d)
            for d in (*MIX_DIRS, *[f"s{i + 1}" for i in range(n_src)])
        }
        for sr in sample_rates
    }
    for per_sr in dirs.values():
        for d in per_sr.values():
            os.makedirs(d, exist_ok=True)
    counts = {"written": 0, "too_short": 0, "silent": 0}
    seen_ids = set()
    pairs = pick_pairs(utterances, n_mixtures, n_src, rng, split)
    redraws = 10 * n_mixtures + 100 if redraw else 0  # bounded: all-silent input must end

    def replace_skipped() -> None:
        nonlocal redraws
        if redraws:  # the loop below also takes pairs appended while it runs
            redraws -= 1
            pairs.extend(pick_pairs(utterances, 1, n_src, rng, split))

    for chosen in tqdm(pairs, desc=f"mixing {split}", unit="mix", mininterval=2):
        utts = [utterances[i] for i in chosen]
        signals = []
        for utt in utts:
            audio, sr = utt.load()
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim != 1:  # a loader's bug: must not pass for a silent source below
                raise ValueError(
                    f"Utterance {utt.utt_id} (speaker {utt.speaker}) loaded with shape "
                    f"{audio.shape}; the mixer takes one channel (time,)."
                )
            signals.append(resample(audio, sr, top_sr))
        length = min(len(s) for s in signals)
        if length < min_seconds * top_sr:
            counts["too_short"] += 1
            replace_skipped()
            continue
        noise = None if noise_fn is None else noise_fn(length, top_sr)
        try:
            mix_clean, sources, noise, mix_both = mix_min(signals, top_sr, rng, noise)
        except LoudnessError as err:  # a source silent over the kept part: no loudness to set
            logger.warning("Not mixing %s: %s", [u.utt_id for u in utts], err)
            counts["silent"] += 1
            replace_skipped()
            continue
        if noise is None:
            noise = np.zeros(length, dtype=np.float32)
        mixture_id = "_".join(u.utt_id for u in utts)
        if mixture_id in seen_ids:  # the same pair drawn again: keep both, never overwrite
            mixture_id += f"_{counts['written']}"
        seen_ids.add(mixture_id)
        for sr in sample_rates:
            signals_sr = {"mix_clean": mix_clean, "mix_both": mix_both, "noise": noise}
            signals_sr.update({f"s{i + 1}": s for i, s in enumerate(sources)})
            for name, sig in signals_sr.items():
                sf.write(
                    os.path.join(dirs[sr][name], f"{mixture_id}.wav"),
                    resample(sig, top_sr, sr),
                    sr,
                    subtype=subtype,
                )
        counts["written"] += 1
    if counts["too_short"]:
        logger.warning(
            "%s: %d mixtures shorter than %.1f s were not written.",
            split,
            counts["too_short"],
            min_seconds,
        )
    return counts


def write_sources(
    root: str,
    split: str,
    utterances: Sequence[Utterance],
    sample_rate: int,
    min_seconds: float = 0.3,
    subtype: str = "PCM_16",
) -> Dict[str, int]:
    """Write every utterance of ``split`` whole, for dynamic mixing to draw from.

    Files (peak-normalised to 0.9, ``subtype``) go to
    ``<root>/wav<k>k/min/<split>/sources/<utt_id>.wav`` and are listed in
    ``sources/index.csv`` (columns ``source_ID, speaker, file, length, join``; ``file``
    relative to that folder). Utterances that cannot be read, or are shorter than
    ``min_seconds`` or silent, are left out, counted and logged.

    Returns:
        counts ``{"written": n, "seconds": s, "unreadable": n, "too_short": n}``.
    """
    out = os.path.join(root, f"wav{sample_rate // 1000}k", "min", split, SOURCES_DIR)
    os.makedirs(out, exist_ok=True)
    rows, seen = [], set()
    counts = {"written": 0, "seconds": 0.0, "unreadable": 0, "too_short": 0}
    for utt in tqdm(utterances, desc=f"sources {split}", unit="utt", mininterval=2):
        try:
            audio, sr = utt.load()
        except RuntimeError as err:  # soundfile's errors: a damaged recording
            logger.warning("Source %s left out: %s", utt.utt_id, err)
            counts["unreadable"] += 1
            continue
        audio = resample(np.asarray(audio, dtype=np.float32), sr, sample_rate)
        peak = float(np.abs(audio).max()) if len(audio) else 0.0
        if len(audio) < min_seconds * sample_rate or peak < 1e-4:
            counts["too_short"] += 1
            continue
        source_id, k = utt.utt_id, 1
        while source_id in seen:  # e.g. one prompt name in two folders: keep both
            k += 1
            source_id = f"{utt.utt_id}-{k}"
        seen.add(source_id)
        name = f"{source_id}.wav"
        sf.write(os.path.join(out, name), 0.9 * audio / peak, sample_rate, subtype=subtype)
        rows.append(
            dict(
                source_ID=source_id,
                speaker=utt.speaker,
                file=name,
                length=len(audio),
                join=int(utt.join),
            )
        )
        counts["written"] += 1
        counts["seconds"] += len(audio) / sample_rate
    pd.DataFrame(rows, columns=["source_ID", "speaker", "file", "length", "join"]).to_csv(
        os.path.join(out, SOURCES_INDEX), index=False
    )
    counts["seconds"] = round(counts["seconds"], 1)
    return counts
