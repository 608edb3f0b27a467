"""What ``--precision bfloat16`` costs in separation quality: one model, one test set, float32
against bfloat16 (``torch.autocast``), mixture by mixture.

Usage::

    python benchmarks/precision_quality.py --model egs/libri2mix/exp/<exp>/best_model.pth \\
        --csv egs/libri2mix/data/real_speech/wav8k_n100/csv/test/mixture_test_mix_clean.csv

``--csv`` is a Libri2Mix-layout csv (``mixture_path``, ``source_<i>_path``); each mixture goes
through :class:`asteroid_tdanet.inference.runner.ModelRunner` whole (batch 1) in both
precisions. Reported: SI-SNRi (PIT) of each, their difference per mixture, and the SNR of the
bfloat16 output to the float32 output. Writes ``--json`` (default
``benchmarks/results_precision_quality.json``).
"""

import argparse
import json
import os
import platform

import pandas as pd
import soundfile as sf
import torch
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

from asteroid_tdanet.inference.runner import ModelRunner
from asteroid_tdanet.models import load_model
from model_speed import snr_db  # benchmarks/model_speed.py

HERE = os.path.dirname(os.path.abspath(__file__))


def read(path: str) -> torch.Tensor:
    wav, _ = sf.read(path, dtype="float32")
    return torch.from_numpy(wav)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", required=True, help="a model file (package or checkpoint)")
    p.add_argument("--csv", required=True, help="Libri2Mix-layout test csv")
    p.add_argument("--limit", type=int, help="first N mixtures only")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=os.path.join(HERE, "results_precision_quality.json"))
    args = p.parse_args(argv)
    for option, path in (("--model", args.model), ("--csv", args.csv)):
        if not os.path.isfile(path):
            p.error(f"{option}: no such file: {path}")

    model = load_model(args.model).eval()
    rows = pd.read_csv(args.csv)
    if args.limit:
        rows = rows.head(args.limit)
    sources_cols = sorted(c for c in rows.columns if c.startswith("source_"))
    runners = {
        "float32": ModelRunner(model, threads=args.threads),
        "bfloat16": ModelRunner(model, threads=args.threads, precision="bfloat16"),
    }
    sisdr = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    per_mix = []
    for _, row in rows.iterrows():
        mix = read(row["mixture_path"])[None]
        refs = torch.stack([read(row[c]) for c in sources_cols])[None]
        base = -sisdr(mix[:, None].expand_as(refs), refs).item()
        out = {name: run(mix) for name, run in runners.items()}
        per_mix.append(
            dict(
                mixture_id=row.get("mixture_ID"),
                **{f"si_snr_i_{k}": -sisdr(v, refs).item() - base for k, v in out.items()},
                snr_bfloat16_to_float32_db=snr_db(out["float32"], out["bfloat16"]),
            )
        )
    df = pd.DataFrame(per_mix)
    diff = df["si_snr_i_bfloat16"] - df["si_snr_i_float32"]
    summary = dict(
        mixtures=len(df),
        si_snr_i_float32=df["si_snr_i_float32"].mean(),
        si_snr_i_bfloat16=df["si_snr_i_bfloat16"].mean(),
        si_snr_i_difference_mean=diff.mean(),
        si_snr_i_difference_max_abs=diff.abs().max(),
        snr_bfloat16_to_float32_db_median=df["snr_bfloat16_to_float32_db"].median(),
    )
    results = dict(
        benchmark="precision_quality",
        model=os.path.abspath(args.model),
        csv=os.path.abspath(args.csv),
        machine=dict(platform=platform.platform(), torch=torch.__version__),
        summary=summary,
        mixtures=per_mix,
    )
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(summary, indent=1))
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
