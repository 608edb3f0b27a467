"""``--backend onnxruntime``: the same chunked separation with the exported graph run by
onnxruntime, equal to the PyTorch path within 1e-4; the export is cached; models without an
ONNX form and GPU/fp16 requests are refused with the reason."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch
from _inference_helpers import save_tiny_model, tiny_model, write_audio

from asteroid_tdanet.cli import main as cli_main
from asteroid_tdanet.export import ExportNotSupported
from asteroid_tdanet.inference import Separator
from asteroid_tdanet.inference.onnx_runner import CACHE_ENV, OnnxRunner, cache_dir

pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def test_chunked_separation_equals_the_pytorch_path():
    model = tiny_model()
    wav = torch.from_numpy(0.1 * np.random.default_rng(0).standard_normal((2, 8000 * 3)))
    options = dict(chunk_seconds=1.0, overlap_seconds=0.25)  # 4 chunks, aligned and faded
    ours = Separator(model, backend="onnxruntime", **options).separate_tensor(wav.float())
    reference = Separator(model, **options).separate_tensor(wav.float())
    assert ours.shape == reference.shape == (2, 2, 8000 * 3)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-4)


def test_the_export_is_cached_per_model(onnx_cache):
    messages = []
    model = tiny_model()
    first = OnnxRunner(model, log=messages.append)
    assert len(messages) == 1 and "exporting the model to ONNX once" in messages[0]
    assert os.path.dirname(first.path) == str(onnx_cache) == cache_dir()
    again = OnnxRunner(tiny_model(), log=messages.append)  # same weights: same graph
    assert again.path == first.path and len(messages) == 1
    other = tiny_model()
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    assert OnnxRunner(other, log=messages.append).path != first.path and len(messages) == 2
    assert not [f for f in os.listdir(onnx_cache) if f.startswith(".export-")]


@pytest.mark.parametrize("damage", [b"", b"\x08\x07garbage"])
def test_a_damaged_cached_graph_is_exported_again(onnx_cache, damage):
    model, wav = tiny_model(), torch.randn(1, 4000)
    path = OnnxRunner(model).path
    expected = OnnxRunner(model)(wav)
    with open(path, "r+b") as f:  # cut short (a full disk, a killed copy) or overwritten
        f.truncate(len(damage))
        f.write(damage)
    messages = []
    runner = OnnxRunner(model, log=messages.append)
    assert runner.path == path and "cannot be loaded; exporting it again" in messages[0]
    torch.testing.assert_close(runner(wav), expected, rtol=0, atol=0)


def test_an_unwritable_cache_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    save_tiny_model(tmp_path / "model.pth")
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    args = ["separate", str(tmp_path / "talk.wav"), "--model", str(tmp_path / "model.pth")]
    assert cli_main(args + ["-o", str(tmp_path / "o"), "--backend", "onnxruntime", "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the ONNX cache folder" in err and CACHE_ENV in err
    assert "Traceback" not in err


def test_cli_backend_onnxruntime_writes_the_same_files(tmp_path):
    save_tiny_model(tmp_path / "model.pth")
    write_audio(tmp_path / "talk.wav", 2.5, 8000, subtype="FLOAT")
    base = ["separate", str(tmp_path / "talk.wav"), "--model", str(tmp_path / "model.pth")]
    base += ["--chunk-seconds", "1", "--overlap-seconds", "0.25", "-q"]
    assert cli_main(base + ["-o", str(tmp_path / "pt")]) == 0
    assert cli_main(base + ["-o", str(tmp_path / "ort"), "--backend", "onnxruntime"]) == 0
    for name in ("talk_s1.wav", "talk_s2.wav"):
        ort_out, _ = sf.read(tmp_path / "ort" / name, dtype="float32")
        pt_out, _ = sf.read(tmp_path / "pt" / name, dtype="float32")
        np.testing.assert_allclose(ort_out, pt_out, atol=1e-4)


def test_models_without_onnx_and_gpu_requests_are_refused(tmp_path, capsys):
    from asteroid_tdanet import MelBandRoformer, S4M

    s4m = S4M(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)
    with pytest.raises(ExportNotSupported):
        Separator(s4m, backend="onnxruntime")
    mbr = MelBandRoformer(sample_rate=16000, dim=8, depth=1, num_bands=6, heads=2, dim_head=4)
    with pytest.raises(ExportNotSupported, match="complex"):
        Separator(mbr, backend="onnxruntime")
    with pytest.raises(ValueError, match="CPU in float32"):
        Separator(tiny_model(), backend="onnxruntime", fp16=True)
    with pytest.raises(ValueError, match="backend must be one of"):
        Separator(tiny_model(), backend="tensorrt")
    torch.save(s4m.serialize(), tmp_path / "s4m.pth")
    write_audio(tmp_path / "talk.wav", 1.0, 8000)
    args = ["separate", str(tmp_path / "talk.wav"), "--model", str(tmp_path / "s4m.pth")]
    assert cli_main(args + ["--backend", "onnxruntime", "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "onnx" in capsys.readouterr().err.lower()


def test_a_damaged_graph_removed_meanwhile_by_another_process(onnx_cache, monkeypatch):
    from asteroid_tdanet.inference import onnx_runner

    model = tiny_model()
    path = OnnxRunner(model).path
    open(path, "wb").close()  # damaged
    real_remove = os.remove

    def removed_first_by_another_process(target):
        real_remove(target)
        raise FileNotFoundError(target)

    monkeypatch.setattr(onnx_runner.os, "remove", removed_first_by_another_process)
    runner = OnnxRunner(model)
    assert runner.path == path and os.path.getsize(path) > 0
