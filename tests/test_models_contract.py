"""One contract for every model the toolkit trains, ours and Asteroid's: build from a preset,
forward shapes, a package file read back under ``weights_only`` (by Asteroid's
``BaseModel.from_pretrained`` and ours), the CLI, and the recipe's train -> evaluate -> publish.

Speaker models (two speakers at 8 kHz, the speech recipes) and stem models (a stereo vocals
model, the music recipe: :data:`STEM_MODELS`) go through the same steps, each with its data.
A model added to :data:`asteroid_tdanet.MODELS` (or a preset for another Asteroid model) must
get a tiny configuration in :data:`CASES`, which a test checks.
"""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from _recipe_helpers import make_tiny_data, make_tiny_music_data
from asteroid.models import BaseModel

from asteroid_tdanet import MODELS, PRESETS
from asteroid_tdanet.cli import main as cli_main
from asteroid_tdanet.inference.layout import output_layout
from asteroid_tdanet.inference.runner import ModelRunner
from asteroid_tdanet.models import SeparationModel, load_model, n_src_of, package_model
from asteroid_tdanet.models.presets import preset_model
from asteroid_tdanet.recipes import evaluate, publish, train
from asteroid_tdanet.recipes import experiment as xp

# model name -> (its mini preset, tiny overrides that keep the structure)
CASES = {
    "TDANet": (
        "tdanet-mini",
        dict(bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, ga_mixer_args={"n_heads": 2}),
    ),
    "S4M": ("s4m-mini", dict(bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)),
    "FLASepReformer": (
        "fla-sepreformer-mini",
        dict(enc_channels=32, feature_dim=16, n_stages=2, n_heads=4, cla_kernel=9),
    ),
    "FLATFLocoformer": (
        "fla-tflocoformer-mini",
        dict(
            n_layers=1,
            emb_dim=8,
            attention_dim=8,
            n_heads=2,
            num_groups=2,
            ffn_hidden_dim=8,
            fla_norm_type="RMSGroupNorm_2",
        ),
    ),
    "BLSTMNet": ("blstm-mini", dict(hidden=8, kernel_size=64, stride=32, n_layers=2)),
    "ConvTasNet": (
        "convtasnet-mini",
        dict(n_filters=32, bn_chan=16, hid_chan=32, skip_chan=16, n_blocks=2, n_repeats=1),
    ),
    "SuDORMRFNet": (
        "sudormrfnet-mini",
        dict(n_filters=32, in_chan=32, bn_chan=16, num_blocks=2, upsampling_depth=2),
    ),
    "DPRNNTasNet": (
        "dprnntasnet-mini",
        dict(n_filters=32, bn_chan=16, hid_size=16, n_repeats=1, chunk_size=20, hop_size=10),
    ),
    "MelBandRoformer": (
        "mel-band-roformer-mini",
        dict(dim=16, depth=1, num_bands=8, heads=2, dim_head=8, stft_n_fft=256, stft_hop_length=64),
    ),
}
NAMES = sorted(CASES)
# Stem models: (n_src, sample_rate, audio channels) of their tiny data (speakers: 2, 8 kHz, mono).
STEM_MODELS = {"MelBandRoformer": (1, 16000, 2)}
SPEAKERS = (2, 8000, 1)


def data_of(name):
    """``(n_src, sample_rate, channels)`` a model is built and fed with here."""
    return STEM_MODELS.get(name, SPEAKERS)


def build(name, **overrides):
    preset, tiny = CASES[name]
    n_src, rate, _ = data_of(name)
    torch.manual_seed(0)
    return SeparationModel.from_preset(preset, n_src=n_src, sample_rate=rate, **tiny, **overrides)


def example(name, batch, time=4000):
    """A random input batch: ``(batch, time)``, or ``(batch, channels, time)`` for stem models."""
    channels = data_of(name)[2]
    return torch.randn(batch, time) if channels == 1 else torch.randn(batch, channels, time)


