"""Stage 0 and 1 on incomplete, interrupted or mismatched data: what is reused, resumed or
refused (exit 2, one line naming the path), on fake corpora of a few 1-2 s files."""

import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from corpus import librispeech, metadata, prepare_data, real_speech
from corpus.corpora import LIBRI2MIX, MINI, WHAM
from corpus.generate import Utterance, write_split
from corpus.metadata import write_metadata
from _recipe_helpers import (
    PYTHON,
    env,
    harmonic_speaker_utterances,
    make_libri2mix_ingredients,
    make_tiny_corpus,
)


@pytest.fixture
def small_libri2mix(monkeypatch):
    """Libri2Mix sizes of 2 mixtures per split, for stage 0's own (default-size) call."""
    for split, (subset, noise, _) in list(librispeech.SPLITS.items()):
        monkeypatch.setitem(librispeech.SPLITS, split, (subset, noise, 2))


def stage0(capsys, caplog, storage, *options):
    """``corpus.prepare_data.main`` in this process: (exit status, everything it said)."""
    caplog.clear()
    rc = prepare_data.main(["--storage_dir", str(storage), *options])
    out = capsys.readouterr()
    return rc, out.out + out.err + caplog.text


def user_copy(storage, folder, corpus, sample_rate=8000, n_mix=2):
    """A corpus layout at ``sample_rate`` written by someone else (no generation record)."""
    rng = np.random.default_rng(0)
    for split in corpus.splits:
        write_split(
            os.path.join(storage, folder),
            split,
            harmonic_speaker_utterances(n_speakers=2, per_speaker=2, sr=sample_rate),
            n_mix,
            [sample_rate],
            rng,
            noise_fn=lambda n, sr: 0.01 * rng.standard_normal(n).astype(np.float32),
        )


def wav_names(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".wav"))


def test_interrupted_libri2mix_generation_is_resumed_not_reused(
    tmp_path, monkeypatch, small_libri2mix, capsys, caplog
):
    storage = tmp_path / "st"
    make_libri2mix_ingredients(storage)
    real_write_split, mixed = librispeech.write_split, []

    def killed_in_test(root, split, *args, **kwargs):  # a kill after test's first mixture
        mixed.append(split)
        if split == "test":
            real_write_split(root, split, args[0], 1, *args[2:], **kwargs)
            raise KeyboardInterrupt
        return real_write_split(root, split, *args, **kwargs)

    monkeypatch.setattr(librispeech, "write_split", killed_in_test)
    with pytest.raises(KeyboardInterrupt):
        stage0(capsys, caplog, storage, "--dataset", "libri2mix")
    out = storage / "Libri2Mix"
    # Every folder holds wav files: the old check took this for a complete corpus.
    assert not LIBRI2MIX.missing_folders(str(storage), 8000)
    assert (out / librispeech.IN_PROGRESS).is_file() and not (out / librispeech.RECORD).exists()

    def recorded(root, split, *args, **kwargs):
        mixed.append(split)
        return real_write_split(root, split, *args, **kwargs)

    mixed.clear()
    monkeypatch.setattr(librispeech, "write_split", recorded)
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix")
    assert rc == 0 and "Resuming the interrupted Libri2Mix generation" in said
    assert mixed == ["test"]  # the finished splits are kept
    assert json.loads((out / librispeech.RECORD).read_text())["test"]["written"] == 2
    assert not (out / librispeech.IN_PROGRESS).exists()

    # The resumed set is the one an uninterrupted generation writes (one generator per split).
    fresh = tmp_path / "fresh"
    make_libri2mix_ingredients(fresh)
    librispeech.generate_libri2mix(str(fresh))
    for split in LIBRI2MIX.splits:
        for sub in LIBRI2MIX.split_folders():
            rel = os.path.join("Libri2Mix", "wav8k", "min", split, sub)
            assert wav_names(storage / rel) == wav_names(fresh / rel)
            for name in wav_names(fresh / rel):  # the same pairs, gains and crops
                resumed, _ = sf.read(storage / rel / name)
                assert np.array_equal(resumed, sf.read(fresh / rel / name)[0]), (rel, name)

    mixed.clear()
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix")
    assert rc == 0 and "reusing it" in said and mixed == []
    # A finished generation missing files (its record says how many) is not reused either.
    (out / "wav8k" / "min" / "dev" / "s1" / wav_names(out / "wav8k/min/dev/s1")[0]).unlink()
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix")
    assert rc == 2 and "dev/s1 (1 of 2 files)" in said and mixed == []


def test_a_users_libri2mix_is_reused_and_never_mixed_into(
    tmp_path, small_libri2mix, capsys, caplog
):
    storage = tmp_path / "st"
    user_copy(storage, "Libri2Mix", LIBRI2MIX, 8000)
    make_libri2mix_ingredients(storage)  # ingredients too: the old stage 0 mixed into the copy
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix")
    assert rc == 0 and "reusing it" in said
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix", "--sample_rate", "16000")
    assert rc == 2 and "wav16k" in said and "not mixed by stage 0" in said
    assert not (storage / "Libri2Mix" / "wav16k").exists()
    assert sorted(os.listdir(storage / "Libri2Mix")) == ["wav8k"]


