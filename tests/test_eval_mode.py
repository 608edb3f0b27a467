"""Loaded models are in eval mode; separation always runs in eval and inference mode and
leaves the model's training flags as they were."""

import pytest
import soundfile as sf
import torch
from _inference_helpers import save_tiny_model, write_audio
from asteroid.models import BaseModel

from asteroid_tdanet import S4M, TDANet, load_model
from asteroid_tdanet.inference import Separator

TINY_S4M = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "tiny.pth"
    save_tiny_model(path)  # dropout and drop-path 0.1: training mode is not deterministic
    return str(path)


def _flags(model):
    return {name: m.training for name, m in model.named_modules()}


@pytest.mark.parametrize(
    "loader",
    [TDANet.from_pretrained, load_model, BaseModel.from_pretrained],
    ids=["TDANet.from_pretrained", "load_model", "asteroid.BaseModel.from_pretrained"],
)
def test_loaded_models_are_in_eval_mode(ckpt, loader):
    model = loader(ckpt)
    assert isinstance(model, TDANet)
    assert not any(_flags(model).values())
    x = torch.randn(1, 4000)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_loaded_s4m_is_in_eval_mode(tmp_path):
    torch.save(S4M(**TINY_S4M).serialize(), tmp_path / "s4m.pth")
    for model in (S4M.from_pretrained(str(tmp_path / "s4m.pth")), load_model(tmp_path / "s4m.pth")):
        assert not any(_flags(model).values())


def _half_training(model):
    """Training mode with one part frozen in eval mode (e.g. a fine-tuning set-up)."""
    model.train()
    model.masker.input_norm.eval()
    return _flags(model)


def test_separate_runs_in_eval_and_inference_mode(ckpt, tmp_path):
    model = TDANet.from_pretrained(ckpt)
    wav = torch.randn(1, 1, 4000)
    reference = model.separate(wav)
    flags = _half_training(model)
    for separate in (model.separate, model.torch_separate):
        est = separate(wav)
        torch.testing.assert_close(est, reference, rtol=0, atol=0)
        assert torch.is_inference(est) and not est.requires_grad
        assert _flags(model) == flags
    est = model.numpy_separate(wav.numpy())
    torch.testing.assert_close(torch.from_numpy(est), reference, rtol=0, atol=0)
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    model.separate(str(tmp_path / "talk.wav"))
    assert sf.info(str(tmp_path / "talk_est1.wav")).frames == 4000
    assert _flags(model) == flags


def test_asteroids_module_level_separate_functions_run_in_eval_and_inference_mode(ckpt, tmp_path):
    # asteroid.separate's functions take the model as an argument and call its forward_wav.
    from asteroid import separate as asteroid_separate

    model = TDANet.from_pretrained(ckpt)
    wav = torch.randn(1, 1, 4000)
    reference = model.separate(wav)
    flags = _half_training(model)
    seen = []
    model.register_forward_pre_hook(
        lambda module, args: seen.append((module.training, torch.is_inference_mode_enabled()))
    )
    est = asteroid_separate.torch_separate(model, wav)
    torch.testing.assert_close(est, reference, rtol=0, atol=0)
    est = asteroid_separate.numpy_separate(model, wav.numpy())
    torch.testing.assert_close(torch.from_numpy(est), reference, rtol=0, atol=0)
    write_audio(tmp_path / "talk.wav", 0.5, 8000)
    asteroid_separate.file_separate(model, str(tmp_path / "talk.wav"))
    assert sf.info(str(tmp_path / "talk_est1.wav")).frames == 4000
    assert seen == [(False, True)] * 3
    assert _flags(model) == flags


def test_separator_runs_in_eval_mode_and_restores_flags(ckpt):
    model = TDANet.from_pretrained(ckpt)
    wav = torch.randn(2, 6000)
    with torch.inference_mode():
        expected = model(wav)
    flags = _half_training(model)
    separator = Separator(model, chunk_seconds=2.0, overlap_seconds=0.5)
    assert _flags(model) == flags
    for _ in range(2):
        est = separator.separate_tensor(wav)
        torch.testing.assert_close(est, expected, rtol=1e-5, atol=1e-6)
        assert _flags(model) == flags
