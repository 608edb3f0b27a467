"""Output files of ``asteroid-tdanet separate`` under signals, concurrent runs, odd ``-o``
layouts and unwritable folders; the progress and summary wording."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_helpers import TINY, write_audio

from asteroid_tdanet import TDANet
from asteroid_tdanet.cli import main
from asteroid_tdanet.inference import Separator
from asteroid_tdanet.inference.batch import Summary, format_duration
from asteroid_tdanet.inference.outputs import OutputExistsError, OutputFiles

REPO = Path(__file__).resolve().parents[1]
# Slower than the tiny model (about 30x real time on one thread), so that a 30 s input is
# still being separated when the test signals the process.
MEDIUM = dict(TINY, n_blocks=8, hid_chan=64)


def _save_model(path, seed=0, **overrides):
    torch.manual_seed(seed)
    model = TDANet(**{**MEDIUM, **overrides}).eval()
    torch.save(model.serialize(), path)
    return model


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "asteroid_tdanet", "separate", *map(str, args), "--threads", "1"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_temporary(folder: Path, proc, timeout=120.0, count=2) -> None:
    """Poll until the run has opened its ``count`` temporaries (one per output; they are
    made one after the other, so a kill between two would leave one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if folder.is_dir() and sum(p.name.startswith(".") for p in folder.iterdir()) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the run never started writing")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp("outputs")
    _save_model(work / "a.pth", seed=0)
    _save_model(work / "b.pth", seed=1)
    write_audio(work / "talk.wav", 30.0, 8000)
    write_audio(work / "short.wav", 12.0, 8000)
    return work


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_remove_temporaries_and_exit_cleanly(workdir, tmp_path, sig, code):
    out = tmp_path / "out"
    proc = _cli(workdir / "talk.wav", "--model", workdir / "a.pth", "-o", out, "-q")
    _wait_for_temporary(out, proc)
    os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert f"INTERRUPTED by {signal.Signals(sig).name}: 1 file(s) not separated" in stdout
    assert list(out.iterdir()) == []  # neither temporaries nor outputs


def test_temporaries_of_a_killed_run_are_removed_by_the_next(workdir, tmp_path, capsys):
    out = tmp_path / "out"
    proc = _cli(workdir / "talk.wav", "--model", workdir / "a.pth", "-o", out, "-q")
    _wait_for_temporary(out, proc)
    proc.kill()  # SIGKILL: no clean-up possible
    proc.communicate(timeout=120)
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 2 and all(f".{proc.pid}-" in n or f"-{proc.pid}-" in n for n in left)
    write_audio(tmp_path / "short.wav", 0.5, 8000)
    args = ["separate", str(tmp_path / "short.wav"), "--model", str(workdir / "a.pth")]
    assert main(args + ["-o", str(out), "-q"]) == 0
    assert "removed 2 temporary file(s) of killed runs" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["short_s1.wav", "short_s2.wav"]


def test_two_runs_writing_the_same_outputs(workdir, tmp_path):
    """Two models, one output name, started together: one run wins with complete files of
    its own, the other fails that file clearly; nothing is mixed, nothing left behind."""
    out = tmp_path / "out"
    procs = {
        name: _cli(workdir / "short.wav", "--model", workdir / f"{name}.pth", "-o", out, "-q")
        for name in ("a", "b")
    }
    results = {
        name: (*proc.communicate(timeout=300), proc.returncode) for name, proc in procs.items()
    }
    assert sorted(code for _, _, code in results.values()) == [0, 1], results
    winner = next(name for name, (_, _, code) in results.items() if code == 0)
    loser_err = next(err for _, err, code in results.values() if code == 1)
    assert (
        f"{out / 'short_s1.wav'} was created by another run while this one was writing"
        in (loser_err)
        or "exists (pass --force to overwrite)" in loser_err
    )  # it started after the other ended
    assert sorted(p.name for p in out.iterdir()) == ["short_s1.wav", "short_s2.wav"]
    # The winner's complete result, computed again here.
    separator = Separator(TDANet.from_pretrained(str(workdir / f"{winner}.pth")))
    expected = [tmp_path / "ref" / f"s{i}.wav" for i in (1, 2)]
    separator.separate_file(workdir / "short.wav", expected)
    for i in (1, 2):
        got = sf.read(str(out / f"short_s{i}.wav"), dtype="float32")[0]
        np.testing.assert_array_equal(got, sf.read(str(expected[i - 1]), dtype="float32")[0])


def test_an_output_created_meanwhile_is_kept(tmp_path):
    paths = [tmp_path / "x_s1.wav", tmp_path / "x_s2.wav"]
    with pytest.raises(OutputExistsError, match=r"x_s2\.wav was created by another run"):
        with OutputFiles(paths, 8000, "FLOAT", overwrite=False) as files:
            files.write(torch.zeros(2, 100))
            paths[1].write_bytes(b"the other run's result")
            files.commit()
    # All or none: the other run's file is untouched and ours is not published either.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s2.wav"]
    assert paths[1].read_bytes() == b"the other run's result"
    with OutputFiles(paths, 8000, "FLOAT", overwrite=True) as files:
        files.write(torch.zeros(2, 100))
        files.commit()
    assert sf.info(str(paths[1])).frames == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_s1.wav", "x_s2.wav"]


@pytest.mark.parametrize("after", [1, 2])
def test_a_signal_while_the_temporaries_are_opened_leaves_none(tmp_path, monkeypatch, after):
    """The race the subprocess test above can hit: the signal lands inside ``__enter__``."""
    from asteroid_tdanet.inference import outputs
    from asteroid_tdanet.inference.interrupt import Interrupted, signals_raise

    made = []

    def make_then_signal(path):
        made.append(outputs_make(path))
        if len(made) == after:
            os.kill(os.getpid(), signal.SIGTERM)
        return made[-1]

    outputs_make = outputs.make_temporary
    monkeypatch.setattr(outputs, "make_temporary", make_then_signal)
    paths = [tmp_path / "x_s1.wav", tmp_path / "x_s2.wav"]
    with pytest.raises(Interrupted, match="SIGTERM"), signals_raise():
        with OutputFiles(paths, 8000, "FLOAT"):
            pytest.fail("the block must not run once the signal arrived")
    assert len(made) == 2 and list(tmp_path.iterdir()) == []


def test_a_signal_while_publishing_counts_the_file_as_done(tmp_path, monkeypatch, capsys):
    """A signal that arrives while a file's outputs are published is acted on once they all
    are: that file is complete and counted as separated, the run stops before the next."""
    from asteroid_tdanet.inference import outputs

    torch.manual_seed(0)
    torch.save(TDANet(**TINY).serialize(), tmp_path / "tiny.pth")
    for name in ("a.wav", "b.wav"):
        write_audio(tmp_path / name, 0.5, 8000)
    real_publish = outputs.publish

    def publish_then_signal(tmp, path, overwrite):
        real_publish(tmp, path, overwrite)
        if path.endswith("a_s1.wav"):  # the first of a.wav's two outputs
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(outputs, "publish", publish_then_signal)
    out = tmp_path / "out"
    inputs = [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    args = ["separate", *inputs, "--model", str(tmp_path / "tiny.pth"), "-o", str(out), "-q"]
    assert main(args) == 143
    assert sorted(p.name for p in out.iterdir()) == ["a_s1.wav", "a_s2.wav"]
    assert all(sf.info(str(out / f"a_s{i}.wav")).frames == 4000 for i in (1, 2))
    summary = capsys.readouterr().out
    assert "Separated 1 file(s), 0.5 s of audio" in summary
    assert "INTERRUPTED by SIGTERM: 1 file(s) not separated" in summary


def test_output_folder_may_be_an_input_folder_or_its_parent(tmp_path, tiny_ckpt):
    rec = tmp_path / "rec"
    (rec / "sub").mkdir(parents=True)
    for name in ("a.wav", "sub/b.flac", "meeting_s1.wav"):  # meeting_s1: an input, no meeting.*
        write_audio(rec / name, 0.5, 8000)
    base = ["separate", str(rec), "--model", tiny_ckpt, "-q"]
    # -o = the input folder: outputs next to their inputs.
    assert main(base + ["-o", str(rec)]) == 0
    made = {"a_s1.wav", "a_s2.wav", "sub/b_s1.wav", "sub/b_s2.wav"}
    made |= {"meeting_s1_s1.wav", "meeting_s1_s2.wav"}
    inputs = {"a.wav", "sub/b.flac", "meeting_s1.wav"}
    assert {str(p.relative_to(rec)) for p in rec.rglob("*.*")} == inputs | made
    # Again with --force: the outputs are recognised as outputs, never separated again.
    assert main(base + ["-o", str(rec), "--force"]) == 0
    assert {str(p.relative_to(rec)) for p in rec.rglob("*.*")} == inputs | made
    # -o = a parent of the input folder.
    assert main(base + ["-o", str(tmp_path)]) == 0
    assert (tmp_path / "a_s1.wav").is_file() and (tmp_path / "sub" / "b_s2.wav").is_file()


def test_named_outputs_of_this_run_are_not_inputs(tmp_path, tiny_ckpt, capsys):
    """A shell glob ``g/*.wav -o g`` after a first run names the first run's outputs too:
    they lie where this run writes talk.wav's outputs, so they are left out with a note (not
    separated into talk_s1_s1.wav, and with --force not overwritten by talk.wav's job before
    a later job reads them). A file linked to such an output is an output too."""
    g = tmp_path / "g"
    g.mkdir()
    write_audio(g / "talk.wav", 0.5, 8000)
    base = ["--model", tiny_ckpt, "-o", str(g), "-q"]
    assert main(["separate", str(g / "talk.wav"), *base]) == 0
    (g / "link.wav").symlink_to(g / "talk_s1.wav")
    expected = Separator(TDANet.from_pretrained(tiny_ckpt)).separate_file(
        g / "talk.wav", [tmp_path / "ref" / f"s{i}.wav" for i in (1, 2)]
    )
    capsys.readouterr()
    named = sorted(str(p) for p in g.glob("*.wav"))  # link, talk, talk_s1, talk_s2
    assert main(["separate", *named, *base, "--force"]) == 0
    assert sorted(p.name for p in g.iterdir()) == [
        "link.wav",
        "talk.wav",
        "talk_s1.wav",
        "talk_s2.wav",
    ]
    for name, reference in zip(("talk_s1.wav", "talk_s2.wav"), expected.outputs):
        got = sf.read(str(g / name), dtype="float32")[0]
        np.testing.assert_array_equal(got, sf.read(reference, dtype="float32")[0])
    captured = capsys.readouterr()
    assert "Separated 1 file(s)" in captured.out
    for name in ("link.wav", "talk_s1.wav", "talk_s2.wav"):
        note = f"note: {g / name} skipped: this run writes it as an output of {g / 'talk.wav'}"
        assert note in captured.err


def test_plan_leaves_out_named_files_named_as_outputs_of_another_input(tmp_path):
    """The folder rule, for named files: ``<stem>_s<k>.wav`` (any k for an ``n_src``) lying
    where the outputs of an input ``<stem>.*`` of the run go. meeting_s1.wav, with no
    meeting.* in the run, is an input."""
    from asteroid_tdanet.inference import plan

    for name in ("talk.flac", "talk_s1.wav", "talk_s3.wav", "meeting_s1.wav"):
        write_audio(tmp_path / name, 0.1, 8000)
    named = [str(tmp_path / n) for n in ("talk_s1.wav", "talk.flac", "talk_s3.wav")]
    named.append(str(tmp_path / "meeting_s1.wav"))
    jobs = plan(named, tmp_path, 2)
    assert [job.input.name for job in jobs] == ["talk.flac", "meeting_s1.wav"]
    notes = []
    plan(named, tmp_path, 2, note=notes.append)
    assert [note.split(" skipped: ")[0] for note in notes] == [named[0], named[2]]
    # Elsewhere than where this run writes talk's outputs, they are inputs like any file.
    jobs = plan(named[:3], tmp_path / "out", 2)
    assert [job.input.name for job in jobs] == ["talk_s1.wav", "talk.flac", "talk_s3.wav"]


def test_unwritable_output_folder_is_named(tmp_path, tiny_ckpt, capsys, monkeypatch):
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    if os.geteuid() == 0:  # root ignores permissions: the OS refusal is simulated
        real_open = os.open

        def refuse(path, *args, **kwargs):
            if str(path).startswith(str(out)):
                raise PermissionError(13, "Permission denied", path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
    try:
        args = ["separate", str(tmp_path / "talk.wav"), "--model", tiny_ckpt, "-o", str(out)]
        assert main(args + ["-q"]) == 1
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert f"cannot write to the output folder {out}: Permission denied (errno 13 EACCES)" in err
    assert "Libsndfile" not in err


def test_summary_wording():
    summary = Summary(failed=[("x.wav", "x.wav: broken")], wall_seconds=0.4)
    assert summary.line() == (
        "Separated 0 file(s), 0.0 s of audio in 0.4 s (real-time factor n/a); 1 file(s) FAILED."
    )
    summary = Summary(done=2, audio_seconds=95.0, separation_seconds=19.0, wall_seconds=21.0)
    assert "1 min 35 s of audio in 21.0 s (real-time factor 0.200)" in summary.line()
    assert [format_duration(s) for s in (0.04, 59.9, 60, 3599.4, 4500)] == [
        "0.0 s",
        "59.9 s",
        "1 min 00 s",
        "59 min 59 s",
        "1 h 15 min",
    ]


def test_progress_shows_speed_in_x_real_time():
    from asteroid_tdanet.inference.batch import AUDIO_BAR, _audio_bar_class

    with open(os.devnull, "w") as devnull:
        bar = _audio_bar_class()(total=10.0, bar_format=AUDIO_BAR, file=devnull, smoothing=0)
        for wall, speed in ((8.0, "0.25x"), (0.5, "4.00x")):  # slower, faster than real time
            bar.n = 2.0
            bar._time = lambda: bar.start_t + wall  # the bar's clock
            text = str(bar)
            assert "2.0/10.0 s" in text and f"{speed} real time" in text and "s/s" not in text
        bar.close()


def test_library_outputs_refuse_only_length_changing_subtypes(tmp_path):
    """Block codecs (IMA ADPCM, ...) lengthen a file and MP3 cannot go in a WAV; other
    formats and their subtypes (OGG Vorbis, FLAC) stay open to ``Separator.separate_file``."""
    from asteroid_tdanet.inference.outputs import OutputFiles

    for name, subtype in (("a.ogg", "VORBIS"), ("b.flac", "PCM_24"), ("c.wav", "PCM_16")):
        with OutputFiles([tmp_path / name], 8000, subtype) as files:
            files.write(0.1 * torch.ones(1, 8000))
            files.commit()
        assert sf.info(str(tmp_path / name)).frames == 8000
    for name, subtype in (("d.wav", "IMA_ADPCM"), ("e.wav", "MPEG_LAYER_III")):
        with pytest.raises(ValueError, match="does not keep the number of samples"):
            OutputFiles([tmp_path / name], 8000, subtype)


def test_wav_outputs_past_the_riff_limit_are_rf64():
    """RIFF stores sizes in 32 bits (4 GiB - 1): an output whose samples exceed that is RF64.
    The sizes here are counted by hand, the files are not written."""
    from asteroid_tdanet.inference.outputs import file_format

    gib = 1 << 30
    assert file_format("a.wav", "FLOAT", 1, gib // 4 - 1) == "WAV"  # 4 bytes a sample: < 1 GiB
    assert file_format("a.wav", "FLOAT", 1, gib) == "RF64"  # 4 GiB
    assert file_format("a.WAV", "PCM_16", 2, gib) == "RF64"  # 2 x 2 bytes x 1 Gi frames
    assert file_format("a.wav", "PCM_16", 1, gib) == "WAV"  # 2 GiB
    assert file_format("a.wav", "DOUBLE", 1, 600_000_000) == "RF64"  # 4.8 GB
    assert file_format("a.wav", "FLOAT", 1, None) == "WAV"  # size unknown
    assert file_format("a.flac", "PCM_24", 2, 4 * gib) == "FLAC"  # only WAV has the limit


def test_separate_file_writes_rf64_past_the_riff_limit(tmp_path, monkeypatch):
    """With the limit lowered under 0.5 s of float samples (16,000 bytes), the outputs of a
    0.5 s file are RF64 under their .wav names, holding the same samples as the WAV files
    written under the real limit."""
    from asteroid_tdanet.inference import outputs

    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    separator = Separator(TDANet(**TINY))
    wav = [tmp_path / "wav" / f"talk_s{i}.wav" for i in (1, 2)]
    separator.separate_file(tmp_path / "talk.wav", wav)
    monkeypatch.setattr(outputs, "RIFF_MAX_DATA_BYTES", 4 * 4000 - 1, raising=False)
    rf64 = [tmp_path / "rf64" / f"talk_s{i}.wav" for i in (1, 2)]
    separator.separate_file(tmp_path / "talk.wav", rf64)
    for small, big in zip(wav, rf64):
        assert sf.info(str(small)).format == "WAV" and sf.info(str(big)).format == "RF64"
        got, rate = sf.read(str(big), dtype="float32")
        assert rate == 8000 and len(got) == 4000
        np.testing.assert_array_equal(got, sf.read(str(small), dtype="float32")[0])


def test_long_input_names(tmp_path, tiny_ckpt, capsys):
    """File names hold at most 255 bytes (ext4, xfs, btrfs, tmpfs). A 235-character input stem
    gives outputs of 242 characters, which fit: separated (their temporaries' names, about
    60 bytes longer, are cut). A 250-character stem's outputs (257) cannot exist: the error
    names the output and its length (not the folder), and the other file is done."""
    if os.pathconf(tmp_path, "PC_NAME_MAX") != 255:
        pytest.skip("the file system does not limit names to 255 bytes")
    fits, too_long = "a" * 235, "b" * 250
    for stem in (fits, too_long):
        write_audio(tmp_path / f"{stem}.wav", 0.5, 8000)
    out = tmp_path / "out"
    inputs = [str(tmp_path / f"{stem}.wav") for stem in (fits, too_long)]
    assert main(["separate", *inputs, "--model", tiny_ckpt, "-o", str(out), "-q"]) == 1
    assert sorted(os.listdir(out)) == [f"{fits}_s1.wav", f"{fits}_s2.wav"]
    assert sf.info(str(out / f"{fits}_s1.wav")).frames == 4000
    err = capsys.readouterr().err
    assert (
        f"cannot write {out / too_long}_s1.wav: its file name is too long (257 bytes; this" in err
    )
    assert "output folder" not in err and "Traceback" not in err


def test_temporaries_of_long_names_fit_and_are_recognised(tmp_path):
    """A 247-byte final name (120 two-byte characters): its temporary's name fits in 255 bytes,
    is whole characters (valid UTF-8), and is still recognised as this run's temporary."""
    from asteroid_tdanet.inference.outputs import _HOST, TEMP_NAME, make_temporary

    if os.pathconf(tmp_path, "PC_NAME_MAX") != 255:
        pytest.skip("the file system does not limit names to 255 bytes")
    name = "\u00e9" * 120 + "_s1.wav"
    assert len(name.encode()) == 247
    tmp = Path(make_temporary(str(tmp_path / name)))
    assert tmp.parent == tmp_path and tmp.is_file()
    raw = os.fsencode(tmp.name)
    assert len(raw) <= 255 and raw.decode("utf-8").startswith("." + "\u00e9" * 40)
    match = TEMP_NAME.match(tmp.name)
    assert match and match["host"] == _HOST and int(match["pid"]) == os.getpid()


@pytest.mark.parametrize("fails", ["write", "close"])
def test_a_full_disk_is_named(tmp_path, tiny_ckpt, capsys, monkeypatch, fails):
    """libsndfile reports a full disk as "System error." only, while streaming samples or when
    the header is written at close: with no space left, the one-line error names the output
    folder and the reason; with space left, the output and libsndfile's words. No partial
    output is left either way."""
    import shutil
    from collections import namedtuple

    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    method = getattr(sf.SoundFile, fails)

    def system_error(self, *args):
        method(self, *args)
        if "w" in self.mode and not getattr(self, "failed", False):  # outputs; clean-up works
            self.failed = True
            raise sf.LibsndfileError(2)  # SF_ERR_SYSTEM: "System error."

    monkeypatch.setattr(sf.SoundFile, fails, system_error)
    usage = namedtuple("usage", "total used free")
    args = ["separate", str(tmp_path / "talk.wav"), "--model", tiny_ckpt, "-q"]
    for free, out in ((0, tmp_path / "full"), (10**12, tmp_path / "other")):
        monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10**12, 0, free))
        assert main(args + ["-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and "LibsndfileError" not in err
        assert list(out.iterdir()) == []
        if free == 0:
            expected = f"cannot write to the output folder {out}: no space left on device"
        else:
            expected = f"cannot write {out / 'talk_s1.wav'}: System error."
        assert f"error: {tmp_path / 'talk.wav'}: {expected}" in err
