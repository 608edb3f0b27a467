"""Evaluation figure: metric distributions and one example's spectrograms."""

from typing import List, Optional

import matplotlib

matplotlib.use("Agg")  # headless: recipes run on servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DYNAMIC_RANGE_DB = 80.0


def plot_evaluation(
    metrics: pd.DataFrame,
    columns: List[str],
    mixture: Optional[np.ndarray],
    estimates: Optional[np.ndarray],
    references: Optional[np.ndarray],
    sample_rate: int,
    path: str,
    title: str = "",
    example_name: str = "",
) -> None:
    """Save a PNG: one histogram per metric column (top row); the example's mixture and
    estimates (middle row) above its references (bottom row), on one colour scale.

    Shapes: ``mixture (time,)``, ``estimates`` and ``references`` ``(n_src, time)``
    (estimates already in the references' order). ``mixture`` ``None``: no example, the
    histograms only.
    """
    n_src = 0 if mixture is None else len(references)
    n_cols = max(len(columns), n_src + 1)
    n_rows = 1 if mixture is None else 3
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4 * n_cols, 3 * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, col in zip(axes[0], columns):
        values = metrics[col].dropna()
        ax.set_visible(True)
        ax.hist(values, bins=20, color="tab:blue", alpha=0.8)
        ax.axvline(values.mean(), color="k", linestyle="--", label=f"mean {values.mean():.2f}")
        ax.set_xlabel(col)
        ax.set_ylabel("utterances")
        ax.legend(fontsize=8)
    if mixture is None:
        _save(fig, path, title)
        return
    # One colour scale for all panels so estimates and references compare directly.
    vmax = 10 * np.log10(np.max(np.abs(mixture)) ** 2 + 1e-12)
    panels = [(axes[1, 0], mixture, f"mixture {example_name}"[:50])]
    panels += [(axes[1, i + 1], estimates[i], f"estimate {i + 1}") for i in range(n_src)]
    panels += [(axes[2, i + 1], references[i], f"reference {i + 1}") for i in range(n_src)]
    # Digital silence is -inf dB: drawn in the floor's colour, not left blank (white).
    cmap = matplotlib.colormaps["magma"].copy()
    cmap.set_bad(cmap(0.0))
    cmap.set_under(cmap(0.0))
    for ax, signal, name in panels:
        ax.set_visible(True)
        with np.errstate(divide="ignore"):
            ax.specgram(
                signal,
                Fs=sample_rate,
                NFFT=256,
                noverlap=192,
                cmap=cmap,
                vmin=vmax - DYNAMIC_RANGE_DB - 30,
                vmax=vmax - 30,
            )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("Hz")
    _save(fig, path, title)


def _save(fig, path: str, title: str) -> None:
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
