"""Fish Fillets NG's dubbed heroes in the mini set: which files are a voice, what an
utterance is, and a train-only group that leaves the other groups' speakers as they were.

No network: fake packages laid out as Debian's ``fillets-ng-data-cs`` / ``-nl``.
"""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_mini_redraw import _patch_sources
from test_mini_uqm_voices import dominant_hz, ogg_line

from corpus.mini import build
from corpus.mini.fillets_bank import index_voices, fillets_utterances

SR = 8000
GAME_SR = 22050


def fake_fillets_package(root, lang, heroes, n_lines=12, seconds=2.0):
    """``<root>/fillets-ng-data-<lang>`` with ``<level>/<lang>/<prefix>-<hero>-<line>.ogg``
    lines (hero -> tone frequency) split over two levels, plus lines of other characters and
    hero files without a line name (which are no voice)."""
    pkg = root / f"fillets-ng-data-{lang}"
    for hero, hz in heroes.items():
        for k in range(n_lines):
            level = ("city", "kitchen")[k % 2]
            folder = pkg / "usr/share/games/fillets-ng/sound" / level / lang
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{level[:3]}-{hero}-line{k}.ogg").write_bytes(
                ogg_line(hz, seconds, sr=GAME_SR)
            )
    other = pkg / "usr/share/games/fillets-ng/sound/city" / lang
    other.mkdir(parents=True, exist_ok=True)
    for k in range(12):
        (other / f"vit-hs-news{k}.ogg").write_bytes(ogg_line(900, 1.0, sr=GAME_SR))
    (other / "vit-m.ogg").write_bytes(ogg_line(900, 1.0, sr=GAME_SR))
    return str(pkg)


def test_a_hero_of_each_dubbing_is_a_voice(tmp_path):
    cs = fake_fillets_package(tmp_path, "cs", {"m": 300, "v": 150})
    nl = fake_fillets_package(tmp_path, "nl", {"m": 320, "v": 4000}, n_lines=4)
    voices = index_voices([cs, nl], min_lines=10)
    assert sorted(voices) == ["fillets-cs-m", "fillets-cs-v"]  # nl: too few lines
    assert len(voices["fillets-cs-m"]) == 12
    assert all("-m-line" in p and "/cs/" in p for p in voices["fillets-cs-m"])
    assert sorted(index_voices([cs, nl], min_lines=4)) == [
        "fillets-cs-m",
        "fillets-cs-v",
        "fillets-nl-m",
        "fillets-nl-v",
    ]


def test_utterances_are_trimmed_resampled_lines_of_one_voice(tmp_path):
    pkg = fake_fillets_package(tmp_path, "cs", {"m": 300, "v": 500}, seconds=3.0)
    voices = index_voices([pkg])
    rng = np.random.default_rng(0)
    utts = fillets_utterances(voices, ["fillets-cs-v"], 3, rng, sample_rate=SR)
    assert len(utts) == 3 and {u.speaker for u in utts} == {"fillets_cs_v"}
    assert len({u.utt_id for u in utts}) == 3
    for u in utts:
        audio, sr = u.load()
        assert sr == SR
        # the 3 s tone without its 2 x 0.3 s of silence (codec pre-echo: tens of ms kept)
        assert abs(len(audio) - 3 * SR) < 0.05 * SR
        assert abs(dominant_hz(audio) - 500) < 5  # 22,050 Hz -> 8 kHz keeps the pitch
    every = fillets_utterances(voices, ["fillets-cs-m", "fillets-cs-v"], 0, rng, sample_rate=SR)
    assert len(every) == 24  # 0: every line
    # A line of no samples (two stereo files of the Dutch package) is an empty utterance,
    # which the writers of mixtures and sources leave out as silent.
    sf.write(voices["fillets-cs-m"][0], np.zeros((0, 2), np.float32), GAME_SR, format="OGG")
    empty = [u for u in every if u.utt_id.endswith("-line0")][0].load()[0]
    assert empty.shape == (0,)


def test_the_group_trains_only_and_leaves_the_other_groups_as_they_were(tmp_path, monkeypatch):
    _patch_sources(monkeypatch)
    sizes = dict(n_espeak_speakers=12, utts_per_speaker=3, n_train=6, n_dev=3, n_test=3)
    plain = build.build_mini(
        str(tmp_path / "plain"), noise=False, fillets_utts_per_voice=0, **sizes
    )
    info = build.build_mini(
        str(tmp_path / "fillets"), noise=False, fillets_utts_per_voice=2, **sizes
    )
    assert plain["sources_used"] == ["espeak", "kde", "real"]
    assert info["sources_used"] == ["espeak", "fillets", "kde", "real"]
    assert info["n_speakers"]["train"]["fillets"] == 4  # every voice trains
    assert info["n_speakers"]["dev"]["fillets"] == info["n_speakers"]["test"]["fillets"] == 0
    assert "GPL-2" in info["licences"]["fillets"]["fillets-ng-data-cs"]
    for split in ("dev", "test"):  # the same speakers; no Fish Fillets line in a mixture
        assert info["speakers"][split] == {**plain["speakers"][split], "fillets": []}
        mixtures = (tmp_path / "fillets" / "wav8k" / "min" / split / "mix_clean").glob("*.wav")
        assert not any("f-f" in wav.name for wav in mixtures)
    train = info["speakers"]["train"]
    assert {k: v for k, v in train.items() if k != "fillets"} == plain["speakers"]["train"]
    sources = pd.read_csv(
        tmp_path / "fillets" / "wav8k" / "min" / "train" / "sources" / "index.csv"
    )
    assert sources["speaker"].str.startswith("f_").sum() == 2 * 4  # whole lines for mixing


def test_train_only_voices_alone_cannot_make_a_dataset(tmp_path, monkeypatch):
    _patch_sources(monkeypatch, asterisk=False, kde=False)
    with pytest.raises(RuntimeError, match="Only train-only voices \\(fillets\\)"):
        build.build_mini(str(tmp_path), n_espeak_speakers=0, fillets_utts_per_voice=2)
