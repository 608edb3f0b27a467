"""Pack the mini recipe's voices and a real-speech dev set for the budget sweep.

Reads a mini dataset built by ``./run.sh --dataset mini`` (its ``storage`` root: the unpacked
Asterisk / KDE packages under ``real_speech/``, ``dataset.json`` for the speaker split, and the
train csv for the eSpeak NG sources) and writes, under ``--out``:

- ``bank/<group>__<voice>.ogg``: every recording of a voice, trimmed, peak-normalised and
  concatenated (Vorbis keeps the whole bank near 40 MB without the Ur-Quan Masters voices,
  small enough to travel to a GPU box);
- ``index.json``: per voice its group (``ast``, ``kde``, ``esp``, ``uqm`` when the build has
  the Ur-Quan Masters package, ``ls`` with ``--librispeech_train``), clip lengths and whether
  the recipe's split puts it in ``train`` (``--uqm_all_train``: every UQM voice);
- ``realdev/NNN.flac``: the two sources of each real-speech dev mixture (the recipe's real-speech
  set builder, seed 1, 6 s crops: not the seed-0 set the recipe reports on).

``--recipe_sources`` (diagnostic) also packs the train csv's own source files, the min-mode
cuts the recipe's dynamic mixing draws from, as groups ``rr`` / ``rk`` / ``ru`` / ``re``
(Asterisk, KDE, Ur-Quan Masters, eSpeak NG). ``--librispeech_train K`` is a diagnostic, not a
recipe setting: K LibriSpeech speakers (a seeded draw) become training voices (group ``ls``,
~4 s pieces of their utterance) and the dev mixtures are drawn from the other speakers only,
to measure what in-domain data would give.

Usage::

    python prepare.py --mini_root egs/libri2mix/storage/MiniLibri2Mix \
        --train_csv egs/libri2mix/data/mini/wav8k/min/train/mixture_train_mix_clean.csv \
        --real_speech_dir ../shared/data/librispeech_excerpts/train-clean-100 --out sweep_data
"""

import argparse
import glob
import json
import os
import re
import sys
import tempfile

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly

from asteroid_tdanet.utils.docs import doc_summary

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "egs", "utils"))
from corpus.mini import kde_bank, real_bank, uqm_bank  # noqa: E402
from corpus.real_speech import build_real_speech_set  # noqa: E402

SR = 8000


def write_ogg(path, audio):
    # libsndfile's Vorbis encoder crashes on one large write: feed it in blocks.
    with sf.SoundFile(path, "w", SR, 1, format="OGG", subtype="VORBIS") as f:
        for k in range(0, len(audio), 4096):
            f.write(audio[k : k + 4096])


# The mini set's utterance ids: <group prefix><speaker>-<utterance>; a mixture_ID joins two.
RECIPE_GROUPS = {
    "real-": ("rr", r"real-([^-]+)"),
    "kde-": ("rk", r"kde-([^-]+-[^-]+)"),
    "uqm-": ("ru", r"uqm-([^-]+)"),
    "espeak_": ("re", r"espeak_(.*)-\d+$"),
}


def recipe_sources(train_csv, groups):
    """``{(group, speaker): [source clips]}`` of a mini train csv for the ``groups`` named
    (``rr``, ``rk``, ``ru``, ``re``): each row's source files, as stored (cut to the shorter
    utterance of the pair); only those files are read."""
    starts = re.compile("(?:^|_)(" + "|".join(RECIPE_GROUPS) + ")")
    voices = {}
    for _, row in pd.read_csv(train_csv).iterrows():
        at = [m.start(1) for m in starts.finditer(row.mixture_ID)]
        ids = [row.mixture_ID[s:e].rstrip("_") for s, e in zip(at, at[1:] + [None])]
        for utt, col in zip(ids, ["source_1_path", "source_2_path"]):
            prefix = next(k for k in RECIPE_GROUPS if utt.startswith(k))
            group, pattern = RECIPE_GROUPS[prefix]
            if group not in groups:
                continue
            match = re.match(pattern, utt)
            speaker = match.group(1) if match else utt
            audio = sf.read(row[col], dtype="float32")[0]
            voices.setdefault((group, speaker), []).append(audio)
    return voices


