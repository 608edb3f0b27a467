"""The depthwise convolutions' backward pass (``asteroid_tdanet.masknn.depthwise_grad``)
against PyTorch's own, in one process.

Usage::

    python benchmarks/depthwise_backward.py                  # 1 thread, batch 4 x 3 s
    python benchmarks/depthwise_backward.py --threads 2 --rounds 5

1. One convolution, each full-resolution shape of the paper's model at 8 kHz on ``--batch`` x
   ``--seconds`` s (k5, stride 1 and 2, frame-major maps): the forward pass, PyTorch's
   backward pass for each gradient alone (``aten.convolution_backward`` with one output
   asked for) and ours (the three gradients together, backward pass only); best of
   ``--rounds``.
2. One training step (Adam, PIT SI-SDR, the same batch) with each backward pass, alternating
   for ``--rounds`` rounds after a warm-up step of each, so that a drift of the machine's
   speed hits both; the best step of each. malloc at glibc's default (as in training).

Writes ``--json`` (default ``benchmarks/results_depthwise_backward.json``).
"""

import argparse
import json
import os
import platform

import torch

from asteroid_tdanet.masknn import depthwise_grad
from asteroid_tdanet.utils.allocator import set_allocator
from fused_upsampling import alternating_best, best_pass, training_step

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGINAL_PLAIN = depthwise_grad._plain


def conv_rows(args) -> list:
    frames = int(args.seconds * 8000) // 8 + 1  # the 8 kHz model's encoder: stride 8, k 16
    rows = []
    for stride in (1, 2):
        x = torch.randn(args.batch, frames, args.channels).transpose(1, 2).requires_grad_()
        w = torch.randn(args.channels, 1, 5, requires_grad=True)
        b = torch.randn(args.channels, requires_grad=True)
        y = depthwise_grad._forward(x, w, b, stride, 2)
        grad = torch.randn(y.shape[0], y.shape[2], y.shape[1]).transpose(1, 2)
        x4, w4, g4 = x.detach().unsqueeze(2), w.detach().unsqueeze(2), grad.unsqueeze(2)

        def torch_grad(mask):
            return lambda: torch.ops.aten.convolution_backward(
                g4, x4, w4, None, [1, stride], [0, 2], [1, 1], False, [0, 0], x.shape[1], mask
            )

        ours_y = depthwise_grad._DepthwiseConv1d.apply(x, w, b, stride, 2)

        def ours():
            torch.autograd.grad(ours_y, (x, w, b), grad, retain_graph=True)

        with torch.no_grad():
            forward = best_pass(lambda: depthwise_grad._forward(x, w, b, stride, 2), None, 3)
            torch_times = {
                name: best_pass(torch_grad(mask), None, args.rounds)
                for name, mask in (
                    ("input", [True, False, False]),
                    ("weight", [False, True, False]),
                    ("bias", [False, False, True]),
                )
            }
        ours()  # warm-up
        ours_s = best_pass(ours, None, args.rounds)
        row = dict(
            shape=list(x.shape),
            stride=stride,
            forward_ms=1e3 * forward,
            **{f"torch_{k}_grad_ms": 1e3 * v for k, v in torch_times.items()},
            torch_backward_ms=1e3 * sum(torch_times.values()),
            ours_backward_ms=1e3 * ours_s,
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def step_row(args) -> dict:
    set_allocator("system")  # training keeps many maps alive: no heap that never shrinks
    forward, step = training_step(args.batch, args.seconds)
    forms = {
        name: lambda p=plain: setattr(depthwise_grad, "_plain", p)
        for name, plain in (("torch", lambda *a: True), ("ours", ORIGINAL_PLAIN))
    }
    times = alternating_best(step, forms, args.rounds)
    depthwise_grad._plain = ORIGINAL_PLAIN
    row = dict(
        task="train",
        batch=args.batch,
        seconds_per_item=args.seconds,
        torch_step_s=times["torch"],
        ours_step_s=times["ours"],
        speedup=times["torch"] / times["ours"],
    )
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument(
        "--rounds", type=int, default=3, help="timed rounds; the best of each kept (default 3)"
    )
    p.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    p.add_argument(
        "--seconds", type=float, default=3.0, help="segment length, s at 8 kHz (default 3)"
    )
    p.add_argument(
        "--channels",
        type=int,
        default=512,
        help="channels of the one-convolution timings (default 512)",
    )
    p.add_argument(
        "--json",
        default=os.path.join(HERE, "results_depthwise_backward.json"),
        help="default: benchmarks/results_depthwise_backward.json",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = dict(
        benchmark="depthwise_backward",
        machine=dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__),
        settings=vars(args),
        convolutions=conv_rows(args),
        training=step_row(args),
    )
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
