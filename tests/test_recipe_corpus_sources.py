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
from corpus.mini.kde_bank import index_voices, kde_utterances, talk
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


def _kde_package(root, package, game_root, voices, n_words=12, sr=22050):
    """A fake KDE games package: ``voices`` language folders of ``n_words`` tone words."""
    for lang, hz in voices.items():
        folder = root / package / game_root / lang / "alpha"
        folder.mkdir(parents=True)
        for k in range(n_words):
            word = np.zeros(int(0.6 * sr), np.float32)
            word[int(0.1 * sr) : int(0.5 * sr)] = tone(hz + k, 0.4, sr)  # 0.4 s voiced
            sf.write(folder / f"w{k}.ogg", word, sr)
    return str(root / package)


def test_kde_voices_are_language_folders_of_enough_words(tmp_path):
    tuberling = _kde_package(
        tmp_path, "ktuberling-data", "usr/share/ktuberling/sounds", {"en": 300, "sr@latin": 400}
    )
    lettres = _kde_package(
        tmp_path, "klettres-data", "usr/share/klettres", {"en": 500, "en_GB": 600, "fr": 700}
    )
    (tmp_path / "klettres-data/usr/share/klettres/fr/alpha/w0.ogg").unlink()  # 11 words
    voices = index_voices([tuberling, lettres], min_words=12)
    # one voice per game and language; script variants and voices of few words left out
    assert sorted(voices) == ["klettres-en", "klettres-en_GB", "ktuberling-en"]
    assert len(voices["klettres-en"]["files"]) == 12


def test_kde_talk_joins_one_voices_words_with_short_pauses(tmp_path):
    pkg = _kde_package(tmp_path, "ktuberling-data", "usr/share/ktuberling/sounds", {"en": 300})
    files = index_voices([pkg])["ktuberling-en"]["files"]
    audio = talk(files, 3.0, np.random.default_rng(0), SR)
    assert 3.0 <= len(audio) / SR < 3.0 + 0.4 + 0.25
    envelope = np.convolve(audio**2, np.ones(40) / 40, mode="same")  # 5 ms power
    active = envelope > 0.1
    first, last = np.argmax(active), len(active) - np.argmax(active[::-1])
    # silence trimmed from each 0.4 s word (up to a few ms of codec pre-echo); pauses of
    # 30-250 ms between words, none at the ends
    assert first < SR // 100 and len(audio) - last < SR // 100
    active = active[first:last]
    edges = np.flatnonzero(np.diff(active.astype(int))) + 1
    runs = np.split(np.arange(len(active)), edges)
    voiced = [len(r) / SR for r in runs if active[r[0]]]
    pauses = [len(r) / SR for r in runs if not active[r[0]]]
    assert len(voiced) == len(pauses) + 1 >= 5
    assert all(abs(v - 0.4) < 0.03 for v in voiced[1:-1])
    assert all(0.03 - 0.01 <= p <= 0.25 + 0.02 for p in pauses)
    assert abs(np.sqrt(np.mean(audio[first:last][active] ** 2)) - 1.0) < 0.05  # words at unit RMS
    assert abs(dominant_hz(audio[: int(0.4 * SR)]) - 300) < 15  # resampled to 8 kHz, same pitch


def test_kde_utterances_are_reproducible_and_speed_factors_add_voices(tmp_path):
    pkg = _kde_package(tmp_path, "klettres-data", "usr/share/klettres", {"en": 300, "fr": 500})
    voices = index_voices([pkg])
    utts = kde_utterances(
        voices, ["klettres-fr"], 3, np.random.default_rng(0), speed_factors=(1.2,)
    )
    assert [u.speaker for u in utts] == ["kde_klettres-fr"] * 3 + ["kde_klettres-fr@1.2"] * 3
    assert len({u.utt_id for u in utts}) == 6
    first, sr = utts[0].load()
    again, _ = utts[0].load()
    np.testing.assert_array_equal(first, again)
    assert sr == SR and 3.0 <= len(first) / SR <= 6.5
    fast, _ = utts[3].load()
    assert abs(dominant_hz(fast[: int(0.3 * SR)]) - 500 * 1.2) < 20


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


def _tone_csv(folder, lengths, hz=400.0):
    """A sep_clean csv whose every source is a ``hz`` tone (rows of ``lengths`` seconds)."""
    folder.mkdir(parents=True)
    rows = []
    for k, seconds in enumerate(lengths):
        paths = []
        for i in (1, 2):
            paths.append(str(folder / f"r{k}_s{i}.wav"))
            sf.write(paths[-1], tone(hz, seconds), SR, subtype="FLOAT")
        mix = str(folder / f"r{k}_mix.wav")
        sf.write(mix, 2 * tone(hz, seconds), SR, subtype="FLOAT")
        rows.append([f"r{k}", mix, *paths, int(seconds * SR)])
    columns = ["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "mixture_train_mix_clean.csv", index=False)
    return str(folder)


def test_speed_perturbation_scales_each_sources_pitch_within_the_range(tmp_path):
    csv = _tone_csv(tmp_path / "long", [2.0] * 4)
    np.random.seed(0)
    ds = DynamicMixDataset(csv, "sep_clean", SR, segment=0.5, speed_range=0.15)
    speeds = []
    for _ in range(40):
        mix, src = ds[0]
        assert src.shape == (2, 4000) and abs(float(src[:, -1].abs().max())) > 0  # no padding
        np.testing.assert_allclose(mix.numpy(), src.sum(0).numpy(), atol=1e-6)
        speeds += [dominant_hz(s.numpy()) / 400.0 for s in src]
    # pitch scales with speed: 0.85-1.15 in steps of 1/40 (2 Hz frequency bins at 0.5 s)
    assert 0.85 - 0.01 <= min(speeds) < 0.92 and 1.08 < max(speeds) <= 1.15 + 0.01
    assert ds.get_infos()["speed_range"] == 0.15
    plain = DynamicMixDataset(csv, "sep_clean", SR, segment=0.5)
    assert all(abs(dominant_hz(s.numpy()) - 400) <= 2 for _ in range(5) for s in plain[0][1])
    # Sources no longer than the segment can only be slowed down (no padding needed).
    short = DynamicMixDataset(
        _tone_csv(tmp_path / "short", [0.5] * 3), "sep_clean", SR, segment=0.5, speed_range=0.15
    )
    assert max(dominant_hz(s.numpy()) for _ in range(20) for s in short[0][1]) <= 400 + 2
    with pytest.raises(ValueError, match="speed_range"):
        DynamicMixDataset(csv, "sep_clean", SR, segment=0.5, speed_range=0.6)


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
