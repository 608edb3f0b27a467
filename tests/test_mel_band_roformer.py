"""Mel-Band RoFormer with windowed sink attention: exact against the windowed-roformer
reference fixture, band layout, release size, invariances, packaging, the full-attention
teacher."""

import pytest
import torch
from _reference_fixtures import reference_fixture

from asteroid_tdanet.checkpoints import check_state_dict
from asteroid_tdanet.masknn.mel_bands import band_ranges, mel_band_membership
from asteroid_tdanet.models import registry
from asteroid_tdanet.models.base import SeparationBaseModel
from asteroid_tdanet.models.mel_band_roformer import (
    MelBandRoformer,
    is_release_state_dict,
    reference_config_to_args,
    reference_state_dict_to_ours,
    release_model_args,
    release_to_package,
)

GROUP = "reference_wsa"
NAME = "mbr_wsa_small"
TINY = dict(
    sample_rate=16000,
    dim=16,
    depth=1,
    num_bands=6,
    heads=2,
    dim_head=8,
    stft_n_fft=128,
    stft_hop_length=32,
    wsa_window=4,
    sinks=2,
    mlp_expansion_factor=2,
)
# The README's band layout of the small config (librosa mel, 8 bands, 129 bins).
SMALL_RANGES = [(0, 10), (6, 16), (11, 22), (17, 32), (23, 45), (33, 64), (46, 90), (65, 128)]
# Spec section 1: the release's inclusive bin ranges (60 bands, 1025 bins).
RELEASE_RANGES = (
    "0-6 4-9 7-12 10-15 13-18 16-21 19-24 22-27 25-30 28-33 31-36 34-39 37-42 40-45 43-48 46-52 "
    "49-55 53-59 56-64 60-68 65-73 69-78 74-83 79-89 84-96 90-102 97-109 103-117 110-125 118-134 "
    "126-144 135-154 145-164 155-176 165-188 177-202 189-216 203-231 217-247 232-264 248-283 "
    "265-303 284-324 304-347 325-371 348-397 372-425 398-454 426-486 455-520 487-557 521-596 "
    "558-637 597-682 638-730 683-781 731-835 782-894 836-957 895-1024"
)


@pytest.fixture(scope="module")
def reference():
    return reference_fixture(GROUP, NAME)


def tiny(**overrides):
    torch.manual_seed(0)
    return MelBandRoformer(**{**TINY, **overrides}).eval()


