"""FLASepformer against its softmax twins: CPU forward time and peak memory per input length.

Usage::

    python benchmarks/fla_twins.py                                  # both models, 4/30/60 s
    python benchmarks/fla_twins.py --models fla-sepreformer-b --seconds 4 30 --threads 1

For each preset of ``--models`` (``fla-sepreformer-b``: FLA-SepReformer-B and SepReformer-B;
``fla-tflocoformer-m``: FLA-TFLocoformer-M and TF-Locoformer-M), each ``attention`` in
(``fla``, ``softmax``), each input length of ``--seconds`` (8 kHz, batch 1, random weights:
they do not change the cost) and each thread count of ``--threads`` (0: all cores), one
fresh process measures the peak memory of the first forward pass (VmHWM reset through
``/proc/self/clear_refs``, minus VmRSS before the call) and the best wall time of
``--repeats`` passes (one pass above 10 s of audio), under ``torch.inference_mode``.
With ``--device cuda`` the time is the best of ``--repeats`` passes after a warm-up and the
memory the peak allocated by torch on the GPU. Writes ``--json`` (default
``benchmarks/results_fla_twins.json`` next to this script) with the machine and device, every
case and the ratios softmax / FLA per length and thread count, and ``--png`` (default: --json
with .png; time and memory against input length, both models, both attentions).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch
from mixers import peak_rss_of  # benchmarks/mixers.py: the same memory measure

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_RATE = 8000
PRESETS = ("fla-sepreformer-b", "fla-tflocoformer-m")
ATTENTIONS = ("fla", "softmax")


def one_case(preset: str, attention: str, seconds: float, repeats: int, device: str) -> dict:
    """Runs in a fresh process (threads set by the parent's environment)."""
    from asteroid_tdanet.models import SeparationModel
    from asteroid_tdanet.utils import count_params

    torch.manual_seed(0)
    model = SeparationModel.from_preset(preset, attention=attention).eval().to(device)
    wav = 0.1 * torch.randn(1, int(seconds * SAMPLE_RATE), device=device)
    if device != "cpu":
        return _one_case_cuda(model, wav, repeats, count_params(model))
    with torch.inference_mode():
        best, peak = peak_rss_of(lambda: _timed(model, wav))
        for _ in range(repeats - 1 if seconds <= 10 else 0):
            best = min(best, _timed(model, wav))
    return dict(seconds=best, peak_mib=peak / 2**20, params=count_params(model))


def _timed(model, wav) -> float:
    """Wall time of one forward pass."""
    start = time.perf_counter()
    model(wav)
    return time.perf_counter() - start


def _one_case_cuda(model, wav, repeats: int, params: int) -> dict:
    """GPU: best time of ``repeats`` passes after a warm-up, peak allocated memory."""
    with torch.inference_mode():
        model(wav)  # warm-up (kernels, allocator)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model(wav)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() - base
    return dict(seconds=best, peak_mib=peak / 2**20, params=params)


def _env(threads: int) -> dict:
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run(presets, seconds_list, threads_list, repeats, device="cpu") -> list:
    rows = []
    for preset in presets:
        for threads in threads_list:
            for seconds in seconds_list:
                for attention in ATTENTIONS:
                    cmd = [
                        sys.executable,
                        __file__,
                        "--_one",
                        preset,
                        attention,
                        str(seconds),
                        str(repeats),
                        device,
                    ]
                    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(threads))
                    row = dict(
                        preset=preset,
                        attention=attention,
                        audio_seconds=seconds,
                        threads=threads or os.cpu_count(),
                    )
                    if out.returncode:
                        row["error"] = (out.stderr.strip().splitlines() or ["?"])[-1]
                    else:
                        row.update(json.loads(out.stdout.strip().splitlines()[-1]))
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


def ratios(rows: list) -> list:
    """softmax / FLA time and memory for every (preset, threads, length) measured twice."""
    out = []
    by_key = {(r["preset"], r["threads"], r["audio_seconds"], r["attention"]): r for r in rows}
    for (preset, threads, seconds, attention), fla in by_key.items():
        soft = by_key.get((preset, threads, seconds, "softmax"))
        if attention != "fla" or not soft or "error" in fla or "error" in soft:
            continue
        out.append(
            dict(
                preset=preset,
                threads=threads,
                audio_seconds=seconds,
                time_softmax_over_fla=soft["seconds"] / fla["seconds"],
                memory_fla_over_softmax=fla["peak_mib"] / max(soft["peak_mib"], 1e-9),
            )
        )
    return out


def plot(rows: list, path: str, device: str = "cpu") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for preset in sorted({r["preset"] for r in rows}):
        for attention, style in zip(ATTENTIONS, ("-o", "--s")):
            for threads in sorted({r["threads"] for r in rows}):
                pts = [
                    r
                    for r in rows
                    if r["preset"] == preset
                    and r["attention"] == attention
                    and r["threads"] == threads
                    and "error" not in r
                ]
                if not pts:
                    continue
                xs = [r["audio_seconds"] for r in pts]
                label = f"{preset} {attention} ({threads} thr)"
                axes[0].plot(
                    xs, [r["seconds"] / r["audio_seconds"] for r in pts], style, label=label
                )
                axes[1].plot(xs, [r["peak_mib"] for r in pts], style, label=label)
    axes[0].set_ylabel(f"{device.split(':')[0].upper()} seconds per second of audio")
    axes[1].set_ylabel("peak memory of one forward (MiB)")
    for ax in axes:
        ax.set_xlabel("input length (s, 8 kHz)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(PRESETS), choices=PRESETS)
    p.add_argument("--seconds", nargs="+", type=float, default=[4.0, 30.0, 60.0])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 0], help="0: all cores")
    p.add_argument("--repeats", type=int, default=3, help="timed passes per case (best kept)")
    p.add_argument(
        "--json",
        default=os.path.join(HERE, "results_fla_twins.json"),
        help="default: benchmarks/results_fla_twins.json",
    )
    p.add_argument("--png", help="default: --json with .png")
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu, or cuda: time and peak allocated "
        "GPU memory (one --threads value is enough there)",
    )
    p.add_argument("--_one", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._one:
        preset, attention, seconds, repeats, device = (a._one + ["cpu"])[:5]
        print(json.dumps(one_case(preset, attention, float(seconds), int(repeats), device)))
        return 0
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: CUDA is not available")
    # Next to --json unless named: a run written elsewhere leaves the committed figure alone.
    a.png = a.png or os.path.splitext(a.json)[0] + ".png"
    rows = run(a.models, a.seconds, a.threads, a.repeats, a.device)
    machine = dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__)
    machine.update(device=a.device)
    if a.device.startswith("cuda"):
        machine.update(gpu=torch.cuda.get_device_name(a.device))
    result = dict(
        machine=machine,
        rows=rows,
        ratios=ratios(rows),
    )
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    plot(rows, a.png, a.device)
    for r in result["ratios"]:
        print(
            f"{r['preset']:20s} {r['threads']} thr {r['audio_seconds']:5.0f} s: softmax/FLA "
            f"time {r['time_softmax_over_fla']:.2f}x, FLA/softmax memory "
            f"{r['memory_fla_over_softmax']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
