"""The benchmark scripts' bookkeeping (never their timings): a stopped run rebuilt from its log,
and the operator profile on a tiny model."""

import json
import os
import subprocess
import sys

import pytest

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
    unknown = _bench("op_profile.py", "--models", "nope")
    assert unknown.returncode != 0 and "nope" in unknown.stderr
