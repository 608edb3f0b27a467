"""Peak memory and speed of ``asteroid-tdanet separate`` on a long file, on CPU.

Usage::

    python benchmarks/memory_long_file.py                          # 60 min, 16 kHz, tdanet
    python benchmarks/memory_long_file.py --preset tdanet-mini --minutes 60 --json out.json

Writes a synthetic ``--minutes`` long mono 16-bit WAV (two amplitude-modulated harmonic
"speakers"), saves a randomly initialised model of ``--preset`` (the weights do not change
the cost), then runs the command line in a child process and reads the child's peak resident
set size (``ru_maxrss`` from ``wait4``), which includes the Python interpreter and torch.
Prints one JSON object (and writes it to ``--json``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]


def write_long_mixture(path: Path, minutes: float, sample_rate: int, seed: int = 0) -> int:
    """Write the test mixture block by block (bounded memory); return its length."""
    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * sample_rate)
    block = 60 * sample_rate
    with sf.SoundFile(path, "w", sample_rate, 1, "PCM_16") as f:
        for start in range(0, total, block):
            t = np.arange(start, min(start + block, total)) / sample_rate
            gate1 = (np.sin(2 * np.pi * 0.37 * t) > -0.2).astype(np.float32)
            gate2 = (np.sin(2 * np.pi * 0.23 * t + 1.0) > 0.0).astype(np.float32)
            voice1 = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
            voice2 = sum(np.sin(2 * np.pi * 230 * k * t) / k for k in range(1, 6))
            noise = 0.01 * rng.standard_normal(len(t))
            f.write((0.15 * gate1 * voice1 + 0.15 * gate2 * voice2 + noise).astype(np.float32))
    return total


def run_child(cmd, env) -> dict:
    """Run ``cmd``; return its wall time, exit code and peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return dict(rc=proc.returncode, wall_s=wall, peak_rss_mb=usage.ru_maxrss * scale / 2**20)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="tdanet", help="model preset (default: %(default)s)")
    parser.add_argument("--minutes", type=float, default=60.0, help="file length")
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--chunk_seconds", type=float, help="default: the CLI's")
    parser.add_argument("--overlap_seconds", type=float, help="default: the CLI's")
    parser.add_argument("--workdir", help="keep the files here (default: a temp folder)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    from asteroid_tdanet import TDANet
    from asteroid_tdanet.utils import count_params

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = TDANet.from_preset(args.preset, sample_rate=args.sample_rate)
        torch.save(model.serialize(), work / "model.pth")
        n_samples = write_long_mixture(work / "long.wav", args.minutes, args.sample_rate)

        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        )
        cmd = [sys.executable, "-m", "asteroid_tdanet", "separate", str(work / "long.wav")]
        cmd += ["--model", str(work / "model.pth"), "-o", str(work / "out"), "--force", "-q"]
        cmd += ["--threads", str(args.threads)]
        if args.chunk_seconds:
            cmd += ["--chunk-seconds", str(args.chunk_seconds)]
        if args.overlap_seconds:
            cmd += ["--overlap-seconds", str(args.overlap_seconds)]
        baseline = run_child([sys.executable, "-c", "import asteroid_tdanet.cli"], env)
        result = run_child(cmd, env)
        outputs = sorted((work / "out").glob("long_s*.wav"))
        lengths = [sf.info(str(p)).frames for p in outputs]

    audio_s = n_samples / args.sample_rate
    report = dict(
        preset=args.preset,
        params=count_params(model),
        audio_minutes=audio_s / 60,
        sample_rate=args.sample_rate,
        threads=args.threads,
        chunk_seconds=args.chunk_seconds,
        overlap_seconds=args.overlap_seconds,
        exit_code=result["rc"],
        outputs_complete=bool(lengths) and all(n == n_samples for n in lengths),
        peak_rss_mb=round(result["peak_rss_mb"], 1),
        import_only_rss_mb=round(baseline["peak_rss_mb"], 1),
        wall_s=round(result["wall_s"], 1),
        real_time_factor=round(result["wall_s"] / audio_s, 4),
        torch=torch.__version__,
        machine=platform.machine(),
        cpu=platform.processor() or platform.machine(),
    )
    print(json.dumps(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0 if result["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
