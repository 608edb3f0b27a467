"""One contract for every model the toolkit trains, ours and Asteroid's: build from a preset,
forward shapes, a package file read back under ``weights_only`` (by Asteroid's
``BaseModel.from_pretrained`` and ours), the CLI, and the recipe's train -> evaluate -> publish.

A model added to :data:`asteroid_tdanet.MODELS` (or a preset for another Asteroid model) must
get a tiny configuration in :data:`CASES`, which a test checks.
"""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from _recipe_helpers import make_tiny_data
from asteroid.models import BaseModel

from asteroid_tdanet import MODELS, PRESETS
from asteroid_tdanet.cli import main as cli_main
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
}
NAMES = sorted(CASES)


def build(name, **overrides):
    preset, tiny = CASES[name]
    torch.manual_seed(0)
    return SeparationModel.from_preset(preset, n_src=2, sample_rate=8000, **tiny, **overrides)


def test_every_model_and_preset_has_a_case():
    assert set(MODELS) <= set(CASES)
    assert {preset_model(p) for p in PRESETS} <= set(CASES)


@pytest.mark.parametrize("name", NAMES)
def test_builds_from_preset_and_separates_a_batch(name):
    model = build(name).eval()
    assert type(model).__name__ == name and n_src_of(model) == 2
    x = torch.randn(3, 4000)
    with torch.inference_mode():
        out = model(x)
    assert out.shape == (3, 2, 4000) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_package_file_round_trip_under_weights_only(name, tmp_path):
    model = build(name).eval()
    path = tmp_path / "model.pth"
    torch.save(package_model(model), path)
    package = torch.load(path, weights_only=True)  # nothing outside the default allow-list
    assert package["model_name"] == name
    x = torch.randn(2, 4000)
    with torch.inference_mode():
        expected = model(x)
        for loader in (BaseModel.from_pretrained, load_model):
            loaded = loader(str(path)).eval()
            assert type(loaded) is type(model)
            torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_cli_separates_a_file_with_the_model(name, tmp_path):
    model = build(name).eval()
    torch.save(package_model(model), tmp_path / "model.pth")
    audio = (0.1 * np.random.default_rng(0).standard_normal(4000)).astype(np.float32)
    sf.write(tmp_path / "talk.wav", audio, 8000, subtype="FLOAT")
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / "talk.wav"), "--model", str(tmp_path / "model.pth")]
    assert cli_main(args + ["-o", str(out), "-q"]) == 0
    with torch.inference_mode():
        expected = model(torch.from_numpy(audio)[None])[0]
    for i in range(2):
        got, rate = sf.read(out / f"talk_s{i + 1}.wav", dtype="float32")
        assert rate == 8000
        np.testing.assert_allclose(got, expected[i].numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("name", NAMES)
def test_recipe_trains_evaluates_and_publishes(name, tiny_data, tmp_path):
    conf_path, _ = tiny_data
    preset, tiny = CASES[name]
    exp = tmp_path / f"{name.lower()}_tiny"
    common = ["--exp_dir", str(exp)]
    args = ["--conf", conf_path, "--model_name", name.lower(), "--preset", preset]
    args += ["--model_args", yaml.safe_dump(tiny, default_flow_style=True).strip()]
    args += ["--epochs", "1", "--num_workers", "0"]  # 3 steps and one validation
    assert train.main(common + args) == 0
    package = torch.load(exp / xp.BEST_MODEL, weights_only=True)
    assert package["model_name"] == name
    assert package["model_args"]["n_src"] == 2
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
    assert f"arxiv.org/abs/{arxiv[name]}" in card
