"""Stage 3: evaluate ``best_model.pth`` on the full test utterances.

Writes, under ``<exp_dir>/eval/``: ``all_metrics.csv`` (one row per mixture),
``final_metrics.json`` (means; ``*_imp`` = improvement over the mixture, i.e. SI-SNRi/SDRi),
``examples/<mixture_ID>/{mixture,s<i>,s<i>_estimate}.wav`` and ``metrics.png``. Music
experiments (``data.layout: musdb``): whole songs, MUSDB SDR and uSDR (:mod:`.evaluate_music`).

A test mixture with a reference source that is digital silence (all zeros) is skipped before
it is separated: SI-SDR and SDR are not defined against silence (SI-SDR would be an
eps-driven -80 dB or so per silent source, SDR NaN); one line names the first such file and
the count, and ``final_metrics.json`` records them (``n_skipped_silent_reference``,
``skipped_silent_reference``).

An existing ``final_metrics.json`` is refused (exit 3) unless ``--force true``; with
``--keep_existing true`` (run.sh's stage 3) it is kept (exit 0) when newer than the model and
its test csv.

Usage: ``python -m asteroid_tdanet.recipes.evaluate --exp_dir exp/tdanet_x
[--test_dir data/.../test] [--n_save_ex 5] [--force true]``
"""

import argparse
import logging
import math
import os
import sys
import time
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
from asteroid.metrics import get_metrics
from tqdm import tqdm

from ..inference.runner import resolve_device
from ..utils.arg_types import non_negative_int
from ..utils.docs import doc_summary
from . import experiment as xp
from .config import load_conf, str2bool
from .dataset import BadAudioFileError, CsvMixDataset
from .music_data import is_music_data

logger = logging.getLogger(__name__)


def metrics_for(sample_rate: int) -> list:
    """SI-SDR, SDR, STOI always; PESQ only where it is defined (8 kHz nb, 16 kHz wb)."""
    return ["si_sdr", "sdr", "stoi"] + (["pesq"] if sample_rate in (8000, 16000) else [])


def utterance_metrics(mix, sources, estimates, sample_rate, names) -> dict:
    """``get_metrics`` per metric, so one undefined metric (PESQ on a near-silent reference)
    gives NaN for that metric only. Arrays: mix ``(time,)``, sources/estimates
    ``(n_src, time)``."""
    out = {}
    for name in names:
        try:
            values = get_metrics(
                mix, sources, estimates, sample_rate=sample_rate, metrics_list=[name]
            )
        except Exception as err:  # pesq raises on "no utterances detected"
            logger.debug("%s undefined: %s", name, err)
            values = {name: math.nan, f"input_{name}": math.nan}
        out.update({k: float(v) for k, v in values.items()})
        out[f"{name}_imp"] = out[name] - out[f"input_{name}"]
    return out


def silent_sources(sources) -> List[int]:
    """Indices of the sources ``(n_src, time)`` that are digital silence (all zeros)."""
    return [i for i in range(len(sources)) if not bool((sources[i] != 0).any())]


