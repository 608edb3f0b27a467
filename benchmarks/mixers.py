"""Sequence mixers and the models built on them: CPU time, peak memory, parameters, MACs.

Usage::

    python benchmarks/mixers.py                       # everything (about 15 min, 1 thread)
    python benchmarks/mixers.py --part mixers --frames 1000 4000
    python benchmarks/mixers.py --part models --durations 1 10 --models tdanet-fla s4m-tiny

Part ``mixers``: every mixer of ``asteroid_tdanet.masknn.mixers.MIXERS`` (plus the causal
variants of ``s4``, ``fla``, ``wsa``) at 128 channels on 1k, 4k, 16k and 64k frames, batch 1,
``torch.inference_mode``: peak memory of the first call (VmHWM reset through
``/proc/self/clear_refs``, minus VmRSS before the call; each case in a fresh process so that
the allocator holds nothing to reuse) and the best-of-N wall time of one call. ``s4`` is
timed with its kernel generation included (cache cleared before each call, as for every new
input length); ``s4 (cached kernel)`` without it (the other 15 calls of a 16-block model's
forward pass). The growth ``time(64k) / time(4k)`` is 16 for a linear mixer, 256 for a
quadratic one.

Part ``models``: TDANet (16 kHz, the paper's sizes) with each GA mixer, and S4M-tiny (8 kHz):
parameters, MACs per second of audio (ptflops) and CPU seconds per second of audio at 1, 10
and 60 s inputs (whole input, no chunking, batch 1, one forward per timing; S4 kernels are
regenerated in every forward, as for files of different lengths).

Writes ``--json`` (default ``benchmarks/results_mixers.json`` next to this script, from any
working directory) and ``--png`` (default: --json with .png).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
MIXER_CASES = {
    "mhsa": ("mhsa", {}),
    "mhsa-frame-local": ("mhsa-frame-local", {}),
    "s4": ("s4", {}),
    "s4 (cached kernel)": ("s4", {}),
    "s4-causal": ("s4", {"causal": True}),
    "fla": ("fla", {}),
    "fla-causal": ("fla", {"causal": True}),
    "wsa": ("wsa", {}),
    "wsa-causal": ("wsa", {"causal": True}),
}
MODEL_CASES = {
    "tdanet (mhsa)": ("tdanet", {}),
    "tdanet-frame-local": ("tdanet", {"ga_mixer": "mhsa-frame-local"}),
    "tdanet-s4": ("tdanet", {"ga_mixer": "s4"}),
    "tdanet-fla": ("tdanet", {"ga_mixer": "fla"}),
    "tdanet-wsa": ("tdanet", {"ga_mixer": "wsa"}),
    "s4m-tiny": ("s4m-tiny", {}),
}
CHANNELS = 128


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def peak_rss_of(call):
    """``(result, bytes)``: ``call()``'s result and how far the process's resident memory rose
    above its level before the call (VmHWM reset through ``/proc/self/clear_refs``)."""
    before = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current RSS
    result = call()
    return result, _status("VmHWM") - before


def _clear_s4_caches(module) -> None:
    from asteroid_tdanet.masknn.ssm import NPLRKernel

    for m in module.modules():
        if isinstance(m, NPLRKernel):
            m.clear_cache()


def one_mixer(case: str, frames: int, repeats: int) -> dict:
    """Runs in a fresh process: time and peak memory of one mixer call."""
    from asteroid_tdanet.masknn.mixers import build_mixer

    name, kwargs = MIXER_CASES[case]
    torch.manual_seed(0)
    mixer = build_mixer(name, CHANNELS, **kwargs).eval()
    x = torch.randn(1, CHANNELS, frames)
    cached = case.endswith("(cached kernel)")
    with torch.inference_mode():
        # Memory first, while the allocator holds nothing it could reuse.
        _, peak = peak_rss_of(lambda: mixer(x))
        best = float("inf")
        for _ in range(repeats):
            if not cached:
                _clear_s4_caches(mixer)
            start = time.perf_counter()
            mixer(x)
            best = min(best, time.perf_counter() - start)
    return dict(seconds=best, peak_mib=peak / 2**20, macs=mixer.macs(frames))


def run_mixers(frames_list, repeats) -> dict:
    results = {}
    for case in MIXER_CASES:
        results[case] = {}
        for frames in frames_list:
            reps = 1 if frames > 16000 and MIXER_CASES[case][0] == "mhsa" else repeats
            cmd = [sys.executable, __file__, "--_one", case, str(frames), str(reps)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=_env())
            if out.returncode:
                results[case][str(frames)] = dict(error=out.stderr.strip().splitlines()[-1])
            else:
                results[case][str(frames)] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{case:18s} {frames:6d} frames: {results[case][str(frames)]}", flush=True)
    return results


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_models(names, durations, repeats) -> dict:
    from asteroid_tdanet.models import SeparationModel
    from asteroid_tdanet.utils import count_macs, count_params

    results = {}
    for case in names:
        preset, overrides = MODEL_CASES[case]
        torch.manual_seed(0)
        model = SeparationModel.from_preset(preset, **overrides).eval()
        row = dict(
            preset=preset,
            overrides=overrides,
            sample_rate=model.sample_rate,
            params=count_params(model),
            macs_per_second=count_macs(model, seconds=1.0),
            seconds_per_second={},
        )
        for seconds in durations:
            wav = torch.randn(1, int(seconds * model.sample_rate))
            reps = repeats if seconds <= 10 else 1
            with torch.inference_mode():
                model(wav)  # warm-up
                best = float("inf")
                for _ in range(reps):
                    _clear_s4_caches(model)
                    start = time.perf_counter()
                    model(wav)
                    best = min(best, time.perf_counter() - start)
            row["seconds_per_second"][str(seconds)] = best / seconds
            print(f"{case:20s} {seconds:5.0f} s: {best / seconds:.3f} s per s", flush=True)
        results[case] = row
    return results


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("mixers", "models") if k in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "mixers":
            for case, rows in results["mixers"].items():
                pts = [
                    (int(n), r["seconds"])
                    for n, r in rows.items()
                    if isinstance(r, dict) and "seconds" in r
                ]
                if pts:
                    ax.loglog(*zip(*pts), marker="o", label=case)
            ref = results["mixers"].get("mhsa-frame-local", {})
            if "1000" in ref and "seconds" in ref["1000"]:
                xs = [1000, 64000]
                ys = [ref["1000"]["seconds"] * x / 1000 for x in xs]
                ax.loglog(xs, ys, "k--", lw=1, label="linear (from frame-local at 1k)")
            ax.set(
                xlabel="frames",
                ylabel="CPU seconds per call (1 thread)",
                title=f"Sequence mixers, {CHANNELS} channels",
            )
        else:
            for case, row in results["models"].items():
                pts = sorted((float(s), v) for s, v in row["seconds_per_second"].items())
                ax.plot(*zip(*pts), marker="o", label=case)
            ax.set(
                xscale="log",
                xlabel="input length (s)",
                ylabel="CPU seconds per second of audio (1 thread)",
                title="Models (whole input, batch 1)",
            )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(results: dict) -> str:
    """The README tables of ``results``."""
    lines = []
    if "mixers" in results:
        frames = sorted(
            {int(n) for rows in results["mixers"].values() for n in rows if n.isdigit()}
        )
        head = " | ".join(f"{n // 1000}k frames" for n in frames)
        lines += [
            f"| mixer (128 channels) | {head} | time 64k / 4k | MACs 64k / 4k |",
            "| --- |" + " --- |" * (len(frames) + 2),
        ]
        for case, rows in results["mixers"].items():
            cells = []
            for n in frames:
                r = rows.get(str(n), {})
                cells.append(
                    f"{r['seconds'] * 1000:.1f} ms, {r['peak_mib']:.0f} MiB"
                    if "seconds" in r
                    else "-"
                )
            growth = rows.get("growth_64k_over_4k")
            macs = rows["64000"]["macs"] / rows["4000"]["macs"] if "64000" in rows else None
            lines.append(
                f"| `{case}` | " + " | ".join(cells) + f" | {growth:.1f} | {macs:.1f} |"
                if growth and macs
                else f"| `{case}` | " + " | ".join(cells) + " | - | - |"
            )
        lines.append("")
    if "models" in results:
        durations = sorted(
            {float(s) for r in results["models"].values() for s in r["seconds_per_second"]}
        )
        head = " | ".join(f"{d:g} s input" for d in durations)
        lines += [
            f"| model | params | GMACs / s (ptflops) | {head} |",
            "| --- | --- | --- |" + " --- |" * len(durations),
        ]
        for case, row in results["models"].items():
            cells = " | ".join(f"{row['seconds_per_second'][str(d)]:.3f}" for d in durations)
            lines.append(
                f"| {case} | {row['params']:,} | {row['macs_per_second'] / 1e9:.2f} | {cells} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=("all", "mixers", "models"), default="all")
    parser.add_argument("--frames", nargs="+", type=int, default=[1000, 4000, 16000, 64000])
    parser.add_argument("--durations", nargs="+", type=float, default=[1.0, 10.0, 60.0])
    parser.add_argument("--models", nargs="+", default=list(MODEL_CASES), choices=list(MODEL_CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--json",
        default=os.path.join(HERE, "results_mixers.json"),
        help="default: benchmarks/results_mixers.json",
    )
    parser.add_argument("--png", help="default: --json with .png")
    parser.add_argument("--replot", action="store_true", help="only redraw --png from --json")
    parser.add_argument(
        "--markdown", action="store_true", help="only print the README tables of --json"
    )
    parser.add_argument("--_one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Next to --json unless named: a run written elsewhere leaves the committed figure alone.
    args.png = args.png or os.path.splitext(args.json)[0] + ".png"
    if args.replot or args.markdown:
        with open(args.json) as f:
            results = json.load(f)
        if args.replot:
            plot(results, args.png)
        if args.markdown:
            print(markdown(results))
        return 0
    torch.set_num_threads(1)
    if args._one:
        case, frames, reps = args._one
        print(json.dumps(one_mixer(case, int(frames), int(reps))))
        return 0
    results = dict(
        machine=dict(
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            torch=torch.__version__,
            threads=1,
        )
    )
    if args.part in ("all", "mixers"):
        results["mixers"] = run_mixers(args.frames, args.repeats)
        for case, rows in results["mixers"].items():
            if "4000" in rows and "64000" in rows and "seconds" in rows["64000"]:
                rows["growth_64k_over_4k"] = rows["64000"]["seconds"] / rows["4000"]["seconds"]
    if args.part in ("all", "models"):
        results["models"] = run_models(args.models, args.durations, args.repeats)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    plot(results, args.png)
    print(f"Wrote {args.json} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
