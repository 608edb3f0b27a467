"""TDANet's cost: per second of audio against input length, backends, threads, released code,
training step. One run, one JSON, one PNG; every ratio is measured within the run.

Usage::

    python benchmarks/performance.py                       # everything (CPU, 1 thread)
    python benchmarks/performance.py --released ~/TDANet   # with a JusperLee/TDANet checkout
    python benchmarks/performance.py --device cuda         # GPU (pytorch backend only)
    python benchmarks/performance.py --quick               # tiny sizes into a temp dir (seconds)
    python benchmarks/performance.py --tasks train --json out.json   # training cases only
    python benchmarks/performance.py --table               # README table of the JSON
    python benchmarks/performance.py --replot              # redraw the PNG from the JSON

Inference (16 kHz, batch 1, ``torch.inference_mode``, eval mode, random weights: they do not
change the cost): seconds of compute per second of audio at each ``--lengths`` (default 1, 10,
60 s) for the ``tdanet`` and ``tdanet-large`` presets, TDANet with each GA mixer (``mhsa``,
the default, ``s4``, ``fla``, ``wsa``) and the anchor, on every ``--backends`` (``pytorch``;
``onnxruntime``: :class:`~asteroid_tdanet.inference.onnx_runner.OnnxRunner` on the model's
exported graph), one thread each (``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``,
onnxruntime ``threads=1``), plus the default model with 2 threads at 10 s (or at each
``--thread-lengths``, e.g. ``1 10 60``: 2 threads scale by length). Each case runs in
a fresh process: the first pass gives the peak memory (VmHWM reset through
``/proc/self/clear_refs``, minus VmRSS before the pass: ``peak_rss_of`` of
``benchmarks/mixers.py``) and one timing; inputs up to 10 s get ``--repeats`` - 1 more
passes, longer ones ``--long-repeats`` - 1; the time is the best pass. ``s4`` kernels are
regenerated in every pass (as for files of different lengths).

ONNX graphs are exported before the timed cases, one process per model, into a temporary
cache passed through ``ASTEROID_TDANET_CACHE`` (the export time is recorded, never timed
with the inference). Models whose export is refused (``s4``) are recorded with the reason.

Share of the quadratic attention term (default ``mhsa`` model, longest input): in the
pytorch passes of our TDANet models, forward pre/post hooks on every ``GlobalAttention``'s
mixer read ``time.perf_counter`` around each mixer call (the whole mixer: norms,
position encoding, projections, attention), and ``torch.nn.functional.
scaled_dot_product_attention`` is wrapped by a timer for the duration of the case (the
``QK^T``, softmax and ``AV`` products only: the term quadratic in frames). Both sums, of the
best pass, are divided by that pass's total time (the hooks cost microseconds per call, 16
calls per pass; on cuda they synchronize).

Dense-product floor (pytorch cases): after the timed passes, ``benchmarks/dense_floor.py``
records the pass's dense operators (linear layers, matrix products, attention, convolutions
with ``groups == 1``) and replays them alone on random tensors of the same shapes and strides:
the time the pass cannot go below without changing its arithmetic. The summary gives each
model's floor and, for ``tdanet`` against the anchor, the speed-up that floor permits and the
share of the remaining (memory-bound) time that 4x the anchor's speed would have to remove.

Released implementation: ``--released PATH`` is a checkout of JusperLee/TDANet; its
``look2hear`` ``TDANetBest`` (the class of the released checkpoints) ``(out_channels=128,
in_channels=512, num_blocks=16, upsampling_depth=5,
enc_kernel_size=4, num_sources=2)`` is imported with ``PATH`` on ``sys.path`` and is the
anchor (a ``PATH`` that is not a directory is an error). Without it (or when its import
fails: the error is recorded), our ``official_compat=True`` model stands in for the released
arithmetic. Our ``official_compat`` model is measured in either case.

Training: one Adam step (batch 4 x 3 s at 8 kHz, ``TDANet.from_preset("tdanet",
sample_rate=8000)``, PIT negative SI-SDR through ``PITLossWrapper(pairwise_neg_sisdr,
pit_from="pw_mtx")``) for ours, ours with U-block checkpointing when ``TDANet`` offers it (a
constructor argument named like ``checkpoint_ublocks``, found with ``inspect.signature``, or
else a ``gradient_checkpointing_enable()`` method; otherwise skipped with a note), and the
anchor: the best of ``--repeats`` steps after a warm-up step, whose peak memory (fresh process)
is reported. Checkpointing on long segments: ours with and without U-block checkpointing on
one ``--checkpoint-seconds`` segment (default 12 s at 8 kHz, batch 1), run with malloc in the
``release`` mode (freed blocks returned at once) so that the peak resident memory follows the
live tensors rather than what glibc's heap keeps after frees (the activations freed during the
backward pass fragment it); the time of these steps includes that mode's page faults.

``--device cuda``: the same on a GPU (a warm-up pass first, then the best of the timed passes
between ``torch.cuda.synchronize`` calls; memory: ``torch.cuda.max_memory_allocated`` above
the allocation before the passes); onnxruntime and the 2-thread case are skipped.

``--allocator reuse`` (default) runs every case with glibc malloc keeping freed memory
(``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647``, what
:func:`asteroid_tdanet.utils.allocator.set_allocator` sets for ``reuse`` and the CLI uses);
``system`` is glibc's default, under which long inputs pay page faults for every large map;
``release`` returns every freed block (the checkpointing cases always use it).

Writes ``--json`` (default ``benchmarks/results_performance.json``, ``_cuda`` on a GPU) with
the machine, every case and a ``summary`` of the ratios, and ``--png`` (seconds per second of
audio against input length; training step time and memory). ``--quick`` runs tiny models
(bn_chan 16, hid_chan 32, 2 blocks, depth 3) on 0.5/1/2 s, training 2 x 0.5 s, into a
temporary folder; its exports and inference cases share one process per stage (so their
memory figures are not per case; ``--fresh``: one process per case), training cases still get
one process each.
"""

