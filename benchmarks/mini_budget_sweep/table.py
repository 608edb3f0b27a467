"""Collect the runs' JSON files into <prefix>.csv and <prefix>.json (one row per run) and draw
<prefix>.png: real-speech SI-SNRi per run against the 3 dB goal.

Usage::

    python benchmarks/mini_budget_sweep/table.py RESULTS PREFIX
"""

import argparse
import glob
import json
import os

import pandas as pd


def main(folder, prefix):
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        last = r["hist"][-1]
        rows.append(
            dict(
                name=r["name"],
                model=r["args"]["model"],
                params=r["params"],
                split=r["args"]["split"],
                groups=r["args"]["groups"],
                batch=r["args"]["bs"],
                segment_s=r["args"]["seg"],
                lr=r["args"]["lr"],
                steps_planned=r["args"]["steps"],
                budget_s=r["args"].get("budget_s", 0.0),
                threads=r["args"].get("threads", 1),
                seed=r["args"].get("seed", 0),
                pairing=r["args"].get("pairing", "within"),
                steps_done=r["steps_done"],
                si_snri_real=last["si_snri"],
                train_loss=last["train_loss"],
                history=json.dumps(r["hist"]),
            )
        )
    df = pd.DataFrame(rows).sort_values("si_snri_real")
    df.to_csv(prefix + ".csv", index=False)
    df.to_json(prefix + ".json", orient="records", indent=1)
    print(df.drop(columns="history").to_string(index=False))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.35 * len(df) + 1.2))
    labels = [f"{r.name} ({r.steps_done} steps)" for r in df.itertuples()]
    ax.barh(labels, df.si_snri_real, color="tab:blue")
    ax.axvline(3.0, color="tab:red", linestyle="--", label="goal: 3 dB")
    ax.set_xlabel("SI-SNRi on real LibriSpeech mixtures (dB)")
    on_cpu = bool(df.budget_s.max())
    ax.set_title(
        f"{df.budget_s.max() / 60:.1f} CPU minutes each (1 thread)"
        if on_cpu
        else "Mini recipe's CPU budget, emulated in steps"
    )
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(prefix + ".png", dpi=100)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("folder", help="the runs' JSON files (train.py --out)")
    p.add_argument("prefix", help="writes PREFIX.csv, PREFIX.json and PREFIX.png")
    a = p.parse_args()
    main(a.folder, a.prefix)
