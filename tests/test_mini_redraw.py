"""The mini dataset has exactly the requested number of mixtures: a pair with a silent
source is replaced by another draw, not dropped."""

import numpy as np

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
