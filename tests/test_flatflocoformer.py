"""FLA-TFLocoformer: exact against the reference port's fixture, paper sizes, invariances,
packaging, and the softmax twin (the original TF-Locoformer)."""

import pytest
import torch
from _reference_fixtures import reference_fixture

from asteroid_tdanet.models import registry
from asteroid_tdanet.models.base import SeparationBaseModel
from asteroid_tdanet.models.flatflocoformer import (
    FLATFLocoformer,
    reference_config_to_args,
    reference_state_dict_to_ours,
)

GROUP = "reference_fla"
NAME = "flatflocoformer_small_8k"
TINY = dict(
    n_src=2,
    sample_rate=8000,
    n_layers=1,
    emb_dim=8,
    attention_dim=8,
    n_heads=2,
    num_groups=2,
    ffn_hidden_dim=8,
    fla_norm_type="RMSGroupNorm_2",
)


@pytest.fixture(scope="module")
def reference():
    return reference_fixture(GROUP, NAME)


def tiny(**overrides):
    torch.manual_seed(0)
    return FLATFLocoformer(**{**TINY, **overrides}).eval()


def test_matches_reference_fixture(reference):
    state_dict, config, io = reference
    model = FLATFLocoformer.from_reference(state_dict, config)
    assert not model.training and model.official_compat
    with torch.no_grad():
        out = model(io["mixture"])
    assert out.shape == io["estimates"].shape
    torch.testing.assert_close(out, io["estimates"], rtol=0, atol=1e-4)


def test_single_residual_differs_from_reference(reference):
    state_dict, config, io = reference
    args = {**reference_config_to_args(config), "official_compat": False}
    model = FLATFLocoformer(**args).eval()
    model.load_state_dict(reference_state_dict_to_ours(state_dict))
    with torch.no_grad():
        out = model(io["mixture"])
    assert (out - io["estimates"]).abs().max() > 1e-2


def test_reference_keys_map_one_to_one(reference):
    state_dict, config, _ = reference
    model = FLATFLocoformer(**reference_config_to_args(config))
    ours = reference_state_dict_to_ours(state_dict)
    assert len(ours) == len(state_dict) and set(ours) == set(model.state_dict())


@pytest.mark.parametrize(
    "n_layers, attention, expected",
    [(6, "fla", 15_080_468), (9, "fla", 22_617_044), (6, "softmax", 14_975_652)],
)
def test_paper_parameter_counts(n_layers, attention, expected):
    with torch.device("meta"):
        model = FLATFLocoformer(n_layers=n_layers, attention=attention)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_batch_invariance_and_odd_lengths():
    model = tiny()
    x = torch.randn(3, 4001)
    with torch.no_grad():
        batched = model(x)
        itemwise = torch.cat([model(x[i : i + 1]) for i in range(3)])
        assert batched.shape == (3, 2, 4001)
        torch.testing.assert_close(batched, itemwise, rtol=0, atol=1e-5)
        for length in (7999, 8001):
            assert model(torch.randn(2, length)).shape == (2, 2, length)
        assert model(x[0]).shape == (2, 4001)
        torch.testing.assert_close(model(x[:, None]), batched, rtol=0, atol=0)


def test_silent_input_is_finite_and_silent_in_official_compat():
    """The reference divides by the bare std (NaN for silence); official_compat gives the
    silence back (a silent chunk of a long file); the default floors the std."""
    silent = torch.zeros(1, 2000)
    with torch.no_grad():
        assert torch.isfinite(tiny()(silent)).all()
        official = tiny(official_compat=True)(silent)
    assert torch.isfinite(official).all() and float(official.abs().max()) == 0.0


def test_package_round_trip_under_weights_only(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.MODELS, "FLATFLocoformer", FLATFLocoformer)
    model = tiny(dropout=0.1)
    path = tmp_path / "model.pth"
    torch.save(model.serialize(), path)
    loaded = SeparationBaseModel.from_pretrained(str(path))
    assert type(loaded) is FLATFLocoformer and loaded.get_model_args() == model.get_model_args()
    x = torch.randn(2, 3000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_softmax_twin_runs():
    model = tiny(attention="softmax")
    keys = model.state_dict()
    assert "blocks.0.time.attn_norm.gamma" in keys and "blocks.0.time.attn.qkv.weight" in keys
    with torch.no_grad():
        out = model(torch.randn(2, 3001))
    assert out.shape == (2, 2, 3001) and torch.isfinite(out).all()


def test_reference_config_errors_name_the_key(reference):
    _, config, _ = reference
    sep = config["separator_conf"]
    bad = [
        ({**config, "foo": 1}, "foo"),
        ({**config, "separator_conf": {**sep, "norm_type": "layernorm"}}, "norm_type"),
        ({**config, "separator_conf": {**sep, "layers_type": ["t", "f"] * 2}}, "layers_type"),
        ({**config, "separator_conf": {**sep, "attn_types": ["X"]}}, "attn_types"),
        ({**config, "separator_conf": {**sep, "ffn_hidden_dim": [32, 64]}}, "ffn_hidden_dim"),
        ({**config, "separator_conf": {**sep, "bar": 0}}, "bar"),
    ]
    for conf, key in bad:
        with pytest.raises(ValueError, match=key):
            reference_config_to_args(conf)
    ega = {**sep["attn_addition_conf"]["ega_addition_conf"], "linear_attn_type": "Other"}
    conf = {**config, "separator_conf": {**sep, "attn_addition_conf": {"ega_addition_conf": ega}}}
    with pytest.raises(ValueError, match="linear_attn_type"):
        reference_config_to_args(conf)
    with pytest.raises(ValueError, match="attention"):
        FLATFLocoformer(**{**TINY, "attention": "linear"})


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_is_refused_with_the_reason(tmp_path, fmt, capsys):
    from asteroid_tdanet.cli import main as cli_main
    from asteroid_tdanet.models import package_model

    torch.save(package_model(tiny()), tmp_path / "m.pth")
    out = tmp_path / f"m.{fmt}"
    args = ["export", "--model", str(tmp_path / "m.pth"), "--format", fmt, "-o", str(out)]
    assert cli_main(args) != 0
    assert "STFT is complex-valued" in capsys.readouterr().err
    assert not out.exists()
