"""Where a forward pass (and a training step) of TDANet spends its time: the operators with the
most self time under ``torch.profiler``, for our models and the released code, on CPU or GPU.

Written for the GPU finding of ``results_performance_cuda.json``: on an H100 our ``tdanet``
took 0.040 / 0.058 s per second of audio at 10 / 60 s, about 5x the paper's 11.8 ms on a
2080 Ti, and the time was outside the GA mixers (1 %), so in the U-blocks' convolutions,
norms and fusions. This script names the operators (and, on a GPU, the kernels) that take it,
so that a GPU session can fix the cause in one call::

    python benchmarks/op_profile.py --device cuda --released /path/to/TDANet \\
        --json $OUT/op_profile_cuda.json
    python benchmarks/op_profile.py --seconds 2 --top 10     # CPU, one thread

Each model: a warm-up pass, then ``--passes`` profiled passes (inference: batch 1,
``--seconds`` at 16 kHz, ``torch.inference_mode``; training: ``--train-batch`` x
``--train-seconds`` at 8 kHz, Adam, PIT SI-SDR). The JSON holds, per model and task, the wall
time per pass and the ``--top`` operators by self CPU time with their call counts and input
shapes; on a GPU, the ``--top`` kernels by device time with their shares of the pass's kernel
time (``kernel_ms_per_pass``: each kernel counted once, as in torch's own table) and, apart
(``top_operators``), the ``--top`` operators by the kernel time they launched, as shares of
the same total. Before this split the GPU shares were of a sum that counted each kernel twice
(as a kernel and in the operator that launched it): ``log_op_profile_cuda_h200*.txt``.

On the CPU the profiler itself slows a pass (1.8-3x for a 10 s forward on this project's VM)
and unevenly, so the operator shares are indicative only. Each profile therefore also gives
the unprofiled time per pass and the ``--top`` module roles by inclusive time from forward
hooks (``benchmarks/module_clock.py``: microseconds per call; the forward pass only in a
training step).
"""

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import performance  # noqa: E402  (build_model, training_step, MODELS: one definition of the cases)
from module_clock import ModuleClock  # noqa: E402

from asteroid_tdanet.utils.allocator import ALLOCATOR_MODES, set_allocator  # noqa: E402


def _step(model, task, device, args):
    """The callable one pass runs."""
    if task == "infer":
        wav = (0.1 * torch.randn(1, int(args.seconds * performance.SAMPLE_RATE))).to(device)

        def call():
            with torch.inference_mode():
                model(wav)

        return call
    return performance.training_step(model, args.train_batch, args.train_seconds, device)


def profile(name: str, task: str, args) -> dict:
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rate = performance.SAMPLE_RATE if task == "infer" else performance.TRAIN_SAMPLE_RATE
    spec = dict(quick=args.quick, released=args.released)
    model = performance.build_model(name, rate, spec).to(args.device)
    model.train(task == "train")
    call = _step(model, task, args.device, args)
    call()  # warm-up: kernels, allocator, Adam state
    sync()

    def per_pass() -> float:
        start = time.perf_counter()
        for _ in range(args.passes):
            call()
        sync()
        return (time.perf_counter() - start) / args.passes

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch_profile(activities=activities, record_shapes=True) as prof:
        wall = per_pass()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = sorted(
        prof.key_averages(group_by_input_shape=True),
        key=lambda e: getattr(e, key),
        reverse=True,
    )
    ranked, operators = events, []
    if cuda:
        # An operator's self device time is the kernels it launched, so summing every event
        # counts each kernel twice: the total and shares count device events (kernels,
        # copies) only, as torch's own table does, and the operators are listed apart.
        ranked = [
            e
            for e in events
            if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)
        ]
        operators = [e for e in events if e.device_type == DeviceType.CPU and getattr(e, key)]
    total = sum(getattr(e, key) for e in ranked) or 1.0

    def rows(chosen):
        return [
            dict(
                op=e.key,
                shapes=str(e.input_shapes)[:200],
                calls=e.count // args.passes,
                self_ms=getattr(e, key) / 1e3 / args.passes,
                share=getattr(e, key) / total,
            )
            for e in chosen[: args.top]
        ]

    clock = ModuleClock(model, sync)
    try:
        plain = per_pass()
        modules = clock.top(args.top, plain, args.passes)
    finally:
        clock.close()
    result = dict(
        model=name,
        task=task,
        seconds_per_pass=wall,
        seconds_per_pass_unprofiled=plain,
        ops_per_pass=len(events),
        top=rows(ranked),
        modules=modules,
    )
    if cuda:
        result.update(kernel_ms_per_pass=total / 1e3 / args.passes, top_operators=rows(operators))
    return result


def _print_ops(ops: list) -> None:
    """One line per row of ``top`` / ``top_operators``."""
    for op in ops:
        print(
            f"   {op['self_ms']:9.2f} ms {100 * op['share']:5.1f} % "
            f"x{op['calls']:<5d} {op['op'][:60]}  {op['shapes'][:80]}"
        )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tdanet", "tdanet-compat"])
    p.add_argument("--released", help="a checkout of JusperLee/TDANet: profiles it too")
    p.add_argument("--tasks", nargs="+", default=["infer", "train"], choices=["infer", "train"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=10.0, help="inference input (16 kHz)")
    p.add_argument("--train-seconds", type=float, default=3.0)
    p.add_argument("--train-batch", type=int, default=4)
    p.add_argument("--passes", type=int, default=2)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument(
        "--allocator",
        default="reuse",
        choices=ALLOCATOR_MODES,
        help="malloc mode (asteroid_tdanet.utils.allocator); reuse: as performance.py and the CLI",
    )
    p.add_argument("--quick", action="store_true", help="tiny models (tests)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    unknown = [m for m in args.models if m not in performance.MODELS]
    if unknown:
        p.error(f"--models: unknown {unknown}; known: {sorted(performance.MODELS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: no GPU visible to torch")
    if args.released and not os.path.isdir(args.released):
        p.error(f"--released: no such directory: {args.released}")
    torch.set_num_threads(args.threads)
    set_allocator(args.allocator)
    models = list(args.models) + ([performance.RELEASED] if args.released else [])
    results = dict(
        device=args.device,
        gpu=torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        torch=torch.__version__,
        settings={k: v for k, v in vars(args).items() if k != "json"},
        profiles=[],
    )
    for task in args.tasks:
        for name in models:
            try:
                result = profile(name, task, args)
            except Exception as err:  # one model's failure (e.g. the released code's imports)
                result = dict(model=name, task=task, error=f"{type(err).__name__}: {err}")
            results["profiles"].append(result)
            print(f"== {name} {task}: " + (result.get("error") or ""), flush=True)
            if "top" in result:
                print(f"   {result['seconds_per_pass'] * 1e3:.1f} ms per pass")
                if "kernel_ms_per_pass" in result:
                    print(f"   kernels ({result['kernel_ms_per_pass']:.2f} ms per pass):")
                _print_ops(result["top"])
                if "top_operators" in result:
                    print("   operators (the kernel time they launched, same total):")
                    _print_ops(result["top_operators"])
                print(
                    f"   modules, forward hooks (inclusive; "
                    f"{result['seconds_per_pass_unprofiled'] * 1e3:.1f} ms per pass unprofiled):"
                )
                for mod in result["modules"]:
                    print(
                        f"   {mod['ms']:9.2f} ms {100 * mod['share']:5.1f} % "
                        f"x{mod['calls']:<5d} {mod['module']}"
                    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
