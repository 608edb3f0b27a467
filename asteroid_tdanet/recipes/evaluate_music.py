"""Stage 3 of the music recipe: separate whole test songs (chunked, cross-faded: what users
run) and score them the way music separation reports it (:mod:`.music_metrics`).

Writes under ``<exp_dir>/eval/``: ``all_metrics.csv`` (one row per song and output: the
MUSDB "SDR" = median over 1 s frames, the uSDR, and the same for the unprocessed mixture
as the estimate), ``final_metrics.json`` (:func:`.music_metrics.summarize` of the model and
of the mixture, and their difference), ``metrics.png`` and ``examples/<song>/``.
Called by :mod:`.evaluate` when the experiment's data is a music corpus.
"""

import os
import sys
import time
from typing import List, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from tqdm import tqdm

from . import experiment as xp
from .dataset import BadAudioFileError
from .music_data import MIXTURE, STEMS, Song, scan_split, targets_of
from .music_metrics import evaluate_track, summarize

EXAMPLE_SECONDS = 30.0  # examples are excerpts: whole songs would be tens of MB each


def references_of(song: Song, names: Sequence[str], targets: Sequence[str]) -> np.ndarray:
    """``(len(names), 2, time)``: each target stem, and for a residual output (the names
    after the targets, e.g. ``accompaniment``) the sum of the other stems."""
    stems = {stem: song.read(stem) for stem in STEMS}
    refs = [stems[t] for t in targets]
    if len(names) > len(targets):
        refs.append(sum(stems[s] for s in STEMS if s not in targets))
    return np.stack(refs)


def evaluate_songs(
    model,
    songs: List[Song],
    targets: Sequence[str],
    out_dir: str,
    n_save_ex: int,
    device: str = "cpu",
    chunk_seconds=None,
):
    """Separate every song with :class:`~asteroid_tdanet.inference.Separator` and score
    it. Returns ``(rows DataFrame, per-track results of the model, of the mixture)``."""
    from ..inference import Separator
    from ..inference.overlap_add import NonFiniteOutput

    separator = Separator(model, device=device, chunk_seconds=chunk_seconds)
    names = separator.layout.names
    rows, per_track, per_track_mix = [], [], []
    examples = xp.fresh_examples_dir(out_dir)
    for index, song in enumerate(tqdm(songs, desc="evaluating", unit="song", mininterval=2)):
        mixture = song.read(MIXTURE)
        try:
            estimates = separator.separate_tensor(torch.from_numpy(mixture)).numpy()
        except NonFiniteOutput as err:  # e.g. a diverged training: scored as undefined
            print(f"warning: {song.name}: {err}; its metrics are undefined", file=sys.stderr)
            estimates = np.full((len(names),) + mixture.shape, np.nan, dtype=np.float32)
        refs = references_of(song, names, targets)
        model_res = evaluate_track(refs, estimates, song.sample_rate, names, song.name)
        mix_res = evaluate_track(
            refs, np.broadcast_to(mixture, refs.shape), song.sample_rate, names, song.name
        )
        per_track.append(model_res)
        per_track_mix.append(mix_res)
        for name in names:
            ours, base = model_res["targets"][name], mix_res["targets"][name]
            rows.append(
                dict(
                    song=song.name,
                    target=name,
                    seconds=song.frames / song.sample_rate,
                    SDR=ours["cSDR"],
                    uSDR=ours["uSDR"],
                    input_SDR=base["cSDR"],
                    input_uSDR=base["uSDR"],
                    SDR_imp=ours["cSDR"] - base["cSDR"],
                    uSDR_imp=ours["uSDR"] - base["uSDR"],
                )
            )
        if index < n_save_ex:
            _save_example(examples, song, mixture, estimates, refs, names)
    return pd.DataFrame(rows), per_track, per_track_mix


def _save_example(examples, song, mixture, estimates, refs, names) -> None:
    """An excerpt (the middle :data:`EXAMPLE_SECONDS`) of the mixture, estimates and
    references, stereo, at the song's rate, in ``examples/<song>``."""
    rate = song.sample_rate
    length = min(song.frames, int(EXAMPLE_SECONDS * rate))
    start = (song.frames - length) // 2
    folder = os.path.join(examples, song.name)
    os.makedirs(folder, exist_ok=True)
    cut = slice(start, start + length)
    sf.write(os.path.join(folder, "mixture.wav"), mixture[:, cut].T, rate, subtype="FLOAT")
    for name, est, ref in zip(names, estimates, refs):
        sf.write(os.path.join(folder, f"{name}_estimate.wav"), est[:, cut].T, rate, "FLOAT")
        sf.write(os.path.join(folder, f"{name}.wav"), ref[:, cut].T, rate, "FLOAT")


