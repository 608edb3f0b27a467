"""Why a second CPU thread helps little on short inputs: the fixed cost of a pass, and the
group norm's single-thread path for maps under 1,024 frames.

The performance issue asks for a 2-thread speed-up of at least 1.6x; ``performance.py
--thread-lengths`` measured 1.23x at 1 s and 1.64-1.69x at 10 s and 60 s. This script
measures the two causes, in one process (thread counts alternating, best of ``--repeats``):

1. *Fixed cost*: a batch-1 ``tdanet`` forward pass on a very short input (``--tiny-seconds``,
   default 0.02 s) costs about what every pass costs whatever its length: Python, the
   dispatcher and one thread hand-off for each of the pass's operators (counted at
   ``--seconds`` with a ``TorchDispatchMode``). If the rest of a pass at ``--seconds``
   halved on two threads, its speed-up would be at most ``t1 / (f2 + (t1 - f1) / 2)``
   (Amdahl, ``f`` the short pass, ``t`` the long one, on 1 / 2 threads): ``amdahl_bound``.
   ``--traced``: the same for ``torch.jit.trace`` + ``torch.jit.freeze`` of the model (no
   Python per operator; the fused nearest up-sampling then takes its literal form).
2. *gLN*: PyTorch's CPU ``group_norm`` (one group, a frame-major 512 x T map: the gLN of
   every convolution of the U-block) on 1 and 2 threads for each ``--frames``. Its
   channels-last kernel splits an item over threads only from 1,024 frames; TDANet's largest
   map at 1 s of 16 kHz audio has 1,003 (``masker_frames``).

Usage::

    python benchmarks/thread_scaling.py --traced       # README numbers
    python benchmarks/thread_scaling.py --quick        # tiny model, short inputs (tests)

Writes ``--json`` (default ``benchmarks/results_thread_scaling.json``) and ``--png`` (default:
``--json`` with ``.png``): the group norm's speed-up against frames, and each pass split
into its fixed part and the rest.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections import Counter

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "results_thread_scaling.json")
THREADS = (1, 2)
# Frame counts around the kernel's threshold and TDANet's scales at 1 s / 10 s (16 kHz).
DEFAULT_FRAMES = (63, 126, 251, 502, 1003, 1023, 1024, 1100, 2006, 10003)


class OperatorCount(TorchDispatchMode):
    """Counts the ATen operators (views included) that run under it."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[str(func)] += 1
        return func(*args, **(kwargs or {}))


def build_model(quick: bool, sample_rate: int):
    from asteroid_tdanet import TDANet

    torch.manual_seed(0)
    if quick:
        return TDANet(
            sample_rate=sample_rate, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3
        ).eval()
    return TDANet(sample_rate=sample_rate).eval()


def masker_frames(model, wav: torch.Tensor) -> int:
    """Frames of the map the masker receives (its largest) for input ``wav``."""
    seen = []
    hook = model.masker.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[-1]))
    try:
        with torch.inference_mode():
            model(wav)
    finally:
        hook.remove()
    return int(seen[0])


def count_operators(model, wav: torch.Tensor) -> dict:
    counter = OperatorCount()
    with torch.inference_mode(), counter:
        model(wav)
    return dict(total=sum(counter.counts.values()), top=dict(counter.counts.most_common(8)))


def best_times(calls: dict, repeats: int) -> dict:
    """Best wall time in seconds of each ``key -> callable``, run on ``key[-1]`` threads; the
    calls alternate (round-robin, ``repeats`` rounds after one warm-up round), so drifts of a
    shared machine fall on all of them alike."""
    best = {key: float("inf") for key in calls}
    for round_ in range(repeats + 1):
        for key, call in calls.items():
            torch.set_num_threads(key[-1])
            start = time.perf_counter()
            call()
            if round_:
                best[key] = min(best[key], time.perf_counter() - start)
    return best


def pass_costs(model, sample_rate: int, tiny: float, seconds: float, repeats: int, traced: bool):
    """Rows ``{form, threads, audio_seconds, seconds}`` of forward passes on ``tiny`` and
    ``seconds`` of noise, eager and (``traced``) TorchScript-frozen."""
    inputs = {s: torch.randn(1, int(round(s * sample_rate))) for s in (tiny, seconds)}
    forms = {"eager": model}
    if traced:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            example = inputs[seconds]
            forms["traced"] = torch.jit.freeze(torch.jit.trace(model, example, check_trace=False))
    calls = {}
    for form, module in forms.items():
        for s, wav in inputs.items():
            for threads in THREADS:
                calls[(form, s, threads)] = lambda module=module, wav=wav: module(wav)
    with torch.inference_mode():
        best = best_times(calls, repeats)
    return [
        dict(form=form, audio_seconds=s, threads=threads, seconds=value)
        for (form, s, threads), value in best.items()
    ]


def group_norm_scaling(frames: list, channels: int, repeats: int, calls_per_time: int) -> list:
    """Rows ``{frames, threads, ms}``: one ``group_norm`` (one group, frame-major
    ``(1, channels, frames)`` map as the height-1 image gLN passes) per call, mean of
    ``calls_per_time`` calls, best of ``repeats``."""
    rows = []
    for n in frames:
        x = torch.randn(1, n, channels).transpose(1, 2).unsqueeze(2)  # frame-major
        weight, bias = torch.randn(channels), torch.randn(channels)

        def call():
            for _ in range(calls_per_time):
                F.group_norm(x, 1, weight, bias, 1e-8)

        best = best_times({("group_norm", t): call for t in THREADS}, repeats)
        for (_, threads), value in best.items():
            rows.append(dict(frames=n, threads=threads, ms=1e3 * value / calls_per_time))
    return rows


