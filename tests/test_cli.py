"""The ``asteroid-tdanet`` command line (called in-process through ``main``)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_helpers import save_tiny_model, write_audio

from asteroid_tdanet.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "tiny.pth"
    save_tiny_model(path)
    return str(path)


def test_separate_one_file(tmp_path, ckpt, capsys):
    data = write_audio(tmp_path / "talk.wav", 1.0, 8000, subtype="FLOAT")
    out = tmp_path / "out"
    assert main(["separate", str(tmp_path / "talk.wav"), "--model", ckpt, "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["talk_s1.wav", "talk_s2.wav"]
    from asteroid_tdanet import TDANet

    with torch.inference_mode():
        expected = TDANet.from_pretrained(ckpt).eval()(torch.from_numpy(data))
    for i in range(2):
        got, rate = sf.read(str(out / f"talk_s{i + 1}.wav"), dtype="float32")
        assert rate == 8000
        np.testing.assert_allclose(got, expected[i].numpy(), atol=1e-6, rtol=1e-5)
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"Separated 1 file\(s\), 1\.0 s of audio in [\d.]+ s \(real-time factor [\d.]+\)\.",
        summary,
    )


def test_folder_is_mirrored_and_failures_do_not_stop_it(tmp_path, ckpt, capsys):
    rec = tmp_path / "rec"
    (rec / "a" / "b").mkdir(parents=True)
    write_audio(rec / "one.flac", 0.5, 16000)
    write_audio(rec / "a" / "b" / "two.wav", 0.5, 8000)
    (rec / "a" / "broken.wav").write_bytes(b"RIFF garbage")
    (rec / "notes.txt").write_text("not audio, not picked up")
    write_audio(rec / ".hidden.wav", 0.5, 8000)
    out = rec / "separated"  # output inside the input folder: outputs are never inputs
    args = ["separate", str(rec), "--model", ckpt, "-o", str(out), "-q"]
    assert main(args) == 1
    produced = sorted(str(p.relative_to(out)) for p in out.rglob("*.wav"))
    assert produced == ["a/b/two_s1.wav", "a/b/two_s2.wav", "one_s1.wav", "one_s2.wav"]
    assert sf.info(str(out / "one_s1.wav")).samplerate == 16000
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.wav: not a readable audio file" in errors[0]
    assert "Separated 2 file(s)" in captured.out and "1 file(s) FAILED" in captured.out


def test_folder_search_follows_links_and_takes_real_extensions(tmp_path, ckpt, capsys):
    """Links to folders are searched (a link to a parent, or a second way to a folder, adds
    nothing); NIST SPHERE files are found under their real extensions (.sph: TIMIT, .wv1:
    WSJ0), and headerless .raw files, which cannot be read without parameters, are not
    taken."""
    rec, other = tmp_path / "rec", tmp_path / "other"
    (rec / "real").mkdir(parents=True)
    other.mkdir()
    write_audio(rec / "real" / "a.wav", 0.5, 8000)
    write_audio(other / "b.flac", 0.5, 8000)
    (rec / "linked").symlink_to(other)  # outside the folder
    (rec / "again").symlink_to(rec / "real")  # a second way to real/
    (rec / "real" / "loop").symlink_to(rec)  # a loop
    for name in ("timit.sph", "wsj.WV1"):
        write_audio(rec / name, 0.5, 16000, format="NIST", subtype="PCM_16")
    write_audio(rec / "pcm.raw", 0.5, 8000, format="RAW", subtype="PCM_16")
    out = tmp_path / "out"
    assert main(["separate", str(rec), "--model", ckpt, "-o", str(out), "-q"]) == 0
    produced = sorted(str(p.relative_to(out)) for p in out.rglob("*.wav"))
    stems = ["linked/b", "real/a", "timit", "wsj"]
    assert produced == [f"{stem}_s{i}.wav" for stem in stems for i in (1, 2)]
    assert sf.info(str(out / "timit_s1.wav")).samplerate == 16000
    assert "Separated 4 file(s)" in capsys.readouterr().out


def test_outputs_are_not_overwritten_without_force(tmp_path, ckpt, capsys):
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    args = ["separate", str(tmp_path / "talk.wav"), "--model", ckpt, "-o", str(tmp_path), "-q"]
    assert main(args) == 0
    first = tmp_path / "talk_s1.wav"
    first.write_bytes(b"user data")
    assert main(args) == 1
    assert first.read_bytes() == b"user data"
    assert "talk_s1.wav exists (pass --force to overwrite)" in capsys.readouterr().err
    assert main(args + ["--force"]) == 0
    assert sf.info(str(first)).frames == 4000


def test_colliding_outputs_are_refused(tmp_path, ckpt, capsys):
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    write_audio(tmp_path / "talk.flac", 0.5, 8000)
    args = ["separate", str(tmp_path), "--model", ckpt, "-o", str(tmp_path / "o"), "-q"]
    assert main(args) == 1
    assert "would overwrite those of" in capsys.readouterr().err


def test_a_file_named_twice_is_separated_once(tmp_path, ckpt, capsys):
    """Overlapping shell globs: a file named twice, and inside a folder also named."""
    (tmp_path / "in").mkdir()
    write_audio(tmp_path / "in" / "talk.wav", 0.5, 8000)
    one = str(tmp_path / "in" / "talk.wav")
    args = ["separate", one, one, str(tmp_path / "in"), "--model", ckpt, "-o", str(tmp_path / "o")]
    assert main(args + ["-q"]) == 0
    out = capsys.readouterr()
    assert "would overwrite" not in out.err and out.out.startswith("Separated 1 file(s)")
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["talk_s1.wav", "talk_s2.wav"]


def test_multichannel_needs_a_choice(tmp_path, ckpt, capsys):
    write_audio(tmp_path / "st.wav", 0.5, 8000, channels=3)
    base = ["separate", str(tmp_path / "st.wav"), "--model", ckpt, "-q"]
    assert main(base + ["-o", str(tmp_path / "a")]) == 1
    assert "st.wav: has 3 channels" in capsys.readouterr().err
    assert main(base + ["-o", str(tmp_path / "b"), "--channel", "2"]) == 0
    assert main(base + ["-o", str(tmp_path / "c"), "--mix-down"]) == 0
    # --channel applies to multichannel files: a mono file beside them is used as it is.
    mono = write_audio(tmp_path / "mono.wav", 0.5, 8000, subtype="FLOAT")
    both = ["separate", str(tmp_path / "st.wav"), str(tmp_path / "mono.wav"), "--model", ckpt]
    assert main(both + ["-q", "-o", str(tmp_path / "d"), "--channel", "2"]) == 0
    from asteroid_tdanet import TDANet

    with torch.inference_mode():
        expected = TDANet.from_pretrained(ckpt)(torch.from_numpy(mono))
    got, _ = sf.read(str(tmp_path / "d" / "mono_s1.wav"), dtype="float32")
    np.testing.assert_allclose(got, expected[0].numpy(), atol=1e-6, rtol=1e-5)
    with pytest.raises(SystemExit):  # argparse: not allowed together
        main(base + ["--channel", "0", "--mix-down"])


def test_model_that_is_not_a_checkpoint(tmp_path, capsys):
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    (tmp_path / "model.pth").write_text("not a checkpoint")
    args = ["separate", str(tmp_path / "talk.wav"), "-o", str(tmp_path / "o")]
    assert main(args + ["--model", str(tmp_path / "model.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.pth" in err and "not a loadable" in err
    assert main(args + ["--model", str(tmp_path / "nothing.pth")]) == 2
    assert "nothing.pth" in capsys.readouterr().err


class _Payload:
    """Unpickling this would run code (creates a file): checkpoints must never do that."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (Path.touch, (Path(self.flag),))


