"""Compare trained models at equal budget: quality against inference cost, one table and one
figure.

Reads experiment folders written by the recipe (stage 2 ``train_done.json``, stage 3
``eval/final_metrics.json`` and, when present, ``eval_real_speech/final_metrics.json``),
measures each model's inference cost on the same input and device, and writes
``<out_dir>/results.{csv,json}`` and ``<out_dir>/results.png`` (SI-SNRi against seconds of
compute per second of audio; point area proportional to the parameter count; one labelled
point per model). ``egs/libri2mix/compare.sh`` trains the models and calls this.

Usage::

    python -m asteroid_tdanet.recipes.compare --out_dir compare exp/tdanet_cmp exp/s4m_cmp
"""

import argparse
import os
import sys
import time
from typing import List, Optional

import torch

from ..utils.arg_types import positive_float
from ..utils.docs import doc_summary
from . import experiment as xp

REAL_SPEECH_EVAL = "eval_real_speech"
COLUMNS = [
    "label",
    "model",
    "preset",
    "params",
    "macs_per_second",
    "seconds_per_second",
    "device",
    "threads",
    "si_snr_i",
    "si_snr_i_real_speech",
    "train_minutes",
    "budget_minutes",
    "train_steps",
    "train_epochs",
    "best_val_loss",
    "exp_dir",
]


def inference_cost(model, sample_rate: int, seconds: float, device: str, repeats: int = 3):
    """Median seconds of compute per second of audio for one ``seconds`` long input."""
    model = model.eval().to(device)
    x = torch.randn(1, int(seconds * sample_rate), device=device)
    times = []
    with torch.inference_mode():
        model(x)  # warm-up (kernels, caches, allocator)
        for _ in range(repeats):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / seconds


def collect(exp_dir: str, seconds: float, device: str) -> dict:
    """One row of the comparison for a finished experiment (trained and evaluated)."""
    from ..models import load_model
    from ..utils.complexity import count_macs, count_params
    from .config import load_conf

    for marker, stage in ((xp.TRAIN_DONE, 2), (os.path.join(xp.EVAL_DIR, xp.FINAL_METRICS), 3)):
        xp.require(os.path.join(exp_dir, marker), stage)
    metrics_path = os.path.join(exp_dir, xp.EVAL_DIR, xp.FINAL_METRICS)
    metrics = xp.read_json(metrics_path)
    if metrics.get("si_snr_i") is None:  # evaluated with --metrics without si_sdr
        raise ValueError(
            f"{metrics_path} has no SI-SNRi (stage 3 ran with --metrics without si_sdr), which "
            "the comparison ranks by: run stage 3 again with si_sdr among --metrics"
        )
    conf = load_conf(os.path.join(exp_dir, xp.CONF))
    train = xp.read_json(os.path.join(exp_dir, xp.TRAIN_DONE))
    real_path = os.path.join(exp_dir, REAL_SPEECH_EVAL, xp.FINAL_METRICS)
    real = xp.read_json(real_path) if os.path.exists(real_path) else {}
    model = load_model(os.path.join(exp_dir, xp.BEST_MODEL))
    try:
        macs = count_macs(model, seconds=1.0)
    except ImportError:  # ptflops is an optional extra
        macs = None
    preset = conf["model"].get("preset") or ""
    return dict(
        label=preset or type(model).__name__,
        model=type(model).__name__,
        preset=preset,
        params=count_params(model),
        macs_per_second=macs,
        seconds_per_second=inference_cost(model, conf["data"]["sample_rate"], seconds, device),
        device=device,
        threads=torch.get_num_threads(),
        si_snr_i=metrics.get("si_snr_i"),
        si_snr_i_real_speech=real.get("si_snr_i"),
        # Over every session of a resumed run (older train_done.json: the last session).
        train_minutes=round(train.get("training_time_s", train.get("wall_time_s", 0.0)) / 60, 2),
        budget_minutes=conf["training"].get("max_minutes"),
        train_steps=train.get("global_step"),
        train_epochs=train.get("epochs"),
        best_val_loss=train.get("best_val_loss"),
        exp_dir=os.path.abspath(exp_dir),
    )


def _span(values: List[float]) -> float:
    return (max(values) - min(values)) or 1.0


def _plotted_y(rows: List[dict]) -> List[float]:
    """Every y the figure shows (own test set and, when measured, real speech)."""
    return [r["si_snr_i"] for r in rows] + [
        r["si_snr_i_real_speech"] for r in rows if r.get("si_snr_i_real_speech") is not None
    ]


