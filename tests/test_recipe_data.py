"""Data preparation: LibriMix-style mixing, speaker splits, csv metadata, input validation."""

import os

import numpy as np
import pandas as pd
import pyloudnorm
import pytest
import soundfile as sf

from corpus.corpora import LRS2MIX, MINI
from asteroid_tdanet.recipes.dataset import BadAudioFileError, CsvMixDataset
from corpus.generate import pick_pairs
from corpus.metadata import write_metadata
from corpus.mini.build import split_speakers
from corpus.mini.real_bank import index_speakers
from corpus.mixing import MAX_PEAK, NOISE_LUFS, SPEECH_LUFS, mix_min
from asteroid_tdanet.recipes.config import load_conf
from _recipe_helpers import (
    REPO,
    harmonic_speaker_utterances,
    make_libri2mix_ingredients,
    make_tiny_corpus,
)


def test_mix_min_loudness_and_sums():
    rng = np.random.default_rng(0)
    sr = 8000
    a = np.random.default_rng(1).standard_normal(3 * sr).astype(np.float32) * 0.1
    b = np.sin(2 * np.pi * 220 * np.arange(2 * sr) / sr).astype(np.float32) * 0.3
    noise = np.random.default_rng(2).standard_normal(4 * sr).astype(np.float32)
    mix_clean, sources, scaled_noise, mix_both = mix_min([a, b], sr, rng, noise)
    assert sources.shape == (2, 2 * sr) and len(mix_both) == 2 * sr  # min mode: shortest
    np.testing.assert_allclose(mix_clean, sources.sum(0), atol=1e-6)
    np.testing.assert_allclose(mix_both, mix_clean + scaled_noise, atol=1e-6)
    assert np.abs(mix_both).max() <= MAX_PEAK + 1e-6
    meter = pyloudnorm.Meter(sr)
    # Without a clipping rescale, the loudness is the drawn target (within the ranges).
    if np.isclose(np.abs(mix_both).max(), MAX_PEAK):
        pytest.skip("rescaled to avoid clipping for this seed")
    for s in sources:
        assert (
            SPEECH_LUFS[0] - 0.1
            <= meter.integrated_loudness(s.astype(float))
            <= SPEECH_LUFS[1] + 0.1
        )
    assert (
        NOISE_LUFS[0] - 0.1
        <= meter.integrated_loudness(scaled_noise.astype(float))
        <= NOISE_LUFS[1] + 0.1
    )


def test_mix_min_rescales_loud_mixtures():
    sr = 8000
    loud = np.sin(2 * np.pi * 100 * np.arange(sr) / sr).astype(np.float32)

    # Force a loud target by shifting the speech range through a custom rng.
    class Loud:
        def uniform(self, low, high):
            return 0.0  # 0 LUFS: certainly clips

    other = np.sin(2 * np.pi * 170 * np.arange(sr) / sr).astype(np.float32)
    mix_clean, sources, _, mix_both = mix_min([loud, other], sr, Loud())
    peak = max(np.abs(mix_both).max(), np.abs(sources).max())
    assert peak == pytest.approx(MAX_PEAK, rel=1e-5)
    np.testing.assert_allclose(mix_clean, sources.sum(0), atol=1e-6)


def test_pairs_have_distinct_speakers_and_cover_utterances():
    utts = harmonic_speaker_utterances(n_speakers=3, per_speaker=4)
    pairs = pick_pairs(utts, 12, 2, np.random.default_rng(0))
    assert len(pairs) == 12
    for i, j in pairs:
        assert utts[i].speaker != utts[j].speaker
    used = {k for p in pairs for k in p}
    assert len(used) >= 10  # used in rounds, not a few favourites


def test_speaker_split_is_disjoint():
    names = [f"s{i}" for i in range(20)]
    split = split_speakers(names, 0.15, 0.25, np.random.default_rng(0))
    sets = [set(split[k]) for k in ("train", "dev", "test")]
    assert (
        sets[0].isdisjoint(sets[1]) and sets[0].isdisjoint(sets[2]) and sets[1].isdisjoint(sets[2])
    )
    assert sum(map(len, sets)) == 20 and len(sets[2]) == 5 and len(sets[1]) == 3
    with pytest.raises(ValueError):
        split_speakers(["a", "b"], 0.15, 0.25, np.random.default_rng(0))


