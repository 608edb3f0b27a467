"""The command line with an S4M file: separate, info, export (TorchScript; ONNX refused)."""

import json
import re

import soundfile as sf
import torch
from _inference_helpers import write_audio

from asteroid_tdanet import S4M
from asteroid_tdanet.cli import main

TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, d_state=4)


def save_s4m(path):
    torch.manual_seed(0)
    model = S4M(**TINY).eval()
    torch.save(model.serialize(), path)
    return model


def test_separate_info_and_export(tmp_path, capsys):
    ckpt = tmp_path / "s4m.pth"
    model = save_s4m(ckpt)
    write_audio(tmp_path / "talk.wav", 1.5, 8000, subtype="FLOAT")
    out = tmp_path / "out"
    assert (
        main(["separate", str(tmp_path / "talk.wav"), "--model", str(ckpt), "-o", str(out), "-q"])
        == 0
    )
    est, rate = sf.read(out / "talk_s1.wav")
    assert rate == 8000 and len(est) == 12000
    capsys.readouterr()

    assert main(["info", "--model", str(ckpt), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model"] == "S4M" and info["params"] == sum(p.numel() for p in model.parameters())
    assert info["macs_per_second"] > info["params"]

    ts = tmp_path / "s4m.pt"
    assert main(["export", "--model", str(ckpt), "-o", str(ts), "--max-seconds", "3"]) == 0
    text = capsys.readouterr().out
    assert float(re.search(r"max abs difference (\S+)\.\n", text).group(1)) < 1e-4

    assert main(["export", "--model", str(ckpt), "-o", str(tmp_path / "s4m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "S4M: the 's4' sequence mixer cannot be exported to onnx" in err
    assert "TorchScript" in err and not (tmp_path / "s4m.onnx").exists()


def test_export_with_a_short_max_seconds(tmp_path, capsys):
    # The tracing example and the check's inputs stay within --max-seconds (the kernel table).
    ckpt = tmp_path / "s4m.pth"
    save_s4m(ckpt)
    for seconds in ("0.5", "1.2"):
        ts = tmp_path / f"s4m_{seconds}.pt"
        assert main(["export", "--model", str(ckpt), "-o", str(ts), "--max-seconds", seconds]) == 0
        assert ts.exists()
    assert float(re.findall(r"max abs difference (\S+)\.\n", capsys.readouterr().out)[-1]) < 1e-4