import argparse
import importlib
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import torch
from dense_floor import capture, replay_seconds  # benchmarks/dense_floor.py
from dense_floor import summary as dense_ops
from mixers import _clear_s4_caches, _env, peak_rss_of  # benchmarks/mixers.py

from asteroid_tdanet.utils.allocator import ALLOCATOR_ENV, ALLOCATOR_MODES

SAMPLE_RATE = 16000
TRAIN_SAMPLE_RATE = 8000
CACHE_ENV = "ASTEROID_TDANET_CACHE"
HERE = os.path.dirname(os.path.abspath(__file__))

# Our models: preset, GA mixer and overrides.
MODELS = {
    "tdanet": dict(preset="tdanet", mixer="mhsa", overrides={}),
    "tdanet-large": dict(preset="tdanet-large", mixer="mhsa", overrides={}),
    "tdanet-s4": dict(preset="tdanet", mixer="s4", overrides={"ga_mixer": "s4"}),
    "tdanet-fla": dict(preset="tdanet", mixer="fla", overrides={"ga_mixer": "fla"}),
    "tdanet-wsa": dict(preset="tdanet", mixer="wsa", overrides={"ga_mixer": "wsa"}),
    "tdanet-compat": dict(
        preset="tdanet", mixer="mhsa-frame-local", overrides={"official_compat": True}
    ),
}
RELEASED = "released"
# Summary keys of the 2-thread speed-ups, one per length: ``two_thread_speedup_tdanet_10s``.
TWO_THREAD_KEY = "two_thread_speedup_tdanet_"
STAND_IN = "tdanet-compat"
QUICK_SIZES = dict(bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)
RELEASED_ARGS = dict(
    out_channels=128,
    in_channels=512,
    num_blocks=16,
    upsampling_depth=5,
    enc_kernel_size=4,
    num_sources=2,
)
RELEASED_QUICK = dict(out_channels=16, in_channels=32, num_blocks=2, upsampling_depth=3)
SHARE_METHOD = (
    "forward pre/post hooks (time.perf_counter) around every GlobalAttention mixer call, and a "
    "timer wrapped around torch.nn.functional.scaled_dot_product_attention (QK^T, softmax, AV: "
    "the quadratic term); sums of the best pass over its total time"
)
# Spec keys used only by the worker, not written into the rows.
INTERNAL = ("device", "quick", "released", "repeats", "long_repeats", "train_batch")


# ---------------------------------------------------------------- models (worker side)


# Where the released model class lives in a checkout, most specific first: ``TDANetBest``
# (look2hear/models/TDANet_best.py) is the class of the released checkpoints (2,353,479
# parameters at 4 ms, what our official_compat model reproduces); ``TDANet`` is an older one.
RELEASED_CLASSES = (
    ("look2hear.models.TDANet_best", "TDANetBest"),
    ("look2hear.models.TDANet", "TDANet"),
    ("look2hear.models.tdanet", "TDANet"),
)


def released_class(path: str):
    """The released model class of a JusperLee/TDANet checkout at ``path``."""
    path = os.path.abspath(os.path.expanduser(path))
    if path not in sys.path:
        sys.path.insert(0, path)
    errors = []
    for module, name in RELEASED_CLASSES:
        try:
            return getattr(importlib.import_module(module), name)
        except Exception as err:  # missing packages of look2hear, another layout
            errors.append(f"{module}.{name}: {type(err).__name__}: {err}")
    raise ImportError("; ".join(errors))


def checkpoint_argument():
    """How ``TDANet`` turns U-block checkpointing on: a constructor argument's name (e.g.
    ``checkpoint_ublocks``), ``"gradient_checkpointing_enable()"`` (a method), or ``None``."""
    from asteroid_tdanet import TDANet

    names = [n for n in inspect.signature(TDANet.__init__).parameters if "checkpoint" in n]
    if names:
        return "checkpoint_ublocks" if "checkpoint_ublocks" in names else names[0]
    if callable(getattr(TDANet, "gradient_checkpointing_enable", None)):
        return "gradient_checkpointing_enable()"
    return None


def build_model(name: str, sample_rate: int, spec: dict, **extra):
    """Model ``name`` with seeded random weights (the same weights in every process, hence
    the same ONNX cache entry)."""
    torch.manual_seed(0)
    if name == RELEASED:
        args = dict(RELEASED_ARGS, **(RELEASED_QUICK if spec["quick"] else {}))
        return released_class(spec["released"])(sample_rate=sample_rate, **args)
    from asteroid_tdanet import TDANet

    entry = MODELS[name]
    sizes = QUICK_SIZES if spec["quick"] else {}
    return TDANet.from_preset(
        entry["preset"], sample_rate=sample_rate, **entry["overrides"], **sizes, **extra
    )


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- timing (worker side)


class MixerClock:
    """Wall time spent inside the GA mixers (forward hooks) and inside
    ``F.scaled_dot_product_attention`` (wrapped) since the last :meth:`reset`."""

    def __init__(self, model, sync):
        import torch.nn.functional as F

        from asteroid_tdanet.masknn.global_attention import GlobalAttention

        self.sync, self.functional = sync, F
        self.original = F.scaled_dot_product_attention
        self.handles = []
        for module in model.modules():
            if isinstance(module, GlobalAttention):
                self.handles.append(module.mixer.register_forward_pre_hook(self._pre))
                self.handles.append(module.mixer.register_forward_hook(self._post))
        F.scaled_dot_product_attention = self._sdpa
        self.reset()

    def reset(self):
        self.mixer = self.sdpa = 0.0

    def _pre(self, module, inputs):
        self.sync()
        self._start = time.perf_counter()

    def _post(self, module, inputs, output):
        self.sync()
        self.mixer += time.perf_counter() - self._start

    def _sdpa(self, *args, **kwargs):
        self.sync()
        start = time.perf_counter()
        out = self.original(*args, **kwargs)
        self.sync()
        self.sdpa += time.perf_counter() - start
        return out

    def close(self):
        for handle in self.handles:
            handle.remove()
        self.functional.scaled_dot_product_attention = self.original


