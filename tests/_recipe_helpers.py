"""Tiny synthetic corpora for the recipe tests (no eSpeak, no download: milliseconds)."""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

from corpus.corpora import MINI
from corpus.generate import Utterance, write_split
from corpus.metadata import write_metadata

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EGS_UTILS = os.path.join(REPO, "egs", "utils")  # the corpus package (stage 0/1 code)
CONF_MINI = os.path.join(EGS_UTILS, "conf_mini.yml")
# Tiny TDANet overrides (same structure as the mini preset, fewer channels).
TINY_MODEL = [
    "--bn_chan",
    "16",
    "--hid_chan",
    "32",
    "--n_blocks",
    "2",
    "--upsampling_depth",
    "3",
    "--n_heads",
    "2",
]


def harmonic_speaker_utterances(n_speakers=4, per_speaker=3, seconds=1.5, sr=8000, seed=0):
    """'Speakers' = harmonic tones with a speaker-specific f0 and random vibrato/envelope."""
    rng = np.random.default_rng(seed)
    utts = []
    for s in range(n_speakers):
        f0 = 100 + 40 * s
        for k in range(per_speaker):
            t = np.arange(int((seconds + rng.uniform(0, 0.6)) * sr)) / sr
            phase = (
                2
                * np.pi
                * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 5) * t)))
                / sr
            )
            audio = sum(np.sin(h * phase) / h for h in range(1, 6))
            audio *= 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * rng.uniform(1, 3) * t))
            audio = (0.1 * audio).astype(np.float32)
            utts.append(Utterance(f"spk{s}-{k}", f"spk{s}", lambda a=audio: (a, sr)))
    return utts


def make_tiny_corpus(storage_dir, n_mix=(6, 2, 2), seed=0):
    """A MiniLibri2Mix layout under ``storage_dir`` with speaker-disjoint splits."""
    root = os.path.join(storage_dir, "MiniLibri2Mix")
    rng = np.random.default_rng(seed)
    for i, (split, n) in enumerate(zip(MINI.splits, n_mix)):
        utts = harmonic_speaker_utterances(seed=seed + i)
        for u in utts:
            u.speaker, u.utt_id = f"{split}_{u.speaker}", f"{split}-{u.utt_id}"
        write_split(
            root,
            split,
            utts,
            n,
            [8000],
            rng,
            noise_fn=lambda n_s, sr: rng.standard_normal(n_s).astype(np.float32),
        )
    return root


def make_libri2mix_ingredients(storage_dir, speakers=("19", "26", "27"), channels=1, seed=0):
    """A miniature LibriSpeech (``speakers`` x 2 utterances of 1-2 s per subset, 16 kHz flac
    of ``channels`` channels) and WHAM! noise (one short stereo file per split), in their
    real layouts under ``storage_dir``: what stage 0 mixes Libri2Mix from."""
    import soundfile as sf

    from corpus.librispeech import SPLITS

    rng = np.random.default_rng(seed)
    storage_dir = Path(storage_dir)
    for subset, noise_split, _ in SPLITS.values():
        for spk in speakers:
            chapter = storage_dir / "LibriSpeech" / subset / spk / "100"
            chapter.mkdir(parents=True)
            for k in range(2):
                n = int(16000 * rng.uniform(1.0, 2.0))
                audio = 0.1 * rng.standard_normal((n, channels))
                sf.write(chapter / f"{spk}-100-{k:04d}.flac", audio, 16000)
        noise_dir = storage_dir / "wham_noise" / noise_split
        noise_dir.mkdir(parents=True)
        sf.write(noise_dir / "n.wav", 0.05 * rng.standard_normal((8000, 2)), 16000)  # short


def make_tiny_data(tmp_path):
    """Tiny corpus + csvs + a conf pointing at them; returns (conf_path, data_dir)."""
    storage = tmp_path / "storage"
    make_tiny_corpus(str(storage))
    data_dir = tmp_path / "data"
    write_metadata(MINI, str(storage), 8000, str(data_dir))
    with open(CONF_MINI) as f:
        conf = yaml.safe_load(f)
    conf["data"].update(
        train_dir=str(data_dir / "train"),
        valid_dir=str(data_dir / "dev"),
        test_dir=str(data_dir / "test"),
        segment=1.0,
    )
    conf["training"].update(max_minutes=None, epochs=1, batch_size=2, accelerator="cpu", devices=1)
    conf["model"]["model_name"] = "tdanet"  # TINY_MODEL's sizes (the mini conf trains blstmnet)
    conf_path = tmp_path / "conf.yml"
    with open(conf_path, "w") as f:
        yaml.safe_dump(conf, f)
    return str(conf_path), data_dir


def copy_recipes(work):
    """A copy of egs/ under ``work`` without a user's own runs (run.sh writes data/, exp/ and
    compare/ next to itself); returns the copy's ``libri2mix`` recipe folder."""
    ignore = shutil.ignore_patterns("exp", "data", "storage", "compare")
    shutil.copytree(os.path.join(REPO, "egs"), os.path.join(work, "egs"), ignore=ignore)
    return Path(work) / "egs" / "libri2mix"


def env():
    """Subprocess environment: this checkout importable, one thread per process."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([REPO, EGS_UTILS, e.get("PYTHONPATH", "")])
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return e


PYTHON = sys.executable


CONF_MUSIC_MINI = os.path.join(REPO, "egs", "musdb18", "local", "conf_mini.yml")
MUSIC_STEMS = ("vocals", "drums", "bass", "other")


def make_tiny_music_data(tmp_path, sample_rate=16000, seconds=2.0, songs=(3, 1), seed=0):
    """A MUSDB18-HQ layout of random-tone stereo songs (``train``/``test``) and a music conf
    pointing at it (one short epoch); returns (conf_path, root)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    root = Path(tmp_path) / "MiniMUSDB"
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for split, n in zip(("train", "test"), songs):
        for k in range(n):
            folder = root / split / f"song {split} {k}"
            folder.mkdir(parents=True)
            stems = {}
            for i, stem in enumerate(MUSIC_STEMS):
                f0 = rng.uniform(80, 800) * (i + 1)
                tone = np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * (i + 1) * t))
                left = 0.1 * tone + 0.01 * rng.standard_normal(t.size)
                stems[stem] = np.stack([left, 0.8 * left], axis=1).astype(np.float32)
                sf.write(folder / f"{stem}.wav", stems[stem], sample_rate, subtype="FLOAT")
            sf.write(folder / "mixture.wav", sum(stems.values()), sample_rate, subtype="FLOAT")
    with open(CONF_MUSIC_MINI) as f:
        conf = yaml.safe_load(f)
    conf["data"].update(
        root=str(root), sample_rate=sample_rate, segment=0.5, items_per_epoch=4, valid_songs=1
    )
    conf["training"].update(max_minutes=None, epochs=1, batch_size=2)
    conf_path = Path(tmp_path) / "music_conf.yml"
    with open(conf_path, "w") as f:
        yaml.safe_dump(conf, f)
    return str(conf_path), root
