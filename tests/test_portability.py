"""What differs on macOS and Windows, simulated here (Linux): process probes, hard links,
case-insensitive names, name limits in UTF-16, console encodings, text file encodings,
float64-less devices. Each test fails on the code before its fix."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_helpers import write_audio

from asteroid_tdanet.inference import outputs
from asteroid_tdanet.inference.outputs import OutputError, OutputFiles

REPO = Path(__file__).resolve().parents[1]


def _stale_temporary(folder: Path, pid: int) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f".talk_s1.wav.{outputs._HOST}-{pid}-0123abcd{outputs.TEMP_SUFFIX}"
    path.write_bytes(b"partial")
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_windows_never_probes_processes_with_os_kill(tmp_path, monkeypatch):
    """On Windows ``os.kill(pid, 0)`` sends CTRL_C_EVENT to ``pid`` (and raises OSError
    EINVAL for a dead one): a stale temporary there is reported, never probed."""
    stale = _stale_temporary(tmp_path, _dead_pid())
    sent = []

    def windows_kill(pid, sig):
        sent.append((pid, sig))
        raise OSError(errno.EINVAL, "The parameter is incorrect")

    monkeypatch.setattr(outputs, "ON_WINDOWS", True)
    monkeypatch.setattr(os, "kill", windows_kill)
    removed, kept = outputs.clean_stale_temporaries([tmp_path])
    assert (removed, kept, sent) == ([], [stale], [])
    assert stale.exists()


def test_a_probe_that_fails_otherwise_keeps_the_temporary(tmp_path, monkeypatch):
    stale = _stale_temporary(tmp_path, _dead_pid())

    def failing_kill(pid, sig):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "kill", failing_kill)
    assert outputs.clean_stale_temporaries([tmp_path]) == ([], [stale])


def test_a_dead_writers_temporary_is_still_removed_on_posix(tmp_path):
    stale = _stale_temporary(tmp_path, _dead_pid())
    assert outputs.clean_stale_temporaries([tmp_path]) == ([stale], [])


@pytest.mark.parametrize(
    "err",
    [
        OSError(errno.EINVAL, "Incorrect function"),  # Windows, exFAT / FAT32 (WinError 1)
        OSError(errno.ENOSYS, "Function not implemented"),
    ],
    ids=["EINVAL", "ENOSYS"],
)
def test_outputs_are_published_where_hard_links_fail(tmp_path, monkeypatch, err):
    def no_link(src, dst):
        raise err

    monkeypatch.setattr(os, "link", no_link)
    paths = [tmp_path / "x_s1.wav", tmp_path / "x_s2.wav"]
    with OutputFiles(paths, 8000, "FLOAT", overwrite=False) as files:
        files.write(torch.zeros(2, 100))
        files.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s1.wav", "x_s2.wav"]
    assert all(sf.info(str(p)).frames == 100 for p in paths)
    # An existing output is still never replaced without overwrite.
    with pytest.raises(outputs.OutputExistsError):
        with OutputFiles(paths, 8000, "FLOAT", overwrite=False) as files:
            files.write(torch.ones(2, 50))
            files.commit()
    assert all(sf.info(str(p)).frames == 100 for p in paths)


def test_overwriting_is_all_or_none(tmp_path):
    """With overwrite, a failure on the second output leaves the first output's old file (it
    used to be replaced, then the new one taken back: the old file was lost)."""
    old = tmp_path / "x_s1.wav"
    old.write_bytes(b"old result 1")
    (tmp_path / "x_s2.wav").mkdir()  # cannot be replaced by a file
    with pytest.raises(OutputError, match=r"x_s2\.wav"):
        with OutputFiles([old, tmp_path / "x_s2.wav"], 8000, "FLOAT", overwrite=True) as f:
            f.write(torch.zeros(2, 100))
            f.commit()
    assert old.read_bytes() == b"old result 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s1.wav", "x_s2.wav"]


def test_overwriting_a_file_open_elsewhere_keeps_both_old_files(tmp_path, monkeypatch):
    """Windows refuses to replace a file another program holds open (a sharing violation):
    simulated for the second output."""
    paths = [tmp_path / "x_s1.wav", tmp_path / "x_s2.wav"]
    for i, path in enumerate(paths):
        path.write_bytes(f"old result {i + 1}".encode())
    replace = os.replace

    def locked(src, dst):
        if os.fspath(dst) == os.fspath(paths[1]) and outputs.TEMP_SUFFIX in os.fspath(src):
            raise PermissionError(errno.EACCES, "The process cannot access the file")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(OutputError, match="cannot access"):
        with OutputFiles(paths, 8000, "FLOAT", overwrite=True) as files:
            files.write(torch.zeros(2, 100))
            files.commit()
    assert [p.read_bytes() for p in paths] == [b"old result 1", b"old result 2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s1.wav", "x_s2.wav"]
    monkeypatch.setattr(os, "replace", replace)
    with OutputFiles(paths, 8000, "FLOAT", overwrite=True) as files:  # and then it works
        files.write(torch.zeros(2, 100))
        files.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s1.wav", "x_s2.wav"]
    assert all(sf.info(str(p)).frames == 100 for p in paths)


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_outputs_differing_only_in_case_collide_on_macos_and_windows(
    tmp_path, monkeypatch, platform
):
    from asteroid_tdanet.inference import plan

    for name in ("Talk.wav", "talk.flac", "talk.wav"):
        write_audio(tmp_path / name, 0.1, 8000)
    inputs = [str(tmp_path / "Talk.wav"), str(tmp_path / "talk.flac")]
    # Linux: two files, two sets of outputs.
    assert [job.error for job in plan(inputs, tmp_path / "out", 2)] == [None, None]
    monkeypatch.setattr(sys, "platform", platform)
    jobs = plan(inputs, tmp_path / "out", 2, force=True)
    assert jobs[0].error is None
    assert jobs[1].error.endswith(f"its outputs would overwrite those of {inputs[0]}; rename one")
    # One file named twice (here through a link; on macOS also in other letter cases) is
    # one job: inputs are told apart by the file itself.
    (tmp_path / "link.wav").symlink_to(tmp_path / "Talk.wav")
    assert len(plan([inputs[0], str(tmp_path / "link.wav")], tmp_path / "out", 2)) == 1
    # Two files whose names differ only in case (a case-sensitive volume) are two inputs:
    # the second is refused in one line, never dropped silently.
    jobs = plan([inputs[0], str(tmp_path / "talk.wav")], tmp_path / "out", 2)
    assert [job.input.name for job in jobs] == ["Talk.wav", "talk.wav"]
    assert jobs[1].error.endswith(f"its outputs would overwrite those of {inputs[0]}; rename one")


def test_windows_name_limit_counts_utf16_units(tmp_path, monkeypatch):
    """NTFS and exFAT allow 255 UTF-16 units: 90 CJK characters (270 UTF-8 bytes) fit."""
    name = "\u4f1a" * 83 + "_s1.wav"
    monkeypatch.setattr(outputs, "ON_WINDOWS", True)
    monkeypatch.delattr(os, "pathconf")  # Windows has none: the limit is the default 255
    tmp = outputs.make_temporary(str(tmp_path / name))  # Linux takes the bytes as well
    assert Path(tmp).is_file()
    too_long = "\u4f1a" * 249 + "_s1.wav"  # 256 characters
    with pytest.raises(OutputError, match=r"too long \(256 characters; this file system"):
        outputs.make_temporary(str(tmp_path / too_long))


def test_cli_output_survives_a_console_without_the_names_characters(tmp_path, tiny_ckpt):
    """Windows consoles and pipes use a code page (cp1252): printing a Chinese file name
    after the work crashed with UnicodeEncodeError."""
    out = tmp_path / "\u5206\u79bb\u6a21\u578b.pt"
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONIOENCODING="cp1252")
    args = ["export", "--model", tiny_ckpt, "-o", str(out), "--format", "torchscript"]
    proc = subprocess.run(
        [sys.executable, "-m", "asteroid_tdanet", *args, "--no-check"],
        env=env,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stderr.decode("cp1252", "replace")
    assert out.is_file()
    assert b"\\u5206\\u79bb" in proc.stdout


def test_modelscope_configuration_is_read_as_utf8_whatever_the_locale(tmp_path, monkeypatch):
    """Windows' ``open()`` defaults to the ANSI code page; the configuration is UTF-8
    (possibly with a byte-order mark from a Windows editor)."""
    import builtins

    from asteroid_tdanet.checkpoints import modelscope

    config = {"framework": "pytorch", "task": "speech-separation", "note": "\u8bad\u7ec3"}
    (tmp_path / "configuration.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps(config, ensure_ascii=False).encode("utf-8")
    )
    real_open = builtins.open

    def cp1252_open(file, mode="r", *args, encoding=None, **kwargs):
        if "b" not in mode and encoding is None:
            encoding = "cp1252"
        return real_open(file, mode, *args, encoding=encoding, **kwargs)

    torch.save({}, tmp_path / "pytorch_model.bin")  # no weights: the error after the JSON
    monkeypatch.setattr(builtins, "open", cp1252_open)
    with pytest.raises(modelscope.NotACheckpointError, match="is not a FLA-SepReformer"):
        modelscope.modelscope_dir_to_package(str(tmp_path))


def test_no_float64_on_the_separation_device():
    """Apple's ``mps`` has no float64: the overlap ramp and the alignment scores are computed
    on the CPU. Recorded on ``meta`` tensors, which stand for another device here."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from asteroid_tdanet.inference.alignment import overlap_similarity
    from asteroid_tdanet.inference.overlap_add import fade_in

    class Float64Off(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.devices = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor) and t.dtype == torch.float64:
                    self.devices.add(t.device.type)
            return out

    with Float64Off() as mode:
        ramp = fade_in(64, device="meta")
    assert ramp.device.type == "meta" and mode.devices == {"cpu"}
    a, b = torch.randn(1, 2, 64), torch.randn(1, 2, 64)
    with Float64Off() as mode:
        scores = overlap_similarity(a, b)
    centred = [x.double() - x.double().mean(-1, keepdim=True) for x in (a, b)]
    torch.testing.assert_close(scores, centred[0] @ centred[1].transpose(1, 2))
    assert mode.devices == {"cpu"}


