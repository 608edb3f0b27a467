"""FLA-SepReformer: the reference's outputs, sizes, aux heads and loss, round trips, softmax twin."""

import copy

import pytest
import torch
from _reference_fixtures import reference_fixture

from asteroid_tdanet.models.flasepreformer import (
    FLASepReformer,
    aux_loss_weight,
    multi_stage_loss,
    reference_config_to_args,
)
from asteroid_tdanet.masknn.sepreformer_loss import pairwise_neg_sisnr_mag

GROUP = "reference_fla"
NAME = "flasepreformer_small_8k"
TINY = dict(
    sample_rate=8000,
    enc_channels=32,
    feature_dim=16,
    n_stages=2,
    n_heads=4,
    cla_kernel=9,
    dropout=0.0,
)


def n_params(**kwargs) -> int:
    with torch.device("meta"):
        model = FLASepReformer(**kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def reference():
    return reference_fixture(GROUP, NAME)


@pytest.fixture(scope="module")
def reference_model(reference):
    state, config, _ = reference
    return FLASepReformer.from_reference(state, config)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return FLASepReformer(**TINY).eval()


# (a) the reference's outputs -------------------------------------------------------------------


def test_reproduces_the_reference_whole_batch_at_once(reference, reference_model):
    _, _, io = reference
    model = reference_model
    assert model.official_compat and not model.training
    assert sum(p.numel() for p in model.parameters()) == 559_040
    with torch.no_grad():
        est = model(io["mixture"])
    assert est.shape == io["estimates"].shape == (2, 2, 8000)
    assert (est - io["estimates"]).abs().max() <= 1e-4


def test_reference_config_maps_to_our_arguments(reference):
    _, config, _ = reference
    args = reference_config_to_args(config)
    assert args == dict(
        n_src=2,
        sample_rate=8000,
        enc_channels=64,
        kernel_size=16,
        stride=4,
        feature_dim=32,
        n_stages=2,
        n_heads=4,
        cla_kernel=65,
        down_kernel=5,
        fla_kernel_size=5,
        fla_gated=True,
        dropout=0.05,
        attention="fla",
        pos_maxlen=100,
        aux_heads=True,
        normalize_variance=False,
        official_compat=True,
    )
    assert reference_config_to_args(config["separator_conf"]) == args


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["module_separator"].update(use_rope_pos=True), "use_rope_pos"),
        (lambda c: c.update(first_layer_static=True), "first_layer_static"),
        (lambda c: c["module_separator"].update(use_share_spk_split=False), "use_share_spk_split"),
        (lambda c: c["module_separator"].update(linear_layers_flag=[1, 0]), "linear_layers_flag"),
        (
            lambda c: c["module_separator"]["relative_positional_encoding"].update(embed_v=True),
            "embed_v",
        ),
        (lambda c: c["module_separator"]["enc_stage"].pop("addition_conf"), "ega_addition_conf"),
        (
            lambda c: c["module_separator"]["dec_stage"]["addition_conf"][
                "ega_addition_conf"
            ].update(norm_type="RMSGroupNorm_4"),
            "norm_type",
        ),
        (lambda c: c.update(something_new=1), "something_new"),
    ],
)
def test_unsupported_reference_configs_name_the_key(reference, edit, key):
    _, config, _ = reference
    config = copy.deepcopy(config)
    edit(config["separator_conf"])
    with pytest.raises(ValueError, match=key):
        reference_config_to_args(config)


# (b) the comparison is sensitive ---------------------------------------------------------------


def test_the_fixture_comparison_is_sensitive(reference, reference_model):
    state, config, io = reference
    # Without the gate (the template's other variant) the outputs move.
    ungated = FLASepReformer(**{**reference_config_to_args(config), "fla_gated": False}).eval()
    ungated.load_state_dict(reference_model.state_dict(), strict=False)
    # A changed FLA weight (the learned focusing scale of one global block) moves them too.
    changed = copy.deepcopy(reference_model)
    with torch.no_grad():
        changed.separator.enc_stages[0].g_block_1.block["ega"].attn.scale.add_(1.0)
        for model in (ungated, changed):
            assert (model(io["mixture"]) - io["estimates"]).abs().max() > 1e-2