def test_a_sample_rate_the_corpus_lacks_is_refused_before_anything_is_written(
    tmp_path, small_libri2mix, capsys, caplog
):
    storage = tmp_path / "st"
    make_libri2mix_ingredients(storage)
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix", "--sample_rate", "22050")
    assert rc == 2 and "--sample_rate 22050" in said and "8000 or 16000 Hz only" in said
    assert not (storage / "Libri2Mix").exists()
    rc, said = stage0(capsys, caplog, storage, "--dataset", "lrs2mix", "--sample_rate", "8000")
    assert rc == 2 and "lrs2mix exists at 16000 Hz only" in said


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("empty_test", "test: No LibriSpeech .flac files under {st}/LibriSpeech/test-clean"),
        ("one_speaker_dev", "dev: {st}/LibriSpeech/dev-clean has 1 speaker(s), mixing needs 2"),
        ("empty_noise_tt", "test: no WHAM! noise .wav files under {st}/wham_noise/tt"),
    ],
)
def test_missing_ingredients_stop_stage0_before_any_mixing(
    tmp_path, damage, expected, small_libri2mix, capsys, caplog
):
    storage = tmp_path / "st"
    make_libri2mix_ingredients(storage)
    if damage == "empty_test":
        for spk in os.listdir(storage / "LibriSpeech" / "test-clean"):
            shutil.rmtree(storage / "LibriSpeech" / "test-clean" / spk)
    elif damage == "one_speaker_dev":
        for spk in ("26", "27"):
            shutil.rmtree(storage / "LibriSpeech" / "dev-clean" / spk)
    else:
        (storage / "wham_noise" / "tt" / "n.wav").unlink()
    rc, said = stage0(capsys, caplog, storage, "--dataset", "libri2mix")
    assert rc == 2 and expected.format(st=storage) in said
    assert "Traceback" not in said
    assert not (storage / "Libri2Mix" / "wav8k").exists()  # nothing mixed


def test_an_unknown_dataset_is_one_line_exit_2(tmp_path):
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "corpus.prepare_data",
            "--dataset",
            "librimix",
            "--storage_dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert out.returncode == 2 and "Unknown dataset 'librimix'" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_reused_corpus_needs_its_noise_folder(tmp_path, capsys, caplog):
    storage = tmp_path / "st"
    user_copy(storage, "wham", WHAM, 8000)
    rc, said = stage0(capsys, caplog, storage, "--dataset", "wham")
    assert rc == 0 and "reusing it" in said
    shutil.rmtree(storage / "wham" / "wav8k" / "min" / "tt" / "noise")
    rc, said = stage0(capsys, caplog, storage, "--dataset", "wham")
    assert rc == 2 and f"{storage}/wham/wav8k/min/tt/noise" in said


def test_missing_data_instructions_follow_the_sample_rate(tmp_path, capsys, caplog):
    rc, said = stage0(capsys, caplog, tmp_path, "--dataset", "libri2mix", "--sample_rate", "16000")
    assert rc == 2 and "Libri2Mix/wav16k/min/" in said and "wav8k" not in said
    rc, said = stage0(capsys, caplog, tmp_path, "--dataset", "wham", "--sample_rate", "16000")
    assert rc == 2 and "wham/wav16k/min/" in said and "wav8k" not in said


def test_stereo_librispeech_is_mixed_from_its_first_channel(tmp_path):
    make_libri2mix_ingredients(tmp_path, channels=2)
    counts = librispeech.generate_libri2mix(str(tmp_path), n_mixtures={"test": 2}, splits=("test",))
    assert counts["test"] == {"written": 2, "too_short": 0, "silent": 0}
    # A loader that returns several channels is an error, not a "silent" source.
    stereo = [
        Utterance(f"u{k}", f"s{k}", lambda: (np.ones((8000, 2), np.float32), 8000))
        for k in range(2)
    ]
    with pytest.raises(ValueError, match=r"u\d \(speaker s\d\) loaded with shape \(8000, 2\)"):
        write_split(str(tmp_path / "x"), "test", stereo, 1, [8000], np.random.default_rng(0))


def test_a_failed_stage1_leaves_the_earlier_csvs_untouched(tmp_path):
    make_tiny_corpus(str(tmp_path / "a"), n_mix=(4, 2, 2))
    write_metadata(MINI, str(tmp_path / "a"), 8000, str(tmp_path / "data"))
    before = {p: p.read_text() for p in sorted((tmp_path / "data").rglob("*.csv"))}
    make_tiny_corpus(str(tmp_path / "b"), n_mix=(3, 2, 2), seed=5)
    shutil.rmtree(tmp_path / "b" / "MiniLibri2Mix" / "wav8k" / "min" / "test" / "s2")
    with pytest.raises(FileNotFoundError, match="test/s2"):
        write_metadata(MINI, str(tmp_path / "b"), 8000, str(tmp_path / "data"))
    after = {p: p.read_text() for p in sorted((tmp_path / "data").rglob("*.csv"))}
    assert after == before  # train and dev still list corpus a, like test


