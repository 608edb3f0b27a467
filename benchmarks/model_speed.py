"""Parameters, MACs and single-thread CPU time per second of audio for TDANet presets.

Usage::

    python benchmarks/model_speed.py                    # tdanet and tdanet-large, 1 s and 10 s
    python benchmarks/model_speed.py --presets tdanet --durations 1 --repeats 5 --json out.json
    python benchmarks/model_speed.py --presets tdanet --precisions float32 bfloat16

Times are the minimum over ``--repeats`` runs (after one warm-up) of a batch-1 forward pass
in ``torch.inference_mode``, divided by the input duration: seconds of compute per second of
audio (the real-time factor). MACs are for 1 s of audio (ptflops, and thop for comparison).
``--precisions``: each model is also timed through
:class:`asteroid_tdanet.inference.runner.ModelRunner` with that precision (``bfloat16``:
``torch.autocast``), in the same process, with the SNR of its output to the float32 output
(random weights, noise input) at the shortest duration.
"""

import argparse
import json
import platform
import time

import torch

from asteroid_tdanet import TDANet
from asteroid_tdanet.inference.runner import PRECISIONS, ModelRunner
from asteroid_tdanet.utils import count_macs, count_params


def time_per_second(model, seconds: float, repeats: int, sample_rate: int) -> float:
    """Minimum wall time of one call of ``model`` (a module or a runner) on ``seconds`` of
    noise, per second of audio."""
    wav = torch.randn(1, int(seconds * sample_rate))
    best = float("inf")
    with torch.inference_mode():
        model(wav)  # warm-up: allocator, position-encoding cache
        for _ in range(repeats):
            start = time.perf_counter()
            model(wav)
            best = min(best, time.perf_counter() - start)
    return best / seconds


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    return (10 * torch.log10(reference.pow(2).sum() / (estimate - reference).pow(2).sum())).item()


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=["tdanet", "tdanet-large"])
    parser.add_argument("--durations", nargs="+", type=float, default=[1.0, 10.0])
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compat", action="store_true", help="also time official_compat=True")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=[],
        choices=PRECISIONS,
        help="also time ModelRunner in these precisions (e.g. float32 bfloat16)",
    )
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = []
    variants = [(p, False) for p in args.presets] + [(p, True) for p in args.presets if args.compat]
    for preset, compat in variants:
        model = TDANet.from_preset(preset, sample_rate=args.sample_rate, official_compat=compat)
        model.eval()
        row = dict(
            preset=preset,
            official_compat=compat,
            params=count_params(model),
            gmacs_per_s_ptflops=count_macs(model, 1.0, "ptflops") / 1e9,
            gmacs_per_s_thop=count_macs(model, 1.0, "thop") / 1e9,
        )
        rate = model.sample_rate
        for seconds in args.durations:
            row[f"cpu_s_per_audio_s@{seconds:g}s"] = time_per_second(
                model, seconds, args.repeats, rate
            )
        probe = 0.1 * torch.randn(1, int(min(args.durations) * rate))
        reference = ModelRunner(model)(probe)
        for precision in args.precisions:
            runner = ModelRunner(model, precision=precision)
            for seconds in args.durations:
                row[f"{precision}_runner_s_per_audio_s@{seconds:g}s"] = time_per_second(
                    runner, seconds, args.repeats, rate
                )
            if precision != "float32":
                row[f"{precision}_snr_to_float32_db"] = snr_db(reference, runner(probe))
        results.append(row)
        print(json.dumps(row))
    meta = dict(
        torch=torch.__version__,
        threads=args.threads,
        machine=platform.machine(),
        processor=platform.processor(),
        sample_rate=args.sample_rate,
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, results=results), f, indent=2)


if __name__ == "__main__":
    main()