def _has_neighbour_above(rows: List[dict], k: int, near: float = 0.08) -> bool:
    """Whether another point lies close to point ``k`` (within ``near`` of the plotted range
    on both axes) and higher: its label then goes below the point, so the two labels do not
    overprint each other."""
    sx = _span([r["seconds_per_second"] for r in rows])
    sy = _span(_plotted_y(rows))
    me = rows[k]
    for j, r in enumerate(rows):
        dy = (r["si_snr_i"] - me["si_snr_i"]) / sy
        higher = 0 < dy < near or (dy == 0 and j > k)  # a tie: the later point is "above"
        if higher and abs(r["seconds_per_second"] - me["seconds_per_second"]) / sx < near:
            return True
    return False


def plot(rows: List[dict], path: str, title: str = "") -> None:
    """SI-SNRi (and, when measured, on real speech) against compute per second of audio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    biggest = max(r["params"] for r in rows)
    xs = [r["seconds_per_second"] for r in rows]
    middle = (max(xs) + min(xs)) / 2
    for k, row in enumerate(rows):
        color = f"C{k}"
        size = 60 + 600 * row["params"] / biggest
        x = row["seconds_per_second"]
        ax.scatter(x, row["si_snr_i"], s=size, color=color, alpha=0.75, edgecolors="k")
        text = f"{row['label']} ({row['params'] / 1e3:.0f}k)"
        # Labels of the right half go to the left of their point: none runs off the figure.
        right = len(rows) > 1 and x > middle
        offset = (-8 if right else 8, -16 if _has_neighbour_above(rows, k) else 8)
        ax.annotate(
            text,
            (x, row["si_snr_i"]),
            xytext=offset,
            textcoords="offset points",
            ha="right" if right else "left",
        )
        if row.get("si_snr_i_real_speech") is not None:
            y = row["si_snr_i_real_speech"]
            ax.scatter(x, y, s=size, facecolors="none", edgecolors=color, linewidths=1.5)
            ax.plot([x, x], [row["si_snr_i"], y], color=color, lw=0.8, ls=":")
    ax.set_xlabel(f"seconds of compute per second of audio ({rows[0]['device']})")
    ax.set_ylabel("SI-SNRi (dB)")
    if any(r.get("si_snr_i_real_speech") is not None for r in rows):
        title += "\nfilled: own test set, hollow: real read speech (unseen speakers)"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    ax.margins(0.15)  # room for the labels of the outermost points
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(rows: List[dict], out_dir: str, title: str = "") -> List[str]:
    """``results.csv``, ``results.json`` and ``results.png`` in ``out_dir``; their paths."""
    import pandas as pd

    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, f"results.{ext}") for ext in ("csv", "json", "png")]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(paths[0], index=False)
    xp.write_json(paths[1], rows)
    plot(rows, paths[2], title)
    return paths


def budget_text(rows: List[dict]) -> str:
    """The training budget of the compared experiments (their ``training.max_minutes``), for
    a title: ``"7 min"``, ``"0.1-7 min"`` when they differ, ``"no time limit"``."""
    budgets = sorted({row.get("budget_minutes") for row in rows}, key=lambda b: (b is None, b))
    if budgets == [None]:
        return "no time limit"
    numbers = [f"{b:g}" for b in budgets if b is not None]
    text = f"{numbers[0]} min" if len(numbers) == 1 else f"{numbers[0]}-{numbers[-1]} min"
    return text + (" or no limit" if None in budgets else "")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("exp_dirs", nargs="+", help="trained and evaluated experiment folders")
    parser.add_argument("--out_dir", required=True)
    parser.add_argument(
        "--seconds", type=positive_float, default=4.0, help="input length for timing"
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for the timing")
    parser.add_argument(
        "--title",
        default="",
        help="figure title; {budget} becomes the experiments' training budget (their "
        "training.max_minutes, e.g. '7 min')",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for exp_dir in args.exp_dirs:
        try:
            rows.append(collect(exp_dir, args.seconds, args.device))
        except (FileNotFoundError, ValueError) as err:
            print(f"{exp_dir}: {err}", file=sys.stderr)
            return 2
        row = rows[-1]
        print(
            f"{row['label']:>20}: SI-SNRi {row['si_snr_i']:.2f} dB, "
            f"{row['seconds_per_second']:.4f} s/s, {row['params']:,} parameters"
        )
    paths = write_results(rows, args.out_dir, args.title.replace("{budget}", budget_text(rows)))
    print("Wrote " + ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
