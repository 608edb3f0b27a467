"""Drums, bass and "other" stems of a song, composed as note events and rendered with a
General MIDI SoundFont.

A song is a random key, tempo and four-chord progression; the bass plays a pattern on the
chord roots, the drums a pattern of a GM kit (percussion bank 128), "other" one or two
harmony parts (piano, organ, guitar, strings or pad; never choir or voice presets, which
would sound like vocals). Each part is rendered alone, so each stem holds only its notes.

Rendering: the PyPI package ``tinysoundfont`` (MIT; its ``pyaudio`` requirement is only for
live playback, so ``pip install --no-deps tinysoundfont==0.3.7`` is enough). SoundFonts come
from Debian packages fetched without root like the voice prompts
(:func:`corpus.mini.real_bank.fetch_packages`), see :data:`SOUNDFONTS`.
"""

import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..mini import real_bank
from . import MusicUnavailable

TINYSOUNDFONT_PIN = "tinysoundfont==0.3.7"
# name -> Debian package, SoundFont path inside it, licence (from its debian/copyright).
SOUNDFONTS: Dict[str, dict] = {
    "timgm6mb": dict(
        package="timgm6mb-soundfont",
        path="usr/share/sounds/sf2/TimGM6mb.sf2",
        licence="GPL-2 (TimGM6mb: Tim Brechbill 2004, David Bolton 2010; from MuseScore 1.3)",
        download_mb=5.4,
    ),
    "musescore": dict(
        package="musescore-general-soundfont-small",
        path="usr/share/sounds/sf3/MuseScore_General_Lite.sf3",
        licence="MIT, parts PD/CC0 (MuseScore_General: S. Christian Collins; Fluid R3: Frank Wen)",
        download_mb=34.2,
    ),
}
STEMS = ("drums", "bass", "other")
NOTE_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# Scale degrees (0 = tonic) of the four chords of a progression, one chord per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 0), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2)),
}
# GM programs (0-based) of each part; voice-like presets (52-54, 85, 91) are left out.
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 39)
HARMONY_PROGRAMS = {
    "piano": (0, 1, 2, 4, 5),
    "organ": (16, 17, 18),
    "guitar": (24, 25, 26, 27, 29),
    "strings": (48, 49, 50),
    "pad": (88, 89, 90, 94, 95),
}
DRUM_KITS = (0, 8, 16, 24, 25, 32)  # GM2 kits of bank 128; a missing one falls back to 0
# Drum patterns on a 16-step bar: instrument (GM percussion key) -> steps.
KICK, SNARE, HAT, OPEN_HAT, RIDE, CRASH = 36, 38, 42, 46, 51, 49
TOMS = (50, 48, 45, 43)
DRUM_PATTERNS = {
    "rock": {KICK: (0, 8), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "pop": {KICK: (0, 6, 8, 10), SNARE: (4, 12), HAT: tuple(range(0, 16, 2))},
    "halftime": {KICK: (0, 10), SNARE: (8,), HAT: tuple(range(0, 16, 2))},
    "disco": {KICK: (0, 4, 8, 12), SNARE: (4, 12), HAT: (0, 4, 8, 12), OPEN_HAT: (2, 6, 10, 14)},
    "busy": {KICK: (0, 7, 8, 11), SNARE: (4, 12), HAT: tuple(range(16))},
    "ride": {KICK: (0, 8, 11), SNARE: (4, 12), RIDE: (0, 3, 4, 6, 8, 11, 12, 14)},
}
# Bass patterns per bar: (start beat, length in beats, interval above the chord root).
BASS_PATTERNS = {
    "whole": ((0, 4, 0),),
    "quarters": tuple((b, 1, 0) for b in range(4)),
    "eighths": tuple((b / 2, 0.5, 0) for b in range(8)),
    "root_fifth": ((0, 1.5, 0), (1.5, 0.5, 0), (2, 1.5, 7), (3.5, 0.5, 12)),
    "syncopated": ((0, 0.75, 0), (0.75, 0.75, 0), (1.5, 1, 0), (2.5, 0.5, 7), (3, 1, 12)),
}


@dataclass
class Note:
    """One note: onset and length in seconds, MIDI key and velocity."""

    start: float
    duration: float
    key: int
    velocity: int


@dataclass
class Part:
    """The notes of one instrument and the stem they belong to."""

    stem: str
    name: str
    program: int
    pan: float  # -1 (left) .. 1 (right)
    is_drums: bool = False
    gain: float = 1.0
    notes: List[Note] = field(default_factory=list)

    def describe(self) -> dict:
        return dict(name=self.name, program=self.program, pan=round(self.pan, 2), gain=self.gain)


@dataclass
class Song:
    """What was drawn for a song (recorded in dataset.json) and its parts."""

    key: str
    mode: str
    tempo: float
    progression: List[str]
    drum_pattern: str
    bass_pattern: str
    parts: List[Part]

    def describe(self) -> dict:
        info = {k: v for k, v in asdict(self).items() if k != "parts"}
        info["tempo"] = round(self.tempo, 1)
        info["instruments"] = {s: [p.describe() for p in self.parts if p.stem == s] for s in STEMS}
        return info


def load_tinysoundfont():
    """The ``tinysoundfont`` module, or :class:`MusicUnavailable` saying how to install it."""
    try:
        import tinysoundfont
    except ImportError as err:
        raise MusicUnavailable(
            f"the PyPI package tinysoundfont is missing: pip install --no-deps {TINYSOUNDFONT_PIN}"
        ) from err
    return tinysoundfont


def fetch_soundfont(cache_dir: str, name: str) -> str:
    """Path of SoundFont ``name`` (:data:`SOUNDFONTS`), its Debian package unpacked under
    ``cache_dir`` (reused when already there)."""
    if name not in SOUNDFONTS:
        raise ValueError(f"Unknown SoundFont {name!r}; choose one of {sorted(SOUNDFONTS)}.")
    package = SOUNDFONTS[name]["package"]
    try:
        (pkg_dir,) = real_bank.fetch_packages(cache_dir, packages=(package,))
    except real_bank.RealSpeechUnavailable as err:
        raise MusicUnavailable(f"the SoundFont package {package} is unavailable: {err}") from err
    path = os.path.join(pkg_dir, SOUNDFONTS[name]["path"])
    if not os.path.isfile(path):
        raise MusicUnavailable(f"the Debian package {package} has no {SOUNDFONTS[name]['path']}")
    return path


def _chord(scale_root: int, mode: str, degree: int, seventh: bool) -> List[int]:
    """Pitch classes above ``scale_root`` (semitones, may exceed 12) of the diatonic triad
    (or seventh chord) on ``degree``."""
    scale = SCALES[mode]
    steps = (0, 2, 4, 6) if seventh else (0, 2, 4)
    return [scale_root + scale[(degree + s) % 7] + 12 * ((degree + s) // 7) for s in steps]


def _chord_name(chord: List[int]) -> str:
    """``"A"``, ``"Am"``, ``"Bdim"``, ``"Am7"``... of a chord from :func:`_chord`."""
    root = NOTE_NAMES[chord[0] % 12]
    third, fifth = chord[1] - chord[0], chord[2] - chord[0]
    if fifth == 6:
        return root + ("dim" if len(chord) == 3 else "m7b5")
    seventh = "" if len(chord) == 3 else ("maj7" if chord[3] - chord[0] == 11 else "7")
    return root + ("m" if third == 3 else "") + seventh


def _voicing(chord: List[int], low: int, high: int) -> List[int]:
    """The chord's notes, each moved by octaves into ``[low, high)``, sorted."""
    return sorted(low + (n - low) % 12 for n in chord if low + (n - low) % 12 < high)


def compose(seconds: float, rng: np.random.Generator) -> Song:
    """A random song of ``seconds``: key, tempo, progression and the parts' notes."""
    mode = str(rng.choice(list(SCALES)))
    root = int(rng.integers(12))
    tempo = float(rng.uniform(80, 140))
    beat = 60.0 / tempo
    bar = 4 * beat
    n_bars = int(np.ceil(seconds / bar))
    progression = PROGRESSIONS[mode][rng.integers(len(PROGRESSIONS[mode]))]
    sevenths = rng.random() < 0.3
    chords = [_chord(root, mode, d, sevenths) for d in progression]

    def jitter(t: float) -> float:  # a player is never exactly on the grid
        return max(0.0, t + rng.normal(0, 0.004))

    def velocity(base: float) -> int:
        return int(np.clip(base + rng.normal(0, 6), 20, 127))

    # Intros without drums, as many songs start, only when the song is long enough for the
    # drums to be heard afterwards.
    drums_from = 1 if n_bars >= 6 and rng.random() < 0.5 else 0

    drum_name = str(rng.choice(list(DRUM_PATTERNS)))
    drums = Part("drums", drum_name, int(rng.choice(DRUM_KITS)), 0.0, is_drums=True)
    for b in range(drums_from, n_bars):
        pattern = dict(DRUM_PATTERNS[drum_name])
        fill = b % 4 == 3 and rng.random() < 0.5
        if fill:  # a tom fill on the last beat of a four-bar phrase
            pattern = {k: tuple(s for s in v if s < 12) for k, v in pattern.items()}
            for i, step in enumerate((12, 13, 14, 15)):
                pattern.setdefault(TOMS[i], ())
                pattern[TOMS[i]] += (step,)
        if b % 4 == 0 or b == drums_from:
            pattern[CRASH] = (0,)
        for key, steps in pattern.items():
            for step in steps:
                accent = 100 if step % 4 == 0 else 80
                drums.notes.append(
                    Note(jitter(b * bar + step * beat / 4), 0.1, key, velocity(accent))
                )

    bass_name = str(rng.choice(list(BASS_PATTERNS)))
    bass = Part("bass", bass_name, int(rng.choice(BASS_PROGRAMS)), 0.0)
    for b in range(n_bars):
        (low,) = _voicing(chords[b % 4][:1], 28, 40)  # the root in E1..D#2
        for start, length, interval in BASS_PATTERNS[bass_name]:
            bass.notes.append(
                Note(
                    jitter(b * bar + start * beat),
                    0.9 * length * beat,
                    low + interval,
                    velocity(95),
                )
            )

    families = list(HARMONY_PROGRAMS)
    main = str(rng.choice(families))
    styles = {
        "piano": ("block", "arpeggio"),
        "guitar": ("strum", "arpeggio"),
        "organ": ("sustain", "block"),
        "strings": ("sustain",),
        "pad": ("sustain",),
    }
    parts = [(main, str(rng.choice(styles[main])))]
    if main in ("piano", "guitar") and rng.random() < 0.5:  # a soft pad under the main part
        parts.append((str(rng.choice(["strings", "pad", "organ"])), "sustain"))
    others = []
    for i, (family, style) in enumerate(parts):
        part = Part(
            "other",
            f"{family}-{style}",
            int(rng.choice(HARMONY_PROGRAMS[family])),
            float(rng.uniform(-0.5, 0.5)),
            gain=1.0 if i == 0 else 0.5,  # a pad under the main part stays in the background
        )
        base = 60 if style == "sustain" else 85
        for b in range(n_bars):
            notes = _voicing(chords[b % 4], 55, 74)
            t0 = b * bar
            if style == "sustain":
                hits = [(0.0, 3.95, notes)]  # released before the next chord starts
            elif style == "block":  # the chord on beats 1 and 3
                hits = [(0.0, 1.8, notes), (2.0, 1.8, notes)]
            elif style == "strum":  # eighth-note strums, chord notes a few ms apart
                hits = [(s / 2, 0.45, notes) for s in range(8)]
            else:  # arpeggio: eighth notes up and down the chord
                cycle = notes + notes[-2:0:-1]
                hits = [(s / 2, 0.5, [cycle[s % len(cycle)]]) for s in range(8)]
            for start, length, keys in hits:
                onset = jitter(t0 + start * beat)
                accent = base + (10 if start % 1 == 0 else 0)
                for k, key in enumerate(keys):
                    delay = 0.012 * k if style == "strum" else 0.0
                    part.notes.append(
                        Note(onset + delay, length * beat, key, velocity(accent - 5 * k))
                    )
        others.append(part)
    return Song(
        key=NOTE_NAMES[root],
        mode=mode,
        tempo=tempo,
        progression=[_chord_name(c) for c in chords],
        drum_pattern=drum_name,
        bass_pattern=bass_name,
        parts=[drums, bass, *others],
    )


class Renderer:
    """Renders parts with one loaded SoundFont (loaded once: an sf3 takes seconds)."""

    def __init__(self, soundfont_path: str, sample_rate: int):
        tinysoundfont = load_tinysoundfont()
        self.sample_rate = sample_rate
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        try:
            self.sfid = self.synth.sfload(soundfont_path)
        except Exception as err:  # tinysoundfont raises its own SoundFontException
            raise MusicUnavailable(f"could not load the SoundFont {soundfont_path}: {err}") from err

    def _select(self, part: Part, channel: int) -> int:
        """Select the part's preset on ``channel``; return the program actually used."""
        bank = 128 if part.is_drums else 0
        for program in (part.program, 0):  # a SoundFont lacking the preset: its first one
            try:
                self.synth.program_select(channel, self.sfid, bank, program, part.is_drums)
                return program
            except RuntimeError:
                continue
        raise MusicUnavailable(f"the SoundFont has no preset 0 in bank {bank}")

    def render(self, part: Part, n_frames: int) -> np.ndarray:
        """``(n_frames, 2)`` float32 audio of the part alone (notes past the end cut)."""
        channel = 9 if part.is_drums else 0
        self.synth.sounds_off()  # nothing of the previous part rings on
        part.program = self._select(part, channel)
        self.synth.control_change(channel, 10, int(round(63.5 + 63.5 * part.pan)))
        sr = self.sample_rate
        events = []
        for note in part.notes:
            start = int(round(note.start * sr))
            events.append((start, 1, note.key, note.velocity))
            events.append(
                (max(start + 1, int(round((note.start + note.duration) * sr))), 0, note.key, 0)
            )
        events.sort(key=lambda e: (e[0], e[1]))  # note-offs before note-ons at one instant
        out = np.zeros((n_frames, 2), np.float32)
        pos = 0
        for frame, is_on, key, vel in events:
            frame = min(frame, n_frames)
            if frame > pos:
                out[pos:frame] = self._generate(frame - pos)
                pos = frame
            if pos >= n_frames:
                break
            if is_on:
                self.synth.noteon(channel, key, vel)
            else:
                self.synth.noteoff(channel, key)
        if pos < n_frames:
            out[pos:] = self._generate(n_frames - pos)
        self.synth.sounds_off()
        return out

    def _generate(self, frames: int) -> np.ndarray:
        buffer = self.synth.generate_simple(frames)
        return np.frombuffer(buffer, dtype=np.float32).reshape(frames, 2)


def render_stems(
    song: Song, renderer: Renderer, n_frames: int, rng: np.random.Generator
) -> Dict[str, np.ndarray]:
    """``{stem: (n_frames, 2) float32}`` for drums, bass and other, levelled relative to the
    drums (bass -4..0 dB, other -5..-1 dB, by RMS)."""
    stems = {s: np.zeros((n_frames, 2), np.float32) for s in STEMS}
    for part in song.parts:
        stems[part.stem] += np.float32(part.gain) * renderer.render(part, n_frames)
    reference: Optional[float] = None
    for stem, offset in zip(STEMS, (0.0, rng.uniform(-4, 0), rng.uniform(-5, -1))):
        rms = float(np.sqrt(np.mean(stems[stem].astype(np.float64) ** 2)))
        if rms == 0:
            raise RuntimeError(f"the {stem} stem rendered silent (SoundFont presets missing?)")
        reference = rms if reference is None else reference
        stems[stem] *= np.float32(reference * 10 ** (offset / 20) / rms)
    return stems