def test_matches_reference_fixture(reference):
    state_dict, config, io = reference
    model = MelBandRoformer.from_reference(state_dict, config)
    assert not model.training and model.official_compat
    with torch.no_grad():
        out = model(io["mixture"])
    assert out.shape == io["estimates"].shape == (1, 2, 16000)
    torch.testing.assert_close(out, io["estimates"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", ["dense", "flex"])
def test_other_wsa_backends_match_the_fixture(reference, backend):
    if backend == "flex":
        pytest.importorskip("torch.nn.attention.flex_attention")
    state_dict, config, io = reference
    model = MelBandRoformer(**{**reference_config_to_args(config), "wsa_backend": backend})
    model.load_state_dict(reference_state_dict_to_ours(state_dict))
    with torch.no_grad():
        out = model.eval()(io["mixture"])
    torch.testing.assert_close(out, io["estimates"], rtol=0, atol=1e-5)


def _frames_rope_restarted(model):
    """Give the time attention's RoPE positions ``0..S-1`` to the sinks and ``0..T-1`` to the
    frames (instead of the reference's ``S..S+T-1``)."""
    rope = model.layers[0][0].layers[0][0].rotary_embed
    rotate, sinks = rope.forward, model.sinks
    rope.forward = lambda t: torch.cat((rotate(t[..., :sinks, :]), rotate(t[..., sinks:, :])), -2)


@pytest.mark.parametrize(
    "variant",
    [
        {"time_attention": "full"},
        {"wsa_window": 12},  # +-6 frames instead of the fixture's +-5
        "rope_restart",
    ],
    ids=["full_attention", "window_12", "rope_restart"],
)
def test_near_misses_of_the_reference_fail_the_fixture(reference, variant):
    # Guards of test_matches_reference_fixture: the fixture tells these layouts apart.
    state_dict, config, io = reference
    overrides = variant if isinstance(variant, dict) else {}
    model = MelBandRoformer(**{**reference_config_to_args(config), **overrides})
    model.load_state_dict(reference_state_dict_to_ours(state_dict))
    if variant == "rope_restart":
        _frames_rope_restarted(model)
    with torch.no_grad():
        out = model.eval()(io["mixture"])
    assert (out - io["estimates"]).abs().max() > 1e-3


def test_reference_keys_map_one_to_one(reference):
    state_dict, config, _ = reference
    model = MelBandRoformer(**reference_config_to_args(config))
    ours = reference_state_dict_to_ours(state_dict)
    assert set(ours) == set(model.state_dict()) and len(ours) == len(state_dict) == 97
    assert is_release_state_dict(state_dict)
    args = release_model_args(state_dict)
    for key in ("dim", "depth", "num_bands", "heads", "dim_head", "sinks"):
        assert args[key] == reference_config_to_args(config)[key]


def test_small_config_band_ranges():
    member = mel_band_membership(16000, 256, 8)
    assert band_ranges(member) == SMALL_RANGES
    assert member.sum(0).min() >= 1 and member.sum(0).max() <= 2
    config = dict(
        dim=8,
        depth=1,
        num_bands=8,
        heads=2,
        dim_head=4,
        sample_rate=16000,
        stft_n_fft=256,
        stft_win_length=256,
    )
    model = MelBandRoformer(**reference_config_to_args(config))
    assert model.band_ranges == SMALL_RANGES
    assert model.band_split.dim_inputs == (44, 44, 48, 64, 92, 128, 180, 256)


def test_release_band_ranges():
    expected = [tuple(int(b) for b in r.split("-")) for r in RELEASE_RANGES.split()]
    assert band_ranges(mel_band_membership(44100, 2048, 60)) == expected


def test_release_parameter_count_and_keys():
    with torch.device("meta"):
        model = MelBandRoformer()
        teacher = MelBandRoformer(time_attention="full", sinks=0)
    assert sum(p.numel() for p in model.parameters()) == 228_387_172
    keys = model.state_dict()
    assert len(keys) == 685 and tuple(keys["sink_tokens"].shape) == (8, 60, 384)
    assert set(teacher.state_dict()) == set(keys) - {"sink_tokens"}
    assert is_release_state_dict(keys) and is_release_state_dict(teacher.state_dict())
    # Loaded releases return as many samples as they are given (the reference's samples).
    assert release_model_args(keys) == {**reference_config_to_args({}), "official_compat": False}
    teacher_args = release_model_args(teacher.state_dict())
    assert teacher_args["time_attention"] == "full" and teacher_args["sinks"] == 0
    package = release_to_package(keys)
    assert package["model_name"] == "MelBandRoformer"
    with torch.device("meta"):
        check_state_dict(MelBandRoformer(**package["model_args"]), package["state_dict"], "t")


def test_presets_parameter_counts():
    """The mini preset (CPU training) and the teacher preset: the release less its sinks."""
    counts = {}
    for name in ("mel-band-roformer-mini", "mel-band-roformer-full"):
        with torch.device("meta"):
            model = MelBandRoformer.from_preset(name)
        counts[name] = sum(p.numel() for p in model.parameters())
    assert counts["mel-band-roformer-mini"] == 267_244
    assert counts["mel-band-roformer-full"] == 228_387_172 - 8 * 60 * 384


def test_batch_invariance_and_odd_lengths():
    model = tiny()
    x = torch.randn(3, 2, 4001)
    with torch.no_grad():
        batched = model(x)
        itemwise = torch.cat([model(x[i : i + 1]) for i in range(3)])
        assert batched.shape == (3, 2, 4001)
        torch.testing.assert_close(batched, itemwise, rtol=0, atol=1e-5)
        assert model(x[0]).shape == (2, 4001)
        torch.testing.assert_close(model(x[0]), batched[0], rtol=0, atol=1e-5)
        for length in (3999, 4033):
            assert model(torch.randn(2, 2, length)).shape == (2, 2, length)
        official = tiny(official_compat=True)
        assert official(torch.randn(1, 2, 4001)).shape == (1, 2, 32 * (4001 // 32))
        with pytest.raises(ValueError, match="stereo"):
            model(torch.randn(1, 1, 4001))
        with pytest.raises(ValueError, match=r"\(batch, 2, time\)"):
            model(torch.randn(3, 4001))


def test_mono_model():
    model = tiny(stereo=False)
    x = torch.randn(2, 3001)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 1, 3001)
        torch.testing.assert_close(model(x[:, None]), out, rtol=0, atol=0)
        assert model(x[0]).shape == (1, 3001)


def test_package_round_trip_under_weights_only(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.MODELS, "MelBandRoformer", MelBandRoformer)
    model = tiny(attn_dropout=0.1)
    path = tmp_path / "model.pth"
    torch.save(model.serialize(), path)
    loaded = SeparationBaseModel.from_pretrained(str(path))
    assert type(loaded) is MelBandRoformer and loaded.get_model_args() == model.get_model_args()
    x = torch.randn(1, 2, 3000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_teacher_runs_and_shares_the_student_keys():
    student = tiny()
    teacher = tiny(time_attention="full", sinks=0)
    keys = set(student.state_dict())
    assert set(teacher.state_dict()) == keys - {"sink_tokens"}
    teacher.load_state_dict({k: v for k, v in student.state_dict().items() if k != "sink_tokens"})
    with torch.no_grad():
        out = teacher(torch.randn(2, 2, 3001))
    assert out.shape == (2, 2, 3001) and torch.isfinite(out).all()
    # Windowed attention without sinks, and full attention with sinks, also run.
    with torch.no_grad():
        for args in (dict(sinks=0), dict(time_attention="full")):
            out = tiny(**args)(torch.randn(1, 2, 2001))
            assert out.shape == (1, 2, 2001) and torch.isfinite(out).all()


def test_training_step_updates_every_parameter():
    model = tiny().train()
    out = model(torch.randn(2, 2, 2000))
    out.square().mean().backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and torch.isfinite(param.grad).all(), name
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.endswith("rotary_embed.freqs") for n in frozen)


def test_reference_config_errors():
    with pytest.raises(ValueError, match="foo"):
        reference_config_to_args({"foo": 1})
    with pytest.raises(ValueError, match="num_sink_tokens"):
        reference_config_to_args({"num_sink_tokens": 4, "n_wsa_sinks": 8})
    assert reference_config_to_args({"num_stems": 1, "window_size": 10})["sinks"] == 8
    assert reference_config_to_args({"n_wsa_sinks": 0})["time_attention"] == "full"
    with pytest.raises(ValueError, match="time_attention"):
        MelBandRoformer(**{**TINY, "time_attention": "linear"})
    with pytest.raises(ValueError, match="n_src"):
        MelBandRoformer(n_src=2, **TINY)


@pytest.mark.parametrize("sinks", [8, 0])
def test_release_layout_file_loads_by_every_entry_point(tmp_path, sinks):
    """A raw reference state_dict with the release's STFT and bands (smaller widths): what
    ``mbr-win10-sink8.ckpt`` is; without sinks, the full-attention teacher layout."""
    from asteroid_tdanet import load_model

    config = dict(dim=8, depth=1, heads=2, dim_head=4, n_wsa_sinks=sinks)
    torch.manual_seed(0)
    reference = MelBandRoformer(**reference_config_to_args(config)).eval()
    path = tmp_path / "mbr-win10-sink8.ckpt"
    torch.save(reference.state_dict(), path)  # a raw state_dict, as released
    x = 0.1 * torch.randn(1, 2, 44100 + 100)
    with torch.no_grad():
        expected = reference(x)  # official_compat: hop * (T // hop) samples
        for loader in (MelBandRoformer.from_pretrained, load_model):
            model = loader(str(path))
            assert type(model) is MelBandRoformer and not model.training
            assert model.sinks == sinks and not model.official_compat
            out = model(x)
            assert out.shape == x.shape  # all the samples it was given
            torch.testing.assert_close(out[..., : expected.shape[-1]], expected, rtol=0, atol=1e-6)


def test_mac_count_includes_the_attention_products():
    # Full attention is quadratic in the frames, the windowed one linear: a count that grows
    # 4x from 1 s to 4 s for both left the attention products out.
    from asteroid_tdanet.utils.complexity import count_macs

    full = MelBandRoformer(**dict(TINY, time_attention="full", sinks=0))
    wsa = MelBandRoformer(**dict(TINY, time_attention="wsa"))
    growth = {
        name: count_macs(model, seconds=4.0) / count_macs(model, seconds=1.0)
        for name, model in (("full", full), ("wsa", wsa))
    }
    assert growth["full"] > 4.3 and 3.9 < growth["wsa"] < 4.1, growth