def _speakers_dir(root, first_speaker):
    for s in range(2):
        folder = root / str(first_speaker + s)
        folder.mkdir(parents=True)
        t = np.arange(int(1.5 * 16000)) / 16000
        for u in range(2):
            tone = 0.3 * np.sin(2 * np.pi * (150 + 60 * s + 10 * u) * t)
            sf.write(folder / f"{first_speaker + s}-7-{u:04d}.flac", tone, 16000)
    return str(root)


def test_the_real_speech_set_is_rebuilt_when_its_source_changes(tmp_path, capsys):
    out = str(tmp_path / "real")
    first = _speakers_dir(tmp_path / "a", 100)
    second = _speakers_dir(tmp_path / "b", 200)
    argv = ["--out_dir", out, "--n_mixtures", "2", "--max_seconds", "1"]
    assert real_speech.main(["--librispeech_dir", first, *argv]) == 0
    assert real_speech.main(["--librispeech_dir", first, *argv]) == 0
    assert "keeping it" in capsys.readouterr().out
    assert real_speech.main(["--librispeech_dir", second, *argv]) == 0
    said = capsys.readouterr().out
    assert "rebuilding it" in said and f"source '{first}' -> '{second}'" in said
    summary = json.loads((tmp_path / "real" / "real_speech.json").read_text())
    assert summary["source"] == second
    df = pd.read_csv(os.path.join(summary["test_dir"], "mixture_test_mix_clean.csv"))
    assert len(df) == 2 and all(i.startswith("20") for i in df.mixture_ID)  # no old mixtures
    assert real_speech.main(["--librispeech_dir", second, *argv, "--seed", "1"]) == 0
    assert "seed 0 -> 1" in capsys.readouterr().out


def test_stage1_refuses_a_partly_copied_split(tmp_path, capsys):
    """WHAM! tt/mix_both with 2 of its 3 files missing was listed as a 1-mixture test set (a
    headline SI-SNRi on 1 utterance); every folder of a split must hold the same files."""
    storage = tmp_path / "st"
    user_copy(storage, "wham", WHAM, 8000, n_mix=3)
    root = storage / "wham" / "wav8k" / "min"
    argv = ["--dataset", "wham", "--storage_dir", str(storage), "--out_dir", str(tmp_path / "d")]
    assert metadata.main(argv) == 0
    written = {p: p.read_text() for p in sorted((tmp_path / "d").rglob("*.csv"))}
    assert len(pd.read_csv(tmp_path / "d" / "tt" / "mixture_tt_mix_both.csv")) == 3
    names = wav_names(root / "tt" / "mix_both")
    for name in names[:2]:
        (root / "tt" / "mix_both" / name).unlink()
    capsys.readouterr()
    assert metadata.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after tqdm's bars, one line
    assert err.startswith("Data error: ")
    assert f"{root}/tt/mix_both/{names[0]} is missing, but {root}/tt/mix_clean/{names[0]}" in err
    assert "2 of the split's 3 file names are not in mix_both/" in err
    assert {p: p.read_text() for p in sorted((tmp_path / "d").rglob("*.csv"))} == written
    # An extra file in one folder (here a source) is named too.
    for name in names[:2]:
        shutil.copy(root / "tt" / "mix_clean" / name, root / "tt" / "mix_both" / name)
    shutil.copy(root / "cv" / "s1" / wav_names(root / "cv" / "s1")[0], root / "cv" / "s1" / "x.wav")
    assert metadata.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{root}/cv/mix_clean/x.wav is missing, but {root}/cv/s1/x.wav exists" in err
    (root / "cv" / "s1" / "x.wav").unlink()
    (root / "tr" / "noise" / wav_names(root / "tr" / "noise")[-1]).unlink()  # noise too
    assert metadata.main(argv) == 2
    assert "not in noise/" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["wham", "lrs2mix", "libri2mix"])
def test_stage0_checks_a_corpus_without_creating_storage_dir(tmp_path, dataset, capsys, caplog):
    """Corpora stage 0 only checks (or finds missing) leave no empty folder behind a typo."""
    storage = tmp_path / "typo" / "storage"
    rate = "16000" if dataset == "lrs2mix" else "8000"
    rc, said = stage0(capsys, caplog, storage, "--dataset", dataset, "--sample_rate", rate)
    assert rc == 2 and "was not found under" in said
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("dataset", ["mini", "wham", "libri2mix"])
def test_stage0_storage_dir_under_a_file_is_one_line(tmp_path, dataset, capsys, caplog):
    """A --storage_dir that cannot be made (here under a file; an unwritable parent alike)
    is a one-line Data error naming the path, not a NotADirectoryError traceback."""
    (tmp_path / "afile").write_text("")
    storage = tmp_path / "afile" / "storage"
    rc, said = stage0(capsys, caplog, storage, "--dataset", dataset)
    assert rc == 2 and "Traceback" not in said
    if dataset == "mini":  # the only one that writes here
        line = [x for x in said.splitlines() if x.startswith("Data error: ")]
        assert line == [f"Data error: {storage}: Not a directory (--storage_dir {storage})"]
    else:
        assert "was not found under" in said
