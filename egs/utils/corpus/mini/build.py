"""Build the mini dataset (``--dataset mini``): two-speaker 8 kHz mixtures, LibriMix layout.

Speakers come from real recordings (Debian's Asterisk prompt packages, :mod:`.real_bank`;
KDE's educational games' word recordings, :mod:`.kde_bank`; opt-in, The Ur-Quan Masters'
voice acting, :mod:`.uqm_bank`, and Fish Fillets NG's dubbed dialogue, :mod:`.fillets_bank`,
train-only) and/or synthetic eSpeak NG voices (:mod:`.espeak_bank`);
each source group is split BY SPEAKER into train/dev/test, so no test speaker is heard in
training.
``dataset.json`` records the sources actually used, the speakers of each split and licences.
"""

import json
import logging
import os
from typing import Dict, List

import numpy as np

from ..generate import write_sources, write_split
from . import espeak_bank, fillets_bank, kde_bank, real_bank, uqm_bank
from .espeak import EspeakUnavailable

logger = logging.getLogger(__name__)

SOURCES = ("auto", "real", "espeak")
SPLITS = ("train", "dev", "test")
DEFAULTS = dict(
    source="auto",
    n_espeak_speakers=60,
    utts_per_speaker=12,  # per eSpeak NG voice
    real_utts_per_speaker=60,  # per Asterisk speaker (0: every prompt of at least 1.5 s);
    # 60 x 3 speeds keeps the 7 studio voices from outnumbering the others' utterances
    real_speed_factors=(0.9, 1.1),  # virtual speakers per real one (see real_utterances)
    kde_utts_per_voice=24,  # utterances of talk per KDE voice (kde_bank; 0: no KDE voices)
    kde_speed_factors=(),  # virtual speakers per KDE voice, as real_speed_factors
    uqm_utts_per_voice=0,  # lines per Ur-Quan Masters voice (uqm_bank; non-commercial
    # licence). Off: in three recipe runs the voices lowered the real-speech score (1.60 dB ->
    # 0.87 dB with 40 lines, 0.45 dB with 60 and 2000 mixtures; 1.51 -> 0.40 dB with 100 lines
    # and whole-utterance mixing), although they raised it in benchmarks/mini_budget_sweep
    fillets_utts_per_voice=60,  # lines per Fish Fillets NG hero (fillets_bank; 4 dubbed
    # voices of continuous speech, train-only; 0: none). On since 2026-11-28: +0.03 dB on 400
    # LibriSpeech mixtures, +0.12 dB on 100, over three pairs of runs (README)
    train_sources=True,  # also write the train split's whole utterances (Asterisk: every prompt,
    # KDE: every word, joined into fresh talk at each draw) for dynamic mixing to draw from
    n_train=1000,
    n_dev=100,
    n_test=100,
    sample_rate=8000,
    noise=True,
    seed=0,
    # Speakers held out per voice group: few, as voices are what the demo lacks (0.15 / 0.25
    # until 2026-11-27: 66 train speakers; 0.1 / 0.1: 87, +0.1 to +0.3 dB on LibriSpeech;
    # 0.05 / 0.05 stalled a run: README, "More training voices")
    dev_fraction=0.1,
    test_fraction=0.1,
)


def split_speakers(
    names: List[str],
    dev_fraction: float,
    test_fraction: float,
    rng: np.random.Generator,
    min_per_split: int = 1,
) -> Dict[str, List[str]]:
    """Disjoint train/dev/test speaker lists, each with at least ``min_per_split`` speakers."""
    names = [names[i] for i in rng.permutation(len(names))]
    n_test = max(min_per_split, int(round(test_fraction * len(names))))
    n_dev = max(min_per_split, int(round(dev_fraction * len(names))))
    if len(names) - n_test - n_dev < min_per_split:
        raise ValueError(
            f"{len(names)} speakers are too few for a train/dev/test split with at least "
            f"{min_per_split} speakers each."
        )
    return dict(
        test=sorted(names[:n_test]),
        dev=sorted(names[n_test : n_test + n_dev]),
        train=sorted(names[n_test + n_dev :]),
    )