def test_every_model_and_preset_has_a_case():
    assert set(MODELS) <= set(CASES)
    assert {preset_model(p) for p in PRESETS} <= set(CASES)


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_preset_and_separates_a_batch(name):
    model = build(name).eval()
    n_src, _, channels = data_of(name)
    assert type(model).__name__ == name and n_src_of(model) == n_src
    x = example(name, 3)
    with torch.inference_mode():
        out = model(x)
    # Speakers: (batch, n_src, time); one stereo stem: (batch, channels, time).
    expected = (3, n_src, 4000) if channels == 1 else (3, channels, 4000)
    assert out.shape == expected and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_package_file_round_trip_under_weights_only(name, tmp_path):
    model = build(name).eval()
    path = tmp_path / "model.pth"
    torch.save(package_model(model), path)
    package = torch.load(path, weights_only=True)  # nothing outside the default allow-list
    assert package["model_name"] == name
    x = example(name, 2)
    with torch.inference_mode():
        expected = model(x)
        for loader in (BaseModel.from_pretrained, load_model):
            loaded = loader(str(path))
            assert type(loaded) is type(model)
            if name in MODELS:  # ours come back in eval mode, whichever loader reads them
                assert not any(m.training for m in loaded.modules()), loader
            loaded.eval()
            torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


@torch.inference_mode()
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_takes_any_sample_format(name):
    """``model(x)`` of each of our models: floats cast to the model's dtype and the outputs
    back; integer PCM scaled to [-1, 1); int64 / bool refused, naming the dtype."""
    model = build(name).eval()
    wav = 0.3 * example(name, 2)
    reference = model(wav)
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        est = model(wav.to(dtype))
        assert est.dtype == dtype
        # Independent truth: the same samples rounded to dtype, run in float32, rounded back.
        torch.testing.assert_close(est, model(wav.to(dtype).float()).to(dtype), rtol=0, atol=0)
    pcm = (wav * 2**15).round().to(torch.int16)
    est = model(pcm)
    assert est.dtype == torch.float32 and est.shape == reference.shape
    torch.testing.assert_close(est, model(pcm.float() / 2**15), rtol=1e-5, atol=1e-6)
    for dtype in (torch.int64, torch.bool):
        with pytest.raises(TypeError, match=str(dtype)):
            model(wav.to(dtype))


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_runner_stays_close_to_float32(name):
    model = build(name).eval()
    x = 0.1 * example(name, 2)
    reference = ModelRunner(model)(x)
    got = ModelRunner(model, precision="bfloat16")(x)
    assert got.dtype == torch.float32 and got.shape == reference.shape
    snr = 10 * torch.log10(reference.pow(2).sum() / (got - reference).pow(2).sum())
    assert 20 < snr < 100  # bfloat16's 8-bit mantissa: close, but not the float32 result
    assert next(model.parameters()).dtype == torch.float32  # autocast, not a cast model