def _sync_for(device: str):
    return torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)


def _passes(call, reps: int, device: str, before=lambda: None):
    """``(times, peak_bytes)`` of ``reps`` calls. CPU: the first call (fresh allocator)
    gives the peak resident memory; cuda: a warm-up call first, the peak allocated memory."""
    sync = _sync_for(device)

    def timed():
        before()
        start = time.perf_counter()
        call()
        sync()
        return time.perf_counter() - start

    if not device.startswith("cuda"):
        first, peak = peak_rss_of(timed)
        return [first] + [timed() for _ in range(reps - 1)], peak
    timed()  # warm-up: kernels, allocator
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    times = [timed() for _ in range(reps)]
    return times, torch.cuda.max_memory_allocated() - base


def infer_case(spec: dict) -> dict:
    device, threads, seconds = spec["device"], spec["threads"], spec["audio_seconds"]
    torch.set_num_threads(threads)
    model = build_model(spec["model"], SAMPLE_RATE, spec).eval()
    torch.manual_seed(1)
    wav = 0.1 * torch.randn(1, int(seconds * SAMPLE_RATE))
    out = dict(params=n_params(model))
    if spec["backend"] == "onnxruntime":
        from asteroid_tdanet.inference.onnx_runner import OnnxRunner

        run = OnnxRunner(model, threads=threads)  # the graph exported beforehand (cache)
    else:
        model, wav = model.to(device), wav.to(device)
        run = model
    clock = None
    if spec["backend"] == "pytorch" and spec["model"] in MODELS:
        clock = MixerClock(model, _sync_for(device))
    reps = spec["repeats"] if seconds <= 10 else spec["long_repeats"]
    breakdown = []

    def before():
        _clear_s4_caches(model)
        if clock is not None:
            clock.reset()

    def call():
        run(wav)
        if clock is not None:
            breakdown.append((clock.mixer, clock.sdpa))

    try:
        with torch.inference_mode():
            times, peak = _passes(call, max(1, reps), device, before)
    finally:
        if clock is not None:
            clock.close()
    best = min(range(len(times)), key=times.__getitem__)
    out.update(seconds=times[best], s_per_s=times[best] / seconds, peak_mib=peak / 2**20)
    if clock is not None:
        # cuda: the warm-up pass is breakdown[0] and not in ``times``
        mixer, sdpa = breakdown[best + len(breakdown) - len(times)]
        out.update(mixer_seconds=mixer, sdpa_seconds=sdpa)
    if spec["backend"] == "pytorch":
        # After the timed passes, so that neither the peak nor the times include it.
        try:
            with torch.inference_mode():
                calls = capture(lambda: run(wav))
            floor = replay_seconds(calls, max(1, reps), _sync_for(device))
            out.update(dense_floor_seconds=floor, dense_ops=dense_ops(calls))
        except Exception as err:  # the floor is an aside: the timing stands without it
            out.update(dense_floor_error=f"{type(err).__name__}: {err}"[:300])
    return out


def export_case(spec: dict) -> dict:
    from asteroid_tdanet.inference.onnx_runner import cached_onnx

    model = build_model(spec["model"], SAMPLE_RATE, spec).eval()
    start = time.perf_counter()
    path = cached_onnx(model)
    return dict(seconds=time.perf_counter() - start, onnx_mib=os.path.getsize(path) / 2**20)


def training_step(model, batch: int, seconds: float, device: str):
    """One Adam step (PIT negative SI-SDR) of ``model`` on ``batch`` random two-source
    mixtures of ``seconds`` at 8 kHz, as a callable (the optimiser keeps its state)."""
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

    loss_fn = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    sources = (0.1 * torch.randn(batch, 2, int(seconds * TRAIN_SAMPLE_RATE))).to(device)
    mixture = sources.sum(1)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(mixture), sources).backward()
        optimizer.step()

    return step


def train_case(spec: dict) -> dict:
    device = spec["device"]
    torch.set_num_threads(spec["threads"])
    ckpt = spec.get("checkpoint")
    extra = {ckpt: True} if ckpt and not ckpt.endswith("()") else {}
    model = build_model(spec["model"], TRAIN_SAMPLE_RATE, spec, **extra)
    if ckpt and ckpt.endswith("()"):
        getattr(model, ckpt[:-2])()
    model = model.to(device).train()
    torch.manual_seed(1)
    batch = spec.get("batch", spec["train_batch"])
    step = training_step(model, batch, spec["audio_seconds"], device)
    if device.startswith("cuda"):
        times, peak = _passes(step, spec["repeats"], device)
    else:
        _, peak = peak_rss_of(step)  # warm-up step (Adam state), fresh allocator: the peak
        times, _ = _passes(step, spec["repeats"], device)
    return dict(params=n_params(model), batch=batch, seconds=min(times), peak_mib=peak / 2**20)


def probe_case(spec: dict) -> dict:
    model = build_model(spec["model"], SAMPLE_RATE, spec)
    return dict(params=n_params(model), module=type(model).__module__)


def one_case(spec: dict) -> dict:
    """Runs in the worker: one case's result, or its ``skipped`` reason or ``error``."""
    from asteroid_tdanet.inference.onnx_runner import OnnxRuntimeUnavailable
    from asteroid_tdanet.masknn.mixers import ExportNotSupported

    task = dict(infer=infer_case, export=export_case, train=train_case, probe=probe_case)
    try:
        return task[spec["task"]](spec)
    except (ExportNotSupported, OnnxRuntimeUnavailable) as err:
        return dict(skipped=f"{type(err).__name__}: {err}")
    except Exception as err:  # recorded, the benchmark goes on
        return dict(error=f"{type(err).__name__}: {err}")


