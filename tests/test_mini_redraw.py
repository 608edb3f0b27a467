"""The mini dataset has exactly the requested number of mixtures: a pair with a silent
source is replaced by another draw, not dropped."""

import numpy as np
import pytest

from corpus.generate import Utterance
from corpus.mini import build, espeak_bank

SR = 8000


def _fake_speakers(n_speakers, rng):
    return [{"speaker": f"voice{i}"} for i in range(n_speakers)]


def _fake_utterances(speakers, utts_per_speaker, rng):
    """1.5 s tones; every third utterance is silence (as a failed synthesis would give)."""
    utterances = []
    for s, spk in enumerate(speakers):
        for k in range(utts_per_speaker):
            t = np.arange(int(1.5 * SR)) / SR
            audio = 0.1 * np.sin(2 * np.pi * (120 + 30 * s) * t) if k % 3 else 0 * t
            utterances.append(
                Utterance(
                    f"{spk['speaker']}-{k}",
                    spk["speaker"],
                    lambda a=audio.astype(np.float32): (a, SR),
                )
            )
    return utterances


def test_silent_sources_are_redrawn(tmp_path, monkeypatch):
    monkeypatch.setattr(espeak_bank, "espeak_speakers", _fake_speakers)
    monkeypatch.setattr(espeak_bank, "espeak_utterances", _fake_utterances)
    info = build.build_mini(
        str(tmp_path),
        source="espeak",
        n_espeak_speakers=12,
        utts_per_speaker=3,
        n_train=4,
        n_dev=4,
        n_test=20,
        noise=False,
    )
    test_dir = tmp_path / "wav8k" / "min" / "test"
    assert info["mixtures"]["test"] == 20 == len(list((test_dir / "mix_clean").glob("*.wav")))
    assert info["not_written"]["test"]["silent"] > 0  # silent pairs were drawn, and replaced
    for split in ("train", "dev"):
        assert info["mixtures"][split] == 4


def _tone_utterances(prefix, names, per_name=2):
    return [
        Utterance(
            f"{prefix}-{n}-{k}",
            f"{prefix}_{n}",
            lambda f=120 + 10 * i: ((0.1 * np.sin(2 * np.pi * f * np.arange(12000) / SR)), SR),
        )
        for i, n in enumerate(names)
        for k in range(per_name)
    ]


def _patch_sources(monkeypatch, asterisk=True, kde=True, uqm=True, fillets=True):
    """Fake Asterisk (7 speakers), KDE (12 voices), Ur-Quan Masters (8 voices), Fish Fillets
    (4 voices) and eSpeak NG (12 voices) groups; ``asterisk`` / ``kde`` / ``uqm`` /
    ``fillets`` False: that download fails."""
    from corpus.mini import fillets_bank, kde_bank, real_bank, uqm_bank

    def fetch(dest, packages=tuple(real_bank.PACKAGES)):
        group = "asterisk"
        for name, bank in (("kde", kde_bank), ("uqm", uqm_bank), ("fillets", fillets_bank)):
            if set(packages) <= set(bank.PACKAGES):
                group = name
        if not dict(kde=kde, uqm=uqm, fillets=fillets, asterisk=asterisk)[group]:
            raise real_bank.RealSpeechUnavailable(f"no network for {packages[0]}")
        return [group]

    monkeypatch.setattr(real_bank, "fetch_packages", fetch)
    monkeypatch.setattr(real_bank, "index_speakers", lambda d: {f"a{i}": {} for i in range(7)})
    monkeypatch.setattr(
        real_bank, "real_utterances", lambda s, n, *a, **k: _tone_utterances("r", n)
    )
    monkeypatch.setattr(kde_bank, "index_voices", lambda d: {f"k{i}": {} for i in range(12)})
    monkeypatch.setattr(kde_bank, "kde_utterances", lambda v, n, *a, **k: _tone_utterances("k", n))
    monkeypatch.setattr(kde_bank, "kde_words", lambda v, n, *a, **k: _tone_utterances("w", n))
    monkeypatch.setattr(uqm_bank, "index_voices", lambda d: {f"u{i}": {} for i in range(8)})
    monkeypatch.setattr(uqm_bank, "uqm_utterances", lambda v, n, *a, **k: _tone_utterances("u", n))
    monkeypatch.setattr(fillets_bank, "index_voices", lambda d: {f"f{i}": [] for i in range(4)})
    monkeypatch.setattr(
        fillets_bank, "fillets_utterances", lambda v, n, *a, **k: _tone_utterances("f", n)
    )
    monkeypatch.setattr(espeak_bank, "espeak_speakers", _fake_speakers)
    monkeypatch.setattr(espeak_bank, "espeak_utterances", _fake_utterances)


@pytest.mark.parametrize(
    "source, asterisk, kde, uqm, used",
    [
        ("auto", True, True, True, ["espeak", "fillets", "kde", "real", "uqm"]),
        ("auto", False, True, True, ["espeak", "fillets", "kde", "uqm"]),  # failed: noted
        ("auto", True, True, False, ["espeak", "fillets", "kde", "real"]),
        ("auto", False, False, False, ["espeak", "fillets"]),
        ("real", True, False, True, ["fillets", "real", "uqm"]),
        ("espeak", True, True, True, ["espeak"]),
    ],
)
def test_sources_used_by_each_mini_source_choice(
    tmp_path, monkeypatch, source, asterisk, kde, uqm, used
):
    _patch_sources(monkeypatch, asterisk, kde, uqm)
    sizes = dict(n_espeak_speakers=12, utts_per_speaker=3, n_train=4, n_dev=2, n_test=2)
    info = build.build_mini(
        str(tmp_path), source=source, noise=False, uqm_utts_per_voice=2, **sizes
    )
    assert info["sources_used"] == used
    assert sorted(info["n_speakers"]["train"]) == used
    if not asterisk:
        assert any("real recordings unavailable: no network" in n for n in info["notes"])
    if not kde and source != "espeak":
        assert any("KDE word recordings unavailable: no network" in n for n in info["notes"])
    if not uqm and source != "espeak":
        assert any("Ur-Quan Masters voices unavailable: no network" in n for n in info["notes"])
    if "uqm" in used:  # its non-commercial licence is recorded for the model card
        assert "CC-BY-NC-SA-2.5" in info["licences"]["uqm"]["uqm-voice"]


def test_uqm_voices_are_opt_in(tmp_path, monkeypatch):
    _patch_sources(monkeypatch)
    sizes = dict(n_espeak_speakers=12, utts_per_speaker=3, n_train=4, n_dev=2, n_test=2)
    info = build.build_mini(str(tmp_path), noise=False, **sizes)  # the default: left out
    assert info["sources_used"] == ["espeak", "fillets", "kde", "real"]
    assert info["licences"]["uqm"] == {}


def test_real_only_without_the_real_recordings_says_why(tmp_path, monkeypatch):
    from corpus.mini.real_bank import RealSpeechUnavailable

    _patch_sources(monkeypatch, asterisk=False, kde=True)
    with pytest.raises(RealSpeechUnavailable, match="no network for asterisk-core-sounds-en-wav"):
        build.build_mini(str(tmp_path), source="real")
