"""Decode a prepared sweep folder once into ``<cache>/banks.npy`` (float16), ``banks.json``
and ``realdev.npy``, shared by every parallel ``train.py`` run.

Usage::

    python benchmarks/mini_budget_sweep/decode.py DATA CACHE
"""

import argparse
import glob
import json
import os

import numpy as np
import soundfile as sf


def main(data, cache):
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(data, "index.json")) as f:
        index = json.load(f)
    parts, offset = [], 0
    for fn, entry in index.items():
        n = sum(entry["lens"])
        audio = sf.read(os.path.join(data, "bank", fn), dtype="float32")[0][:n]
        parts.append(np.pad(audio, (0, n - len(audio))).astype(np.float16))
        entry["offset"] = offset
        offset += n
    np.save(os.path.join(cache, "banks.npy"), np.concatenate(parts))
    with open(os.path.join(cache, "banks.json"), "w") as f:
        json.dump(index, f)
    files = sorted(glob.glob(os.path.join(data, "realdev", "*.flac")))
    dev = [sf.read(path, dtype="float32")[0].T for path in files]  # each (2, time)
    np.save(os.path.join(cache, "realdev.npy"), np.concatenate(dev, axis=1))
    np.save(os.path.join(cache, "realdev_lens.npy"), np.array([d.shape[1] for d in dev]))
    print(f"decoded {offset / 8000:.0f} s of voices, {len(files)} real dev mixtures")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("data", help="a folder prepared by prepare.py (index.json, bank/, realdev/)")
    p.add_argument("cache", help="where to write banks.npy, banks.json and realdev*.npy")
    a = p.parse_args()
    main(a.data, a.cache)