def test_metadata_csvs_match_files_and_asteroid_librimix(tmp_path):
    make_tiny_corpus(str(tmp_path / "st"), n_mix=(4, 2, 3))
    paths = write_metadata(MINI, str(tmp_path / "st"), 8000, str(tmp_path / "data"))
    assert len(paths) == 6
    df = pd.read_csv(tmp_path / "data" / "test" / "mixture_test_mix_both.csv")
    assert list(df.columns) == [
        "mixture_ID",
        "mixture_path",
        "source_1_path",
        "source_2_path",
        "noise_path",
        "length",
    ]
    assert len(df) == 3
    row = df.iloc[0]
    mix, sr = sf.read(row.mixture_path)
    s1, s2, n = (sf.read(row[c])[0] for c in ("source_1_path", "source_2_path", "noise_path"))
    assert sr == 8000 and len(mix) == row.length
    # The mixture is what it claims (up to 16-bit quantisation of the four files).
    np.testing.assert_allclose(mix, s1 + s2 + n, atol=4 / 2**15)
    ds = _asteroid_librimix()(
        str(tmp_path / "data" / "test"), "sep_clean", sample_rate=8000, segment=None
    )
    mixture, sources = ds[0]
    assert sources.shape[0] == 2 and mixture.shape[-1] == sources.shape[-1]


def _asteroid_librimix():
    """asteroid.data.LibriMix without importing asteroid.data (its __init__ needs librosa)."""
    import importlib.util
    import sys
    import types

    import asteroid

    base = os.path.join(os.path.dirname(asteroid.__file__), "data")
    pkg = types.ModuleType("_asteroid_data")
    pkg.__path__ = [base]
    sys.modules.setdefault("_asteroid_data", pkg)
    for name in ("wham_dataset", "librimix_dataset"):
        spec = importlib.util.spec_from_file_location(
            f"_asteroid_data.{name}", os.path.join(base, f"{name}.py")
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["_asteroid_data.librimix_dataset"].LibriMix


@pytest.fixture
def csv_dir(tmp_path):
    make_tiny_corpus(str(tmp_path / "st"), n_mix=(4, 2, 3))
    write_metadata(MINI, str(tmp_path / "st"), 8000, str(tmp_path / "data"))
    return tmp_path / "data" / "train"


def test_dataset_reads_segments(csv_dir):
    ds = CsvMixDataset(str(csv_dir), "sep_noisy", 8000, segment=0.5)
    mix, src = ds[0]
    assert mix.shape == (4000,) and src.shape == (2, 4000) and ds.skipped == 0


def test_dataset_missing_file_is_named(csv_dir):
    df = pd.read_csv(csv_dir / "mixture_train_mix_clean.csv")
    os.remove(df.source_2_path[1])
    with pytest.raises(BadAudioFileError, match=os.path.basename(df.source_2_path[1])):
        CsvMixDataset(str(csv_dir), "sep_clean", 8000)


def test_dataset_unreadable_file_is_named(csv_dir):
    df = pd.read_csv(csv_dir / "mixture_train_mix_clean.csv")
    with open(df.mixture_path[0], "wb") as f:
        f.write(b"not a wav file at all")
    with pytest.raises(BadAudioFileError, match="Unreadable.*" + df.mixture_ID[0]):
        CsvMixDataset(str(csv_dir), "sep_clean", 8000)


def test_dataset_wrong_sample_rate(csv_dir):
    with pytest.raises(BadAudioFileError, match="8000 Hz, expected 16000 Hz"):
        CsvMixDataset(str(csv_dir), "sep_clean", 16000)


def test_dataset_short_clips_skipped_and_counted(csv_dir, caplog):
    df = pd.read_csv(csv_dir / "mixture_train_mix_clean.csv")
    seg = (df.length.min() + 1) / 8000  # exactly the shortest mixture(s) are too short
    n_short = int((df.length < seg * 8000).sum())
    ds = CsvMixDataset(str(csv_dir), "sep_clean", 8000, segment=seg)
    assert ds.skipped == n_short >= 1 and len(ds) == len(df) - n_short
    assert "skipped" in caplog.text
    with pytest.raises(ValueError, match="every mixture is shorter"):
        CsvMixDataset(str(csv_dir), "sep_clean", 8000, segment=1000.0)


def fake_lrs2mix(storage, n=2, seconds=2.0, sr=16000, seed=0):
    """An LRS2-2Mix layout (``LRS2-2Mix/{tr,cv,tt}/{mix,s1,s2}``) of ``n`` mixtures per split,
    each exactly ``seconds`` long, as the published set is (2 s at 16 kHz)."""
    rng = np.random.default_rng(seed)
    for split in LRS2MIX.splits:
        for k in range(n):
            sources = 0.1 * rng.standard_normal((2, int(seconds * sr))).astype(np.float32)
            name = f"{split}_{k}.wav"
            for folder, audio in (("s1", sources[0]), ("s2", sources[1]), ("mix", sources.sum(0))):
                os.makedirs(os.path.join(storage, "LRS2-2Mix", split, folder), exist_ok=True)
                sf.write(os.path.join(storage, "LRS2-2Mix", split, folder, name), audio, sr)


def test_lrs2mix_conf_segment_fits_its_2_s_mixtures(tmp_path, caplog):
    """Every LRS2-2Mix mixture is 2 s long: the recipe's segment (3 s before) skipped them
    all and stage 2 stopped; the error now names the longest mixture's length."""
    fake_lrs2mix(str(tmp_path / "st"))
    write_metadata(LRS2MIX, str(tmp_path / "st"), 16000, str(tmp_path / "data"))
    data = load_conf(os.path.join(REPO, "egs", "lrs2mix", "local", "conf.yml"))["data"]
    assert data["sample_rate"] == 16000
    for split in ("tr", "cv"):  # training and validation crops
        ds = CsvMixDataset(
            str(tmp_path / "data" / split), data["task"], 16000, segment=data["segment"]
        )
        assert len(ds) == 2 and ds.skipped == 0
        mix, sources = ds[0]
        assert mix.shape == (int(data["segment"] * 16000),) and sources.shape[0] == 2
    with pytest.raises(ValueError) as err:
        CsvMixDataset(str(tmp_path / "data" / "tr"), "sep_clean", 16000, segment=3.0)
    message = str(err.value)
    assert "every mixture is shorter than the 3.0 s segment" in message
    assert "the longest is 2.00 s, 32000 samples" in message and "\n" not in message


def test_dataset_missing_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="stage 1"):
        CsvMixDataset(str(tmp_path / "nothing"), "sep_clean", 8000)


