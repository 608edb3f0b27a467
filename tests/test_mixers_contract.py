"""The sequence-mixer contract, checked for every mixer of the registry (and a new one)."""

import pytest
import torch
from asteroid.models import BaseModel

from asteroid_tdanet import TDANet
from asteroid_tdanet.export import export_onnx, export_torchscript, load_torchscript, run_onnx
from asteroid_tdanet.masknn.mixers import (
    EXPORT_FORMATS,
    MIXERS,
    ExportNotSupported,
    SequenceMixer,
    build_mixer,
)
from asteroid_tdanet.utils.complexity import count_macs

CHANNELS = 16
# Small settings per mixer; a mixer missing here is tested with its defaults.
SMALL = {
    "mhsa": dict(n_heads=2),
    "mhsa-frame-local": dict(n_heads=2),
    "s4": dict(state_size=4),
    "fla": dict(n_heads=2, chunk_size=8),
    "wsa": dict(n_heads=2, window=4, sinks=2, block_size=8),
}
NAMES = sorted(MIXERS)
TINY_TDANET = dict(sample_rate=8000, bn_chan=16, hid_chan=CHANNELS, n_blocks=2, upsampling_depth=3)


def make(name, causal=False, channels=CHANNELS):
    torch.manual_seed(0)
    return build_mixer(name, channels, causal=causal, **SMALL.get(name, {}))


def tiny_tdanet(name, **extra):
    torch.manual_seed(0)
    return TDANet(**TINY_TDANET, ga_mixer=name, ga_mixer_args=SMALL.get(name), **extra)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("causal", [False, True])
