"""Evaluation figure: metric distributions and one example's spectrograms."""
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")  # headless: recipes run on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def plot_evaluation(metrics: pd.DataFrame, columns: List[str], example: Dict[str, np.ndarray],
                    sample_rate: int, path: str, title: str = "") -> None:
    """Save a PNG: one histogram per metric column (top row), then the spectrograms of
    ``example`` (``{"mixture": (time,), "estimate 1": ..., "reference 1": ...}``)."""
    n_top, n_bottom = len(columns), len(example)
    n_cols = max(n_top, (n_bottom + 1) // 2)
    fig = plt.figure(figsize=(4 * n_cols, 9))
    grid = fig.add_gridspec(3, n_cols)
    for i, col in enumerate(columns):
        ax = fig.add_subplot(grid[0, i])
        values = metrics[col].dropna()
        ax.hist(values, bins=20, color="tab:blue", alpha=0.8)
        ax.axvline(values.mean(), color="k", linestyle="--", label=f"mean {values.mean():.2f}")
        ax.set_xlabel(col)
        ax.set_ylabel("utterances")
        ax.legend(fontsize=8)
    for j, (name, signal) in enumerate(example.items()):
        ax = fig.add_subplot(grid[1 + j // n_cols if n_bottom > n_cols else 1 + j // 2,
                                  j % n_cols if n_bottom > n_cols else j % 2])
        ax.specgram(signal + 1e-9, Fs=sample_rate, NFFT=256, noverlap=192, cmap="magma")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("Hz")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
