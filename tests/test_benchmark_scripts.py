"""The benchmark scripts' bookkeeping (never their timings): a stopped run rebuilt from its log,
and the operator profile on a tiny model."""

import json
import warnings
import os
import subprocess
import sys

import pytest
import torch

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


def _bench(*args, cwd=None):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd or BENCH, capture_output=True, text=True, timeout=300
    )


def _row(model, seconds, s_per_s, **more):
    return dict(
        task="infer",
        model=model,
        mixer="mhsa",
        backend="pytorch",
        threads=1,
        audio_seconds=seconds,
        seconds=s_per_s * seconds,
        s_per_s=s_per_s,
        peak_mib=10.0 * seconds,
        **more,
    )


def test_a_stopped_run_is_rebuilt_from_the_rows_it_printed(tmp_path):
    machine = dict(gpu="Some GPU", torch="x")
    rows = [
        dict(
            task="probe",
            model="released",
            mixer="released code",
            backend="pytorch",
            threads=1,
            params=5,
            module="look2hear.models.TDANet_best",
        ),
        _row("tdanet", 1.0, 0.10, mixer_seconds=0.01, sdpa_seconds=0.002),
        _row("tdanet", 10.0, 0.04, mixer_seconds=0.01, sdpa_seconds=0.002),
        _row("released", 1.0, 0.05),
    ]
    log = tmp_path / "run.log"
    log.write_text(
        "a warning line\n@machine "
        + json.dumps(machine)
        + "\n"
        + "".join(json.dumps(r) + "\n" for r in rows)
        + '@case {"never": 1}\n{ not json\n'
    )
    out = tmp_path / "partial.json"
    proc = _bench(
        "performance.py",
        "--device",
        "cuda",
        "--released",
        "/x",
        "--lengths",
        "1",
        "10",
        "--from-log",
        str(log),
        "--note",
        "stopped",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    assert results["machine"] == machine
    assert results["partial"] == dict(rows=3, log="run.log", note="stopped")
    assert results["anchor_model"] == "released"
    summary = results["summary"]
    assert summary["s_per_s_growth"]["tdanet (pytorch)"]["10s/1s"] == pytest.approx(0.04 / 0.10)
    assert summary["tdanet_over_anchor_time"] == {"1s": pytest.approx(0.10 / 0.05)}
    assert os.path.getsize(out.with_suffix(".png")) > 0
    table = _bench("performance.py", "--device", "cuda", "--table", "--json", str(out))
    assert (
        "Some GPU" in table.stdout and "Partial run (3 rows of run.log): stopped." in table.stdout
    )
    assert "10 s: -" not in table.stdout and "| `released` (anchor) |" in table.stdout


def test_two_thread_speedups_at_each_thread_length(tmp_path):
    rows = [
        _row("tdanet", 1.0, 0.30),
        _row("tdanet", 10.0, 0.20),
        dict(_row("tdanet", 1.0, 0.25), threads=2),
        dict(_row("tdanet", 10.0, 0.125), threads=2),
    ]
    log = tmp_path / "run.log"
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "threads.json"
    args = ["--lengths", "1", "10", "--thread-lengths", "1", "10", "--backends", "pytorch"]
    proc = _bench("performance.py", *args, "--from-log", str(log), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(out.read_text())["summary"]
    assert summary["two_thread_speedup_tdanet_1s"] == {"pytorch": pytest.approx(0.30 / 0.25)}
    assert summary["two_thread_speedup_tdanet_10s"] == {"pytorch": pytest.approx(0.20 / 0.125)}
    table = _bench("performance.py", "--table", "--json", str(out)).stdout
    assert "2-thread speed-up of `tdanet` at 1 s: pytorch 1.20x." in table
    assert "2-thread speed-up of `tdanet` at 10 s: pytorch 1.60x." in table
    assert os.path.getsize(out.with_suffix(".png")) > 0  # inference only: no training panel
    refused = _bench("performance.py", "--lengths", "1", "10", "--thread-lengths", "60")
    assert refused.returncode != 0 and "--thread-lengths 60: not among" in refused.stderr


def test_from_log_names_a_missing_log(tmp_path):
    proc = _bench("performance.py", "--from-log", str(tmp_path / "none.log"))
    assert proc.returncode != 0 and "none.log" in proc.stderr


def test_operator_profile_of_a_tiny_model(tmp_path):
    out = tmp_path / "ops.json"
    proc = _bench(
        "op_profile.py",
        "--quick",
        "--models",
        "tdanet",
        "--seconds",
        "0.25",
        "--tasks",
        "infer",
        "train",
        "--train-seconds",
        "0.25",
        "--train-batch",
        "1",
        "--passes",
        "1",
        "--top",
        "4",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    profiles = json.loads(out.read_text())["profiles"]
    assert [(p["model"], p["task"]) for p in profiles] == [("tdanet", "infer"), ("tdanet", "train")]
    for prof in profiles:
        assert len(prof["top"]) == 4 and prof["seconds_per_pass"] > 0
        shares = [op["share"] for op in prof["top"]]
        assert shares == sorted(shares, reverse=True) and sum(shares) <= 1 + 1e-9
        # Module roles from forward hooks: inclusive, so the whole model leads, and the
        # shared U-block is called once per block (--quick: 2 blocks) in every forward pass.
        modules = {m["module"]: m for m in prof["modules"]}
        assert prof["modules"][0]["module"] == "TDANet" and prof["modules"][0]["share"] <= 1
        assert modules["UBlock:ublock"]["calls"] == 2
        assert prof["seconds_per_pass_unprofiled"] > 0
    unknown = _bench("op_profile.py", "--models", "nope")
    assert unknown.returncode != 0 and "nope" in unknown.stderr


def test_thread_scaling_rows_and_their_summary(tmp_path):
    out = tmp_path / "threads.json"
    proc = _bench(
        "thread_scaling.py", "--quick", "--traced", "--seconds", "0.25", "--json", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert os.path.getsize(tmp_path / "threads.png") > 0
    assert result["operators"]["total"] >= sum(result["operators"]["top"].values()) > 0
    passes = {(r["form"], r["audio_seconds"], r["threads"]): r["seconds"] for r in result["passes"]}
    assert set(passes) == {
        (form, s, t) for form in ("eager", "traced") for s in (0.02, 0.25) for t in (1, 2)
    }
    for form in ("eager", "traced"):
        t1, t2 = passes[(form, 0.25, 1)], passes[(form, 0.25, 2)]
        f1, f2 = passes[(form, 0.02, 1)], passes[(form, 0.02, 2)]
        summary = result["summary"][form]
        assert summary["speedup"] == pytest.approx(t1 / t2)
        assert summary["fixed_share_1_thread"] == pytest.approx(f1 / t1)
        # Amdahl: the fixed part as measured on two threads, everything else halved.
        assert summary["amdahl_bound"] == pytest.approx(t1 / (f2 + max(t1 - f1, 0) / 2))
    norms = {(r["frames"], r["threads"]): r["ms"] for r in result["group_norm"]}
    assert set(norms) == {(n, t) for n in (63, 1023, 1024) for t in (1, 2)}
    for n in (63, 1023, 1024):
        speedup = result["summary"]["group_norm_speedup"][str(n)]
        assert speedup == pytest.approx(norms[(n, 1)] / norms[(n, 2)])


class _Dense(torch.nn.Module):
    """One of each: a linear layer, a dense and a depthwise convolution, attention, and
    memory-bound work (norm, activation) around them."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 8)
        self.dense = torch.nn.Conv1d(8, 8, 3, padding=1)
        self.depthwise = torch.nn.Conv1d(8, 8, 3, padding=1, groups=8)
        self.norm = torch.nn.GroupNorm(1, 8)

    def forward(self, x):  # (batch, frames, 6)
        h = torch.relu(self.linear(x)).transpose(1, 2)
        h = self.norm(self.depthwise(self.dense(h))).transpose(1, 2)
        q = h.unflatten(-1, (2, 4)).transpose(1, 2)
        return torch.nn.functional.scaled_dot_product_attention(q, q, q)


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad"])
def test_dense_floor_records_the_products_and_replays_the_same_calls(mode):
    sys.path.insert(0, BENCH)
    try:
        import dense_floor
    finally:
        sys.path.remove(BENCH)
    model, x = _Dense(), torch.randn(2, 10, 6)
    with getattr(torch, mode)():
        calls = dense_floor.capture(lambda: model(x))
    counts = dense_floor.summary(calls)
    # One linear layer, one dense convolution (not the depthwise one), one attention (one
    # fused call or its batched products: names depend on the dispatch level and kernel).
    conv = sum(n for k, n in counts.items() if "conv" in k)
    linear = sum(n for k, n in counts.items() if k in ("linear", "addmm", "mm"))
    attention = sum(n for k, n in counts.items() if "attention" in k or "bmm" in k)
    assert (conv, linear) == (1, 1) and attention >= 1, counts
    assert sum(counts.values()) == conv + linear + attention, counts
    assert not any("norm" in k or "relu" in k for k in counts)
    flat = [a for _, args, kwargs in calls for a in (*args, *kwargs.values())]
    assert not any(isinstance(a, torch.Tensor) for a in flat), "descriptions keep no data"
    # The replay issues the same operators on tensors of the recorded shapes and strides.
    replayed = []
    original = dense_floor._Recorder.__torch_dispatch__

    def spy(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if dense_floor._is_dense(func, args, kwargs):
            replayed.append((func, dense_floor._describe(args), dense_floor._describe(kwargs)))
        return func(*args, **kwargs)

    dense_floor._Recorder.__torch_dispatch__ = spy
    try:
        with dense_floor._Recorder():
            seconds = dense_floor.replay_seconds(calls, repeats=2)
    finally:
        dense_floor._Recorder.__torch_dispatch__ = original
    assert seconds > 0
    assert replayed == calls * 3  # a warm-up round and two timed rounds


def test_dense_floor_lets_higher_order_operators_run_unrecorded():
    """``flex_attention`` (the wsa mixer's CUDA path) is a higher-order operator: the recorder
    runs it (dense attention's output) and records what it can replay around it."""
    from torch.nn.attention.flex_attention import flex_attention

    sys.path.insert(0, BENCH)
    try:
        import dense_floor
    finally:
        sys.path.remove(BENCH)
    torch.manual_seed(0)
    q, w = torch.randn(1, 2, 16, 8), torch.randn(8, 8)
    out = []
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # "called without torch.compile" (CPU's eager form)
            calls = dense_floor.capture(lambda: out.append(flex_attention(q @ w, q, q)))
    finally:
        # The eager form traces through dynamo; its cache, made under inference mode, would
        # break the next flex_attention call with gradients (tests/test_mel_band_roformer.py).
        torch._dynamo.reset()
    scores = (q @ w) @ q.transpose(-1, -2) / 8**0.5  # no mask: dense attention
    torch.testing.assert_close(out[0], scores.softmax(-1) @ q)
    assert sum(dense_floor.summary(calls).values()) == 1, "the product around it"


def test_dense_floor_bound_against_the_anchor():
    sys.path.insert(0, BENCH)
    try:
        import performance
    finally:
        sys.path.remove(BENCH)
    rows = [
        _row("tdanet", 1.0, 0.2, dense_floor_seconds=0.1),
        _row("released", 1.0, 0.6),  # goal 0.15 s: half the other 0.1 s would have to go
        _row("tdanet", 10.0, 0.2, dense_floor_seconds=1.0),
        _row("released", 10.0, 0.9),  # goal 2.25 s > 2 s: met
        _row("tdanet", 60.0, 0.3, dense_floor_seconds=12.0),
        _row("released", 60.0, 0.4),  # goal 6 s below the 12 s floor: out of reach
    ]
    infer = performance._inference(rows)
    out = performance._dense_floor_summary(infer, [1.0, 10.0, 60.0], "released")
    assert out["dense_floor"]["models"]["tdanet"]["1s"]["share"] == pytest.approx(0.5)
    bound = out["tdanet_dense_floor_over_anchor"]["lengths"]
    assert bound["1s"]["speedup_bound"] == pytest.approx(6.0)
    assert bound["1s"]["rest_to_remove_for_goal"] == pytest.approx(0.5)
    assert bound["10s"]["rest_to_remove_for_goal"] == 0.0
    assert bound["60s"]["speedup_bound"] == pytest.approx(2.0)
    assert bound["60s"]["rest_to_remove_for_goal"] > 1.0
    notes = " ".join(performance._floor_notes(out, [1.0, 10.0, 60.0], "released"))
    assert "1s: at most 6.0x, 50 %" in notes and "10s: at most 9.0x, met" in notes


def test_module_roles_sum_repeated_calls_and_drop_list_indices():
    sys.path.insert(0, BENCH)
    try:
        from module_clock import ModuleClock, role
    finally:
        sys.path.remove(BENCH)
    block = torch.nn.Linear(3, 3)
    model = torch.nn.Sequential(block, torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU()]))
    assert role("", model) == "Sequential"
    assert role("1.0", model[1][0]) == "ReLU"
    assert role("masker.ublock.bottom_up.3", block) == "Linear:bottom_up"

    class Shared(torch.nn.Module):  # one block applied three times, as TDANet's U-block
        def __init__(self):
            super().__init__()
            self.block = block

        def forward(self, x):
            for _ in range(3):
                x = self.block(x)
            return x

    shared = Shared()
    clock = ModuleClock(shared)
    shared(torch.randn(2, 3))
    shared(torch.randn(2, 3))
    top = {m["module"]: m for m in clock.top(5, total=1.0, passes=2)}
    assert top["Linear:block"]["calls"] == 3 and top["Shared"]["calls"] == 1
    assert top["Shared"]["ms"] >= top["Linear:block"]["ms"]  # inclusive
    clock.close()
    shared(torch.randn(2, 3))
    assert clock.calls["Shared"] == 2, "closed: hooks removed"


def test_device_paths_toggles_one_setting_per_variant_and_restores_them():
    sys.path.insert(0, BENCH)
    try:
        import device_paths
    finally:
        sys.path.remove(BENCH)
    from asteroid_tdanet.masknn import frame_major, norms

    def paths():
        return frame_major.FRAME_MAJOR_DEVICES, norms.GROUP_NORM_DEVICES, norms.GROUP_NORM_MAX_ITEM

    limit = norms.GROUP_NORM_MAX_ITEM
    try:
        device_paths._set_paths("frame-major", "cuda:0")
        assert paths() == (("cpu", "cuda"), ("cpu",), limit)
        device_paths._set_paths("group-norm", "cuda")
        assert paths() == (("cpu",), ("cpu", "cuda"), limit)
        device_paths._set_paths("var-mean", "cuda")
        assert paths() == (("cpu",), ("cpu",), 0)
        device_paths._set_paths("group-norm<=4096", "cuda")
        assert paths() == (("cpu",), ("cpu",), 4096)
    finally:
        device_paths._set_paths("default", "cuda")
    assert paths() == (("cpu",), ("cpu",), limit)


def test_device_paths_rows_and_summary_on_the_cpu(tmp_path):
    out = tmp_path / "paths.json"
    proc = _bench("device_paths.py", "--quick", "--group-norm-limits", "4096", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    variants = ["default", "frame-major", "group-norm", "var-mean", "group-norm<=4096"]
    infer = [(r["variant"], r["audio_seconds"]) for r in result["rows"] if r["task"] == "infer"]
    assert infer == [(v, s) for s in (0.5, 1.0) for v in variants]
    assert [r["variant"] for r in result["rows"] if r["task"] == "train"] == variants
    for row in result["rows"]:
        assert "error" not in row and row["seconds"] > 0
        if row["task"] == "infer" and row["variant"] != "default":
            assert row["max_abs_diff"] == 0.0  # the CPU's own paths in every variant
    assert set(result["summary"]) == {"infer_0.5s", "infer_1s", "train_0.5s"}
    assert set(result["summary"]["train_0.5s"]) == {f"{v}_over_default" for v in variants[1:]}


def test_one_length_table_and_small_values(tmp_path):
    """One length: no empty growth column; GPU-sized times keep three significant figures."""
    log = tmp_path / "run.log"
    log.write_text(json.dumps(_row("tdanet", 10.0, 0.00225)) + "\n")
    out = tmp_path / "one.json"
    args = ["--lengths", "10", "--backends", "pytorch", "--tasks", "infer"]
    proc = _bench("performance.py", *args, "--from-log", str(log), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    table = _bench("performance.py", "--table", "--json", str(out)).stdout.splitlines()
    head = next(line for line in table if line.startswith("| model |"))
    assert head == "| model | GA mixer | backend | 10 s | peak MiB at 10 s |"
    assert table[table.index(head) + 1].count("---") == 5
    assert "| `tdanet` | `mhsa` | pytorch | 0.00225 | 100 |" in table
    assert not any(line.startswith("| training step") for line in table), "not measured"


def test_table_of_a_training_only_run_prints_the_training_table_only():
    table = _bench(
        "performance.py",
        "--table",
        "--json",
        os.path.join(BENCH, "results_performance_training.json"),
    )
    assert table.returncode == 0, table.stderr
    assert "| training step" in table.stdout and "| `released` | 36.93 |" in table.stdout
    assert "| model |" not in table.stdout and "not measured" not in table.stdout


def test_png_follows_json_and_defaults_do_not_depend_on_the_working_directory(tmp_path):
    script = os.path.join(BENCH, "mixers.py")
    markdown = _bench(script, "--markdown", cwd=tmp_path)  # the default --json, from elsewhere
    assert markdown.returncode == 0, markdown.stderr
    assert "| mixer (128 channels) |" in markdown.stdout
    copy = tmp_path / "copy.json"
    copy.write_text(open(os.path.join(BENCH, "results_mixers.json")).read())
    replot = _bench(script, "--replot", "--json", str(copy), cwd=tmp_path)
    assert replot.returncode == 0, replot.stderr
    assert os.path.getsize(tmp_path / "copy.png") > 0, "next to --json, not the committed PNG"


def test_scripts_refuse_a_missing_released_checkout(tmp_path):
    missing = str(tmp_path / "no-TDANet")
    for script in ("performance.py", "device_paths.py", "op_profile.py"):
        args = ["--released", missing, "--json", str(tmp_path / "x.json")]
        proc = _bench(script, *args)
        assert proc.returncode == 2, (script, proc.stderr)
        assert f"--released: no such directory: {missing}" in proc.stderr, script
    assert not os.path.exists(tmp_path / "x.json")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal needs a machine without CUDA")
def test_fla_twins_refuses_cuda_without_a_gpu(tmp_path):
    proc = _bench("fla_twins.py", "--device", "cuda", "--json", str(tmp_path / "x.json"))
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr
    assert not os.path.exists(tmp_path / "x.json")


@pytest.mark.parametrize(
    "script",
    [
        "device_paths.py",
        "depthwise_backward.py",
        "thread_scaling.py",
        "fla_twins.py",
        "mixers.py",
        os.path.join("mini_budget_sweep", "decode.py"),
        os.path.join("mini_budget_sweep", "table.py"),
    ],
)
def test_help_of_the_scripts(script):
    proc = _bench(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")
    assert "--json" in proc.stdout or "positional arguments" in proc.stdout
