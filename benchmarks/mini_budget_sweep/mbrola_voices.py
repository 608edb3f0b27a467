"""Diagnostic: MBROLA voices (diphones of real speakers, read through eSpeak NG) as extra
training speakers for the mini recipe's trainer. Measured 2026-11-28 and not kept (README,
the mini dataset: *Channel and voice augmentation*).

MBROLA's voice databases (Debian ``non-free``: non-commercial licences) hold each speaker's
recorded diphones; eSpeak NG gives the phonemes, durations and pitch, and the ``mbrola``
program (``contrib``) concatenates the speaker's diphones. PyPI's ``espeakng-loader`` is built
without MBROLA, so this uses Debian's ``libespeak-ng1`` with its own ``espeak-ng-data``. That
library links ``libpcaudio`` (sound-card output, unused here; it would pull PulseAudio), so a
stub of its eight functions is compiled with ``cc`` and loaded first. The voices are found in
``<espeak-ng-data>/mbrola/<voice>`` (a folder of links to the voice files).

Writes ``<out>/wav8k/mbrola-<voice>-<i>.wav`` (8 kHz) and ``<out>/sources_mbrola.csv`` in the
layout of ``sources_<split>.csv``; ``--train_dir`` then writes a copy of a build's train split
with those rows added (``--prefix``: the speaker-ID prefix, e.g. ``espeak_mbrola_`` to put them
in the eSpeak NG pair group)::

    python benchmarks/mini_budget_sweep/mbrola_voices.py --out /tmp/mb --per_voice 40 \\
        --train_dir egs/libri2mix/data/mini/wav8k/min/train --train_out /tmp/data_mb/train
"""

import argparse
import csv
import ctypes
import glob
import os
import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf

from asteroid_tdanet.utils.docs import doc_summary

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "egs", "utils"))

from corpus.generate import resample  # noqa: E402
from corpus.mini.real_bank import download_deb  # noqa: E402
from corpus.mini.sentences import sentence  # noqa: E402

# 40 voices (Debian's mbrola-*): the English ones, then a spread of languages and both sexes,
# synthesised in alphabetical order; hb2's sentences come out at about 15 s, mostly silence,
# so they are drawn (the draws of the others stay those of the measured run) but not written.
VOICES = (
    "us1 us2 us3 en1 de1 de2 de3 de5 de8 fr1 fr2 fr3 fr4 fr6 nl3 it1 it2 it3 it4 es2 br1 br2 "
    "br4 sw1 sw2 pl1 ro1 hu1 tr2 hb2 in2 pt1 cz2 gr2 af1 ee1 ic1 id1 ir1 ma1"
).split()
DROPPED = {"hb2"}
LIBS = ("libespeak-ng1", "espeak-ng-data", "libsonic0")  # main, amd64
STUB = r"""
#include <stddef.h>
struct audio_object;
struct audio_object *create_audio_device_object(const char *d, const char *a, const char *n)
{ return NULL; }
int audio_object_open(struct audio_object *o, int f, unsigned r, unsigned char c) { return -1; }
void audio_object_close(struct audio_object *o) {}
void audio_object_destroy(struct audio_object *o) {}
int audio_object_write(struct audio_object *o, const void *d, size_t b) { return -1; }
int audio_object_drain(struct audio_object *o) { return 0; }
int audio_object_flush(struct audio_object *o) { return 0; }
const char *audio_object_strerror(struct audio_object *o, int e) { return "no audio"; }
"""


def unpack(out: str, voices) -> str:
    """Download and extract the libraries, ``mbrola`` and the voices; return the root."""
    debs, root = os.path.join(out, "debs"), os.path.join(out, "root")
    os.makedirs(debs, exist_ok=True)
    wanted = [(p, "amd64") for p in LIBS + ("mbrola",)] + [(f"mbrola-{v}", "all") for v in voices]
    for package, arch in wanted:
        found = glob.glob(os.path.join(debs, f"{package}_*.deb"))  # kept from an earlier run
        if found:
            deb = found[0]
        else:
            print("downloading", package, flush=True)
            deb = download_deb(package, debs, arch=arch)
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root


