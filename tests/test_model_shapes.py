"""Input/output shapes and lengths for every model variant."""

import pytest
import torch

from asteroid_tdanet import BLSTMNet, TDANet

VARIANTS = {
    "default": {},
    "compat": dict(official_compat=True),
    "causal": dict(causal=True, norm_type="cLN"),
    "no_ga": dict(use_ga=False),
    "no_la": dict(use_la=False),
    "three_src": dict(n_src=3),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("length", [1, 37, 800, 1601])
def test_output_length_equals_input_length(tiny_args, variant, length):
    model = TDANet(**tiny_args, **VARIANTS[variant]).eval()
    with torch.no_grad():
        out = model(torch.randn(2, length))
    assert out.shape == (2, model.n_src, length)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "shape, expected",
    [((1203,), (2, 1203)), ((3, 1203), (3, 2, 1203)), ((3, 1, 1203), (3, 2, 1203))],
)
def test_1d_2d_3d_inputs(tiny_args, shape, expected):
    model = TDANet(**tiny_args).eval()
    with torch.no_grad():
        assert model(torch.randn(*shape)).shape == expected


def test_multichannel_input_is_rejected(tiny_args):
    with pytest.raises(ValueError, match="single-channel"):
        TDANet(**tiny_args)(torch.randn(1, 2, 800))


def test_causal_needs_causal_norm(tiny_args):
    with pytest.raises(ValueError, match="causal norm"):
        TDANet(**tiny_args, causal=True)
    with pytest.raises(ValueError, match="official_compat"):
        TDANet(**tiny_args, causal=True, norm_type="cLN", official_compat=True)


def test_default_encoder_is_4ms_with_quarter_stride():
    model = TDANet(sample_rate=8000, bn_chan=8, hid_chan=16, n_blocks=1, upsampling_depth=2)
    fb = model.encoder.filterbank
    assert (fb.kernel_size, fb.stride, fb.n_filters) == (32, 8, 17)


def test_presets_build_at_any_rate():
    large = TDANet.from_preset("tdanet-large", sample_rate=8000, n_blocks=1)
    assert (large.encoder.filterbank.kernel_size, large.encoder.filterbank.stride) == (16, 4)
    causal = TDANet.from_preset("tdanet-causal", n_blocks=1)
    assert causal.masker.causal and causal.get_model_args()["norm_type"] == "cLN"
    with pytest.raises(ValueError, match="Unknown preset"):
        TDANet.from_preset("nope")


@pytest.mark.parametrize("length", [1, 37, 800, 1601])
def test_stft_front_end_is_a_fixed_fourier_transform(tiny_args, length):
    model = TDANet(**{**tiny_args, "kernel_size": 64, "stride": 16}, fb_name="stft").eval()
    assert model.masker.in_chan == 64 + 2  # real and imaginary parts of 33 bins
    assert not any(p.requires_grad for p in model.encoder.parameters())
    assert not any(p.requires_grad for p in model.decoder.parameters())
    with torch.no_grad():
        assert model(torch.randn(2, length)).shape == (2, 2, length)
        # a tone at bin 5 of the 64-point DFT: its energy is in bin 5 of both halves
        t = torch.arange(4000, dtype=torch.float32)
        feats = model.forward_encoder(torch.cos(2 * torch.pi * 5 * t / 64)[None, None])
    energy = feats[0, :33].pow(2).sum(-1) + feats[0, 33:].pow(2).sum(-1)
    assert energy.argmax() == 5 and energy[4:7].sum() > 0.99 * energy.sum()  # window main lobe


def test_preset_hop_in_milliseconds_follows_the_rate():
    """A preset's ``stride_ms`` is a hop in time at any sample rate; a hop or window given in
    samples wins over the preset's milliseconds."""
    from asteroid_tdanet.models.presets import preset_args

    for rate, (kernel, hop) in {8000: (512, 256), 16000: (1024, 512)}.items():
        model = BLSTMNet.from_preset("blstm-mini", sample_rate=rate)
        fb = model.encoder.filterbank
        assert (fb.kernel_size, fb.stride) == (kernel, hop)  # 64 ms window, 32 ms hop
    assert preset_args("blstm-mini", stride=128)["stride"] == 128
    assert preset_args("blstm-mini", sample_rate=16000, kernel_size=256)["kernel_size"] == 256
    assert preset_args("blstm-mini", sample_rate=16000, kernel_size=256)["stride"] == 512
    with pytest.raises(ValueError, match="Invalid encoder: kernel_size=256, stride=512"):
        BLSTMNet.from_preset("blstm-mini", sample_rate=16000, kernel_size=256)


def test_stft_front_end_options(tiny_args):
    mini = TDANet.from_preset("tdanet-mini", sample_rate=16000)
    fb = mini.encoder.filterbank
    assert (mini.fb_name, fb.kernel_size, fb.stride, fb.n_filters) == ("stft", 1024, 256, 1024)
    assert mini.masker.in_chan == 513  # magnitude masks: one per bin of the 1024-point FFT
    args = TDANet.from_pretrained(mini.serialize()).get_model_args()
    assert (args["fb_name"], args["mask_domain"]) == ("stft", "magnitude")
    with pytest.raises(ValueError, match="official_compat excludes fb_name='stft'"):
        TDANet(**tiny_args, fb_name="stft", official_compat=True)
    with pytest.raises(
        ValueError, match=r"Unknown fb_name 'mel'; choose one of \['free', 'stft'\]"
    ):
        TDANet(**tiny_args, fb_name="mel")


@pytest.mark.slow
def test_full_size_parameter_count_and_forward():
    model = TDANet().eval()  # the paper's configuration
    n_params = sum(p.numel() for p in model.parameters())
    assert 2.30e6 <= n_params <= 2.40e6
    compat = TDANet(official_compat=True)
    # The released 4 ms model has exactly this many parameters.
    assert sum(p.numel() for p in compat.parameters()) == 2_353_479
    with torch.no_grad():
        assert model(torch.randn(1, 4000)).shape == (1, 2, 4000)
