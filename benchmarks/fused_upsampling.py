"""The fused nearest up-sampling of the TDANet fusions (``asteroid_tdanet.masknn.nearest``)
against the literal form (``F.interpolate`` twice, then ``addcmul``), in one process.

Usage::

    python benchmarks/fused_upsampling.py                        # tdanet, 1 and 10 s, 1 and 2 threads
    python benchmarks/fused_upsampling.py --presets tdanet-large --lengths 1 10 60 --threads 1

Both forms give the same output bit for bit (checked here on every input). For each preset,
thread count and input length, the two forms alternate for ``--rounds`` rounds of 2 timed
passes each (after a warm-up pass), so that a drift of the machine's speed hits both; the
best pass of each form is reported, per second of audio. malloc keeps freed memory (the CLI's
default). ``--train-batch B`` adds a training step (the paper's model at 8 kHz, ``B`` x
``--train-seconds`` s, PIT SI-SDR, Adam) of each form, alternating the same way, with the
bytes of the tensors autograd keeps for the backward pass (``saved_tensors_hooks``, distinct
storages), on the first of ``--threads``, malloc back to glibc's default. Writes ``--json`` (default ``benchmarks/results_fused_upsampling.json``).
"""

import argparse
import json
import os
import platform
import time

import torch

from asteroid_tdanet import TDANet
from asteroid_tdanet.masknn import nearest
from asteroid_tdanet.utils.allocator import set_allocator

HERE = os.path.dirname(os.path.abspath(__file__))
LITERAL = 1 << 62  # MIN_FUSED_ELEMENTS no map reaches


def best_pass(model, wav, passes: int) -> float:
    """Best wall time of ``passes`` calls ``model(wav)`` (``model()`` when ``wav`` is None)."""
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        model() if wav is None else model(wav)
        best = min(best, time.perf_counter() - start)
    return best


def saved_bytes(step) -> int:
    """Bytes of the distinct storages autograd saves during ``step()``."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(storages.values())


def training_step(batch: int, seconds: float):
    """``(forward, step)`` of one Adam step of the paper's model at 8 kHz on ``batch`` x
    ``seconds`` s (PIT SI-SDR): ``forward()`` returns the loss, ``step()`` also updates."""
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

    torch.manual_seed(0)
    model = TDANet.from_preset("tdanet", sample_rate=8000).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    sources = 0.1 * torch.randn(batch, 2, int(seconds * 8000))
    mixture = sources.sum(1)

    def forward():
        optimizer.zero_grad(set_to_none=True)
        return loss_fn(model(mixture), sources)

    def step():
        forward().backward()
        optimizer.step()

    return forward, step


def alternating_best(step, forms: dict, rounds: int) -> dict:
    """Best time of ``step()`` under each form: ``forms`` maps a name to the call that switches
    to it. One warm-up step per form (Adam state), then ``rounds`` rounds of one step each,
    the forms alternating so that a drift of the machine's speed hits all of them."""
    for use in forms.values():
        use()
        step()
    times = dict.fromkeys(forms, float("inf"))
    for _ in range(rounds):
        for name, use in forms.items():
            use()
            times[name] = min(times[name], best_pass(step, None, 1))
    return times


def train_rows(args, fused_threshold: int) -> list:
    rows = []
    set_allocator("system")  # training keeps many maps alive: no heap that never shrinks
    for threads in args.threads[:1]:
        torch.set_num_threads(threads)
        forward, step = training_step(args.train_batch, args.train_seconds)
        forms = {
            name: lambda value=threshold: setattr(nearest, "MIN_FUSED_ELEMENTS", value)
            for name, threshold in (("literal", LITERAL), ("fused", fused_threshold))
        }
        saved = {}
        for name, use in forms.items():
            use()
            saved[name] = saved_bytes(forward)
        times = alternating_best(step, forms, args.rounds)
        nearest.MIN_FUSED_ELEMENTS = fused_threshold
        row = dict(
            task="train",
            batch=args.train_batch,
            seconds_per_item=args.train_seconds,
            threads=threads,
            literal_step_s=times["literal"],
            fused_step_s=times["fused"],
            speedup=times["literal"] / times["fused"],
            literal_saved_mib=saved["literal"] / 2**20,
            fused_saved_mib=saved["fused"] / 2**20,
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["tdanet"])
    p.add_argument("--lengths", nargs="+", type=float, default=[1.0, 10.0])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--sample_rate", type=int, default=16000)
    p.add_argument("--train-batch", type=int, default=0, help="also a training step (0: none)")
    p.add_argument("--train-seconds", type=float, default=3.0)
    p.add_argument("--json", default=os.path.join(HERE, "results_fused_upsampling.json"))
    args = p.parse_args(argv)
    set_allocator("reuse")
    fused_threshold = nearest.MIN_FUSED_ELEMENTS
    rows = []
    for preset in args.presets:
        torch.manual_seed(0)
        model = TDANet.from_preset(preset, sample_rate=args.sample_rate).eval()
        for seconds in args.lengths:
            wav = 0.1 * torch.randn(1, int(seconds * args.sample_rate))
            for threads in args.threads:
                torch.set_num_threads(threads)
                times = {"literal": float("inf"), "fused": float("inf")}
                with torch.inference_mode():
                    outputs = {}
                    for name, threshold in (("literal", LITERAL), ("fused", fused_threshold)):
                        nearest.MIN_FUSED_ELEMENTS = threshold
                        outputs[name] = model(wav)  # warm-up, and the output to compare
                    identical = torch.equal(outputs["literal"], outputs["fused"])
                    for _ in range(args.rounds):
                        for name, threshold in (("literal", LITERAL), ("fused", fused_threshold)):
                            nearest.MIN_FUSED_ELEMENTS = threshold
                            times[name] = min(times[name], best_pass(model, wav, 2))
                nearest.MIN_FUSED_ELEMENTS = fused_threshold
                row = dict(
                    preset=preset,
                    audio_seconds=seconds,
                    threads=threads,
                    literal_s_per_s=times["literal"] / seconds,
                    fused_s_per_s=times["fused"] / seconds,
                    speedup=times["literal"] / times["fused"],
                    bit_identical=identical,
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
    # Thread scaling of each form, from the same passes.
    single = {(r["preset"], r["audio_seconds"]): r for r in rows if r["threads"] == 1}
    scaling = [
        dict(
            preset=r["preset"],
            audio_seconds=r["audio_seconds"],
            threads=r["threads"],
            **{
                form: one[f"{form}_s_per_s"] / r[f"{form}_s_per_s"] for form in ("literal", "fused")
            },
        )
        for r in rows
        if r["threads"] != 1 and (one := single.get((r["preset"], r["audio_seconds"])))
    ]
    training = train_rows(args, fused_threshold) if args.train_batch else []
    results = dict(
        benchmark="fused_upsampling",
        machine=dict(platform=platform.platform(), cpus=os.cpu_count(), torch=torch.__version__),
        settings=vars(args),
        rows=rows,
        thread_speedup=scaling,
        training=training,
    )
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(scaling, indent=1))
    print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
