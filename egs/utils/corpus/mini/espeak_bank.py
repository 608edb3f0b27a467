"""Synthetic "speakers" from eSpeak NG: English accents x voice variants x pitch/rate."""

import logging
from typing import List

import numpy as np

from ..generate import Utterance
from .espeak import EspeakSynth
from .sentences import sentence

logger = logging.getLogger(__name__)

# English accents of espeak-ng-data/lang/gmw.
ACCENTS = [
    "en-US",
    "en",
    "en-GB-scotland",
    "en-GB-x-rp",
    "en-029",
    "en-US-nyc",
    "en-GB-x-gbclan",
    "en-GB-x-gbcwmd",
]
# Variants whose output is speech-like (the robotic / whispering ones are left out).
VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "Annie",
    "Alicia",
    "Andy",
    "Denis",
    "Gene",
    "Hugo",
    "Lee",
    "Mario",
    "Michael",
    "Mike",
    "Reed",
    "adam",
    "anika",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "ed",
    "edward",
    "grandma",
    "grandpa",
    "ian",
    "john",
    "linda",
    "max",
    "michel",
    "norbert",
    "quincy",
    "rob",
    "robert",
    "steph",
    "travis",
    "victor",
    "zac",
]


def espeak_speakers(n_speakers: int, rng: np.random.Generator) -> List[dict]:
    """``n_speakers`` distinct (voice, pitch, rate) settings; voice = accent+variant."""
    synth = EspeakSynth.get()
    available = set(synth.variants())
    variants = [v for v in VARIANTS if v in available]
    combos = [(a, v) for a in ACCENTS for v in variants]
    if n_speakers > len(combos):
        raise ValueError(f"At most {len(combos)} eSpeak NG speakers, asked {n_speakers}.")
    picks = rng.choice(len(combos), size=n_speakers, replace=False)
    speakers = []
    for k in picks:
        accent, variant = combos[k]
        speakers.append(
            dict(
                speaker=f"espeak_{accent}+{variant}",
                voice=f"{accent}+{variant}",
                pitch=int(rng.integers(25, 76)),
                rate=int(rng.integers(140, 201)),
                pitch_range=int(rng.integers(30, 81)),
                source="espeak-ng",
            )
        )
    return speakers


def espeak_utterances(
    speakers: List[dict], utts_per_speaker: int, rng: np.random.Generator
) -> List[Utterance]:
    """Synthesise ``utts_per_speaker`` random sentences per speaker (kept in memory)."""
    synth = EspeakSynth.get()
    utterances = []
    for spk in speakers:
        for i in range(utts_per_speaker):
            text = sentence(rng)
            audio = synth.synthesize(
                text, spk["voice"], spk["rate"], spk["pitch"], spk["pitch_range"]
            )
            audio = _trim_silence(audio)
            utt_id = f"{spk['speaker'].replace('+', '-')}-{i:03d}"
            # Bind the array now: a closure over the loop variable would see the last one.
            utterances.append(
                Utterance(utt_id, spk["speaker"], lambda a=audio: (a, synth.sample_rate))
            )
    return utterances


def _trim_silence(audio: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Drop leading/trailing near-silence so min-mode mixtures overlap fully."""
    active = np.flatnonzero(np.abs(audio) > threshold)
    return audio if len(active) == 0 else audio[active[0] : active[-1] + 1]