def improvement(model_summary: dict, mixture_summary: dict) -> dict:
    """Per output and on average: the model's ``SDR`` / ``uSDR_mean`` less the mixture's."""

    def diff(a, b):
        return None if a is None or b is None else a - b

    out = {
        name: {k: diff(t[k], mixture_summary["targets"][name][k]) for k in ("SDR", "uSDR_mean")}
        for name, t in model_summary["targets"].items()
    }
    out["average"] = {
        k: diff(model_summary["average"][k], mixture_summary["average"][k])
        for k in ("SDR", "uSDR_mean")
    }
    return out


def headline(final: dict) -> str:
    """``vocals SDR x dB (+y over the mixture), uSDR z dB``, for the first output."""
    name = next(iter(final["targets"]))
    t, imp = final["targets"][name], final["improvement"][name]

    def num(x):
        return "n/a" if x is None else f"{x:.2f}"

    return (
        f"{name} SDR {num(t['SDR'])} dB ({num(imp['SDR'])} dB over the mixture), "
        f"uSDR {num(t['uSDR_mean'])} dB"
    )


def plot_music(df: pd.DataFrame, path: str, title: str) -> None:
    """PNG: per song and output, the SDR of the mixture and of the model (bars), and the
    SDR improvement distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(df["target"]))
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(5 * (len(names) + 1), 4.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        part = df[df["target"] == name]
        x = np.arange(len(part))
        ax.bar(x - 0.2, part["input_SDR"], 0.4, label="mixture", color="tab:gray")
        ax.bar(x + 0.2, part["SDR"], 0.4, label="model", color="tab:blue")
        ax.set_xticks(x)
        ax.set_xticklabels([s[:18] for s in part["song"]], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(f"{name} SDR (dB, median of 1 s frames)")
        ax.axhline(0, color="k", linewidth=0.5)
        ax.legend(fontsize=8)
        ax.set_title(name)
    ax = axes[0, -1]
    for name in names:
        ax.hist(df[df["target"] == name]["SDR_imp"].dropna(), bins=15, alpha=0.6, label=name)
    ax.set_xlabel("SDR improvement over the mixture (dB)")
    ax.set_ylabel("songs")
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def run(args, conf: dict, out_dir: str, device: str) -> int:
    """Stage 3 for a music experiment (``args`` of :func:`.evaluate.main`)."""
    from ..models import load_model

    data = conf["data"]
    final_path = os.path.join(out_dir, xp.FINAL_METRICS)
    split = args.test_dir or data.get("test_split", "test")
    try:
        songs = scan_split(data["root"], split, int(data["sample_rate"]))
    except (BadAudioFileError, FileNotFoundError, ValueError) as err:
        print(f"Data error: {err}", file=sys.stderr)
        return 2
    if args.max_utterances:
        songs = songs[: args.max_utterances]
    model = load_model(os.path.join(args.exp_dir, xp.BEST_MODEL))
    targets = targets_of(data)
    stems = tuple(getattr(model, "stems", ()) or ())
    if stems != targets:
        print(
            f"Conf error: the model separates {', '.join(stems) or 'no named stem'}, the "
            f"data's targets are {', '.join(targets)} (run.sh --task).",
            file=sys.stderr,
        )
        return 2
    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    try:
        df, per_track, per_track_mix = evaluate_songs(
            model, songs, targets, out_dir, args.n_save_ex, device
        )
    except BadAudioFileError as err:  # a file that became unreadable since the scan
        print(f"Data error: {err}", file=sys.stderr)
        return 2
    df.to_csv(os.path.join(out_dir, "all_metrics.csv"), index=False)
    final = summarize(per_track)
    final["mixture"] = summarize(per_track_mix)
    final["improvement"] = improvement(final, final["mixture"])
    final.update(
        test_split=os.path.join(data["root"], split),
        task=data["task"],
        sample_rate=data["sample_rate"],
        wall_time_s=round(time.time() - start, 1),
    )
    plot_music(df, os.path.join(out_dir, "metrics.png"), f"{headline(final)} ({len(songs)} songs)")
    xp.write_json(final_path, final)
    print(f"{headline(final)} on {len(songs)} songs -> {out_dir}")
    return 0