def worker(specs: list) -> None:
    for spec in specs:
        print("@case " + json.dumps(one_case(spec)), flush=True)


# ---------------------------------------------------------------- orchestration (parent)


# How the case processes' malloc treats freed memory (asteroid_tdanet.utils.allocator):
# "reuse" keeps it (what `asteroid-tdanet separate` sets), "system" is glibc's default,
# "release" returns it at once. A case's own "allocator" wins (one process per case).
ALLOCATOR = "reuse"


def run_cases(specs: list, fresh: bool, cache: str) -> list:
    """Rows of ``specs``: each in its own process (``fresh``) or all in one; printed as
    they come."""
    rows = []
    for group in [[s] for s in specs] if fresh else ([specs] if specs else []):
        env = _env()  # OMP/MKL 1 thread, the repository on PYTHONPATH
        threads = group[0]["threads"] if fresh else 1
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env[CACHE_ENV] = cache
        env.update(ALLOCATOR_ENV[group[0].get("allocator", ALLOCATOR) if fresh else ALLOCATOR])
        cmd = [sys.executable, os.path.abspath(__file__), "--_cases", json.dumps(group)]
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            done = 0
            for line in proc.stdout:
                if line.startswith("@case "):
                    rows.append(_row(group[done], json.loads(line[6:])))
                    done += 1
            proc.wait()
            err.seek(0)
            last = (err.read().strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        for spec in group[done:]:
            rows.append(_row(spec, dict(error=f"worker died (status {proc.returncode}): {last}")))
    return rows


def _row(spec: dict, result: dict) -> dict:
    row = {k: v for k, v in spec.items() if k not in INTERNAL}
    row.update(result)
    print(json.dumps(row), flush=True)
    return row


def _spec(task, model, base, backend="pytorch", threads=1, seconds=None, **more) -> dict:
    mixer = "released code" if model == RELEASED else MODELS[model]["mixer"]
    spec = dict(task=task, model=model, mixer=mixer, backend=backend, threads=threads)
    if seconds is not None:
        spec["audio_seconds"] = seconds
    return dict(spec, **base, **more)


def machine_info(device: str) -> dict:
    info = dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        torch=torch.__version__,
    )
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        info["onnxruntime"] = None
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def sizes(args) -> tuple:
    """``(lengths, two-thread lengths, training batch, training seconds, long segment
    seconds)`` of a run with ``args``."""
    lengths = args.lengths or ([0.5, 1.0, 2.0] if args.quick else [1.0, 10.0, 60.0])
    thread_lens = args.thread_lengths or [10.0 if 10.0 in lengths else lengths[len(lengths) // 2]]
    train_batch, train_seconds = (2, 0.5) if args.quick else (4, 3.0)
    ckpt_seconds = args.checkpoint_seconds or (1.0 if args.quick else 12.0)
    return lengths, thread_lens, train_batch, train_seconds, ckpt_seconds


def run(args) -> dict:
    quick, device = args.quick, args.device
    cuda = device.startswith("cuda")
    lengths, thread_lens, train_batch, train_seconds, ckpt_seconds = sizes(args)
    machine = machine_info(device)
    print("@machine " + json.dumps(machine), flush=True)
    base = dict(
        device=device,
        quick=quick,
        released=args.released,
        repeats=args.repeats,
        long_repeats=args.long_repeats,
        train_batch=train_batch,
    )
    fresh = args.fresh or not quick
    cache = tempfile.mkdtemp(prefix="tdanet-onnx-cache-")
    rows = []
    try:
        # Released code: can it be built here?
        models = list(args.models)
        if args.released:
            (probe,) = run_cases([_spec("probe", RELEASED, base)], fresh, cache)
            released = dict(path=os.path.abspath(args.released))
            released.update({k: probe[k] for k in ("params", "module", "error") if k in probe})
            if "error" not in probe:
                models.append(RELEASED)
        else:
            released = dict(skipped="no --released checkout given")
        anchor_model = RELEASED if RELEASED in models else STAND_IN
        if anchor_model not in models:
            models.append(anchor_model)

        # ONNX exports, before (and apart from) the timed cases.
        backends = list(args.backends)
        refused = {}
        if "onnxruntime" in backends and "infer" in args.tasks:
            if cuda:
                refused = {
                    m: "onnxruntime runs on the CPU: skipped with --device cuda" for m in models
                }
            else:
                refused[RELEASED] = "the released code is run by pytorch only"
                exports = [_spec("export", m, base) for m in models if m != RELEASED]
                for row in run_cases(exports, fresh, cache):
                    rows.append(row)
                    if "seconds" not in row:
                        refused[row["model"]] = row.get("skipped") or row.get("error")

        # Inference: every model, backend and length on 1 thread; 2 threads for the default.
        specs, skipped = [], []
        cases = [(m, b, 1, s) for m in models for b in backends for s in lengths]
        if "tdanet" in models:
            cases += [("tdanet", b, 2, s) for b in backends for s in thread_lens]
        if "infer" not in args.tasks:
            cases = []
        for model, backend, threads, seconds in cases:
            spec = _spec("infer", model, base, backend, threads, seconds)
            reason = refused.get(model) if backend == "onnxruntime" else None
            if cuda and threads > 1:
                reason = "threads are a CPU setting: skipped with --device cuda"
            if reason:
                skipped.append(_row(spec, dict(skipped=reason)))
            else:
                specs.append(spec)
        rows += skipped + run_cases(specs, fresh, cache)

        # Training step: ours, ours with U-block checkpointing, the anchor.
        ckpt = checkpoint_argument()
        train = []
        if "train" in args.tasks:
            train.append(_spec("train", "tdanet", base, seconds=train_seconds))
            if ckpt:
                train.append(_spec("train", "tdanet", base, seconds=train_seconds, checkpoint=ckpt))
            train.append(_spec("train", anchor_model, base, seconds=train_seconds))
            if ckpt:  # long segments, memory returned at once: the peak follows live tensors
                for with_ckpt in (None, ckpt):
                    spec = _spec("train", "tdanet", base, seconds=ckpt_seconds, allocator="release")
                    train.append(dict(spec, batch=1, checkpoint=with_ckpt, segment="long"))
        rows += run_cases(train, True, cache)  # always fresh: peak memory is the point
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return assemble(args, rows, machine, released, anchor_model, ckpt)


def assemble(args, rows, machine, released, anchor_model, ckpt) -> dict:
    """The results dictionary (settings, rows, summary) of a run with ``args``."""
    lengths, thread_lens, train_batch, train_seconds, ckpt_seconds = sizes(args)
    anchor = "released look2hear TDANet" if anchor_model == RELEASED else "official_compat stand-in"
    results = dict(
        benchmark="performance",
        machine=machine,
        allocator=ALLOCATOR,
        settings=dict(
            device=args.device,
            quick=args.quick,
            lengths=lengths,
            backends=list(args.backends),
            repeats=args.repeats,
            long_repeats=args.long_repeats,
            sample_rate=SAMPLE_RATE,
            fresh_process_per_case=args.fresh or not args.quick,
            two_thread_lengths=thread_lens,
            training=dict(batch=train_batch, seconds=train_seconds, sample_rate=TRAIN_SAMPLE_RATE),
            checkpointing_long=dict(batch=1, seconds=ckpt_seconds, allocator="release"),
            model_sizes=QUICK_SIZES if args.quick else "presets",
        ),
        released=released,
        anchor=anchor,
        anchor_model=anchor_model,
        checkpoint_argument=ckpt,
        tasks=list(args.tasks),
        rows=rows,
    )
    results["summary"] = summarize(results)
    return results


def from_log(args) -> dict:
    """Results of a run stopped before its end (a time limit, a lost machine), rebuilt from
    the rows it printed: the same arguments as that run plus ``--from-log LOG``. Marked
    ``partial`` with the count of rows; cases never reached are simply absent."""
    rows, machine = [], dict(recorded="not in this log (a run from before @machine lines)")
    with open(args.from_log) as f:
        for line in f:
            if line.startswith("@machine "):
                machine = json.loads(line[len("@machine ") :])
            elif line.startswith("{"):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the summary printed at the end of a finished run
                if isinstance(row, dict) and "task" in row:
                    rows.append(row)
    probe = next((r for r in rows if r["task"] == "probe"), None)
    if probe is None:
        released = dict(skipped="no --released checkout given")
    else:
        released = dict(path=args.released)
        released.update({k: probe[k] for k in ("params", "module", "error") if k in probe})
    cases = [r for r in rows if r["task"] != "probe"]
    anchor_model = RELEASED if probe is not None and "error" not in probe else STAND_IN
    ckpt = checkpoint_argument() if "train" in args.tasks else None
    results = assemble(args, rows, machine, released, anchor_model, ckpt)
    results["partial"] = dict(rows=len(cases), log=os.path.basename(args.from_log), note=args.note)
    return results


# ---------------------------------------------------------------- summary, table, plot


def _inference(rows: list) -> dict:
    return {
        (r["model"], r["backend"], r["threads"], r["audio_seconds"]): r
        for r in rows
        if r["task"] == "infer" and "seconds" in r
    }


def _train_label(row: dict) -> str:
    ckpt = row.get("checkpoint")
    label = row["model"] + (f" ({ckpt if ckpt.endswith('()') else ckpt + '=True'})" if ckpt else "")
    if row.get("segment") == "long":
        label += f" [{row['batch']} x {row['audio_seconds']:g} s, malloc {row['allocator']}]"
    return label


def summarize(results: dict) -> dict:
    rows, settings = results["rows"], results["settings"]
    lengths, anchor_model = settings["lengths"], results["anchor_model"]
    infer = _inference(rows)
    first, longest = lengths[0], max(lengths)
    summary = {}

    # 1. cost per second of audio against length
    growth = {}
    for (model, backend, threads, seconds), row in infer.items():
        ref = infer.get((model, backend, 1, first))
        if threads == 1 and seconds != first and ref:
            key = f"{model} ({backend})"
            growth.setdefault(key, {})[f"{seconds:g}s/{first:g}s"] = row["s_per_s"] / ref["s_per_s"]
    summary["s_per_s_growth"] = growth
    row = infer.get(("tdanet", "pytorch", 1, longest))
    if row and "sdpa_seconds" in row:
        summary["attention_share"] = dict(
            model="tdanet (mhsa)",
            audio_seconds=longest,
            quadratic_sdpa=row["sdpa_seconds"] / row["seconds"],
            whole_ga_mixer=row["mixer_seconds"] / row["seconds"],
            method=SHARE_METHOD,
        )

    # 2. backends
    speedup, refused = {}, {}
    for (model, backend, threads, seconds), row in infer.items():
        pt = infer.get((model, "pytorch", threads, seconds))
        if backend == "onnxruntime" and threads == 1 and pt:
            speedup.setdefault(model, {})[f"{seconds:g}s"] = pt["seconds"] / row["seconds"]
    for row in rows:
        onnx = row["task"] == "infer" and row["backend"] == "onnxruntime"
        if onnx and row["threads"] == 1 and "seconds" not in row:
            refused[row["model"]] = row.get("skipped") or row.get("error")
    if speedup or refused:
        summary["onnxruntime_speedup_over_pytorch"] = speedup
        summary["onnxruntime_not_run"] = refused

    # 3. threads
    # (runs before --thread-lengths recorded one length)
    for two in settings.get("two_thread_lengths") or [settings.get("two_thread_length")]:
        threads = {}
        for backend in settings["backends"]:
            one = infer.get(("tdanet", backend, 1, two))
            pair = infer.get(("tdanet", backend, 2, two))
            if one and pair:
                threads[backend] = one["seconds"] / pair["seconds"]
        if threads:
            summary[f"{TWO_THREAD_KEY}{two:g}s"] = threads

    # 4. released implementation (or its stand-in)
    ratio = {}
    for seconds in lengths:
        ours, anchor = infer.get(("tdanet", "pytorch", 1, seconds)), infer.get(
            (anchor_model, "pytorch", 1, seconds)
        )
        if ours and anchor:
            ratio[f"{seconds:g}s"] = ours["seconds"] / anchor["seconds"]
    summary["anchor"] = results["anchor"]
    summary["tdanet_over_anchor_time"] = ratio
    summary.update(_dense_floor_summary(infer, lengths, anchor_model))

    # 5. training step
    train = {_train_label(r): r for r in rows if r["task"] == "train"}
    summary["training_step"] = {
        label: (
            dict(seconds=r["seconds"], peak_mib=r["peak_mib"])
            if "seconds" in r
            else dict(error=r.get("error"))
        )
        for label, r in train.items()
    }
    ours, anchor = train.get("tdanet", {}), train.get(anchor_model, {})
    if "seconds" in ours and "seconds" in anchor:
        summary["training_tdanet_over_anchor"] = dict(
            time=ours["seconds"] / anchor["seconds"],
            memory=ours["peak_mib"] / max(anchor["peak_mib"], 1e-9),
        )
    ckpt = results.get("checkpoint_argument")
    if not ckpt:
        summary["training_checkpointed"] = "skipped: TDANet offers no U-block checkpointing"
    else:
        cp = train.get(_train_label(dict(model="tdanet", checkpoint=ckpt)), {})
        if "seconds" in ours and "seconds" in cp:
            summary["training_checkpointed_over_tdanet"] = dict(
                time=cp["seconds"] / ours["seconds"],
                memory=cp["peak_mib"] / max(ours["peak_mib"], 1e-9),
            )
        long = {r.get("checkpoint"): r for r in rows if r.get("segment") == "long"}
        plain, cp = long.get(None, {}), long.get(ckpt, {})
        if "seconds" in plain and "seconds" in cp:
            summary["training_checkpointed_long_segment"] = dict(
                segment=settings["checkpointing_long"],
                time=cp["seconds"] / plain["seconds"],
                memory=cp["peak_mib"] / max(plain["peak_mib"], 1e-9),
            )
    return summary


GOAL_OVER_ANCHOR = 4.0  # the performance issue's inference goal: 4x the released code's speed
FLOOR_METHOD = (
    "benchmarks/dense_floor.py: the pass's dense operators (linear layers, matrix products, "
    "attention, convolutions with groups == 1) recorded by a TorchDispatchMode, replayed alone "
    "on random tensors of the same shapes and strides (best of the case's passes)"
)


def _dense_floor_summary(infer: dict, lengths: list, anchor_model: str) -> dict:
    """Each model's dense-product floor (s per s of audio, share of its time) and, for
    ``tdanet`` against the anchor, the speed-up the floor permits and the share of the rest
    (memory-bound work) that reaching :data:`GOAL_OVER_ANCHOR` would have to remove (above 1:
    out of reach without changing the arithmetic)."""
    floors, bound = {}, {}
    for (model, backend, threads, seconds), row in infer.items():
        if backend == "pytorch" and threads == 1 and "dense_floor_seconds" in row:
            floor = row["dense_floor_seconds"]
            floors.setdefault(model, {})[f"{seconds:g}s"] = dict(
                s_per_s=floor / seconds, share=floor / row["seconds"], ops=row.get("dense_ops")
            )
    for seconds in lengths:
        ours = infer.get(("tdanet", "pytorch", 1, seconds), {})
        anchor = infer.get((anchor_model, "pytorch", 1, seconds), {})
        if "dense_floor_seconds" in ours and "seconds" in anchor:
            floor, goal = ours["dense_floor_seconds"], anchor["seconds"] / GOAL_OVER_ANCHOR
            rest = ours["seconds"] - floor
            bound[f"{seconds:g}s"] = dict(
                speedup_bound=anchor["seconds"] / floor,
                rest_to_remove_for_goal=(
                    max(0.0, ours["seconds"] - goal) / rest if rest > 0 else None
                ),
            )
    if not floors:
        return {}
    out = dict(dense_floor=dict(models=floors, method=FLOOR_METHOD))
    if bound:
        out["tdanet_dense_floor_over_anchor"] = dict(goal=GOAL_OVER_ANCHOR, lengths=bound)
    return out


def _s_per_s(x: float) -> str:
    """Seconds per second in a table: three decimals, three significant figures below 0.1 (a
    GPU's 0.00225, not 0.002)."""
    return f"{x:.3f}" if abs(x) >= 0.1 else f"{x:#.3g}"


def table(results: dict) -> str:
    """The README's markdown table(s) of ``results``: the inference table and its notes, then
    the training table, each only when the run measured it."""
    settings, summary = results["settings"], results["summary"]
    lengths, first = settings["lengths"], settings["lengths"][0]
    infer = _inference(results["rows"])
    cuda = settings["device"].startswith("cuda")
    where = results["machine"].get("gpu") or ("GPU" if cuda else "1 CPU thread")
    # One column per length, then the growth against the first length (none for one length).
    columns = [f"{s:g} s" for s in lengths] + [f"{s:g} s / {first:g} s" for s in lengths[1:]]
    lines = [
        f"Seconds of compute per second of audio ({where}, batch 1, 16 kHz, best of "
        f"{settings['repeats']} passes up to 10 s, {settings['long_repeats']} above):",
        "",
        f"| model | GA mixer | backend | {' | '.join(columns)} | peak MiB at {max(lengths):g} s |",
        "| --- | --- | --- |" + " --- |" * (len(columns) + 1),
    ]
    order = {"pytorch": 0, "onnxruntime": 1}
    keys = sorted({(m, b) for (m, b, t, _) in infer if t == 1}, key=lambda k: (order[k[1]], k[0]))
    mixers = {r["model"]: r["mixer"] for r in results["rows"]}
    for model, backend in keys:
        cells = [infer.get((model, backend, 1, s)) for s in lengths]
        speed = [_s_per_s(c["s_per_s"]) if c else "-" for c in cells]
        ratio = [
            f"{c['s_per_s'] / cells[0]['s_per_s']:.2f}" if c and cells[0] else "-"
            for c in cells[1:]
        ]
        peak = f"{cells[-1]['peak_mib']:.0f}" if cells[-1] else "-"
        name = f"`{model}`" + (" (anchor)" if model == results["anchor_model"] else "")
        lines.append(
            f"| {name} | `{mixers[model]}` | {backend} | "
            + " | ".join(speed + ratio + [peak])
            + " |"
        )
    if not keys:  # a training-only run (--tasks train): no empty inference table
        lines = []
    ratios = summary.get("tdanet_over_anchor_time") or {}
    notes = [f"Anchor: {results['anchor']}."]
    if keys:
        notes.append(
            "`tdanet` / anchor time: "
            + (", ".join(f"{k}: {v:.2f}" for k, v in ratios.items()) or "not measured")
            + "."
        )
    partial = results.get("partial")
    if partial:
        notes.insert(
            0, f"Partial run ({partial['rows']} rows of {partial['log']}): {partial['note']}."
        )
    share = summary.get("attention_share")
    if share:
        notes.append(
            f"`tdanet` at {share['audio_seconds']:g} s: {100 * share['quadratic_sdpa']:.0f} % "
            f"of the time in the quadratic attention product, "
            f"{100 * share['whole_ga_mixer']:.0f} % in the whole GA mixer."
        )
    notes += _floor_notes(summary, lengths, results["anchor_model"])
    for key, value in summary.items():
        if key.startswith(TWO_THREAD_KEY):
            notes.append(
                f"2-thread speed-up of `tdanet` at {key[len(TWO_THREAD_KEY):-1]} s: "
                + ", ".join(f"{b} {v:.2f}x" for b, v in value.items())
                + "."
            )
    refused = summary.get("onnxruntime_not_run", {})
    if cuda and refused:
        notes.append("onnxruntime: not run (it runs on the CPU).")
    else:
        notes += [f"onnxruntime not run for `{m}`: {why}." for m, why in refused.items()]
    training = settings["training"]
    lines += ["", *notes] if lines else notes
    if summary.get("training_step"):
        lines += [
            "",
            f"| training step ({training['batch']} x {training['seconds']:g} s at "
            f"{training['sample_rate'] // 1000} kHz, Adam, PIT SI-SDR) | seconds | peak MiB |",
            "| --- | --- | --- |",
        ]
    for label, r in (summary.get("training_step") or {}).items():
        if "seconds" in r:
            lines.append(f"| `{label}` | {r['seconds']:.2f} | {r['peak_mib']:.0f} |")
        else:
            lines.append(f"| `{label}` | error: {r['error']} | - |")
    if isinstance(summary.get("training_checkpointed"), str):
        lines += ["", f"U-block checkpointing {summary['training_checkpointed']}."]
    return "\n".join(lines)


def _floor_notes(summary: dict, lengths: list, anchor_model: str) -> list:
    floors = (summary.get("dense_floor") or {}).get("models") or {}
    notes = []
    for model in [m for m in ("tdanet", anchor_model) if m in floors]:
        cells = [floors[model].get(f"{s:g}s") for s in lengths]
        notes.append(
            f"Dense products alone of `{model}` (matrix products, attention, dense "
            "convolutions, replayed: `benchmarks/dense_floor.py`): "
            + " / ".join(_s_per_s(c["s_per_s"]) if c else "-" for c in cells)
            + f" s per s at {' / '.join(f'{s:g}' for s in lengths)} s ("
            + " / ".join(f"{100 * c['share']:.0f}" if c else "-" for c in cells)
            + " % of its time)."
        )
    bound = summary.get("tdanet_dense_floor_over_anchor")
    if bound:
        parts = []
        for length, b in bound["lengths"].items():
            need = b["rest_to_remove_for_goal"]
            need = "met" if need == 0 else ("n/a" if need is None else f"{100 * need:.0f} %")
            parts.append(f"{length}: at most {b['speedup_bound']:.1f}x, {need}")
        notes.append(
            f"Against the anchor, with `tdanet`'s dense products as they are (speed-up if all "
            f"other work were free; share of that other work that {bound['goal']:g}x would "
            "have to remove, above 100 % out of reach): " + "; ".join(parts) + "."
        )
    return notes


def _plot_training(bx, train: list, results: dict) -> None:
    """Bars of seconds per step and peak memory of the training rows ``train`` on ``bx``."""
    labels = [
        _train_label(r).replace(" (", "\n(").replace(" [", "\n[").replace("_enable()", "")
        for r in train
    ]
    xs = range(len(train))
    bx.bar([x - 0.2 for x in xs], [r["seconds"] for r in train], 0.4, color="C0", label="time")
    bx.set_ylabel("seconds per step", color="C0")
    mx = bx.twinx()
    mx.bar([x + 0.2 for x in xs], [r["peak_mib"] for r in train], 0.4, color="C1", label="memory")
    mx.set_ylabel("peak MiB", color="C1")
    bx.set_xticks(list(xs))
    bx.legend([bx.patches[0], mx.patches[0]], ["time", "peak memory"], fontsize=7)
    bx.set_xticklabels(labels, fontsize=6, rotation=30, ha="right")
    t = results["settings"]["training"]
    bx.set_title(
        f"Training step ({t['batch']} x {t['seconds']:g} s, {t['sample_rate'] // 1000} kHz)"
    )


def plot(results: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in results["rows"] if r["task"] == "train" and "seconds" in r]
    if train:
        fig, (ax, bx) = plt.subplots(
            1, 2, figsize=(12, 6.4), gridspec_kw=dict(width_ratios=[2.3, 1])
        )
    else:  # an inference-only run (--tasks infer): no empty training panel
        fig, ax = plt.subplots(figsize=(8.5, 6.4))
    infer = _inference(results["rows"])
    models = sorted({k[0] for k in infer})
    colors = {m: f"C{i}" for i, m in enumerate(models)}
    for model in models:
        for backend, style in (("pytorch", "-o"), ("onnxruntime", "--s")):
            pts = sorted(
                (s, r["s_per_s"])
                for (m, b, t, s), r in infer.items()
                if (m, b, t) == (model, backend, 1)
            )
            if pts:
                ax.loglog(*zip(*pts), style, color=colors[model], label=f"{model} ({backend})")
        floor = sorted(
            (s, r["dense_floor_seconds"] / s)
            for (m, b, t, s), r in infer.items()
            if (m, b, t) == (model, "pytorch", 1) and "dense_floor_seconds" in r
        )
        if floor and model in ("tdanet", results["anchor_model"]):
            label = f"{model}: dense products alone"
            ax.loglog(*zip(*floor), ":", color=colors[model], alpha=0.8, label=label)
        # Several threads: one series per backend and thread count (a point per length).
        for b, t in sorted({(b, t) for (m, b, t, _) in infer if m == model and t > 1}):
            pts = sorted(
                (s, r["s_per_s"])
                for (m, b_, t_, s), r in infer.items()
                if (m, b_, t_) == (model, b, t)
            )
            style = ("-." if len(pts) > 1 else "") + ("*" if b == "pytorch" else "P")
            label = f"{model} ({b}), {t} threads"
            ax.loglog(*zip(*pts), style, color=colors[model], ms=11, label=label)
    lengths = results["settings"]["lengths"]
    ax.set_xticks(lengths)
    ax.set_xticklabels([f"{s:g}" for s in lengths])
    ax.minorticks_off()
    where = results["machine"].get("gpu") or "CPU, 1 thread"
    ax.set(
        xlabel="input length (s, 16 kHz, batch 1)",
        ylabel=f"seconds per second of audio ({where})",
        title=f"Inference (anchor: {results['anchor']})",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.13))

    if train:
        _plot_training(bx, train, results)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- command line


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lengths", nargs="+", type=float, help="input lengths in s (default 1 10 60)")
    p.add_argument(
        "--backends",
        nargs="+",
        default=["pytorch", "onnxruntime"],
        choices=["pytorch", "onnxruntime"],
    )
    p.add_argument(
        "--thread-lengths",
        nargs="+",
        type=float,
        help="input lengths of the 2-thread cases of tdanet (default 10, or the middle length; "
        "each needs the same length among --lengths for its ratio)",
    )
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument(
        "--repeats", type=int, default=3, help="passes (best of) up to 10 s, training steps"
    )
    p.add_argument("--long-repeats", type=int, default=1, help="passes (best of) above 10 s")
    p.add_argument("--released", help="a checkout of JusperLee/TDANet (its look2hear code)")
    p.add_argument(
        "--tasks",
        nargs="+",
        default=["infer", "train"],
        choices=["infer", "train"],
        help="which cases to run (default both; exports go with infer)",
    )
    p.add_argument(
        "--checkpoint-seconds",
        type=float,
        help="segment of the long checkpointing training cases (default 12; --quick: 1)",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quick", action="store_true", help="tiny sizes, into a temp dir")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="one process per case with --quick too (always without)",
    )
    p.add_argument("--json", help="default benchmarks/results_performance[_cuda].json")
    p.add_argument("--png", help="default: --json with .png")
    p.add_argument("--table", action="store_true", help="only print the README table of --json")
    p.add_argument("--replot", action="store_true", help="only redraw --png from --json")
    p.add_argument(
        "--allocator",
        choices=ALLOCATOR_MODES,
        default="reuse",
        help="malloc of the cases: reuse freed memory (default; what `asteroid-tdanet "
        "separate` does, asteroid_tdanet.utils.allocator) or glibc's default (system)",
    )
    p.add_argument(
        "--from-log",
        help="rebuild --json and --png from the rows a stopped run printed (same arguments)",
    )
    p.add_argument("--note", help="with --from-log: a note kept in the JSON (e.g. the GPU)")
    p.add_argument("--_cases", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    global ALLOCATOR
    ALLOCATOR = args.allocator
    if args._cases:
        worker(json.loads(args._cases))
        return 0
    lengths, thread_lens = sizes(args)[:2]
    missing = [f"{s:g}" for s in thread_lens if s not in lengths]
    if missing and not (args.table or args.replot):
        p.error(f"--thread-lengths {' '.join(missing)}: not among the lengths timed on one thread")
    if args.json is None:
        folder = tempfile.mkdtemp(prefix="tdanet-perf-") if args.quick else HERE
        suffix = "_cuda" if args.device.startswith("cuda") else ""
        args.json = os.path.join(folder, f"results_performance{suffix}.json")
    args.png = args.png or os.path.splitext(args.json)[0] + ".png"
    if args.table or args.replot:
        with open(args.json) as f:
            results = json.load(f)
        if args.replot:
            plot(results, args.png)
        if args.table:
            print(table(results))
        return 0
    if args.from_log:
        if not os.path.isfile(args.from_log):
            p.error(f"--from-log: no such file: {args.from_log}")
        results = from_log(args)
    else:
        if args.device.startswith("cuda") and not torch.cuda.is_available():
            p.error("--device cuda: no GPU visible to torch")
        # A checkout whose import fails falls back to the stand-in (the error is recorded);
        # a path that is not there is a typo, not a run without the released code.
        if args.released and not os.path.isdir(args.released):
            p.error(f"--released: no such directory: {args.released}")
        results = run(args)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    plot(results, args.png)
    print(json.dumps(results["summary"], indent=1))
    print(f"Wrote {args.json} and {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