def main():
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--mini_root", required=True)
    p.add_argument("--train_csv", required=True)
    p.add_argument("--real_speech_dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--uqm_all_train", action="store_true", help="every UQM voice in train")
    p.add_argument(
        "--librispeech_train",
        type=int,
        default=0,
        help="diagnostic: this many LibriSpeech speakers as training voices, dev from the rest",
    )
    p.add_argument(
        "--recipe_sources",
        action="store_true",
        help="diagnostic: also pack the train csv's own source files (min-mode cuts, what the "
        "recipe's dynamic mixing draws) as groups rr / rk / ru / re",
    )
    a = p.parse_args()
    os.makedirs(os.path.join(a.out, "bank"), exist_ok=True)
    with open(os.path.join(a.mini_root, "dataset.json")) as f:
        train = json.load(f)["speakers"]["train"]
    index = {}

    def put(group, name, clips, in_train):
        clips = [c.astype(np.float32) for c in clips if len(c) > 0.3 * SR]
        clips = [c / (np.abs(c).max() + 1e-6) * 0.9 for c in clips]
        fn = f"{group}__{re.sub('[^A-Za-z0-9@.+-]', '_', name)}.ogg"
        write_ogg(os.path.join(a.out, "bank", fn), np.concatenate(clips))
        lens = [len(c) for c in clips]
        split = "train" if in_train else "heldout"
        index[fn] = dict(group=group, name=name, lens=lens, split=split, seconds=sum(lens) / SR)

    packages = sorted(
        d for d in glob.glob(os.path.join(a.mini_root, "real_speech", "*")) if os.path.isdir(d)
    )
    for name, entry in real_bank.index_speakers(packages).items():
        clips = [real_bank.load_trimmed(f)[0] for f in entry["files"]]
        put("ast", name, clips, name in train.get("real", []))
    for name, entry in kde_bank.index_voices(packages).items():
        clips = []
        for f in entry["files"]:
            try:
                audio, sr = kde_bank.load_trimmed(f)
            except RuntimeError:
                continue
            g = np.gcd(sr, SR)
            clips.append(resample_poly(audio, SR // g, sr // g))
        put("kde", name, clips, name in train.get("kde", []))
    for name, entry in uqm_bank.index_voices(packages).items():
        clips = [uqm_bank.load_line(entry["archive"], m, SR) for m in entry["members"]]
        put("uqm", name, clips, a.uqm_all_train or name in train.get("uqm", []))
    # eSpeak NG voices exist only as the train csv's sources (synthesised at build time).
    sources = recipe_sources(
        a.train_csv, [g for g, _ in RECIPE_GROUPS.values()] if a.recipe_sources else ["re"]
    )
    if a.recipe_sources:
        for (group, speaker), clips in sources.items():
            put(group, speaker, clips, True)
    for (group, speaker), clips in sources.items():
        if group == "re":
            put("esp", f"espeak_{speaker}", clips, True)

    os.makedirs(os.path.join(a.out, "realdev"), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        dev_dir = a.real_speech_dir
        if a.librispeech_train:
            speakers = sorted(os.listdir(a.real_speech_dir))
            np.random.default_rng(0).shuffle(speakers)
            dev_dir = os.path.join(tmp, "dev_speakers")
            os.makedirs(dev_dir)
            for spk in speakers[a.librispeech_train :]:
                os.symlink(
                    os.path.abspath(os.path.join(a.real_speech_dir, spk)),
                    os.path.join(dev_dir, spk),
                )
            for spk in speakers[: a.librispeech_train]:
                clips = []
                for f in sorted(
                    glob.glob(os.path.join(a.real_speech_dir, spk, "**", "*.flac"), recursive=True)
                ):
                    audio, sr = sf.read(f, dtype="float32")
                    audio = resample_poly(audio, SR, sr).astype(np.float32)
                    clips += [audio[k : k + 4 * SR] for k in range(0, len(audio) - SR, 4 * SR)]
                put("ls", spk, clips, True)
        info = build_real_speech_set(dev_dir, tmp, 100, SR, seed=1, max_seconds=6.0)
        dev = pd.read_csv(info["csv"][0])
        for i, row in dev.iterrows():
            s1 = sf.read(row.source_1_path, dtype="float32")[0]
            s2 = sf.read(row.source_2_path, dtype="float32")[0]
            sf.write(os.path.join(a.out, "realdev", f"{i:03d}.flac"), np.stack([s1, s2], 1), SR)
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    for g in ("ast", "kde", "esp", "uqm", "ls", "rr", "rk", "ru", "re"):
        v = [e for e in index.values() if e["group"] == g]
        n_train = sum(e["split"] == "train" for e in v)
        print(
            f"{g}: {len(v)} voices ({n_train} in the recipe's train split), "
            f"{sum(e['seconds'] for e in v):.0f} s"
        )
    print(f"real dev: {len(dev)} mixtures")


if __name__ == "__main__":
    main()