def test_real_bank_indexes_speakers_by_voice(tmp_path):
    sr = 8000
    for pkg, voice in [
        ("pkg-en", "en_US_f_Allison"),
        ("pkg-es", "es_MX_f_Allison"),
        ("pkg-it", "it_IT_m_Carlo"),
    ]:
        d = tmp_path / pkg / "usr/share/asterisk/sounds" / voice / "digits"
        d.mkdir(parents=True)
        sf.write(d / "long.wav", np.zeros(2 * sr), sr)
        sf.write(d / "short.wav", np.zeros(sr // 2), sr)
    speakers = index_speakers([str(tmp_path / p) for p in ("pkg-en", "pkg-es", "pkg-it")])
    assert sorted(speakers) == ["Allison", "Carlo"]  # same voice, two languages: one speaker
    assert len(speakers["Allison"]["files"]) == 2 and speakers["Carlo"]["gender"] == "m"


def test_libri2mix_generation_from_librispeech_and_wham(tmp_path):
    """Stage 0's LibriSpeech + WHAM! path on a fake miniature corpus, then stage 1 on it."""
    from corpus.corpora import LIBRI2MIX
    from corpus.librispeech import SPLITS, generate_libri2mix

    make_libri2mix_ingredients(tmp_path)
    assert LIBRI2MIX.missing_folders(str(tmp_path), 8000)
    counts = generate_libri2mix(str(tmp_path), n_mixtures={s: 2 for s in SPLITS})
    assert all(c["written"] == 2 for c in counts.values())
    assert not LIBRI2MIX.missing_folders(str(tmp_path), 8000)
    assert not LIBRI2MIX.missing_folders(str(tmp_path), 16000)
    write_metadata(LIBRI2MIX, str(tmp_path), 16000, str(tmp_path / "data"))
    df = pd.read_csv(tmp_path / "data" / "test" / "mixture_test_mix_both.csv")
    row = df.iloc[0]
    speakers = {p.split("-")[0] for p in row.mixture_ID.split("_")}
    assert len(speakers) == 2  # two distinct LibriSpeech speakers
    mix, sr = sf.read(row.mixture_path)
    parts = sum(sf.read(row[c])[0] for c in ("source_1_path", "source_2_path", "noise_path"))
    assert sr == 16000 and len(mix) == row.length
    np.testing.assert_allclose(mix, parts, atol=4 / 2**15)
    # The 8 kHz version is the same mixture at half the rate.
    mix8, sr8 = sf.read(row.mixture_path.replace("wav16k", "wav8k"))
    assert sr8 == 8000 and abs(len(mix8) - len(mix) / 2) <= 1
