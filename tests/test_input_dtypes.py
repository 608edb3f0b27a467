"""Input sample formats: floats of any precision are cast to the model's dtype and back,
integer PCM is scaled to [-1, 1) (the model, ModelRunner and Separator alike)."""

import pytest
import torch
from _inference_helpers import tiny_model

from asteroid_tdanet import S4M
from asteroid_tdanet.inference import Separator

# Integer PCM: (dtype, full scale, offset); 8-bit PCM is unsigned.
PCM = [
    (torch.int16, 2**15, 0),
    (torch.int32, 2**31, 0),
    (torch.int8, 2**7, 0),
    (torch.uint8, 2**7, 128),
]
FLOATS = [torch.float64, torch.float16, torch.bfloat16]


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    s4m = S4M(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3).eval()
    return [tiny_model(), tiny_model(official_compat=True), s4m]


def _pcm(wav, dtype, scale, offset):
    info = torch.iinfo(dtype)
    return (wav * scale + offset).round().clamp(info.min, info.max).to(dtype)


@torch.inference_mode()
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_float_inputs_are_cast_to_the_model_dtype_and_back(models, dtype):
    wav = 0.3 * torch.randn(2, 3000)
    for model in models:
        x = wav.to(dtype)
        est = model(x)
        assert est.dtype == dtype and est.shape == (2, 2, 3000)
        # Independent truth: the same samples given as float32, output rounded to dtype.
        torch.testing.assert_close(est, model(x.float()).to(dtype), rtol=0, atol=0)


@torch.inference_mode()
@pytest.mark.parametrize("dtype,scale,offset", PCM, ids=lambda v: str(v))
def test_integer_pcm_is_scaled_to_unit_range(models, dtype, scale, offset):
    pcm = _pcm(0.3 * torch.randn(3000), dtype, scale, offset)
    for model in models:
        est = model(pcm)
        assert est.dtype == torch.float32 and est.shape == (2, 3000)
        expected = model((pcm.double() - offset).float() / scale)
        torch.testing.assert_close(est, expected, rtol=1e-5, atol=1e-6)


@torch.inference_mode()
def test_a_float64_model_keeps_float32_inputs_float32(models):
    model = tiny_model().double()
    wav = torch.randn(1, 3000)
    est = model(wav)
    assert est.dtype == torch.float32
    torch.testing.assert_close(est, model(wav.double()).float(), rtol=0, atol=0)


def test_other_integer_types_are_refused(models):
    for bad in (torch.zeros(3000, dtype=torch.int64), torch.zeros(3000, dtype=torch.bool)):
        with pytest.raises(TypeError, match=str(bad.dtype)):
            models[0](bad)


def test_separator_scales_integer_pcm_and_keeps_float_dtypes(models):
    separator = Separator(models[0], chunk_seconds=1.0, overlap_seconds=0.25)
    wav = 0.3 * torch.randn(20000)  # 2.5 s: several chunks, resampled from 16 kHz
    pcm = _pcm(wav, torch.int16, 2**15, 0)
    est = separator.separate_tensor(pcm, sample_rate=16000)
    assert est.dtype == torch.float32
    expected = separator.separate_tensor(pcm.float() / 2**15, sample_rate=16000)
    torch.testing.assert_close(est, expected, rtol=0, atol=0)
    est64 = separator.separate_tensor(wav.double(), sample_rate=16000)
    assert est64.dtype == torch.float64
    torch.testing.assert_close(est64.float(), separator.separate_tensor(wav, sample_rate=16000))
    runner_out = separator.runner(pcm[None, :8000])
    torch.testing.assert_close(runner_out, separator.runner(pcm[None, :8000].float() / 2**15))


def test_separator_runs_a_float64_model_as_a_float32_copy():
    model = tiny_model().double()
    separator = Separator(model, chunk_seconds=1.0, overlap_seconds=0.25)
    assert next(model.parameters()).dtype == torch.float64  # the caller's model is left as is
    wav = 0.3 * torch.randn(12000)
    as_float32 = Separator(tiny_model(), chunk_seconds=1.0, overlap_seconds=0.25)
    torch.testing.assert_close(
        separator.separate_tensor(wav), as_float32.separate_tensor(wav), rtol=0, atol=0
    )