def colored_noise(n_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary noise with a random 1/f^alpha spectrum (alpha in [0, 2]) and slow AM."""
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs = np.fft.rfftfreq(n_samples, 1 / sample_rate)
    spectrum /= np.maximum(freqs, 20.0) ** (rng.uniform(0, 2) / 2)
    noise = np.fft.irfft(spectrum, n_samples)
    t = np.arange(n_samples) / sample_rate
    noise *= 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t)
    return (noise / (np.abs(noise).max() + 1e-9)).astype(np.float32)


def _fetch_voices(root: str, packages, index, what: str) -> dict:
    """Download ``packages`` into ``<root>/real_speech`` and ``index`` their voices.

    Raises:
        real_bank.RealSpeechUnavailable: the packages could not be had, or they hold fewer
            than the 3 voices a speaker-disjoint split needs.
    """
    dirs = real_bank.fetch_packages(os.path.join(root, "real_speech"), packages=tuple(packages))
    voices = index(dirs)
    if len(voices) < 3:
        raise real_bank.RealSpeechUnavailable(
            f"only {len(voices)} {what} found, 3 needed for a split"
        )
    return voices


def _optional_voices(root: str, bank, label: str, notes: List[str]):
    """The voices of ``bank`` (a module with ``PACKAGES`` and ``index_voices``), or ``None``
    when they cannot be had: a group the dataset can do without is left out, with a note."""
    try:
        return _fetch_voices(root, bank.PACKAGES, bank.index_voices, label)
    except real_bank.RealSpeechUnavailable as err:
        logger.warning("%s unavailable (%s); left out.", label, err)
        notes.append(f"{label} unavailable: {err}")
        return None


def build_mini(root: str, **options) -> dict:
    """Generate the mini dataset under ``root`` and return its description (dataset.json)."""
    opts = {**DEFAULTS, **options}
    if opts["source"] not in SOURCES:
        raise ValueError(f"Unknown mini source {opts['source']!r}; choose one of {SOURCES}.")
    rng = np.random.default_rng(opts["seed"])
    # source name -> (speaker names, utterance factory[, factory of the whole sources of
    # dynamic mixing: by default the mixtures' utterances])
    groups = {}
    notes = []
    if opts["source"] in ("auto", "real"):
        try:
            speakers = _fetch_voices(
                root, real_bank.PACKAGES, real_bank.index_speakers, "real speakers"
            )
            groups["real"] = (
                sorted(speakers),
                lambda names, r: real_bank.real_utterances(
                    speakers,
                    names,
                    opts["real_utts_per_speaker"],
                    r,
                    speed_factors=tuple(opts["real_speed_factors"]),
                ),
                # every prompt, at its own speed (dynamic mixing perturbs the speed itself)
                lambda names, r: real_bank.real_utterances(speakers, names, 0, r),
            )
            notes.append(f"real: {len(speakers)} speakers from Debian Asterisk prompt packages")
        except real_bank.RealSpeechUnavailable as err:
            if opts["source"] == "real":
                raise
            logger.warning("Asterisk prompt recordings unavailable (%s); left out.", err)
            notes.append(f"real recordings unavailable: {err}")
    if opts["source"] in ("auto", "real") and opts["kde_utts_per_voice"] > 0:
        voices = _optional_voices(root, kde_bank, "KDE word recordings", notes)
        if voices is not None:
            groups["kde"] = (
                sorted(voices),
                lambda names, r: kde_bank.kde_utterances(
                    voices,
                    names,
                    opts["kde_utts_per_voice"],
                    r,
                    sample_rate=opts["sample_rate"],
                    speed_factors=tuple(opts["kde_speed_factors"]),
                ),
                lambda names, r: kde_bank.kde_words(voices, names, opts["sample_rate"]),
            )
            notes.append(f"kde: {len(voices)} voices from Debian KDE game word recordings")
    if opts["source"] in ("auto", "real") and opts["uqm_utts_per_voice"] > 0:
        races = _optional_voices(root, uqm_bank, "Ur-Quan Masters voices", notes)
        if races is not None:
            groups["uqm"] = (
                sorted(races),
                lambda names, r: uqm_bank.uqm_utterances(
                    races, names, opts["uqm_utts_per_voice"], r, sample_rate=opts["sample_rate"]
                ),
            )
            notes.append(
                f"uqm: {len(races)} voices from Debian's The Ur-Quan Masters voice pack "
                "(CC BY-NC-SA 2.5: non-commercial)"
            )
    if opts["source"] in ("auto", "espeak") and opts["n_espeak_speakers"] > 0:
        try:
            settings = espeak_bank.espeak_speakers(opts["n_espeak_speakers"], rng)
        except EspeakUnavailable as err:
            if opts["source"] == "espeak" or not groups:
                raise
            logger.warning("eSpeak NG unavailable (%s); using real recordings only.", err)
        else:
            by_name = {s["speaker"]: s for s in settings}
            groups["espeak"] = (
                sorted(by_name),
                lambda names, r: espeak_bank.espeak_utterances(
                    [by_name[n] for n in names], opts["utts_per_speaker"], r
                ),
            )
            notes.append(f"espeak: {len(settings)} synthetic voices from espeakng-loader")
    train_only = set()
    if opts["source"] in ("auto", "real") and opts["fillets_utts_per_voice"] > 0:
        heroes = _optional_voices(root, fillets_bank, "Fish Fillets NG voices", notes)
        if heroes is not None:
            # Last, with a generator of its own: the other groups' speakers and utterances
            # stay those of a build without it (the mixtures' pairs are drawn anew).
            lines_rng = np.random.default_rng([opts["seed"], 2])
            groups["fillets"] = (
                sorted(heroes),
                lambda names, r: fillets_bank.fillets_utterances(
                    heroes, names, opts["fillets_utts_per_voice"], lines_rng, opts["sample_rate"]
                ),
                lambda names, r: fillets_bank.fillets_utterances(
                    heroes, names, 0, r, opts["sample_rate"]
                ),
            )
            train_only.add("fillets")
            notes.append(
                f"fillets: {len(heroes)} dubbed voices from Debian's Fish Fillets NG "
                "dialogue packages (train only)"
            )
    if not groups:
        raise RuntimeError("No speech source available for the mini dataset.")
    held_out = set(groups) - train_only  # the groups that give dev and test speakers
    if not held_out:
        raise RuntimeError(
            f"Only train-only voices ({', '.join(sorted(train_only))}) are available: the dev "
            "and test splits need another source (Asterisk prompts, KDE words or eSpeak NG)."
        )

    split_names = {s: {} for s in SPLITS}
    for group, (names, *_) in groups.items():
        if group in train_only:  # too few voices to hold any out
            for split in SPLITS:
                split_names[split][group] = list(names) if split == "train" else []
            continue
        # Mixtures need two speakers per split: one group alone must give each split two;
        # with two groups, the other group's speakers complete the pairs.
        min_per_split = 2 if len(held_out) == 1 else 1
        for split, members in split_speakers(
            names, opts["dev_fraction"], opts["test_fraction"], rng, min_per_split
        ).items():
            split_names[split][group] = members
    counts, sources = {}, {}
    sources_rng = np.random.default_rng([opts["seed"], 1])
    for split in SPLITS:
        utterances, whole = [], []
        for group, (_, make, *make_sources) in groups.items():
            made = make(split_names[split][group], rng)
            utterances += made
            if split == "train" and opts["train_sources"]:
                # its own generator: the mixtures stay those of a build without the sources
                whole += (
                    make_sources[0](split_names[split][group], sources_rng)
                    if make_sources
                    else made
                )
        if whole:
            sources[split] = write_sources(root, split, whole, opts["sample_rate"])
        noise_fn = (lambda n, sr: colored_noise(n, sr, rng)) if opts["noise"] else None
        counts[split] = write_split(
            root,
            split,
            utterances,
            opts[f"n_{split}"],
            [opts["sample_rate"]],
            rng,
            noise_fn=noise_fn,
            redraw=True,  # a pair with a silent source is replaced: n_<split> are written
        )
    info = dict(
        name="MiniLibri2Mix",
        layout="LibriMix (min mode)",
        options=opts,
        sources_used=sorted(groups),
        notes=notes,
        speakers={s: split_names[s] for s in SPLITS},
        n_speakers={s: {g: len(v) for g, v in split_names[s].items()} for s in SPLITS},
        mixtures={s: counts[s]["written"] for s in SPLITS},
        sources=sources,  # per split: whole utterances written for dynamic mixing
        not_written={s: {k: v for k, v in counts[s].items() if k != "written"} for s in SPLITS},
        licences=dict(
            real={p: real_bank.PACKAGES[p] for p in real_bank.PACKAGES} if "real" in groups else {},
            kde=dict(kde_bank.PACKAGES) if "kde" in groups else {},
            uqm=dict(uqm_bank.PACKAGES) if "uqm" in groups else {},
            fillets=dict(fillets_bank.PACKAGES) if "fillets" in groups else {},
            espeak=(
                "eSpeak NG: GPL-3.0-or-later (synthetic speech output is not restricted)"
                if "espeak" in groups
                else ""
            ),
        ),
    )
    with open(os.path.join(root, "dataset.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    return info
