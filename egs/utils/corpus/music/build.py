"""Build the mini music set in the MUSDB18-HQ layout.

``DIR/{train,test}/<song>/{mixture,vocals,drums,bass,other}.wav``: 44.1 kHz stereo 16-bit
PCM. Every stem is rounded to the 16-bit grid before the mixture is summed, so
``mixture == vocals + drums + bass + other`` holds exactly for the samples in the files.
Songs are split by vocal speaker: no test voice is heard in training. ``DIR/dataset.json``
(written last) records songs, speakers, options, what each song drew and the licences.

Usage: ``PYTHONPATH=egs/utils python -m corpus.music.build --out_dir DIR [--n_train 8
--n_test 3 --seconds 20 --seed 0 --force false]``. Downloads (Debian packages) are kept in
``--cache_dir`` (default ``DIR/downloads``).
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time
from typing import Optional

import numpy as np
import soundfile as sf

from asteroid_tdanet.utils.docs import doc_summary

from ..mini import real_bank
from . import MusicUnavailable, accompaniment, vocals

logger = logging.getLogger(__name__)

BUILDER_VERSION = 1  # bump when the same options would give different audio
SAMPLE_RATE = 44100
SOURCES = ("vocals", "drums", "bass", "other")
SPLITS = ("train", "test")
DEFAULTS = dict(
    n_train=8,
    n_test=3,
    seconds=20.0,
    seed=0,
    soundfont="timgm6mb",
    voice_packages=tuple(real_bank.PACKAGES),
    test_fraction=0.3,  # of the speakers
    vocal_db=(-6.0, 0.0),  # vocals vs accompaniment (RMS over the vocal phrases), per song
    peak=0.8,  # of each mixture
)
MISSING_PACKAGE = 3  # exit status when a package is missing (as the recipes use)


def _normalised(value: dict) -> dict:
    """``value`` as dataset.json stores it (tuples become lists)."""
    return json.loads(json.dumps(value))


def load_complete(out_dir: str, options: dict) -> Optional[dict]:
    """dataset.json of a complete build of ``options`` in ``out_dir``, else ``None``."""
    try:
        with open(os.path.join(out_dir, "dataset.json"), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    same = info.get("options") == _normalised(options)
    if not same or info.get("builder_version") != BUILDER_VERSION:
        return None
    for split, songs in info.get("splits", {}).items():
        for song in songs:
            for stem in ("mixture", *SOURCES):
                if not os.path.isfile(os.path.join(out_dir, split, song, f"{stem}.wav")):
                    return None
    return info


def _to_pcm16(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, -1.0, 32767 / 32768) * 32768).astype(np.int16)


def _make_song(speaker_files, renderer, rng: np.random.Generator, opts: dict) -> tuple:
    """``({source: (n, 2) int16}, mixture (n, 2) int16, description)`` of one song."""
    seconds = opts["seconds"]
    n = int(round(seconds * SAMPLE_RATE))
    song = accompaniment.compose(seconds, rng)
    stems = accompaniment.render_stems(song, renderer, n, rng)
    line, phrases = vocals.vocal_line(speaker_files, seconds, rng, SAMPLE_RATE)
    voice, placement = vocals.stereo(line, rng, SAMPLE_RATE)
    # Vocal level set against the accompaniment where the vocals sound, as a mix engineer
    # sets a fader: breaks are not counted.
    active = np.zeros(n, bool)
    for start, end in phrases:
        active[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)] = True
    band = sum(stems.values())
    vocal_db = float(rng.uniform(*opts["vocal_db"]))
    band_rms = np.sqrt(np.mean(band[active].astype(np.float64) ** 2))
    voice_rms = np.sqrt(np.mean(voice[active].astype(np.float64) ** 2))
    stems["vocals"] = voice * np.float32(band_rms / voice_rms * 10 ** (vocal_db / 20))
    scale = opts["peak"] / np.abs(sum(stems.values())).max()
    pcm = {s: _to_pcm16(stems[s] * scale) for s in SOURCES}
    total = sum(pcm[s].astype(np.int32) for s in SOURCES)
    if np.abs(total).max() > 32767:  # cannot happen with peak < 1; never write a clipped sum
        raise RuntimeError("the mixture of the 16-bit stems overflows")
    vox, rest = pcm["vocals"].astype(np.float64), (total - pcm["vocals"]).astype(np.float64)
    info = dict(
        **song.describe(),
        vocals=dict(phrases=phrases, **placement),
        vocal_db=round(vocal_db, 2),
        # 10 log10(|vocals|^2 / |mixture - vocals|^2) over the whole song: the SDR of the
        # mixture taken as the vocals estimate (without BSS Eval's distortion filter).
        mixture_sdr_vocals=round(float(10 * np.log10(np.sum(vox**2) / np.sum(rest**2))), 2),
        vocal_active_fraction=round(float(active.mean()), 3),
    )
    return pcm, total.astype(np.int16), info


def build_music(
    out_dir: str, force: bool = False, cache_dir: Optional[str] = None, **options
) -> dict:
    """Build the set in ``out_dir`` (or reuse a complete build of the same options);
    return its description (dataset.json).

    Raises:
        MusicUnavailable: tinysoundfont or a Debian package could not be had.
    """
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"Unknown music set options: {sorted(unknown)}")
    opts = {**DEFAULTS, **options}
    opts["voice_packages"] = tuple(opts["voice_packages"])
    opts["vocal_db"] = tuple(float(v) for v in opts["vocal_db"])
    opts["seconds"] = float(opts["seconds"])
    if not force:
        info = load_complete(out_dir, opts)
        if info is not None:
            print(f"Music set already built in {out_dir} (same options); reusing it.")
            return info
    cache_dir = cache_dir or os.path.join(out_dir, "downloads")
    started = time.time()
    # Everything needed is had before the old build is removed; the PyPI package first, as
    # it needs no download.
    accompaniment.load_tinysoundfont()
    renderer = accompaniment.Renderer(
        accompaniment.fetch_soundfont(cache_dir, opts["soundfont"]), SAMPLE_RATE
    )
    speakers = vocals.fetch_speakers(cache_dir, opts["voice_packages"])
    done = os.path.join(out_dir, "dataset.json")
    if os.path.exists(done):  # first, so that an interrupted rebuild is never taken as complete
        os.remove(done)
    for split in SPLITS:
        shutil.rmtree(os.path.join(out_dir, split), ignore_errors=True)

    split_speakers = vocals.split_speakers(
        sorted(speakers), opts["test_fraction"], np.random.default_rng([opts["seed"], 0])
    )
    songs = {s: [] for s in SPLITS}
    number = 0
    for split_index, split in enumerate(SPLITS):
        names = split_speakers[split]
        for i in range(opts[f"n_{split}"]):
            number += 1
            # One generator per song: a song does not change when other splits grow.
            rng = np.random.default_rng([opts["seed"], 1 + split_index, i])
            speaker = names[i % len(names)]
            pcm, mixture, info = _make_song(speakers[speaker]["files"], renderer, rng, opts)
            name = f"{speaker} - Track {number:02d}"
            folder = os.path.join(out_dir, split, name)
            os.makedirs(folder, exist_ok=True)
            for stem, audio in (("mixture", mixture), *pcm.items()):
                sf.write(os.path.join(folder, f"{stem}.wav"), audio, SAMPLE_RATE, subtype="PCM_16")
            songs[split].append(dict(name=name, speaker=speaker, **info))
            logger.info("%s: %s (%.1f s so far)", split, name, time.time() - started)

    used_packages = sorted({p for s in speakers.values() for p in s["packages"]})
    soundfont = accompaniment.SOUNDFONTS[opts["soundfont"]]
    info = dict(
        name="MiniMUSDB18-HQ",
        layout="MUSDB18-HQ",
        builder_version=BUILDER_VERSION,
        options=_normalised(opts),
        sample_rate=SAMPLE_RATE,
        channels=2,
        subtype="PCM_16",
        seconds=opts["seconds"],
        seed=opts["seed"],
        sources=list(SOURCES),
        splits={s: [song["name"] for song in songs[s]] for s in SPLITS},
        speakers=split_speakers,
        songs=songs,
        licences=dict(
            vocals={
                p: real_bank.PACKAGES.get(p, "see its debian/copyright") for p in used_packages
            },
            accompaniment={soundfont["package"]: soundfont["licence"]},
            renderer=f"{accompaniment.TINYSOUNDFONT_PIN} (MIT, TinySoundFont by Bernhard Schelling)",
        ),
        notes=[
            "vocals: Asterisk voice prompts (spoken, not sung), one speaker per song, "
            "speakers disjoint between train and test",
            f"drums, bass, other: generated note events rendered with {soundfont['package']}",
            "mixture = vocals + drums + bass + other exactly (16-bit stems summed on the grid)",
        ],
        build_seconds=round(time.time() - started, 1),
    )
    tmp = done + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    os.replace(tmp, done)
    return _normalised(info)  # as a reuse returns it


def main(argv=None) -> int:
    from asteroid_tdanet.recipes.config import str2bool

    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--out_dir", required=True)
    parser.add_argument(
        "--cache_dir", default=None, help="Debian downloads (default OUT_DIR/downloads)"
    )
    parser.add_argument("--force", type=str2bool, default=False, help="rebuild even if complete")
    for key in ("n_train", "n_test", "seed"):
        parser.add_argument(f"--{key}", type=int, default=DEFAULTS[key])
    for key in ("seconds", "test_fraction", "peak"):
        parser.add_argument(f"--{key}", type=float, default=DEFAULTS[key])
    parser.add_argument(
        "--soundfont", default=DEFAULTS["soundfont"], choices=sorted(accompaniment.SOUNDFONTS)
    )
    parser.add_argument(
        "--voice_packages",
        type=lambda v: tuple(p for p in v.split(",") if p),
        default=DEFAULTS["voice_packages"],
        help="comma-separated Asterisk prompt packages",
    )
    parser.add_argument(
        "--vocal_db",
        type=lambda v: tuple(float(x) for x in v.split(",")),
        default=DEFAULTS["vocal_db"],
        help="MIN,MAX dB of the vocals against the accompaniment over the vocal phrases",
    )
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_dir, force, cache_dir = args.pop("out_dir"), args.pop("force"), args.pop("cache_dir")
    try:
        info = build_music(out_dir, force=force, cache_dir=cache_dir, **args)
    except MusicUnavailable as err:
        print(f"Cannot build the music set: {err}", file=sys.stderr)
        return MISSING_PACKAGE
    print(
        f"Music set in {out_dir}: {len(info['splits']['train'])} train and "
        f"{len(info['splits']['test'])} test songs of {info['seconds']:g} s; speakers "
        f"{info['speakers']}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