def test_s4_kernel_refuses_a_device_without_float64_in_one_line():
    from asteroid_tdanet.masknn.ssm.nplr_kernel import check_kernel_device

    check_kernel_device(torch.device("cpu"))
    check_kernel_device(torch.device("cuda"))  # a device object: no GPU needed
    with pytest.raises(RuntimeError, match="'mps' device does not support: run models with"):
        check_kernel_device(torch.device("mps"))


def test_output_names_are_unchanged_by_case_folding(tmp_path, monkeypatch):
    """The folded key only compares paths: the files keep the names they were given."""
    from asteroid_tdanet.inference import plan

    write_audio(tmp_path / "Talk.wav", 0.1, 8000)
    monkeypatch.setattr(sys, "platform", "darwin")
    (job,) = plan([str(tmp_path / "Talk.wav")], tmp_path / "Out", 2)
    assert [p.name for p in job.outputs] == ["Talk_s1.wav", "Talk_s2.wav"]
    assert np.all([p.parent.name == "Out" for p in job.outputs])


def test_a_backup_is_a_second_name_so_the_output_is_never_missing(tmp_path):
    """Killed between the backup and the publication, a --force run leaves the old output in
    place; its backup, a second name, is then removed by the next run."""
    old = tmp_path / "x_s1.wav"
    old.write_bytes(b"old result")
    backup = Path(outputs.back_up(str(old)))
    assert old.read_bytes() == b"old result" and backup.read_bytes() == b"old result"
    assert os.stat(old).st_ino == os.stat(backup).st_ino
    dead = _dead_pid()
    stale = backup.with_name(backup.name.replace(f"-{os.getpid()}-", f"-{dead}-"))
    backup.rename(stale)
    assert outputs.clean_stale_temporaries([tmp_path]) == ([stale], [])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s1.wav"]


