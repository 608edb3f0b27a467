"""Silence, NaN, loud outputs and float16: what the models and the Python API do with them.

Asteroid's ``separate`` functions rescaled outputs by ``|x|_1 / |out|_1`` (NaN on silence),
wrote 16-bit PCM (silent clipping) and cut resampled files short; the package's models send
files through the Separator instead and keep Asteroid's tensor semantics safe."""

import re

import numpy as np
import pytest
import soundfile as sf
import torch
from test_models_contract import NAMES, build

from asteroid_tdanet.inference import OverlapAddStream, Separator
from asteroid_tdanet.inference.audio import AudioError
from asteroid_tdanet.inference.overlap_add import NonFiniteOutput
from asteroid_tdanet.models.separate_api import SpeakerSeparation, StemSeparation

SPEAKER_MODELS = [
    n
    for n in NAMES
    if isinstance(build(n), SpeakerSeparation) and not isinstance(build(n), StemSeparation)
]


def test_the_package_speaker_models_use_the_safe_api():
    assert set(SPEAKER_MODELS) == {"BLSTMNet", "FLASepReformer", "FLATFLocoformer", "S4M", "TDANet"}


@pytest.mark.parametrize("name", SPEAKER_MODELS)
def test_file_separate_writes_the_models_outputs_unclipped_at_the_files_length(tmp_path, name):
    model = build(name).eval()
    rng = np.random.default_rng(0)
    mix = (0.9 * rng.standard_normal(4000)).clip(-1, 1).astype(np.float32)
    sf.write(str(tmp_path / "talk.wav"), mix, 8000, subtype="FLOAT")
    paths = model.separate(str(tmp_path / "talk.wav"))
    assert paths == [str(tmp_path / f"talk_est{k}.wav") for k in (1, 2)]
    with torch.inference_mode():
        expected = model(torch.from_numpy(mix)[None])[0].numpy()  # one chunk: the model's output
    for path, source in zip(paths, expected):
        assert sf.info(path).subtype == "FLOAT"  # nothing clipped, whatever the level
        got = sf.read(path, dtype="float32")[0]
        np.testing.assert_allclose(got, source, atol=1e-5)