@pytest.mark.parametrize("name", NAMES)
def test_cli_separates_a_file_with_the_model(name, tmp_path):
    model = build(name).eval()
    _, rate, channels = data_of(name)
    torch.save(package_model(model), tmp_path / "model.pth")
    audio = example(name, 1)[0].mul(0.1).numpy()  # (time,) or (channels, time)
    sf.write(tmp_path / "talk.wav", audio.T, rate, subtype="FLOAT")
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / "talk.wav"), "--model", str(tmp_path / "model.pth")]
    assert cli_main(args + ["-o", str(out), "-q"]) == 0
    with torch.inference_mode():
        estimate = model(torch.from_numpy(audio)[None])[0]
    # Speakers: one mono file each; a stem model: its stem and the rest of the mixture.
    layout = output_layout(model)
    expected = (
        estimate if channels == 1 else torch.stack([estimate, torch.from_numpy(audio) - estimate])
    )
    assert len(layout.names) == len(expected)
    for suffix, want in zip(layout.names, expected):
        got, got_rate = sf.read(out / f"talk_{suffix}.wav", dtype="float32")
        assert got_rate == rate
        np.testing.assert_allclose(got, want.numpy().T, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def tiny_music_data(tmp_path_factory):
    return make_tiny_music_data(tmp_path_factory.mktemp("music"))


@pytest.mark.parametrize("name", NAMES)
def test_recipe_trains_evaluates_and_publishes(name, request, tmp_path):
    """Speaker models on the tiny speech corpus, stem models on the tiny music set."""
    data = "tiny_music_data" if name in STEM_MODELS else "tiny_data"
    conf_path, _ = request.getfixturevalue(data)
    n_src = data_of(name)[0]
    preset, tiny = CASES[name]
    exp = tmp_path / f"{name.lower()}_tiny"
    common = ["--exp_dir", str(exp)]
    args = ["--conf", conf_path, "--model_name", name.lower(), "--preset", preset]
    args += ["--model_args", yaml.safe_dump(tiny, default_flow_style=True).strip()]
    args += ["--epochs", "1", "--num_workers", "0"]  # 3 steps and one validation
    assert train.main(common + args) == 0
    package = torch.load(exp / xp.BEST_MODEL, weights_only=True)
    assert package["model_name"] == name
    assert package["model_args"]["n_src"] == n_src
    if name in STEM_MODELS:
        assert evaluate.main(common + ["--n_save_ex", "1"]) == 0
        final = json.loads((exp / xp.EVAL_DIR / xp.FINAL_METRICS).read_text())
        assert final["n_tracks"] == 1 and np.isfinite(final["targets"]["vocals"]["SDR"])
    else:
        assert evaluate.main(common + ["--n_save_ex", "0", "--metrics", "si_sdr"]) == 0
        final = json.loads((exp / xp.EVAL_DIR / xp.FINAL_METRICS).read_text())
        assert final["n_utterances"] == 2 and np.isfinite(final["si_snr_i"])
    assert publish.main(common + ["--license", "cc-by-sa-4.0"]) == 0
    card = (exp / "publish_dir" / "README.md").read_text()
    reloaded = load_model(str(exp / "publish_dir" / "pytorch_model.bin"))
    assert type(reloaded).__name__ == name
    n_params = sum(p.numel() for p in reloaded.parameters())
    assert name in card and f"{n_params:,} parameters" in card
    assert "GMACs per second of audio" in card
    arxiv = {"TDANet": "2209.15200", "S4M": "2305.16932", "ConvTasNet": "1809.07454"}
    arxiv.update(SuDORMRFNet="2007.06833", DPRNNTasNet="1910.06379")
    arxiv.update(FLATFLocoformer="2508.19528", FLASepReformer="2508.19528")
    arxiv.update(MelBandRoformer="2510.25745", BLSTMNet="1703.06284")
    assert f"arxiv.org/abs/{arxiv[name]}" in card


@torch.inference_mode()
@pytest.mark.parametrize("name", sorted(MODELS))
def test_short_inputs_are_separated_or_refused_clearly(name):
    """Inputs from one sample up: the output has the input's length, or a ValueError says
    how many samples the model takes (never a torch error from deep inside); once a length
    is taken, every longer one is too."""
    model = build(name).eval()
    channels = data_of(name)[2]
    taken = None
    for length in sorted(set(range(1, 20)) | {31, 32, 33, 63, 64, 65, 66, 127, 128, 129, 130, 199}):
        x = torch.randn(1, length) if channels == 1 else torch.randn(1, channels, length)
        try:
            out = model(x)
        except ValueError as err:
            assert taken is None, f"{length} refused after {taken} was taken: {err}"
            assert "at least" in str(err) and str(length) in str(err)
            continue
        taken = taken or length
        assert out.shape[-1] == length or getattr(model, "official_compat", False)
        assert torch.isfinite(out).all(), length
    assert taken == model.min_input_samples