def evaluate(
    model,
    test_set: CsvMixDataset,
    out_dir: str,
    n_save_ex: int,
    device: str = "cpu",
    metrics: Optional[List[str]] = None,
) -> Tuple[pd.DataFrame, List[dict]]:
    """Separate every test mixture, reorder estimates by PIT (SI-SDR) and score them with
    ``metrics`` (default :func:`metrics_for` the test set's rate).

    Returns the scores (one row per scored mixture) and the mixtures skipped because a
    reference source is digital silence (``mixture_ID``, ``path`` of the first silent
    source): they are not separated nor scored. Raises ``ValueError`` when every mixture is."""
    loss = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    names = metrics or metrics_for(test_set.sample_rate)
    rows, skipped = [], []
    rng = np.random.default_rng(0)
    save_idx = set(
        rng.choice(len(test_set), size=min(n_save_ex, len(test_set)), replace=False).tolist()
    )
    model.eval().to(device)
    examples = xp.fresh_examples_dir(out_dir)
    for idx in tqdm(range(len(test_set)), desc="evaluating", unit="utt", mininterval=2):
        mix, sources, mix_id = test_set[idx]
        silent = silent_sources(sources)
        if silent:
            path = test_set.df.iloc[idx][test_set.src_cols[silent[0]]]
            skipped.append(dict(mixture_ID=str(mix_id), path=str(path)))
            continue
        with torch.no_grad():
            est = model(mix[None].to(device)).cpu()
        _, est = loss(est, sources[None], return_est=True)
        mix_np, src_np, est_np = mix.numpy(), sources.numpy(), est[0].numpy()
        row = dict(mixture_ID=mix_id, seconds=len(mix_np) / test_set.sample_rate)
        row.update(utterance_metrics(mix_np, src_np, est_np, test_set.sample_rate, names))
        rows.append(row)
        if idx in save_idx:
            ex_dir = os.path.join(examples, str(mix_id))
            os.makedirs(ex_dir, exist_ok=True)
            sr = test_set.sample_rate
            sf.write(os.path.join(ex_dir, "mixture.wav"), mix_np, sr)
            for i in range(len(src_np)):
                sf.write(os.path.join(ex_dir, f"s{i + 1}.wav"), src_np[i], sr)
                # Scale estimates to the mixture's peak so they are audible, not clipped.
                peak = np.abs(est_np[i]).max() + 1e-9
                sf.write(
                    os.path.join(ex_dir, f"s{i + 1}_estimate.wav"),
                    est_np[i] * np.abs(mix_np).max() / peak,
                    sr,
                )
    if skipped:
        logger.warning(
            "%s: skipped %d of %d test mixtures with a reference source that is digital "
            "silence (SI-SDR and SDR are undefined against silence), e.g. %s (%s).",
            test_set.csv_path,
            len(skipped),
            len(test_set),
            skipped[0]["path"],
            skipped[0]["mixture_ID"],
        )
    if len(skipped) == len(test_set):
        raise ValueError(
            f"{test_set.csv_path}: every test mixture has a reference source that is digital "
            f"silence (e.g. {skipped[0]['path']}): nothing to score."
        )
    return pd.DataFrame(rows), skipped


def summarize(
    df: pd.DataFrame, n_skipped: int, extra: dict, silent_reference: Sequence[str] = ()
) -> dict:
    """``final_metrics.json``: the mean of every numeric column of ``df`` (NaN left out:
    ``n_undefined`` counts them per column), ``n_utterances`` (rows of ``df``), ``n_skipped``
    (mixtures not scored: ``n_skipped`` of the dataset plus those of ``silent_reference``, the
    ``mixture_ID`` s skipped for a silent reference source, also listed as
    ``skipped_silent_reference``), ``si_snr_i`` / ``sdr_i`` and ``extra``."""
    numeric = df.drop(columns=["mixture_ID"]).select_dtypes("number")
    final = {k: float(v) for k, v in numeric.mean(skipna=True).items()}
    final["n_utterances"] = len(df)
    final["n_undefined"] = {k: int(v) for k, v in numeric.isna().sum().items() if v}
    final["n_skipped"] = n_skipped + len(silent_reference)
    final["n_skipped_silent_reference"] = len(silent_reference)
    final["skipped_silent_reference"] = list(silent_reference)
    # Conventional names for the headline numbers.
    final["si_snr_i"] = final.get("si_sdr_imp")  # None when SI-SDR was not computed
    final["sdr_i"] = final.get("sdr_imp")  # None when SDR was not computed (--metrics)
    final.update(extra)
    return final


# The headline's numbers, when computed: (label, final_metrics.json key, format).
HEADLINE = (
    ("SI-SNRi", "si_sdr_imp", "{:.2f} dB"),
    ("SDRi", "sdr_imp", "{:.2f} dB"),
    ("STOI", "stoi", "{:.3f}"),
    ("PESQ", "pesq", "{:.2f}"),
)


def _utterances(count: int) -> str:
    return f"{count} utterance{'' if count == 1 else 's'}"


