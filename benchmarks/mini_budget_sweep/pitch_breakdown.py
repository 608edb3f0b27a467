"""SI-SNRi of separation models on a Libri2Mix-layout csv, broken down by the two speakers'
pitch: pairs of a low and a high voice (median F0 on either side of ``--split_hz``), two low
voices, two high voices, and bins of the pitch distance in semitones.

    python pitch_breakdown.py --csv egs/libri2mix/data/real_speech/wav8k_n100/csv/test/\\
mixture_test_mix_clean.csv exp/tdanet_mini/best_model.pth results/sw_mag_lstm96.pt:mag_lstm96

A weights file is a recipe's ``best_model.pth`` (any registered model) or a sweep ``.pt``
followed by ``:<models.py name>``. Writes one row per mixture to ``--out`` (csv) if given.
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd

from asteroid_tdanet.utils.docs import doc_summary

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from score_csv import load, read_pairs  # noqa: E402
from train import si_snri  # noqa: E402

from asteroid_tdanet.recipes.pitch import median_f0  # noqa: E402

BINS = [0, 1, 2, 4, 8, 36]


def per_mixture(model, df, sample_rate):
    """One row per mixture: its ID, the two sources' median F0 and the model's SI-SNRi."""
    rows = []
    for mixture_id, pair in zip(df["mixture_ID"], read_pairs(df)):
        f0 = [median_f0(x, sample_rate) for x in pair]
        rows.append(
            dict(mixture_ID=mixture_id, f0_1=f0[0], f0_2=f0[1], si_snri=si_snri(model, pair))
        )
    return pd.DataFrame(rows)


def main():
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--csv", required=True)
    p.add_argument("--sample_rate", type=int, default=8000)
    p.add_argument("--split_hz", type=float, default=160.0, help="low / high voice boundary")
    p.add_argument("--out", help="csv of the per-mixture scores (all models)")
    p.add_argument("weights", nargs="+", help="best_model.pth, or file.pt:<models.py name>")
    a = p.parse_args()
    df = pd.read_csv(a.csv)
    tables = []
    for spec in a.weights:
        path, _, name = spec.partition(":") if not spec.endswith(".pth") else (spec, "", "")
        d = per_mixture(load(path, name).eval(), df, a.sample_rate)
        low = (d.f0_1 < a.split_hz).astype(int) + (d.f0_2 < a.split_hz).astype(int)
        d["pair"] = np.array(["high + high", "low + high", "low + low"])[low]
        d["semitones"] = np.abs(12 * np.log2(d.f0_1 / d.f0_2))
        d["weights"] = spec
        tables.append(d)
        print(f"{spec}: SI-SNRi {d.si_snri.mean():.3f} dB on {len(d)} mixtures")
        for pair, g in d.groupby("pair"):
            print(f"  {pair:12s} {g.si_snri.mean():6.2f} dB  ({len(g)})")
        for interval, g in d.groupby(pd.cut(d.semitones, BINS), observed=True):
            print(f"  {str(interval) + ' st':12s} {g.si_snri.mean():6.2f} dB  ({len(g)})")
    if a.out:
        pd.concat(tables).to_csv(a.out, index=False)


if __name__ == "__main__":
    main()
