"""BLSTMNet (uPIT-BLSTM): the masker against a per-frame computation written here, causality
(with the guard that the bidirectional model fails it), and the magnitude masks' action."""

import pytest
import torch
from torch import nn

from asteroid_tdanet import BLSTMNet, TDANet, load_model
from asteroid_tdanet.masknn.blstm_masker import BLSTMMasker


def _lstm_layer(x, cell):
    """One direction of an LSTM layer as the explicit recurrence, frame by frame
    (``x``: ``(frames, in)``; ``cell``: an ``nn.LSTMCell`` holding the layer's weights)."""
    h = torch.zeros(1, cell.hidden_size)
    c = torch.zeros(1, cell.hidden_size)
    out = []
    for frame in x:
        h, c = cell(frame[None], (h, c))
        out.append(h[0])
    return torch.stack(out)


def _cell(lstm, layer, suffix=""):
    cell = nn.LSTMCell(getattr(lstm, f"weight_ih_l{layer}{suffix}").shape[1], lstm.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data.copy_(getattr(lstm, f"{name}_l{layer}{suffix}"))
    return cell


@pytest.mark.parametrize("causal", [False, True])
def test_masker_is_the_stacked_recurrence(causal):
    torch.manual_seed(0)
    masker = BLSTMMasker(6, 2, hidden=5, n_layers=2, causal=causal).eval()
    feats = torch.randn(1, 6, 9)
    with torch.no_grad():
        x = masker.norm(feats)[0].T  # (frames, F)
        for layer in range(2):
            fwd = _lstm_layer(x, _cell(masker.rnn, layer))
            if causal:
                x = fwd
            else:
                bwd = _lstm_layer(x.flip(0), _cell(masker.rnn, layer, "_reverse")).flip(0)
                x = torch.cat([fwd, bwd], dim=1)
        expected = torch.sigmoid(masker.out(x)).reshape(9, 2, 6).permute(1, 2, 0)
        torch.testing.assert_close(masker(feats)[0], expected, rtol=1e-5, atol=1e-6)


def _changed_before(model, cut):
    """Largest output change before sample ``cut`` when the input changes from ``cut`` on."""
    torch.manual_seed(1)
    x = torch.randn(1, 4000)
    y = x.clone()
    y[:, cut:] += torch.randn(1, 4000 - cut)
    with torch.no_grad():
        return (model(x) - model(y))[..., : cut - model.encoder.filterbank.kernel_size].abs().max()


def test_causal_model_does_not_see_the_future():
    model = BLSTMNet(hidden=8, kernel_size=64, causal=True).eval()
    assert _changed_before(model, 3000) == 0
    # The guard: the bidirectional model's past outputs do change.
    assert _changed_before(BLSTMNet(hidden=8, kernel_size=64).eval(), 3000) > 1e-4
    with pytest.raises(ValueError, match="causal norm"):
        BLSTMNet(causal=True, norm_type="gLN")


def test_magnitude_masks_scale_each_bin_with_the_mixture_phase():
    model = BLSTMNet(hidden=8, kernel_size=64).eval()
    x = torch.randn(1, 1, 2000)
    tf = model.forward_encoder(x)
    masks = model.forward_masker(tf)
    assert masks.shape == (1, 2, 33, tf.shape[-1])  # 64-point FFT: 33 bins
    assert masks.min() >= 0 and masks.max() <= 1
    masked = model.apply_masks(tf, masks)
    re, im = tf.chunk(2, dim=1)
    torch.testing.assert_close(masked[:, :, :33], masks * re[:, None])
    torch.testing.assert_close(masked[:, :, 33:], masks * im[:, None])


def _through_unit_masks(stride, x):
    model = BLSTMNet(hidden=8, kernel_size=64, stride=stride).eval()
    tf = model.forward_encoder(nn.functional.pad(x, (64, 64)))
    ones = torch.ones(1, 2, 33, tf.shape[-1])
    return model.forward_decoder(model.apply_masks(tf, ones))[..., 64 : 64 + x.shape[-1]]


@pytest.mark.parametrize("stride", [16, 32])  # the 64-point window's default hop, and half
def test_unit_masks_give_back_the_input_at_either_hop(stride):
    """The STFT front end reconstructs exactly with the window hopping a quarter (the class
    default) or half of it (``blstm-mini``'s hop): masks of one return the input."""
    x = torch.randn(1, 1, 2000)
    out = _through_unit_masks(stride, x)
    torch.testing.assert_close(out, x.expand(1, 2, 2000), atol=1e-5, rtol=1e-5)
    # The guard: a hop of three quarters of the window does not overlap-add to a constant.
    assert (_through_unit_masks(48, x) - x).abs().max() > 0.1


@pytest.mark.parametrize(
    "sample_rate, window", [(8000, 512), (16000, 1024), (22050, 1412), (44100, 2822)]
)
def test_every_sample_rate_builds_and_round_trips(sample_rate, window, tmp_path):
    # 64 ms is 1,411.2 samples at 22.05 kHz: the default window is rounded up to an even
    # length (the STFT's FFT size must be even); at 8 and 16 kHz it is what it always was.
    model = BLSTMNet(sample_rate=sample_rate, hidden=8, n_layers=1).eval()
    fb = model.encoder.filterbank
    assert (fb.kernel_size, fb.n_filters, fb.stride) == (window, window, window // 4)
    torch.save(model.serialize(), tmp_path / "m.pth")
    loaded = load_model(str(tmp_path / "m.pth"))
    assert loaded.get_model_args() == model.get_model_args()
    x = torch.randn(1, sample_rate // 4)
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(loaded(x), out)
    assert out.shape == (1, 2, sample_rate // 4)


def test_an_odd_stft_window_gets_an_even_fft_size():
    # tdanet-mini's 64 ms at 22.05 kHz is given in samples (1,411): one sample of padding.
    model = TDANet.from_preset("tdanet-mini", sample_rate=22050)
    fb = model.encoder.filterbank
    assert (fb.kernel_size, fb.n_filters) == (1411, 1412)
    assert (
        BLSTMNet(sample_rate=22050, kernel_size=705, hidden=8).encoder.filterbank.n_filters == 706
    )
