"""Score sweep weights (``train.py``'s ``<name>.pt``) or a recipe's ``best_model.pth`` on a
Libri2Mix-layout csv, e.g. the recipe's real-speech set, with the sweep's PIT SI-SNRi.

    python score_csv.py --csv egs/libri2mix/data/real_speech/wav8k_n100/csv/test/\\
mixture_test_mix_clean.csv --model mag_td_w64h16 results/uqm_all_s0.pt exp/.../best_model.pth
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from asteroid_tdanet.utils.docs import doc_summary

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import build  # noqa: E402
from train import mean_si_snri  # noqa: E402


def load(path, model_name):
    if path.endswith(".pth"):  # a recipe's published model: any registered model
        from asteroid_tdanet import load_model

        return load_model(path)
    model = build(model_name)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def read_pairs(df: pd.DataFrame) -> list:
    """The two sources ``(2, time)`` of every row of a Libri2Mix-layout csv."""
    return [
        np.stack([sf.read(r[c], dtype="float32")[0] for c in ("source_1_path", "source_2_path")])
        for _, r in df.iterrows()
    ]


def main():
    p = argparse.ArgumentParser(description=doc_summary(__doc__))
    p.add_argument("--csv", required=True)
    p.add_argument("--model", default="mag_td_w64h16", help="models.py name of the .pt files")
    p.add_argument("weights", nargs="+")
    a = p.parse_args()
    pairs = read_pairs(pd.read_csv(a.csv))
    for path in a.weights:
        score = mean_si_snri(load(path, a.model).eval(), pairs)
        print(f"{path}: SI-SNRi {score:.3f} dB on {len(pairs)} mixtures")


if __name__ == "__main__":
    main()