def headline(final: dict) -> str:
    """``SI-SNRi x dB, SDRi y dB, STOI z, PESQ w on N utterances``: the numbers computed (see
    ``--metrics``), each a mean over the utterances where it is defined. When those counts
    differ (SDR is NaN where an estimate is silent), each number states its own; a
    count short of ``n_utterances`` says how many were undefined. Mixtures skipped for a
    silent reference source are counted at the end."""
    total = final["n_utterances"]
    undefined = final.get("n_undefined") or {}
    items = [
        (label, final[key], fmt, total - undefined.get(key, 0))
        for label, key, fmt in HEADLINE
        if final.get(key) is not None
    ]

    def on(count: int) -> str:
        if count == total:
            return f"on {_utterances(total)}"
        if count == 0:
            return f"on all {_utterances(total)}"  # after "<label> undefined"
        return f"on {count} of {_utterances(total)} ({total - count} undefined)"

    def number(label: str, value: float, fmt: str, count: int) -> str:
        return f"{label} {fmt.format(value)}" if count else f"{label} undefined"

    if len({count for *_, count in items}) <= 1:
        text = ", ".join(number(*item) for item in items)
        text += f" {on(items[0][3] if items else total)}"
    else:
        text = ", ".join(f"{number(*item)} {on(item[3])}" for item in items)
    n_silent = final.get("n_skipped_silent_reference", 0)
    if n_silent:
        text += f"; {n_silent} skipped (a silent reference source)"
    return text


# Which utterance metrics.png shows: the one closest to the median of the first of these
# improvements that was computed and is defined somewhere (label for the figure's title).
TYPICAL = (
    ("si_sdr_imp", "SI-SNRi"),
    ("sdr_imp", "SDRi"),
    ("stoi_imp", "STOI improvement"),
    ("pesq_imp", "PESQ improvement"),
)


def typical_utterance(df: pd.DataFrame) -> Tuple[Optional[int], str]:
    """Row of ``df`` closest to the median of the first :data:`TYPICAL` column it has with a
    defined value, and that column's label; ``(None, "")`` when none has."""
    for column, label in TYPICAL:
        values = df[column].dropna() if column in df else ()
        if len(values):
            return int((values - values.median()).abs().idxmin()), label
    return None, ""


