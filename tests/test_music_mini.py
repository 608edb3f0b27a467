"""The mini music set (MUSDB18-HQ layout) built from Debian and PyPI packages.

The builds need ``apt-get download`` (Debian's registry) and the PyPI package
``tinysoundfont``; without them those tests are skipped with the reason. Downloads are kept
in one directory for the whole module, so only the first build fetches (about 8 MB).
"""

import json
import sys

import numpy as np
import pytest
import soundfile as sf

from corpus.music import MusicUnavailable, build

STEMS = ("mixture", "vocals", "drums", "bass", "other")
# The two smallest prompt packages (about 2.5 MB): one speaker each, one for train, one test.
OPTIONS = dict(
    n_train=2,
    n_test=1,
    seconds=3.0,
    seed=0,
    voice_packages=("asterisk-prompt-es-co", "asterisk-prompt-fr-armelle"),
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("music_downloads"))


def _build(out_dir, cache_dir, **options):
    try:
        return build.build_music(str(out_dir), cache_dir=cache_dir, **{**OPTIONS, **options})
    except MusicUnavailable as err:
        pytest.skip(f"music set sources unavailable: {err}")


@pytest.fixture(scope="module")
def built(tmp_path_factory, cache_dir):
    out_dir = tmp_path_factory.mktemp("music")
    return out_dir, _build(out_dir, cache_dir)


def _songs(out_dir):
    return {
        split: sorted(p.name for p in (out_dir / split).iterdir()) for split in ("train", "test")
    }


def _mtimes(out_dir):
    return {str(p): p.stat().st_mtime_ns for p in out_dir.glob("*/*/*.wav")}


def test_layout_is_musdb18hq_at_44k1_stereo(built):
    out_dir, info = built
    songs = _songs(out_dir)
    assert {k: len(v) for k, v in songs.items()} == {"train": 2, "test": 1}
    assert songs == {k: sorted(v) for k, v in info["splits"].items()}
    for split, names in songs.items():
        for name in names:
            assert sorted(p.name for p in (out_dir / split / name).iterdir()) == sorted(
                f"{s}.wav" for s in STEMS
            )
            for stem in STEMS:
                meta = sf.info(str(out_dir / split / name / f"{stem}.wav"))
                assert (meta.samplerate, meta.channels, meta.frames) == (44100, 2, 3 * 44100)


def test_mixture_is_the_sum_of_the_stems(built):
    out_dir, _ = built
    for folder in out_dir.glob("*/*"):
        audio = {s: sf.read(str(folder / f"{s}.wav"))[0] for s in STEMS}
        total = audio["vocals"] + audio["drums"] + audio["bass"] + audio["other"]
        np.testing.assert_allclose(audio["mixture"], total, rtol=0, atol=1e-6)
        assert 0.5 < np.abs(audio["mixture"]).max() < 1.0  # levelled, never clipped


def test_stems_sound_and_vocals_have_silent_passages(built):
    out_dir, _ = built
    hop = 44100 // 20  # 50 ms frames
    for folder in out_dir.glob("*/*"):
        for stem in STEMS:
            audio = sf.read(str(folder / f"{stem}.wav"))[0].mean(axis=1)
            frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
            rms = np.sqrt(np.mean(frames**2, axis=1))
            assert rms.max() > 0.01, f"{folder.name}/{stem} is silent"
            if stem == "vocals":
                # an instrumental intro and a break between phrases, speech in between
                assert np.mean(rms < 1e-4) >= 0.1 and np.mean(rms > 0.01) >= 0.3


def test_dataset_json_records_options_speakers_and_licences(built):
    out_dir, info = built
    with open(out_dir / "dataset.json") as f:
        assert json.load(f) == info
    assert info["layout"] == "MUSDB18-HQ"
    assert info["sample_rate"] == 44100 and info["channels"] == 2
    assert info["seconds"] == 3.0 and info["seed"] == 0
    assert info["sources"] == ["vocals", "drums", "bass", "other"]
    assert info["options"]["n_train"] == 2 and info["options"]["soundfont"] == "timgm6mb"
    assert info["options"]["voice_packages"] == list(OPTIONS["voice_packages"])
    assert set(info["licences"]["vocals"]) == set(OPTIONS["voice_packages"])
    assert "GPL-2" in info["licences"]["accompaniment"]["timgm6mb-soundfont"]
    assert "tinysoundfont" in info["licences"]["renderer"]
    for split in ("train", "test"):
        for song in info["songs"][split]:
            assert set(song["instruments"]) == {"drums", "bass", "other"}
            assert -6 <= song["vocal_db"] <= 0 and song["vocals"]["phrases"]


def test_train_and_test_speakers_are_disjoint(built):
    _, info = built
    speakers = info["speakers"]
    assert speakers["train"] and speakers["test"]
    assert not set(speakers["train"]) & set(speakers["test"])
    for split in ("train", "test"):
        for song in info["songs"][split]:
            assert song["speaker"] in speakers[split]
            assert song["name"].startswith(f"{song['speaker']} - ")


def test_a_complete_build_is_reused_and_force_or_other_options_rebuild(tmp_path, cache_dir, capsys):
    first = _build(tmp_path, cache_dir)
    before = _mtimes(tmp_path)
    assert len(before) == 3 * len(STEMS)
    capsys.readouterr()
    assert _build(tmp_path, cache_dir) == first
    assert "reusing it" in capsys.readouterr().out
    assert _mtimes(tmp_path) == before

    code = build.main(
        ["--out_dir", str(tmp_path), "--cache_dir", cache_dir, "--force", "true"]
        + ["--n_train", "2", "--n_test", "1", "--seconds", "3"]
        + ["--voice_packages", ",".join(OPTIONS["voice_packages"])]
    )
    assert code == 0
    after = _mtimes(tmp_path)
    assert sorted(after) == sorted(before)
    assert all(after[p] > before[p] for p in before)
    with open(tmp_path / "dataset.json") as f:
        assert json.load(f)["splits"] == first["splits"]  # same options: same songs

    # An incomplete build (a stem lost) and another seed are rebuilt, not reused.
    (next(tmp_path.glob("test/*")) / "drums.wav").unlink()
    assert _build(tmp_path, cache_dir)["splits"] == first["splits"]
    assert len(_mtimes(tmp_path)) == 3 * len(STEMS)
    assert "reusing it" not in capsys.readouterr().out
    assert _build(tmp_path, cache_dir, seed=1)["seed"] == 1
    assert "reusing it" not in capsys.readouterr().out


def test_missing_tinysoundfont_is_one_line_naming_the_pin(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tinysoundfont", None)  # import fails as if missing
    code = build.main(["--out_dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == build.MISSING_PACKAGE
    assert err.count("\n") == 0
    assert "pip install --no-deps tinysoundfont==0.3.7" in err
    assert not (tmp_path / "dataset.json").exists()
    assert not (tmp_path / "downloads").exists()  # checked before anything is downloaded
