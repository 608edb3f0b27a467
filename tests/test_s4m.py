"""S4M: the reference's outputs, sizes, loading paths, round trips and structure."""

import json
from pathlib import Path

import pytest
import torch
from asteroid.models import BaseModel

import asteroid.models
from asteroid_tdanet import S4M, TDANet, load_model
from asteroid_tdanet.checkpoints import NotACheckpointError

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference_s4m"
TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, d_state=4)


@pytest.fixture
def reference():
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    state = torch.load(FIXTURES / "s4m_small_8k.state_dict.pt", weights_only=True)
    config = json.loads((FIXTURES / "s4m_small_8k.config.json").read_text())
    io = torch.load(FIXTURES / "s4m_small_8k.io.pt", weights_only=True)
    return state, config, io


def test_reproduces_the_reference_whole_batch_at_once(reference):
    state, config, io = reference
    model = S4M.from_reference(state, config).eval()
    assert model.official_compat and sum(p.numel() for p in model.parameters()) == 45_191
    with torch.no_grad():
        est = model(io["mixture"])  # the reference ran one item at a time
    assert est.shape == io["estimates"].shape
    assert (est - io["estimates"]).abs().max() <= 1e-6
    # Not the reference's CPU fallback (Cauchy sum without the conjugate half).
    assert (est - io["estimates_naive_cauchy_fallback"]).abs().max() > 1e-3
    assert int(model.masker.ublock.global_module.mixer.layer.kernel.L) == 128  # untouched


def test_reference_packages_load_and_bare_state_dicts_are_explained(reference, tmp_path):
    state, config, io = reference
    path = tmp_path / "s4m_reference.bin"
    torch.save({"model_name": "S4M", "model_args": config, "state_dict": state}, path)
    model = load_model(str(path)).eval()
    assert isinstance(model, S4M)
    with torch.no_grad():
        assert (model(io["mixture"]) - io["estimates"]).abs().max() <= 1e-6
    bare = tmp_path / "bare.bin"
    torch.save(state, bare)
    with pytest.raises(NotACheckpointError, match="from_reference"):
        S4M.from_pretrained(str(bare))


@pytest.mark.parametrize(
    "preset, count",
    [("s4m", 2_169_143), ("s4m-tiny", 1_828_967)],  # the reference's counts
)
def test_released_sizes(preset, count):
    model = S4M.from_preset(preset, official_compat=True)
    assert sum(p.numel() for p in model.parameters()) == count
    # The paper's wiring shares one decoder filterbank between the sources.
    ours = S4M.from_preset(preset)
    fb = ours.encoder.filterbank
    shared = fb.n_filters * fb.kernel_size
    assert sum(p.numel() for p in ours.parameters()) == count - 2 * 2 * shared + shared


@pytest.mark.parametrize("length", [1, 37, 1601])
@pytest.mark.parametrize(
    "variant", [{}, dict(official_compat=True), dict(causal=True, norm_type="cLN")]
)
def test_output_length_and_batch_independence(length, variant):
    model = S4M(**TINY, **variant).eval()
    x = torch.randn(3, length)
    with torch.no_grad():
        out = model(x)
        alone = torch.cat([model(x[i : i + 1]) for i in range(3)])
    assert out.shape == (3, 2, length)
    torch.testing.assert_close(out, alone, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        assert model(x[0]).shape == (2, length)


def test_round_trip_keeps_the_s4_state(tmp_path):
    model = S4M(**TINY).eval()
    x = torch.randn(2, 2000)
    with torch.no_grad():
        expected = model(x)  # sets the S4 internal length
    path = tmp_path / "s4m.pth"
    torch.save(model.serialize(), path)
    assert torch.load(path, weights_only=True)["model_args"] == model.get_model_args()
    for loaded in (S4M.from_pretrained(str(path)), BaseModel.from_pretrained(str(path))):
        kernel = loaded.masker.ublock.global_module.mixer.layer.kernel
        assert int(kernel.L) == int(model.masker.ublock.global_module.mixer.layer.kernel.L)
        with torch.no_grad():
            torch.testing.assert_close(loaded.eval()(x), expected)


def test_registry_and_wrong_class_errors(tmp_path):
    assert asteroid.models.get("S4M") is S4M
    s4m, tdanet = tmp_path / "s4m.pth", tmp_path / "tdanet.pth"
    torch.save(S4M(**TINY).serialize(), s4m)
    torch.save(TDANet(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=1).serialize(), tdanet)
    with pytest.raises(ValueError, match="holds a S4M model, not a TDANet"):
        TDANet.from_pretrained(str(s4m))
    with pytest.raises(ValueError, match="holds a TDANet model, not a S4M"):
        S4M.from_pretrained(str(tdanet))
    assert isinstance(load_model(str(s4m)), S4M) and isinstance(load_model(str(tdanet)), TDANet)


@pytest.mark.parametrize("compat", [False, True])
def test_gradients_and_the_reference_wiring(compat):
    model = S4M(**TINY, official_compat=compat).train()
    model(torch.randn(2, 1200)).pow(2).mean().backward()
    missing = [
        n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    # The reference's defect, reproduced on purpose: its coarsest fused scale is unused.
    coarsest = f"masker.ublock.global_fusion.{TINY['upsampling_depth'] - 1}."
    expected = [n for n, _ in model.named_parameters() if n.startswith(coarsest)] if compat else []
    assert missing == expected


def test_global_module_is_s4_then_gelu_ffn():
    model = S4M(**TINY)
    glob = model.masker.ublock.global_module
    assert type(glob.mixer).__name__ == "S4Mixer" and glob.mixer.layer.bidirectional
    x = torch.randn(1, 32, 20)
    with torch.no_grad():
        g = x + glob.mixer(x)
        h = torch.nn.functional.layer_norm(
            g.transpose(1, 2), (32,), glob.ffn.norm.weight, glob.ffn.norm.bias
        )
        ff = torch.nn.functional.gelu(h @ glob.ffn.fc1.weight[..., 0].T + glob.ffn.fc1.bias)
        ff = ff @ glob.ffn.fc2.weight[..., 0].T + glob.ffn.fc2.bias
        torch.testing.assert_close(glob.eval()(x), g + ff.transpose(1, 2))