# (c) sizes -------------------------------------------------------------------------------------

# Reference counts (spec section 4: parameters, BN buffers excluded; the unused pos_emb
# included): feature_dim -> (with aux heads, without).
REFERENCE_COUNTS = {
    64: (3_927_584, 3_712_544),
    128: (14_693_696, 14_149_952),
    256: (56_820_608, 55_226_240),
}


@pytest.mark.parametrize("feature_dim", sorted(REFERENCE_COUNTS))
def test_parameter_counts_match_the_reference(feature_dim):
    with_aux, without = REFERENCE_COUNTS[feature_dim]
    assert n_params(feature_dim=feature_dim, official_compat=True) == with_aux
    assert n_params(feature_dim=feature_dim, official_compat=True, aux_heads=False) == without
    # Default: without the reference's unused Embedding(2 * 2000, F / 8).
    pos_emb = 2 * 2000 * feature_dim // 8
    ours = n_params(feature_dim=feature_dim)
    assert ours == with_aux - pos_emb and abs(ours - with_aux) / with_aux < 0.01
    assert n_params(feature_dim=feature_dim, aux_heads=False) == without - pos_emb


def test_softmax_twin_size():
    assert n_params(attention="softmax") == 14_691_584
    assert n_params(attention="softmax", aux_heads=False) == 14_147_840


# (d) shapes and invariances --------------------------------------------------------------------


def test_batch_invariance(tiny):
    torch.manual_seed(1)
    mix = torch.randn(3, 4000)
    with torch.no_grad():
        batch = tiny(mix)
        single = torch.cat([tiny(mix[i : i + 1]) for i in range(3)])
    assert batch.shape == (3, 2, 4000)
    assert torch.allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("length", [7999, 8001, 8000])
def test_odd_lengths_keep_the_length(tiny, length):
    with torch.no_grad():
        assert tiny(torch.randn(2, length)).shape == (2, 2, length)


def test_input_layouts(tiny):
    mix = torch.randn(1, 3001)
    with torch.no_grad():
        ref = tiny(mix)
        assert torch.equal(tiny(mix[0]), ref[0])  # (time,) -> (n_src, time)
        assert torch.equal(tiny(mix[:, None]), ref)  # (batch, 1, time)


def test_normalize_variance_is_scale_equivariant():
    torch.manual_seed(0)
    model = FLASepReformer(**TINY, normalize_variance=True).eval()
    mix = torch.randn(2, 3000)
    with torch.no_grad():
        assert torch.allclose(model(7.0 * mix), 7.0 * model(mix), atol=1e-4)


# (e) aux heads and the multi-stage loss --------------------------------------------------------


def test_forward_with_aux_and_the_multi_stage_loss():
    torch.manual_seed(0)
    model = FLASepReformer(**TINY).train()
    mix, sources = torch.randn(2, 3001), torch.randn(2, 2, 3001)
    est, aux = model.forward_with_aux(mix)
    assert est.shape == (2, 2, 3001)
    assert len(aux) == TINY["n_stages"] and all(a.shape == est.shape for a in aux)
    loss = multi_stage_loss(est, aux, sources, epoch=1)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    for head in (model.out_layer_bn[0], model.decoder_bn[1], model.out_layer):
        assert all(p.grad is not None for p in head.parameters())
    # Eval forward is the main path of forward_with_aux.
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(mix), model.forward_with_aux(mix)[0])