def newer_inputs(final_path: str, model_path: str) -> List[str]:
    """What an evaluation's ``final_metrics.json`` was made from (the model, the test csv it
    records) and has changed since it was written (a rebuilt real-speech set, a new stage
    1): such results are not kept."""
    try:
        test_csv = xp.read_json(final_path).get("test_csv")
    except (OSError, ValueError, AttributeError):
        test_csv = None
    written = os.path.getmtime(final_path)
    inputs = [model_path] + ([test_csv] if test_csv else [])
    return [p for p in inputs if os.path.exists(p) and os.path.getmtime(p) > written]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--exp_dir", required=True)
    parser.add_argument(
        "--test_dir",
        default=None,
        help="csv dir (default: conf test_dir); music: the split folder under data.root "
        "(default: conf test_split)",
    )
    parser.add_argument("--task", default=None, help="default: the training task")
    parser.add_argument(
        "--n_save_ex", type=non_negative_int, default=5, help="example folders to save (>= 0)"
    )
    parser.add_argument(
        "--max_utterances", type=non_negative_int, default=0, help="0 = all (music: songs)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--out_name",
        default=xp.EVAL_DIR,
        help="results folder inside exp_dir (e.g. eval_real_speech for another test set)",
    )
    parser.add_argument(
        "--metrics",
        default="",
        help="comma-separated subset of si_sdr,sdr,stoi,pesq (default: all defined; si_sdr "
        "alone is about 50x faster than with SDR on long utterances)",
    )
    parser.add_argument("--force", type=str2bool, default=False)
    parser.add_argument(
        "--keep_existing",
        type=str2bool,
        default=False,
        help="an existing evaluation (final_metrics.json newer than the model and its test "
        "csv) is kept, exit 0, instead of refused, exit 3 (run.sh's stage 3: each of its "
        "evaluations is done once)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..models import load_model
    from .plots import plot_evaluation

    out_dir = os.path.join(args.exp_dir, args.out_name)
    final_path = os.path.join(out_dir, xp.FINAL_METRICS)
    try:
        xp.require(os.path.join(args.exp_dir, xp.BEST_MODEL), 2)
        if args.keep_existing and not args.force and os.path.exists(final_path):
            newer = newer_inputs(final_path, os.path.join(args.exp_dir, xp.BEST_MODEL))
            if not newer:
                print(f"Evaluation done already: keeping {final_path} (--force true redoes it).")
                return 0
            raise xp.ExperimentExists(
                f"{final_path} is older than {newer[0]}, which changed since: not keeping it; "
                f"pass --force true to redo stage 3, or move {out_dir} away."
            )
        xp.check_output(final_path, "An evaluation", 3, args.force)
    except (FileNotFoundError, xp.ExperimentExists) as err:
        print(err, file=sys.stderr)
        return xp.REFUSED if isinstance(err, xp.ExperimentExists) else 2
    conf = load_conf(os.path.join(args.exp_dir, xp.CONF))
    data = conf["data"]
    if args.device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        try:
            device = str(resolve_device(args.device))
        except ValueError as err:
            print(f"--device: {err}", file=sys.stderr)
            return 2
    if is_music_data(data):  # music: whole songs, MUSDB SDR / uSDR
        from . import evaluate_music

        return evaluate_music.run(args, conf, out_dir, device)
    try:
        test_set = CsvMixDataset(
            args.test_dir or data["test_dir"],
            task=args.task or data["task"],
            sample_rate=data["sample_rate"],
            n_src=data["n_src"],
            segment=None,
            return_id=True,
        )
    except (BadAudioFileError, FileNotFoundError, ValueError) as err:
        print(f"Data error: {err}", file=sys.stderr)
        return 2
    if args.max_utterances:
        test_set.df = test_set.df.iloc[: args.max_utterances]
    metrics = [m for m in args.metrics.split(",") if m] or None
    unknown = sorted(set(metrics or []) - set(metrics_for(data["sample_rate"])))
    if unknown:
        print(f"--metrics: {unknown} not among {metrics_for(data['sample_rate'])}", file=sys.stderr)
        return 2
    model = load_model(os.path.join(args.exp_dir, xp.BEST_MODEL))
    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    try:
        df, silent = evaluate(model, test_set, out_dir, args.n_save_ex, device, metrics)
    except ValueError as err:  # every mixture has a silent reference source
        print(f"Data error: {err}", file=sys.stderr)
        return 2
    df.to_csv(os.path.join(out_dir, "all_metrics.csv"), index=False)
    final = summarize(
        df,
        test_set.skipped,
        dict(
            test_csv=test_set.csv_path,
            task=args.task or data["task"],
            sample_rate=data["sample_rate"],
            wall_time_s=round(time.time() - start, 1),
        ),
        silent_reference=[s["mixture_ID"] for s in silent],
    )
    columns = [c for c in ("si_sdr_imp", "sdr_imp", "stoi", "pesq") if c in df]
    # The figure shows a typical case: the utterance closest to the median SI-SNRi (or, without
    # SI-SDR, of the first other improvement computed).
    typical, label = typical_utterance(df)
    if typical is None:
        logger.info("metrics.png: no example utterance (no improvement is defined for any).")
        example = dict(mixture=None, estimates=None, references=None, example_name="")
        about = "no example (no improvement defined)"
    else:
        mix_id = df.loc[typical, "mixture_ID"]
        index = int(np.flatnonzero((test_set.df["mixture_ID"] == mix_id).to_numpy())[0])
        mix, sources, _ = test_set[index]
        with torch.no_grad():
            est = model.cpu()(mix[None])
        _, est = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")(
            est, sources[None], return_est=True
        )
        example = dict(
            mixture=mix.numpy(),
            estimates=est[0].numpy(),
            references=sources.numpy(),
            example_name=str(mix_id),
        )
        about = f"example: the utterance with the median {label}"
    plot_evaluation(
        df,
        columns,
        sample_rate=data["sample_rate"],
        path=os.path.join(out_dir, "metrics.png"),
        title=f"{headline(final)}; {about}",
        **example,
    )
    xp.write_json(final_path, final)
    print(f"{headline(final)} -> {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