def test_a_renamed_backup_of_a_killed_run_is_reported_not_removed(tmp_path, monkeypatch):
    """Without hard links the backup is a rename: killed then, the old output exists only
    under the backup's name, which the next run lists (never deletes)."""

    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    old = tmp_path / "x_s1.wav"
    old.write_bytes(b"old result")
    backup = Path(outputs.back_up(str(old)))
    assert not old.exists() and backup.read_bytes() == b"old result"
    stale = backup.with_name(backup.name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-"))
    backup.rename(stale)
    assert outputs.clean_stale_temporaries([tmp_path]) == ([], [stale])
    assert stale.read_bytes() == b"old result"


def test_main_without_stdout_and_with_the_callers_streams(tiny_ckpt, monkeypatch):
    """Started with stdout closed (``>&-``, pythonw), sys.stdout is None; a program calling
    main gets its streams' error handling back."""
    import io

    from asteroid_tdanet.cli import main

    monkeypatch.setattr(sys, "stdout", None)
    assert main(["info", "--model", tiny_ckpt, "--counter", "none"]) == 0
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    assert main(["info", "--model", tiny_ckpt, "--counter", "none"]) == 0
    assert stream.errors == "strict"
    stream.flush()
    assert b"parameters:" in stream.buffer.getvalue()