def load_synth(out: str, root: str):
    """Debian's eSpeak NG (with MBROLA) behind the recipe's ctypes driver."""
    lib_dir = os.path.join(root, "usr", "lib", "x86_64-linux-gnu")
    stub = os.path.join(out, "libpcaudio.so.0")
    with open(stub + ".c", "w") as f:
        f.write(STUB)
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-Wl,-soname,libpcaudio.so.0", "-o", stub, stub + ".c"],
        check=True,
    )
    links = os.path.join(lib_dir, "espeak-ng-data", "mbrola")
    os.makedirs(links, exist_ok=True)
    for folder in glob.glob(os.path.join(root, "usr", "share", "mbrola", "*")):
        name = os.path.basename(folder)
        if not os.path.exists(os.path.join(links, name)):
            os.symlink(os.path.join(folder, name), os.path.join(links, name))
    os.environ["PATH"] = os.path.join(root, "usr", "bin") + os.pathsep + os.environ["PATH"]
    ctypes.CDLL(os.path.join(lib_dir, "libsonic.so.0"), mode=os.RTLD_GLOBAL)
    ctypes.CDLL(stub, mode=os.RTLD_GLOBAL)
    import espeakng_loader

    espeakng_loader.get_library_path = lambda: os.path.join(lib_dir, "libespeak-ng.so.1")
    espeakng_loader.get_data_path = lambda: os.path.join(lib_dir, "espeak-ng-data")
    from corpus.mini.espeak import EspeakSynth

    return EspeakSynth.get(), os.path.join(lib_dir, "espeak-ng-data", "voices", "mb")


def synthesize(out: str, voices, per_voice: int, seed: int) -> list:
    """``per_voice`` random sentences per voice (its English variant where one exists), each
    voice at one random pitch, range and rate; rows of ``sources_mbrola.csv``."""
    from corpus.mini.espeak_bank import _trim_silence

    synth, voice_dir = load_synth(out, unpack(out, voices))
    rng, rows = np.random.default_rng(seed), []
    wav_dir = os.path.join(out, "wav8k")
    os.makedirs(wav_dir, exist_ok=True)
    for v in sorted(voices):
        name = f"mb-{v}-en" if os.path.exists(os.path.join(voice_dir, f"mb-{v}-en")) else f"mb-{v}"
        pitch, rate, span = (int(rng.integers(*r)) for r in ((35, 66), (140, 191), (30, 81)))
        for i in range(per_voice):
            audio = _trim_silence(synth.synthesize(sentence(rng), name, rate, pitch, span))
            if v in DROPPED:
                continue
            if len(audio) < synth.sample_rate:  # under a second: a failed synthesis
                continue
            audio = resample(audio, synth.sample_rate, 8000)
            path = os.path.join(wav_dir, f"mbrola-{v}-{i:03d}.wav")
            sf.write(path, 0.5 * audio / (np.abs(audio).max() + 1e-9), 8000, subtype="FLOAT")
            rows.append((f"mbrola-{v}-{i:03d}", f"mbrola_{v}", path, len(audio), 0))
        print(v, name, f"pitch {pitch} rate {rate}", flush=True)
    with open(os.path.join(out, "sources_mbrola.csv"), "w", newline="") as f:
        csv.writer(f).writerows([("source_ID", "speaker", "path", "length", "join")] + rows)
    return rows


def main():
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--out", required=True)
    p.add_argument("--per_voice", type=int, default=40)
    p.add_argument("--voices", default=",".join(VOICES))
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--train_dir", help="a build's train split (its csv files are copied)")
    p.add_argument("--train_out", help="where the train split with the MBROLA rows goes")
    p.add_argument("--prefix", default="mbrola_", help="speaker-ID prefix of the new voices")
    a = p.parse_args()
    rows = synthesize(a.out, a.voices.split(","), a.per_voice, a.seed)
    if a.train_dir:
        os.makedirs(a.train_out, exist_ok=True)
        for path in glob.glob(os.path.join(a.train_dir, "*.csv")):
            shutil.copy(path, a.train_out)
        with open(os.path.join(a.train_out, "sources_train.csv"), "a", newline="") as f:
            writer = csv.writer(f)
            for sid, speaker, path, length, join in rows:
                writer.writerow((sid, a.prefix + speaker[len("mbrola_") :], path, length, join))


if __name__ == "__main__":
    main()