def _reference_mag_loss(estimate, source):
    """SepReformer's PIT_SISNR_mag term of one estimate against one source (``(batch, time)``
    each), written after its criterions.py: a conv1d STFT kernel, no centring."""
    n, hop, eps = 512, 128, 1e-12
    window = torch.hann_window(n, dtype=torch.float64) * (2 / 3) ** 0.5
    kernel = torch.fft.rfft(torch.eye(n, dtype=torch.float64) / (0.5 * (n * n / hop) ** 0.5))
    kernel = torch.stack((kernel.real, kernel.imag), dim=2).transpose(0, 2) * window
    kernel = kernel.reshape(n + 2, 1, n)

    def magnitude(x):
        padded = -(-x.shape[-1] // hop) * hop
        x = torch.cat([x, x.new_zeros(x.shape[0], padded - x.shape[-1])], -1)
        re, im = torch.conv1d(x[:, None], kernel, stride=hop).chunk(2, dim=1)
        return (re**2 + im**2 + 1e-10) ** 0.5

    e = estimate - estimate.mean(-1, keepdim=True)
    s = source - source.mean(-1, keepdim=True)
    scale = (e * s).sum(-1, keepdim=True) / (s.norm(dim=-1, keepdim=True) ** 2 + eps)
    s = scale.clamp(min=1e-2) * s
    mag_e, mag_s = magnitude(e), magnitude(s)
    norm = lambda x: x.norm(dim=-1).norm(dim=-1)  # noqa: E731
    return -20 * torch.log10(eps + norm(mag_s) / (norm(mag_e - mag_s) + eps))


def test_magnitude_term_is_sepreformers():
    # Against the reference's term, per pair; the cases its SI-SNR on magnitudes got wrong:
    # a sign-flipped or delayed estimate must score badly, a near-perfect one very well.
    torch.manual_seed(0)
    sources = torch.randn(2, 2, 4000, dtype=torch.float64)
    cases = {
        "flipped": -sources + 0.05 * torch.randn_like(sources),
        "delayed": torch.roll(sources, 3, dims=-1),
        "noisy": sources + 0.3 * torch.randn_like(sources),
        "near-perfect": sources + 1e-4 * torch.randn_like(sources),
    }
    for name, est in cases.items():
        ours = pairwise_neg_sisnr_mag(est, sources)
        for i in range(2):
            for j in range(2):
                expected = _reference_mag_loss(est[:, i], sources[:, j])
                torch.testing.assert_close(ours[:, i, j], expected, rtol=1e-9, atol=1e-9)
    flipped = pairwise_neg_sisnr_mag(cases["flipped"], sources).diagonal(dim1=1, dim2=2)
    assert (flipped > 30).all()  # the projection clamps at 1e-2: far from the target
    near = pairwise_neg_sisnr_mag(cases["near-perfect"], sources).diagonal(dim1=1, dim2=2)
    assert (near < -60).all()  # no -30 dB floor on this term


def test_multi_stage_loss_terms_and_schedule():
    torch.manual_seed(0)
    sources = torch.randn(2, 2, 4000)
    est = sources + 0.3 * torch.randn_like(sources)
    aux = [sources + 0.5 * torch.randn_like(sources) for _ in range(3)]
    main = multi_stage_loss(est, [], sources, epoch=1)
    # Permutation invariance: swapping the estimates' sources changes nothing.
    swapped = multi_stage_loss(est.flip(1), [a.flip(1) for a in aux], sources, epoch=7)
    assert torch.allclose(swapped, multi_stage_loss(est, aux, sources, epoch=7))
    # A perfect estimate reaches the -30 dB floor.
    assert torch.allclose(multi_stage_loss(sources, [], sources, epoch=1), torch.tensor(-30.0))
    aux_only = (multi_stage_loss(est, aux, sources, epoch=1) - 0.6 * main) / 0.4
    for epoch in (1, 100, 101, 105, 106, 130, 300):
        a = 0.4 if epoch <= 100 else 0.4 * 0.8 ** (1 + (epoch - 101) // 5)
        assert aux_loss_weight(epoch) == pytest.approx(a)
        total = multi_stage_loss(est, aux, sources, epoch=epoch)
        assert torch.allclose(total, (1 - a) * main + a * aux_only, atol=1e-4)
    assert aux_loss_weight(105) == pytest.approx(0.32) and aux_loss_weight(106) == pytest.approx(
        0.256
    )


def test_without_aux_heads():
    model = FLASepReformer(**TINY, aux_heads=False)
    assert model.out_layer_bn is None and not any("_bn." in k for k in model.state_dict())
    with pytest.raises(RuntimeError, match="aux"):
        model.forward_with_aux(torch.randn(1, 2000))


# (f) serialisation round trip ------------------------------------------------------------------


def test_serialize_round_trip(tmp_path, monkeypatch, tiny):
    import asteroid_tdanet.models.registry as registry
    from asteroid_tdanet.models.base import SeparationBaseModel

    monkeypatch.setitem(registry.MODELS, "FLASepReformer", FLASepReformer)
    path = tmp_path / "model.pth"
    torch.save(tiny.serialize(), path)
    assert torch.load(path, weights_only=True)["model_name"] == "FLASepReformer"
    loaded = SeparationBaseModel.from_pretrained(str(path))
    assert isinstance(loaded, FLASepReformer) and not loaded.training
    assert loaded.get_model_args() == tiny.get_model_args()
    mix = torch.randn(2, 3000)
    with torch.no_grad():
        assert torch.equal(loaded(mix), tiny(mix))


def test_model_args_round_trip():
    model = FLASepReformer(**TINY, attention="softmax", pos_maxlen=50, fla_kernel_size=7)
    again = FLASepReformer(**model.get_model_args())
    assert again.get_model_args() == model.get_model_args()
    assert model.state_dict().keys() == again.state_dict().keys()


# (g) the softmax twin --------------------------------------------------------------------------


def test_softmax_twin_runs():
    torch.manual_seed(0)
    model = FLASepReformer(**TINY, attention="softmax", pos_maxlen=50).eval()
    keys = model.state_dict().keys()
    assert "separator.pos_emb.pe_k.weight" in keys
    assert "separator.enc_stages.0.g_block_1.block.ega.block.self_attn.linear_q.weight" in keys
    assert "separator.dec_stages.1.g_block_3.block.ega.block.linear.1.weight" in keys
    with torch.no_grad():
        est = model(torch.randn(2, 4001))
        _, aux = model.forward_with_aux(torch.randn(1, 4001))
    assert est.shape == (2, 2, 4001) and torch.isfinite(est).all()
    assert [a.shape for a in aux] == [(1, 2, 4001)] * 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="attention"):
        FLASepReformer(attention="linear")
    with pytest.raises(ValueError, match="n_heads"):
        FLASepReformer(feature_dim=60, n_heads=8)


def test_forward_with_aux_takes_any_sample_format():
    torch.manual_seed(0)
    model = FLASepReformer(**TINY).eval()
    mix = 0.3 * torch.randn(2, 3001)
    with torch.no_grad():
        est, aux = model.forward_with_aux(mix)
        est64, aux64 = model.forward_with_aux(mix.double())
        pcm = (mix * 2**15).round().to(torch.int16)
        est16, _ = model.forward_with_aux(pcm)
    assert est64.dtype == torch.float64 and all(a.dtype == torch.float64 for a in aux64)
    torch.testing.assert_close(est64.float(), est)
    torch.testing.assert_close(est16, model(pcm))


def test_unused_reference_position_keys_are_frozen():
    # official_compat keeps pos_emb for the reference's keys; the fla mixers never read it,
    # and a parameter without gradient stops plain DDP at its second step.
    model = FLASepReformer(**TINY, official_compat=True).train()
    est, aux = model.forward_with_aux(torch.randn(2, 3001))
    (est.sum() + sum(a.sum() for a in aux)).backward()
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []
    assert any("pos_emb" in n for n, _ in model.named_parameters())
