"""TDANet's device-dependent paths on a GPU, one against another and against the released code:
seconds per second of audio at each length, one training step, and how far the outputs
differ. One process, one JSON.

Why: on an H100 our ``tdanet`` took 0.100 / 0.040 / 0.058 s per second of audio at
1 / 10 / 60 s (``results_performance_cuda.json``), about 5x the paper's 2080 Ti figure. Two
suspects, each now a device setting that this script toggles on one model:

* map storage: frame-major (the CPU's layout; on CUDA the fused nearest up-sampling of that
  layout is one small kernel per run of frames) or channel-major
  (:data:`asteroid_tdanet.masknn.frame_major.FRAME_MAJOR_DEVICES`: the CPU only);
* gLN: PyTorch's ``group_norm`` (its CUDA kernel reduces each item in one thread block) or
  one device-wide ``var_mean`` reduction (:data:`asteroid_tdanet.masknn.norms.
  GROUP_NORM_DEVICES`: ``group_norm`` at any size on the CPU only; elsewhere for items of at
  most :data:`~asteroid_tdanet.masknn.norms.GROUP_NORM_MAX_ITEM` elements).

Usage::

    python benchmarks/device_paths.py --device cuda --released /path/to/TDANet \\
        --json $OUT/device_paths_cuda.json
    python benchmarks/device_paths.py --quick              # tiny model, CPU (tests)

Inference: ``tdanet`` (random weights, eval, ``torch.inference_mode``, batch 1, 16 kHz) at
each ``--lengths``: best of ``--repeats`` passes (``--long-repeats`` above 10 s), timed as
in ``performance.py`` (``_passes``: on CUDA after a warm-up pass, each between device
synchronisations, peak memory allocated by torch; on the CPU the first pass's peak resident
memory).
Variants: ``default`` (the device's own paths), ``frame-major`` (maps stored frame-major on
the device), ``group-norm`` (gLN by ``group_norm`` at every size), ``var-mean`` (gLN by the
device-wide reduction at every size), ``group-norm<=E`` for each ``--group-norm-limits E``
(``group_norm`` for items up to ``E`` elements), ``default+graph`` (the
default, captured once in a CUDA graph and replayed: what a loop over fixed-size chunks could
use; CUDA only), ``default+fp16`` (CUDA autocast), and ``released`` (look2hear
``TDANetBest``, ``--released``). ``peak_mib`` of ``default+graph`` is ``null``: the graph's
memory is allocated at capture, outside the timed replays (runs before this: ``0.0``, not
measured). ``max_abs_diff``: each variant's largest output difference
from ``default`` on the same input (the released code has other weights: not compared). On
the CPU the variants are the CPU's own paths (the script runs there for its tests).

Training: one Adam step (batch 4 x 3 s at 8 kHz, PIT SI-SDR: ``performance.training_step``)
for the variants that change a path and the released code: best of
``--repeats`` steps and their peak memory, timed the same way.

``results_device_paths_cuda_h200.json`` (with ``--group-norm-limits 262144 1048576
2097152``) chose today's item limit; ``results_device_paths_cuda_h200_varmean.json`` is the
run before it (``var_mean`` at every size). ``results_map_layout_cuda_h200.json`` is the first GPU run, of this script's first form
(before the gLN setting existed), whose ``channel-major`` variant is today's ``group-norm``
and ``frame-major`` today's ``frame-major`` + ``group-norm``.
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import performance  # noqa: E402  (build_model, training_step, released_class)

from asteroid_tdanet.masknn import frame_major, norms  # noqa: E402

MODEL = "tdanet"
# The device settings a variant changes: (module, attribute).
FRAME_MAJOR = (frame_major, "FRAME_MAJOR_DEVICES")
GROUP_NORM = (norms, "GROUP_NORM_DEVICES")
GROUP_NORM_ITEM = (norms, "GROUP_NORM_MAX_ITEM")
DEFAULTS = {key: getattr(*key) for key in (FRAME_MAJOR, GROUP_NORM, GROUP_NORM_ITEM)}
LIMIT_PREFIX = "group-norm<="


def _settings(variant: str, kind: str) -> dict:
    """``(module, attribute) -> value`` for ``variant`` on a device of type ``kind``: the
    defaults, but ``frame-major`` adds ``kind`` to the frame-major devices, ``group-norm`` to
    the group_norm devices (group_norm at every size), ``var-mean`` sets the item limit to 0
    (the device-wide reduction at every size) and ``group-norm<=E`` sets it to ``E``."""
    values = dict(DEFAULTS)
    if variant == "frame-major" and kind not in values[FRAME_MAJOR]:
        values[FRAME_MAJOR] += (kind,)
    elif variant == "group-norm" and kind not in values[GROUP_NORM]:
        values[GROUP_NORM] += (kind,)
    elif variant == "var-mean":
        values[GROUP_NORM_ITEM] = 0
    elif variant.startswith(LIMIT_PREFIX):
        values[GROUP_NORM_ITEM] = int(variant[len(LIMIT_PREFIX) :])
    return values


def _set_paths(variant: str, device: str) -> None:
    """Apply :func:`_settings` (``default`` and its ``+`` forms: the defaults)."""
    for (module, name), value in _settings(variant, torch.device(device).type).items():
        setattr(module, name, value)


def _path_variants(args) -> list:
    """The variants that change a path: the reference first."""
    limits = [f"{LIMIT_PREFIX}{e}" for e in args.group_norm_limits]
    return ["default", "frame-major", "group-norm", "var-mean"] + limits


def _best_of(call, reps: int, device: str):
    """``(best seconds, peak MiB)`` of ``reps`` calls: ``performance._passes``, the timing of
    the performance table (CUDA: after a warm-up call, peak allocated by torch; CPU: the first
    call's peak resident memory)."""
    times, peak = performance._passes(call, reps, device)
    return min(times), peak / 2**20


def _graphed(model, wav):
    """A callable replaying ``model(wav)`` from a CUDA graph (inputs copied into its static
    buffer first), and the graph's output tensor."""
    static = wav.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):  # lazy initialisations and caches outside the capture
            model(static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = model(static)

    def call():
        static.copy_(wav)
        graph.replay()
        return out

    return call


def infer_rows(args) -> list:
    spec = dict(quick=args.quick, released=args.released)
    cuda = args.device.startswith("cuda")
    variants = _path_variants(args)
    if cuda:
        variants += ["default+graph", "default+fp16"]
    model = performance.build_model(MODEL, performance.SAMPLE_RATE, spec).to(args.device).eval()
    released = None
    if args.released:
        released = performance.build_model(performance.RELEASED, performance.SAMPLE_RATE, spec)
        released = released.to(args.device).eval()
    rows = []
    for seconds in args.lengths:
        torch.manual_seed(1)
        wav = (0.1 * torch.randn(1, int(seconds * performance.SAMPLE_RATE))).to(args.device)
        reps = args.repeats if seconds <= 10 else args.long_repeats
        reference = None
        for variant in variants + (["released"] if released is not None else []):
            row = dict(task="infer", variant=variant, audio_seconds=seconds)
            try:
                _set_paths(variant, args.device)
                with torch.inference_mode():
                    if variant == "released":
                        call = lambda: released(wav)  # noqa: E731
                    elif variant.endswith("+graph"):
                        call = _graphed(model, wav)
                    elif variant.endswith("+fp16"):

                        def call():
                            with torch.autocast("cuda", dtype=torch.float16):
                                return model(wav)

                    else:
                        call = lambda: model(wav)  # noqa: E731
                    seconds_best, peak_mib = _best_of(call, reps, args.device)
                    if variant.endswith("+graph"):
                        # The graph's memory was allocated in its own pool at capture: the
                        # replays allocate nothing, so the peak above (0) measures nothing.
                        peak_mib = None
                    out = call().float()
                if variant == "default":
                    reference = out
                elif reference is not None and variant != "released":
                    row["max_abs_diff"] = (out - reference).abs().max().item()
                row.update(seconds=seconds_best, s_per_s=seconds_best / seconds, peak_mib=peak_mib)
            except Exception as err:  # one variant's failure (capture, released imports)
                row["error"] = f"{type(err).__name__}: {err}"
            rows.append(row)
            print(json.dumps(row), flush=True)
    _set_paths("default", args.device)
    return rows


def train_rows(args) -> list:
    spec = dict(quick=args.quick, released=args.released)
    variants = _path_variants(args) + (["released"] if args.released else [])
    rows = []
    for variant in variants:
        row = dict(task="train", variant=variant, batch=args.train_batch)
        row["audio_seconds"] = args.train_seconds
        try:
            _set_paths(variant, args.device)
            name = performance.RELEASED if variant == "released" else MODEL
            model = performance.build_model(name, performance.TRAIN_SAMPLE_RATE, spec)
            model = model.to(args.device).train()
            torch.manual_seed(1)
            step = performance.training_step(
                model, args.train_batch, args.train_seconds, args.device
            )
            row["seconds"], row["peak_mib"] = _best_of(step, args.repeats, args.device)
            del model, step
        except Exception as err:
            row["error"] = f"{type(err).__name__}: {err}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    _set_paths("default", args.device)
    return rows


def summary(rows: list) -> dict:
    """Each variant's time over the default's, per task and length."""
    by = {}
    for r in rows:
        if "seconds" in r:
            by.setdefault(f"{r['task']}_{r['audio_seconds']:g}s", {})[r["variant"]] = r["seconds"]
    return {
        case: {
            f"{v}_over_default": t / times["default"] for v, t in times.items() if v != "default"
        }
        for case, times in by.items()
        if "default" in times
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--released", help="a checkout of JusperLee/TDANet: times it too")
    p.add_argument(
        "--lengths",
        nargs="+",
        type=float,
        default=[1.0, 10.0, 60.0],
        help="inference input lengths, seconds at 16 kHz (default 1 10 60)",
    )
    p.add_argument(
        "--repeats", type=int, default=5, help="passes (best of) up to 10 s, training steps"
    )
    p.add_argument("--long-repeats", type=int, default=2, help="passes (best of) above 10 s")
    p.add_argument(
        "--tasks",
        nargs="+",
        default=["infer", "train"],
        choices=["infer", "train"],
        help="which cases to run (default both)",
    )
    p.add_argument(
        "--train-seconds", type=float, default=3.0, help="training segment, seconds at 8 kHz"
    )
    p.add_argument("--train-batch", type=int, default=4, help="training batch size")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument(
        "--group-norm-limits",
        nargs="*",
        type=int,
        default=[],
        metavar="E",
        help="also time gLN item limits: variants group-norm<=E (default limit: "
        f"{norms.GROUP_NORM_MAX_ITEM})",
    )
    p.add_argument("--quick", action="store_true", help="tiny models, short inputs (tests)")
    p.add_argument("--json", help="write the rows and the summary here")
    args = p.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: no GPU visible to torch")
    if args.released and not os.path.isdir(args.released):
        p.error(f"--released: no such directory: {args.released}")
    if args.quick:
        args.lengths = [0.5, 1.0]
        args.train_seconds, args.train_batch, args.repeats = 0.5, 2, 2
    torch.set_num_threads(args.threads)
    rows = []
    if "infer" in args.tasks:
        rows += infer_rows(args)
    if "train" in args.tasks:
        rows += train_rows(args)
    result = dict(
        device=args.device,
        gpu=torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        torch=torch.__version__,
        settings={k: v for k, v in vars(args).items() if k != "json"},
        rows=rows,
        summary=summary(rows),
    )
    print(json.dumps(result["summary"], indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"Wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
