"""An install without the optional extras, an older torch, a closed pipe, the sdist."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from _inference_helpers import TINY

from asteroid_tdanet import TDANet
from asteroid_tdanet.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_info_without_the_flops_extra_shows_the_model_and_a_note(tiny_ckpt, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ptflops", None)  # not installed: import fails
    assert main(["info", "--model", tiny_ckpt]) == 0
    out, err = capsys.readouterr()
    assert "parameters:" in out and "MACs:" not in out
    assert "MACs not counted: ptflops is not installed" in err
    assert "asteroid-tdanet[flops]" in err
    # Asked for by name, a missing counter is still an error.
    assert main(["info", "--model", tiny_ckpt, "--counter", "ptflops"]) == 2
    assert "counting MACs needs ptflops" in capsys.readouterr().err


def test_onnx_export_without_onnx_names_the_extra(tiny_ckpt, tmp_path, monkeypatch, capsys):
    from asteroid_tdanet.export import export_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'asteroid-tdanet\[export\]'"):
        export_onnx(TDANet(**TINY).eval(), tmp_path / "m.onnx")
    args = ["export", "--model", tiny_ckpt, "-o", str(tmp_path / "m.onnx"), "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "asteroid-tdanet: error: ONNX export needs the onnx package: "
        "pip install 'asteroid-tdanet[export]'"
    )
    assert list(tmp_path.glob("*.onnx")) == [] and not list(tmp_path.glob(".*partial"))


def test_export_into_a_folder_that_refuses_the_file_is_one_line(
    tiny_ckpt, tmp_path, monkeypatch, capsys
):
    import errno

    from asteroid_tdanet.inference import outputs

    def read_only(tmp, path, overwrite):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(outputs, "publish", read_only)
    out = tmp_path / "m.pt"
    assert main(["export", "--model", tiny_ckpt, "-o", str(out), "-q", "--no-check"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"cannot write {out}: Read-only file system" in err
    assert list(tmp_path.iterdir()) == [Path(tiny_ckpt)]  # the temporary is gone too


def test_checkpoints_on_a_torch_without_safe_globals_name_the_version(tiny_ckpt, monkeypatch):
    from asteroid_tdanet.checkpoints import safe_torch_load

    monkeypatch.delattr(torch.serialization, "safe_globals")  # torch 2.1 - 2.4
    with pytest.raises(RuntimeError, match=r"needs torch >= 2\.5 .*this is torch"):
        safe_torch_load(tiny_ckpt)


def test_a_reader_that_leaves_the_pipe_gets_no_traceback(tiny_ckpt):
    """``asteroid-tdanet info ... | head -1``-like: the reader closes the pipe before the
    output is flushed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "asteroid_tdanet", "info", "--model", tiny_ckpt]
    proc = subprocess.Popen(
        cmd + ["--counter", "none"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # nobody reads stdout
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_sdist_holds_the_package_and_not_the_tests(tmp_path):
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)]
        + ["sdist", "--dist-dir", str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    package = {str(p.relative_to(REPO)) for p in (REPO / "asteroid_tdanet").rglob("*.py")}
    assert package <= names
    assert {"setup.py", "setup.cfg", "README.md", "LICENSE"} <= names
    assert not [n for n in names if n.startswith("tests/")]