def _time(rows, form, audio_seconds, threads) -> float:
    (row,) = [
        r
        for r in rows
        if r["form"] == form and r["audio_seconds"] == audio_seconds and r["threads"] == threads
    ]
    return row["seconds"]


def summarize(passes: list, norms: list, tiny: float, seconds: float) -> dict:
    """Per form: the 2-thread speed-up at ``seconds``, the fixed cost (the ``tiny`` pass) and
    its share, the speed-up of the rest of the pass, and the Amdahl bound (that rest halved
    on two threads). Per frame count: the group norm's 2-thread speed-up."""
    summary = {}
    for form in sorted({r["form"] for r in passes}):
        t1, t2 = (_time(passes, form, seconds, t) for t in THREADS)
        f1, f2 = (_time(passes, form, tiny, t) for t in THREADS)
        summary[form] = dict(
            seconds_1_thread=t1,
            seconds_2_threads=t2,
            speedup=t1 / t2,
            fixed_1_thread=f1,
            fixed_2_threads=f2,
            fixed_share_1_thread=f1 / t1,
            rest_speedup=(t1 - f1) / (t2 - f2) if t2 > f2 else float("nan"),
            amdahl_bound=t1 / (f2 + max(t1 - f1, 0.0) / 2),
        )
    by_frames = {}
    for row in norms:
        by_frames.setdefault(row["frames"], {})[row["threads"]] = row["ms"]
    summary["group_norm_speedup"] = {str(n): ms[1] / ms[2] for n, ms in sorted(by_frames.items())}
    return summary


def plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    speedups = result["summary"]["group_norm_speedup"]
    frames = [int(n) for n in speedups]
    ax.plot(frames, list(speedups.values()), "o-")
    ax.axvline(
        result["masker_frames"],
        color="tab:red",
        ls="--",
        label=f"TDANet's largest map at {result['settings']['seconds']:g} s",
    )
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel(f"frames ({result['settings']['channels']} channels, frame-major)")
    ax.set_ylabel("group_norm: 1-thread / 2-thread time")
    ax.set_title("gLN's kernel on two threads")
    ax.legend(fontsize=8)

    labels, fixed, rest = [], [], []
    for form in sorted(k for k in result["summary"] if k != "group_norm_speedup"):
        s = result["summary"][form]
        for threads, total, fix in (
            (1, s["seconds_1_thread"], s["fixed_1_thread"]),
            (2, s["seconds_2_threads"], s["fixed_2_threads"]),
        ):
            labels.append(f"{form}\n{threads} thr")
            fixed.append(1e3 * fix)
            rest.append(1e3 * max(total - fix, 0.0))
    pos = range(len(labels))
    bx.bar(pos, fixed, label=f"fixed ({result['settings']['tiny_seconds']:g} s pass)")
    bx.bar(pos, rest, bottom=fixed, label="the rest")
    bx.set_xticks(list(pos), labels, fontsize=8)
    bx.set_ylabel(f"ms per pass on {result['settings']['seconds']:g} s")
    bx.set_title("One forward pass, batch 1")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=1.0, help="input length of the passes")
    p.add_argument("--tiny-seconds", type=float, default=0.02, help="the fixed-cost pass")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--repeats", type=int, default=10, help="rounds (best of)")
    p.add_argument("--traced", action="store_true", help="also a TorchScript-frozen model")
    p.add_argument("--frames", nargs="+", type=int, help=f"default {list(DEFAULT_FRAMES)}")
    p.add_argument("--channels", type=int, default=512, help="channels of the group norm map")
    p.add_argument("--quick", action="store_true", help="tiny model and sizes (tests)")
    p.add_argument("--json", default=DEFAULT_JSON)
    p.add_argument("--png", help="default: --json with .png")
    args = p.parse_args(argv)
    if (os.cpu_count() or 1) < max(THREADS):
        print(f"Needs {max(THREADS)} CPU cores; this machine has {os.cpu_count()}.")
        return 2
    frames = args.frames or ([63, 1023, 1024] if args.quick else list(DEFAULT_FRAMES))
    if args.quick:
        args.repeats, args.channels = min(args.repeats, 2), min(args.channels, 64)

    model = build_model(args.quick, args.sample_rate)
    wav = torch.randn(1, int(round(args.seconds * args.sample_rate)))
    result = dict(
        settings=dict(vars(args), frames=frames),
        machine=dict(
            torch=torch.__version__,
            cpu=platform.processor() or platform.machine(),
            cores=os.cpu_count(),
        ),
        masker_frames=masker_frames(model, wav),
        operators=count_operators(model, wav),
    )
    print(f"{result['operators']['total']} operators per pass at {args.seconds:g} s", flush=True)
    passes = pass_costs(
        model, args.sample_rate, args.tiny_seconds, args.seconds, args.repeats, args.traced
    )
    norms = group_norm_scaling(frames, args.channels, args.repeats, 5 if args.quick else 50)
    result.update(passes=passes, group_norm=norms)
    result["summary"] = summarize(passes, norms, args.tiny_seconds, args.seconds)
    print(json.dumps(result["summary"], indent=1))
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    png = args.png or os.path.splitext(args.json)[0] + ".png"
    plot(result, png)
    print(f"Wrote {args.json} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