def test_file_separate_refuses_silence_and_nan_naming_the_file(tmp_path):
    model = build("TDANet").eval()
    sf.write(str(tmp_path / "silent.wav"), np.zeros(4000, np.float32), 8000)
    bad = np.full(4000, 0.1, np.float32)
    bad[100] = np.nan
    sf.write(str(tmp_path / "nan.wav"), bad, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"silent\.wav.*silent"):
        model.separate(str(tmp_path / "silent.wav"))
    with pytest.raises(AudioError, match=r"nan\.wav.*NaN or Inf"):
        model.separate(str(tmp_path / "nan.wav"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.wav", "silent.wav"]


def test_file_separate_keeps_the_length_of_a_resampled_file(tmp_path):
    model = build("TDANet").eval()
    for frames in (44105, 22057):
        data = (0.1 * np.random.default_rng(frames).standard_normal(frames)).astype(np.float32)
        sf.write(str(tmp_path / f"a{frames}.wav"), data, 44100)
        for path in model.separate(str(tmp_path / f"a{frames}.wav"), resample=True):
            assert sf.info(path).frames == frames and sf.info(path).samplerate == 44100


def test_file_separate_takes_a_multichannel_files_first_channel_with_a_warning(tmp_path):
    model = build("TDANet").eval()
    rng = np.random.default_rng(1)
    stereo = (0.1 * rng.standard_normal((4000, 2))).astype(np.float32)
    sf.write(str(tmp_path / "st.wav"), stereo, 8000, subtype="FLOAT")
    with pytest.warns(UserWarning, match="2 channels; separating the first one only"):
        paths = model.separate(str(tmp_path / "st.wav"))
    with torch.inference_mode():
        expected = model(torch.from_numpy(stereo[:, 0].copy())[None])[0].numpy()
    np.testing.assert_allclose(sf.read(paths[0], dtype="float32")[0], expected[0], atol=1e-5)


@pytest.mark.parametrize("name", SPEAKER_MODELS)
def test_tensor_separate_is_asteroids_rescaled_output(name):
    """Asteroid's formula, written here: ``out * |x|_1 / |out|_1``."""
    model = build(name).eval()
    x = 0.1 * torch.randn(1, 1, 4000)
    with torch.inference_mode():
        out = model(x[:, 0])
    expected = out * (x.abs().sum() / out.abs().sum())
    torch.testing.assert_close(model.separate(x), expected, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(model.separate(x.numpy()), expected.numpy(), atol=1e-6, rtol=1e-5)


def test_tensor_separate_of_int16_rescales_on_the_models_scale():
    model = build("TDANet").eval()
    x = (3000 * torch.randn(1, 1, 4000)).round().to(torch.int16)
    floats = x.float() / 32768
    torch.testing.assert_close(model.separate(x), model.separate(floats), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", SPEAKER_MODELS)
def test_tensor_separate_of_silence_is_finite(name):
    out = build(name).eval().separate(torch.zeros(1, 1, 4000))
    assert bool(torch.isfinite(out).all())


def test_tensor_separate_refuses_nan_input():
    x = 0.1 * torch.randn(1, 1, 4000)
    x[0, 0, 123] = float("nan")
    with pytest.raises(ValueError, match="first at sample 123"):
        build("TDANet").eval().separate(x)


def test_separator_refuses_nan_input_naming_the_sample():
    x = 0.1 * torch.randn(2, 8000)
    x[1, 4000] = float("inf")
    with pytest.raises(ValueError, match=r"first at sample 4000, 0\.500 s"):
        Separator(build("TDANet"), chunk_seconds=0.5, overlap_seconds=0.1).separate_tensor(x)


def test_a_chunk_with_nan_outputs_is_named_before_the_alignment():
    calls = []

    def separate_fn(chunk):
        calls.append(chunk.shape[-1])
        out = torch.stack([chunk, -chunk], dim=1)
        if len(calls) == 3:
            out[..., 5] = float("nan")
        return out

    stream = OverlapAddStream(separate_fn, chunk=100, overlap=20, align=True, sample_rate=100)
    with pytest.raises(NonFiniteOutput, match=r"on the chunk at 1\.60-2\.60 s") as err:
        stream.push(torch.randn(1, 1000))
    assert (err.value.start, err.value.end) == (160, 260)


def test_released_fla_tflocoformer_gives_silence_for_a_silent_chunk():
    """The reference divides by the bare std (NaN on a constant input); a silent chunk of a
    long file must not fail it. Any other input keeps the reference arithmetic: x / std."""
    model = build("FLATFLocoformer", official_compat=True).eval()
    with torch.inference_mode():
        silent = model(torch.zeros(1, 4000))
        x = 0.1 * torch.randn(1, 4000)
        out = model(x)
        # Scale equivariance of x -> x / std(x) ... * std(x): the reference's own property.
        torch.testing.assert_close(model(3 * x), 3 * out, atol=1e-5, rtol=1e-4)
    assert bool(torch.isfinite(silent).all()) and float(silent.abs().max()) == 0.0


def test_magnitude_features_are_finite_in_float16():
    from asteroid_tdanet.models.mask_domains import MagnitudeMasks

    rep = torch.tensor([[[1e-4], [0.0], [1e-4], [0.0]]])  # bin 0: |X| = 1e-4; bin 1: 0
    expected = 0.5 * torch.log(rep[:, :2] ** 2 + rep[:, 2:] ** 2 + 1e-10)
    half = MagnitudeMasks.features(rep.half())
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), expected, atol=1e-2, rtol=1e-3)


@pytest.mark.parametrize("name", ["TDANet", "BLSTMNet", "FLASepReformer"])
def test_float16_models_stay_finite_on_silence_and_quiet_input(name):
    """tdanet-mini and blstm-mini read log-magnitudes (their floor rounded to 0 in float16);
    the FLA attention's epsilons round to 0 and its normaliser overflows in float16."""
    model = build(name).eval().half()
    x = 0.01 * torch.randn(1, 8000)
    x[:, :800] = 0
    with torch.inference_mode():
        out = model(x.half())
    assert bool(torch.isfinite(out).all())


def test_a_file_too_short_for_the_model_is_named_at_its_own_rate(tmp_path):
    model = build("FLATFLocoformer").eval()
    shortest = model.min_input_samples
    assert shortest > 12
    sf.write(str(tmp_path / "blip.wav"), 0.1 * np.ones(64, np.float32), 44100)
    separator = Separator(model)
    outputs = [str(tmp_path / f"blip_s{k}.wav") for k in (1, 2)]
    message = (
        f"blip.wav: too short for this model: 64 samples at 44100 Hz (1.45 ms) are 12 at the "
        f"model's 8000 Hz, and it takes at least {shortest} "
    )
    with pytest.raises(AudioError, match=re.escape(message)):
        separator.separate_file(tmp_path / "blip.wav", outputs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blip.wav"]
    # Long enough at the model's rate: separated, at the file's length.
    frames = -(-shortest * 44100 // 8000)
    sf.write(str(tmp_path / "ok.wav"), 0.1 * np.ones(frames, np.float32), 44100)
    separator.separate_file(tmp_path / "ok.wav", [str(tmp_path / f"ok_s{k}.wav") for k in (1, 2)])
    assert sf.info(str(tmp_path / "ok_s1.wav")).frames == frames


def test_tensor_separate_is_bit_identical_to_asteroids_function():
    from asteroid.separate import torch_separate

    model = build("TDANet").eval()
    x = 0.1 * torch.randn(2, 1, 4000)
    with torch.inference_mode():
        reference = torch_separate(model, x.clone())
    assert torch.equal(model.separate(x), reference)


def test_separate_of_another_type_is_asteroids_value_error():
    with pytest.raises(ValueError, match="Only support filenames, numpy arrays and torch"):
        build("TDANet").eval().separate([0.0, 0.1])


@pytest.mark.parametrize("name", ["fla", "magnitude"])
def test_float32_graphs_hold_no_float16_casts(name):
    """The float16 paths are Python branches: traced float32 graphs are as before."""
    from asteroid_tdanet.masknn.attention.focused_linear import FocusedLinearAttention
    from asteroid_tdanet.models.mask_domains import MagnitudeMasks

    if name == "fla":
        module, x = FocusedLinearAttention(16, n_heads=2).eval(), torch.randn(1, 50, 16)
        graph = torch.jit.trace(module, x).graph
    else:
        graph = torch.jit.trace(MagnitudeMasks.features, torch.randn(1, 8, 20)).graph
    assert "aten::to" not in str(graph)
