"""Speech sources of the mini set and the real-speech check, and dynamic mixing.

Each test builds its own files (no download); the LibriSpeech excerpts of ``../shared`` are
used when present, as the real-speech check's intended input.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asteroid_tdanet.recipes.dataset import CsvMixDataset, DynamicMixDataset
from corpus.generate import write_split
from corpus.mini.real_bank import index_speakers, real_utterances
from corpus.real_speech import build_real_speech_set
from _recipe_helpers import harmonic_speaker_utterances
from corpus.corpora import MINI
from corpus.metadata import write_metadata

SR = 8000
EXCERPTS = Path(__file__).resolve().parents[2] / "shared/data/librispeech_excerpts/train-clean-100"


def dominant_hz(x, sr=SR):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[spectrum.argmax()]


def tone(hz, seconds, sr=SR):
    return (0.3 * np.sin(2 * np.pi * hz * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def test_plain_folder_gsm_prompts_are_one_named_speaker(tmp_path):
    """asterisk-prompt-fr-armelle ships raw GSM 6.10 in sounds/fr/: speaker Armelle."""
    d = tmp_path / "asterisk-prompt-fr-armelle" / "usr/share/asterisk/sounds/fr"
    (d / "digits").mkdir(parents=True)
    sf.write(d / "bonjour.gsm", tone(200, 2.0), SR, format="RAW", subtype="GSM610")
    sf.write(d / "digits" / "1.gsm", tone(200, 0.5), SR, format="RAW", subtype="GSM610")
    (d / "README.txt").write_text("not a prompt")
    speakers = index_speakers([str(tmp_path / "asterisk-prompt-fr-armelle")])
    assert list(speakers) == ["Armelle"] and speakers["Armelle"]["gender"] == "f"
    assert [Path(f).name for f in speakers["Armelle"]["files"]] == ["bonjour.gsm"]  # >= 1.5 s
    (utt,) = real_utterances(speakers, ["Armelle"], 0, np.random.default_rng(0))
    audio, sr = utt.load()
    assert sr == SR and abs(len(audio) - 2 * SR) < 400  # GSM frames, silence trimmed
    assert abs(dominant_hz(audio) - 200) < 5


def test_speed_factors_add_virtual_speakers_with_scaled_pitch_and_length(tmp_path):
    d = tmp_path / "pkg" / "usr/share/asterisk/sounds/en_US_f_Allison"
    d.mkdir(parents=True)
    for k in range(3):
        sf.write(d / f"p{k}.wav", tone(250, 2.0), SR)
    speakers = index_speakers([str(tmp_path / "pkg")])
    utts = real_utterances(speakers, ["Allison"], 2, np.random.default_rng(0), (0.8, 1.25))
    by_speaker = {}
    for u in utts:
        by_speaker.setdefault(u.speaker, []).append(u)
    assert sorted(by_speaker) == ["real_Allison", "real_Allison@0.8", "real_Allison@1.25"]
    assert all(len(v) == 2 for v in by_speaker.values())
    assert len({u.utt_id for u in utts}) == len(utts)
    for name, factor in [
        ("real_Allison", 1.0),
        ("real_Allison@0.8", 0.8),
        ("real_Allison@1.25", 1.25),
    ]:
        audio, sr = by_speaker[name][0].load()
        assert sr == SR
        assert abs(len(audio) - 2 * SR / factor) <= 2  # played `factor` times faster
        assert abs(dominant_hz(audio) - 250 * factor) < 3  # and pitch times `factor`


@pytest.fixture
def tiny_train_csv(tmp_path):
    root = tmp_path / "st" / "MiniLibri2Mix"
    rng = np.random.default_rng(0)
    for split in MINI.splits:
        write_split(str(root), split, harmonic_speaker_utterances(seed=1), 6, [SR], rng)
    write_metadata(MINI, str(tmp_path / "st"), SR, str(tmp_path / "data"))
    return tmp_path / "data" / "train"


def test_dynamic_mixing_draws_new_sum_consistent_mixtures(tiny_train_csv):
    np.random.seed(0)
    ds = DynamicMixDataset(str(tiny_train_csv), "sep_clean", SR, segment=0.5, gain_db=10.0)
    static = CsvMixDataset(str(tiny_train_csv), "sep_clean", SR, segment=0.5)
    assert len(ds) == len(static)
    df = pd.read_csv(Path(tiny_train_csv) / "mixture_train_mix_clean.csv")
    originals = [
        sf.read(p, dtype="float32")[0] for c in ("source_1_path", "source_2_path") for p in df[c]
    ]
    ratios, items = [], [ds[0] for _ in range(8)]
    for mix, src in items:
        assert mix.shape == (4000,) and src.shape == (2, 4000)
        np.testing.assert_allclose(mix.numpy(), src.sum(0).numpy(), atol=1e-6)
        assert 0.3 - 1e-4 <= mix.abs().max() <= 0.9 + 1e-4
        rms = src.pow(2).mean(-1).sqrt()
        ratios.append(20 * np.log10(float(rms[0] / rms[1])))
        for s in src.numpy():  # each source is a scaled crop of one source file
            assert any(_is_scaled_crop(s, o) for o in originals)
    assert max(np.abs(ratios)) <= 10 + 1e-3 and np.std(ratios) > 1  # gains drawn in ±10 dB
    first = [m for m, _ in items]
    assert not all(np.allclose(first[0], m) for m in first[1:])  # same index, new mixture
    with pytest.raises(ValueError, match="clean"):
        DynamicMixDataset(str(tiny_train_csv), "sep_noisy", SR, segment=0.5)
    with pytest.raises(ValueError, match="segment"):
        DynamicMixDataset(str(tiny_train_csv), "sep_clean", SR, segment=None)


def _is_scaled_crop(segment, original):
    """Whether ``segment`` equals ``g * original[k:k+len]`` for some offset k and gain g:
    the least-squares residual ``|s|^2 - (w_k . s)^2 / |w_k|^2`` over every window w_k."""
    n = len(segment)
    if len(original) < n:
        return False
    dots = np.correlate(original.astype(np.float64), segment.astype(np.float64), "valid")
    energy = np.convolve(original.astype(np.float64) ** 2, np.ones(n), "valid")
    residual = float(segment @ segment) - dots**2 / np.maximum(energy, 1e-12)
    return residual.min() <= 1e-6 * float(segment @ segment)  # float32 files


def _librispeech_layout(tmp_path, n_speakers=4, with_chapter=True):
    root = tmp_path / "LibriSpeech" / "test-clean"
    for s in range(n_speakers):
        folder = root / str(100 + s) / ("7" if with_chapter else "")
        folder.mkdir(parents=True, exist_ok=True)
        for u in range(2):
            sf.write(folder / f"{100 + s}-7-{u:04d}.flac", tone(150 + 60 * s, 2.5, 16000), 16000)
    return root


@pytest.mark.parametrize("with_chapter", [True, False])
def test_real_speech_set_mixes_distinct_speakers_at_the_model_rate(tmp_path, with_chapter):
    src = _librispeech_layout(tmp_path, with_chapter=with_chapter)
    summary = build_real_speech_set(str(src), str(tmp_path / "out"), n_mixtures=5, max_seconds=2)
    assert summary["n_speakers"] == 4 and summary["counts"]["written"] == 5
    df = pd.read_csv(Path(summary["test_dir"]) / "mixture_test_mix_clean.csv")
    assert len(df) == 5
    for row in df.itertuples():
        speakers = [part.split("-")[0] for part in row.mixture_ID.split("_")]
        assert len(set(speakers)) == 2
        mix, sr = sf.read(row.mixture_path)
        s1, s2 = sf.read(row.source_1_path)[0], sf.read(row.source_2_path)[0]
        assert sr == SR and len(mix) == 2 * SR  # cropped to 2 s, then min mode
        np.testing.assert_allclose(mix, s1 + s2, atol=2e-4)  # 16-bit files
    assert json.loads((tmp_path / "out" / "real_speech.json").read_text())["sample_rate"] == SR
    CsvMixDataset(summary["test_dir"], "sep_clean", SR)  # what evaluate reads


@pytest.mark.skipif(not EXCERPTS.is_dir(), reason=f"no LibriSpeech excerpts at {EXCERPTS}")
def test_real_speech_set_from_the_shared_librispeech_excerpts(tmp_path):
    summary = build_real_speech_set(str(EXCERPTS), str(tmp_path), n_mixtures=4, max_seconds=3)
    assert summary["n_speakers"] == 251 and summary["counts"]["written"] == 4