def test_shape_and_batch_independence(name, causal):
    mixer = make(name, causal).eval()
    assert isinstance(mixer, SequenceMixer) and mixer.mixer_name == name
    x = torch.randn(3, CHANNELS, 45)
    with torch.no_grad():
        together = mixer(x)
        alone = torch.cat([mixer(x[i : i + 1]) for i in range(3)])
    assert together.shape == x.shape and torch.isfinite(together).all()
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_causal_variant_ignores_the_future_and_the_default_does_not(name):
    t0 = 30
    x = torch.randn(2, CHANNELS, 64)
    y = x.clone()
    y[..., t0:] = torch.randn(2, CHANNELS, 64 - t0)
    causal = make(name, causal=True).eval()
    assert causal.causal
    with torch.no_grad():
        torch.testing.assert_close(causal(x)[..., :t0], causal(y)[..., :t0])
        default = make(name).eval()
        if default.causal:  # causal by construction (the released frame-local attention)
            torch.testing.assert_close(default(x)[..., :t0], default(y)[..., :t0])
        else:  # guard: the check above does detect a look-ahead
            assert not torch.allclose(default(x)[..., :t0], default(y)[..., :t0], atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("causal", [False, True])
def test_gradients_reach_every_trainable_parameter(name, causal):
    mixer = make(name, causal).train()
    mixer(torch.randn(2, CHANNELS, 40)).pow(2).mean().backward()
    missing = [
        n
        for n, p in mixer.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not missing, f"no gradient for {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_mac_count_is_linear_in_length_except_for_full_attention(name):
    mixer = make(name, channels=128)
    ratio = mixer.macs(8000) / mixer.macs(1000)
    if name == "mhsa":
        assert ratio > 30  # its frames x frames products dominate
    else:  # linear (s4: plus the FFT's log factor)
        assert 7.5 <= ratio <= 9.5, ratio


def mac_difference_matches_mixer_counts(name):
    """Two TDANets that differ only in the GA mixer differ in MACs by exactly the two
    mixers' own counts at the coarsest length, once per U-block application."""
    reference, model = tiny_tdanet("mhsa"), tiny_tdanet(name)
    seen = []
    model.masker.ublock.global_module.mixer.register_forward_pre_hook(
        lambda m, inp: seen.append(inp[0].shape[-1])
    )
    diff = count_macs(model) - count_macs(reference)
    frames = seen[0]
    mixers = [m.masker.ublock.global_module.mixer for m in (model, reference)]
    per_call = mixers[0].macs(frames) - mixers[1].macs(frames)
    assert diff == TINY_TDANET["n_blocks"] * per_call


@pytest.mark.parametrize("name", NAMES)
def test_model_mac_count_uses_the_mixers_own_count(name):
    mac_difference_matches_mixer_counts(name)


@pytest.mark.parametrize("name", NAMES)
def test_tdanet_with_each_mixer_round_trips(name, tmp_path):
    model = tiny_tdanet(name).eval()
    assert type(model.masker.ublock.global_module.mixer) is MIXERS[name]
    path = tmp_path / "model.pth"
    torch.save(model.serialize(), path)
    x = torch.randn(2, 1203)
    for loaded in (TDANet.from_pretrained(str(path)), BaseModel.from_pretrained(str(path))):
        assert loaded.get_model_args() == model.get_model_args()
        with torch.no_grad():
            torch.testing.assert_close(loaded.eval()(x), model(x))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_export_or_a_clear_refusal(name, fmt, tmp_path):
    model = tiny_tdanet(name).eval()
    mixer = model.masker.ublock.global_module.mixer
    path = tmp_path / f"model.{fmt}"
    if fmt not in mixer.export_formats:
        assert mixer.export_refusal  # the documented reason
        export = dict(onnx=export_onnx, torchscript=export_torchscript)[fmt]
        with pytest.raises(ExportNotSupported, match=f"'{name}'.*{fmt}"):
            export(model, path, example_seconds=0.5)
        return
    _check_export(model, fmt, path)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_fla_with_its_group_rms_norm_exports(fmt, tmp_path):
    # The reference's other token norm: its grouping once froze the batch and length into
    # the ONNX graph.
    torch.manual_seed(0)
    args = dict(SMALL["fla"], norm_type="RMSGroupNorm_2")
    model = TDANet(**TINY_TDANET, ga_mixer="fla", ga_mixer_args=args).eval()
    _check_export(model, fmt, tmp_path / f"model.{fmt}")


def _check_export(model, fmt, path):
    export = dict(onnx=export_onnx, torchscript=export_torchscript)[fmt]
    export(model, path, example_seconds=0.5)
    run = (lambda w: run_onnx(path, w)) if fmt == "onnx" else load_torchscript(path)[0]
    for batch, length in [(1, 8000), (2, 13579)]:  # neither is the example's length
        wav = torch.randn(batch, length)
        with torch.no_grad():
            torch.testing.assert_close(run(wav), model(wav), atol=1e-4, rtol=1e-3)


def test_a_torchscript_s4_kernel_refuses_inputs_past_its_table(tmp_path):
    """The traced graph of an ``s4`` model holds its kernel for ``max_seconds``; a longer
    input raises instead of running with the kernel cut at the table's length."""
    model = tiny_tdanet("s4").eval()
    export_torchscript(model, tmp_path / "m.pt", example_seconds=0.1, max_seconds=0.5)
    run = load_torchscript(tmp_path / "m.pt")[0]
    with torch.no_grad():
        wav = torch.randn(1, 3000)  # inside the table
        torch.testing.assert_close(run(wav), model(wav), atol=1e-4, rtol=1e-3)
        with pytest.raises(RuntimeError, match="exceeds dimension size"):
            run(torch.randn(1, 16000))


def test_unknown_mixers_and_arguments_are_named():
    with pytest.raises(ValueError, match="Unknown sequence mixer 'nope'.*'fla'"):
        build_mixer("nope", 8)
    with pytest.raises(ValueError, match="'s4' mixer does not take \\['n_heads'\\].*state_size"):
        build_mixer("s4", 8, n_heads=2)
    with pytest.raises(ValueError, match="contradicts"):
        TDANet(**TINY_TDANET, n_heads=2, ga_mixer_args={"n_heads": 4})


class _ScaledIdentity(SequenceMixer):
    """A new mixer: one file with this class plus one registry line."""

    mixer_name = "scaled-identity"

    def __init__(self, channels, *, causal=False, dropout=0.0):
        super().__init__()
        self.causal = True
        self.scale = torch.nn.Parameter(torch.ones(channels, 1))

    def forward(self, x):
        return self.scale * x

    def macs(self, frames):
        return 1000 * frames


def test_a_new_mixer_needs_one_registry_line(monkeypatch):
    monkeypatch.setitem(MIXERS, "scaled-identity", _ScaledIdentity)
    model = tiny_tdanet("scaled-identity").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 800)).shape == (1, 2, 800)
    mac_difference_matches_mixer_counts("scaled-identity")