def test_checkpoints_are_loaded_without_arbitrary_unpickling(tmp_path, capsys):
    flag = tmp_path / "code_ran"
    torch.save({"model_name": "TDANet", "payload": _Payload(str(flag))}, tmp_path / "evil.pth")
    args = ["info", "--model", str(tmp_path / "evil.pth"), "--counter", "none"]
    assert main(args) == 2
    assert not flag.exists()
    assert "evil.pth" in capsys.readouterr().err


def test_runtime_options_are_validated(tmp_path, ckpt, capsys):
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    base = ["separate", str(tmp_path / "talk.wav"), "--model", ckpt, "-o", str(tmp_path)]
    assert main(base + ["--fp16"]) == 2
    assert "fp16 needs a CUDA device" in capsys.readouterr().err
    assert main(base + ["--fp16", "--precision", "bfloat16"]) == 2
    assert "contradicts" in capsys.readouterr().err
    assert main(base + ["--precision", "bfloat16", "--backend", "onnxruntime"]) == 2
    assert "float32" in capsys.readouterr().err
    assert main(base + ["--chunk-seconds", "1", "--overlap-seconds", "0.9"]) == 2
    assert "overlap_seconds (0.9) must be at most half of chunk_seconds (1)" in (
        capsys.readouterr().err
    )
    if not torch.cuda.is_available():
        assert main(base + ["--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    # Devices this build or machine has no use for: one line each, no traceback.
    for device, says in [
        ("xpu", "cannot be used here"),
        ("meta", "holds no data"),
        ("nope", "Unknown"),
    ]:
        assert main(base + ["--device", device]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
    for option in ("--chunk-seconds", "--overlap-seconds"):  # argparse: usage errors
        for value in ("inf", "nan", "0"):
            with pytest.raises(SystemExit) as stop:
                main(base + [option, value])
            assert stop.value.code == 2 and "finite number > 0" in capsys.readouterr().err
    for args in (["--channel", "-1"], ["--subtype", "IMA_ADPCM"], ["--subtype", "MPEG_LAYER_III"]):
        with pytest.raises(SystemExit) as stop:
            main(base + args)
        assert stop.value.code == 2
    assert main(base + ["--threads", "1", "-q"]) == 0
    assert main(base + ["--precision", "bfloat16", "-q", "--force"]) == 0


def test_info(ckpt, capsys):
    from asteroid_tdanet import TDANet

    model = TDANet.from_pretrained(ckpt)
    assert main(["info", "--model", ckpt, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sample_rate"] == 8000 and info["n_src"] == 2
    assert info["params"] == sum(p.numel() for p in model.parameters())
    assert info["config"] == json.loads(json.dumps(model.get_model_args()))
    assert info["macs_per_second"] > info["params"]  # every weight is used at least once
    assert main(["info", "--model", ckpt]) == 0
    text = capsys.readouterr().out
    assert "sample rate:  8000 Hz" in text and f"{info['params']:,}" in text


def test_help_documents_every_option():
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices
    assert set(subparsers) == {"separate", "info", "export"}
    for name, sub in subparsers.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
            for option in action.option_strings:
                assert option in text


def test_python_dash_m_entry_point(tmp_path, ckpt):
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "asteroid_tdanet", "separate", str(tmp_path / "talk.wav")]
    cmd += ["--model", ckpt, "-o", str(tmp_path / "out"), "-q"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "talk_s2.wav").is_file()


def test_asteroid_separate_api_keeps_working(tmp_path, ckpt):
    """``model.separate("talk.wav")`` (Asteroid's BaseModel API) writes talk_est{i}.wav."""
    from asteroid_tdanet import TDANet

    data = write_audio(tmp_path / "talk.wav", 0.5, 8000)
    model = TDANet.from_pretrained(ckpt)
    model.separate(str(tmp_path / "talk.wav"))
    for i in (1, 2):
        est, rate = sf.read(str(tmp_path / f"talk_est{i}.wav"))
        assert rate == 8000 and est.shape == data.shape
    est = model.separate(torch.from_numpy(data)[None])
    assert est.shape == (1, 2, len(data))


def test_clipping_is_reported(tmp_path, ckpt, capsys):
    loud = 30 * np.random.default_rng(0).standard_normal(4000).astype(np.float32)
    sf.write(str(tmp_path / "loud.wav"), loud, 8000, subtype="FLOAT")
    args = ["separate", str(tmp_path / "loud.wav"), "--model", ckpt, "-o", str(tmp_path / "o")]
    assert main(args + ["--subtype", "pcm_16", "-q"]) == 0
    assert re.search(r"loud\.wav: \d+ output samples clipped", capsys.readouterr().err)


@pytest.mark.parametrize("option,rate", [("model", 8000), ("22050", 22050), ("input", 16000)])
def test_output_rate(tmp_path, ckpt, option, rate):
    write_audio(tmp_path / "talk.wav", 0.5, 16000)
    args = ["separate", str(tmp_path / "talk.wav"), "--model", ckpt, "-o", str(tmp_path), "-q"]
    assert main(args + ["--output-rate", option]) == 0
    info = sf.info(str(tmp_path / "talk_s1.wav"))
    assert (info.samplerate, info.frames) == (rate, rate // 2)


def test_an_output_rate_the_model_rate_cannot_reach_is_a_usage_error(tmp_path, ckpt, capsys):
    """8 kHz -> 44,101 Hz (coprime: julius' filter would have 44101 x (8000 + 2 x 26) taps)
    is refused once, before any file is read, not file by file."""
    for name in ("a.wav", "b.wav"):
        write_audio(tmp_path / name, 0.5, 8000)
    inputs = [str(tmp_path / name) for name in ("a.wav", "b.wav")]
    out = tmp_path / "o"
    args = ["separate", *inputs, "--model", ckpt, "-o", str(out), "--output-rate", "44101"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not out.exists()
    (line,) = captured.err.splitlines()
    assert line.startswith("asteroid-tdanet: error: --output-rate 44101: cannot resample 8000 Hz")
    assert "355,101,252-tap filter" in line  # 44101 x (8000 + 2 x 26): julius' filter


@pytest.mark.skipif(os.name == "nt", reason="Windows file names are text, not bytes")
def test_file_names_that_are_not_utf8(tmp_path, ckpt, capsys):
    """A POSIX file name is bytes: a Latin-1 'café.wav' (b'caf\\xe9.wav', not valid UTF-8,
    which Python lists as 'caf\\udce9.wav') is separated, named or found in a folder, and its
    outputs get the same bytes."""
    folder = tmp_path / "in"
    folder.mkdir()
    data = write_audio(tmp_path / "plain.wav", 0.5, 8000, subtype="FLOAT")
    name = os.fsdecode(b"caf\xe9")
    try:
        os.rename(tmp_path / "plain.wav", folder / f"{name}.wav")
    except OSError as err:  # e.g. a file system that takes UTF-8 names only
        pytest.skip(f"this file system refuses a Latin-1 file name: {err}")
    from asteroid_tdanet import TDANet

    with torch.inference_mode():
        expected = TDANet.from_pretrained(ckpt).eval()(torch.from_numpy(data))
    for inputs, out in (
        ([folder / f"{name}.wav"], tmp_path / "named"),
        ([folder], tmp_path / "dir"),
    ):
        args = ["separate", *map(str, inputs), "--model", ckpt, "-o", str(out), "-q"]
        assert main(args) == 0, capsys.readouterr().err
        assert sorted(os.listdir(os.fsencode(out))) == [b"caf\xe9_s1.wav", b"caf\xe9_s2.wav"]
        for i in range(2):
            got, _ = sf.read(os.fsencode(out / f"{name}_s{i + 1}.wav"), dtype="float32")
            np.testing.assert_allclose(got, expected[i].numpy(), atol=1e-6, rtol=1e-5)


def test_short_chunks_take_the_default_overlap_capped(tmp_path, ckpt):
    """--chunk-seconds 3 alone: the default 2 s overlap, which was not asked for, is capped at
    half a chunk instead of refusing the chunks."""
    write_audio(tmp_path / "talk.wav", 4.0, 8000)
    args = ["separate", str(tmp_path / "talk.wav"), "--model", ckpt, "-o", str(tmp_path / "o")]
    assert main(args + ["--chunk-seconds", "3", "-q"]) == 0
    assert sf.info(str(tmp_path / "o" / "talk_s1.wav")).frames == 32000
