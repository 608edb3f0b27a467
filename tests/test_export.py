"""ONNX and TorchScript export: same outputs as PyTorch on inputs of other lengths."""

import contextlib
import io
import os
import re
import stat
import time

import onnx
import pytest
import torch
from _inference_helpers import save_tiny_model, tiny_model

from asteroid_tdanet.cli import main
from asteroid_tdanet.export import onnx_export
from asteroid_tdanet.export import (
    default_opset,
    export_onnx,
    export_torchscript,
    load_torchscript,
    pool_to_length_traceable,
    run_onnx,
)
from asteroid_tdanet.masknn.nearest import nearest_index
from asteroid_tdanet.masknn.ublock import pool_to_length
from asteroid_tdanet.utils.stages import StageLog


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("frames,length", [(1000, 63), (4001, 251), (777, 13), (64, 8), (5, 5)])
def test_traceable_pooling_equals_the_model_pooling(causal, frames, length):
    if causal:
        frames = length * (frames // length)  # the causal masker pads to a multiple
    x = torch.randn(2, 3, frames)
    torch.testing.assert_close(
        pool_to_length_traceable(x, length, causal), pool_to_length(x, length, causal)
    )


@pytest.mark.parametrize(
    "variant",
    [
        {},
        dict(causal=True, norm_type="cLN"),
        dict(official_compat=True),
        dict(fb_name="stft", kernel_size=64, stride=16, mask_domain="magnitude"),
    ],
)
def test_onnx_matches_pytorch_on_two_lengths(tmp_path, variant):
    model = tiny_model(**variant)
    path = export_onnx(model, tmp_path / "m.onnx", example_seconds=0.5)
    for batch, length in [(1, 8000), (2, 13579)]:  # neither is the 4000-sample example
        wav = torch.randn(batch, length)
        with torch.no_grad():
            expected = model(wav)
        got = run_onnx(path, wav)
        assert got.shape == (batch, 2, length)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    # Exported from a copy: the model itself is unchanged.
    assert not model.training and next(model.parameters()).dtype == torch.float32
    opsets = {o.domain: o.version for o in onnx.load(path).opset_import}
    assert opsets[""] == default_opset()  # the installed torch's opset


def test_onnx_keeps_pytorch_nearest_indices_at_every_length(tmp_path):
    # ONNX's Resize picks other source frames than PyTorch's nearest interpolation for some
    # (coarse, fine) pairs: 21936 samples at 16 kHz (five scales) was one such length, 21920
    # (the CLI's check length) another; the export writes PyTorch's index map out.
    model = tiny_model(sample_rate=16000, upsampling_depth=5)
    path = export_onnx(model, tmp_path / "m.onnx", example_seconds=0.5)
    for length in (21936, 21920, 16001, 9999):
        wav = torch.randn(1, length)
        with torch.no_grad():
            expected = model(wav)
        torch.testing.assert_close(run_onnx(path, wav), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("frames", [1, 2, 3, 86, 172, 5002, 777])
def test_nearest_index_is_pytorch_nearest_interpolation(frames):
    for length in sorted({1, 2, frames, frames + 1, 2 * frames + 1, 1370, 10003, 16 * frames}):
        source = torch.arange(frames, dtype=torch.float32).view(1, 1, -1)
        expected = torch.nn.functional.interpolate(source, size=length, mode="nearest")
        assert torch.equal(nearest_index(frames, length), expected.view(-1).long())


def test_skipping_the_graph_linter_writes_the_same_file(tmp_path, monkeypatch):
    model, skipped = tiny_model(), onnx_export.graph_lint_skipped
    fast = export_onnx(model, tmp_path / "fast.onnx", example_seconds=0.5)
    # The exporter as torch ships it: graph_lint_skipped made a no-op.
    monkeypatch.setattr(onnx_export, "graph_lint_skipped", contextlib.nullcontext)
    linted = export_onnx(model, tmp_path / "linted.onnx", example_seconds=0.5)
    assert open(fast, "rb").read() == open(linted, "rb").read()
    lint = torch._C._jit_pass_lint
    with skipped():
        assert torch._C._jit_pass_lint is not lint
    assert torch._C._jit_pass_lint is lint  # restored


def test_torchscript_round_trip(tmp_path):
    model = tiny_model()
    export_torchscript(model, tmp_path / "m.pt", example_seconds=0.5)
    loaded, sample_rate, n_src = load_torchscript(tmp_path / "m.pt")
    assert (sample_rate, n_src) == (8000, 2)
    for length in (4000, 9999):
        wav = torch.randn(2, length)
        with torch.no_grad():
            torch.testing.assert_close(loaded(wav), model(wav))


@pytest.mark.parametrize("fmt,name", [("onnx", "m.onnx"), ("torchscript", "m.pt")])
def test_cli_export(tmp_path, capsys, fmt, name):
    ckpt = tmp_path / "tiny.pth"
    save_tiny_model(ckpt)
    out = tmp_path / name
    assert main(["export", "--model", str(ckpt), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"Wrote {fmt} model" in text and "max abs difference" in text
    error = float(re.search(r"max abs difference (\S+)\.\n", text).group(1))
    assert error < 1e-4
    assert main(["export", "--model", str(ckpt), "-o", str(out), "--no-check"]) == 2
    assert "exists (pass --force" in capsys.readouterr().err


def test_cli_export_reports_each_step_with_its_time(tmp_path, capsys):
    ckpt = tmp_path / "tiny.pth"
    save_tiny_model(ckpt)
    out = tmp_path / "m.onnx"
    assert main(["export", "--model", str(ckpt), "-o", str(out)]) == 0
    lines = capsys.readouterr().err.splitlines()
    stamps = [re.match(r"^\[\s*(\d+\.\d) s\] (.*)$", line) for line in lines]
    assert all(stamps), lines  # every line is "[elapsed] step"
    times = [float(m.group(1)) for m in stamps]
    assert times == sorted(times)
    done = [m.group(2) for m in stamps if ": done in " in m.group(2)]
    steps = [d.split(": done in ")[0] for d in done]
    # The graph is written under a temporary name next to the output, renamed once checked.
    converting = (
        f"tracing and converting to ONNX (opset {default_opset()}) into {tmp_path}/.m.onnx."
    )
    assert steps[2].startswith(converting) and steps[2].endswith(".partial")
    assert steps[:2] + steps[3:] == [
        f"loading {ckpt}",
        "preparing an exportable copy of the model",
        "running the exported file against PyTorch on two input lengths",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "tiny.pth"]
    assert main(["export", "--model", str(ckpt), "-o", str(out), "--force", "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_export_files_have_the_usual_mode_and_max_seconds_binds_s4_only(tmp_path, capsys):
    # Written under a temporary name, published with a new file's mode (0666 minus the
    # umask, not a temporary's 0600); --max-seconds shortens nothing for a model without an
    # S4 kernel table, whose file must then run on longer inputs.
    ckpt = tmp_path / "tiny.pth"
    model = save_tiny_model(ckpt)
    out = tmp_path / "m.pt"
    assert main(["export", "--model", str(ckpt), "-o", str(out), "--max-seconds", "0.01"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    wav = torch.randn(1, 16000)
    with torch.no_grad():
        torch.testing.assert_close(load_torchscript(out)[0](wav), model(wav))


def test_cli_export_failures_are_one_line_and_leave_no_file(tmp_path, capsys, monkeypatch):
    ckpt = tmp_path / "tiny.pth"
    save_tiny_model(ckpt)
    out = tmp_path / "m.onnx"
    base = ["export", "--model", str(ckpt), "-q"]
    assert main(base + ["-o", str(out), "--opset", "30"]) == 2  # torch refuses that opset
    assert "onnx export failed" in capsys.readouterr().err
    (tmp_path / "folder.onnx").mkdir()
    assert main(base + ["-o", str(tmp_path / "folder.onnx"), "--force"]) == 2
    assert "is a folder" in capsys.readouterr().err
    # A graph that computes something else fails the check (exit 1) and is not written;
    # one that gives NaN too.
    import asteroid_tdanet.export as export_package

    for wrong in (
        lambda path, wav: torch.zeros(wav.shape[0], 2, wav.shape[1]) + 0.5,
        lambda path, wav: torch.full((wav.shape[0], 2, wav.shape[1]), float("nan")),
    ):
        monkeypatch.setattr(export_package, "run_onnx", wrong)
        assert main(base + ["-o", str(out)]) == 1
        assert "differs from PyTorch" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.onnx", "tiny.pth"]


def test_long_steps_keep_reporting():
    log = StageLog(stream=io.StringIO(), heartbeat=0.05)
    with log.stage("waiting"):
        time.sleep(0.3)
    lines = log.stream.getvalue().splitlines()
    assert lines[0].endswith("] waiting ...") and lines[-1].split("] ")[1].startswith(
        "waiting: done in 0.3 s"
    )
    assert sum("still waiting (" in line for line in lines) >= 2
