"""The configurations the sweep trains (names used by ``train.py --model``).

A library module, imported by ``train.py`` and ``score_csv.py``; it is not run on its own.
"""

import torch
from torch import nn

from asteroid_tdanet.models import PRESETS, SeparationModel
from asteroid_tdanet.models.mask_domains import MagnitudeMasks

SR = 8000
# Asteroid's models on the STFT front end of the first tdanet-mini (32 ms window, 8 ms hop at
# 8 kHz).
STFT = dict(fb_name="stft", n_filters=256, kernel_size=256, stride=64)
# tdanet-mini as it was until 2026-11-26 (s4m-mini still is): coefficient masks, 32 ms window.
OLD_MINI = dict(kernel_ms=32.0, mask_domain="coefficients")


class MagnitudeMask(nn.Module):
    """An Asteroid masker (``(batch, F, frames) -> (batch, n_src, F, frames)``) on the
    package's magnitude mask domain (log-magnitude in, one mask per bin) of an STFT of
    ``n_fft`` points and hop ``hop``: what ``mask_domain="magnitude"`` gives TDANet and S4M,
    for models that lack the option (Conv-TasNet)."""

    def __init__(self, masker, n_fft=256, hop=64):
        super().__init__()
        from asteroid_filterbanks import Decoder, Encoder, STFTFB

        self.enc = Encoder(STFTFB(n_fft, n_fft, hop, sample_rate=SR))
        self.dec = Decoder(STFTFB(n_fft, n_fft, hop, sample_rate=SR))
        self.masker, self.pad = masker, n_fft - hop

    def forward(self, wav):
        n = wav.shape[-1]
        spec = self.enc(torch.nn.functional.pad(wav, (self.pad, self.pad))[:, None])
        est = MagnitudeMasks.apply(spec, self.masker(MagnitudeMasks.features(spec)))
        return self.dec(est)[..., self.pad : self.pad + n]


def _mag_ctn(n_fft=256, hop=64):
    from asteroid.masknn import TDConvNet

    bins = n_fft // 2 + 1
    # The masker sizes of the convtasnet-mini preset (its encoder replaced by the STFT).
    sizes = {k: v for k, v in PRESETS["convtasnet-mini"].items() if k not in ("model", "n_filters")}
    masker = TDConvNet(bins, 2, out_chan=bins, mask_act="sigmoid", **sizes)
    return MagnitudeMask(masker, n_fft=n_fft, hop=hop)


def _mag_lstm(hidden=128, layers=2):
    """uPIT-BLSTM on the 64 ms / 16 ms STFT (the package's ``BLSTMNet`` is the same model)."""
    from asteroid_tdanet.masknn.blstm_masker import BLSTMMasker

    return MagnitudeMask(BLSTMMasker(257, 2, hidden=hidden, n_layers=layers), n_fft=512, hop=128)


def build(name):
    from asteroid.models import ConvTasNet, DPRNNTasNet, LSTMTasNet

    def preset(p, **kw):
        return SeparationModel.from_preset(p, sample_rate=SR, n_src=2, **kw)

    builders = {
        "td": lambda: preset("tdanet-mini", **OLD_MINI),
        "td_big": lambda: preset("tdanet-mini", bn_chan=128, hid_chan=256, **OLD_MINI),
        # coarser frames, coefficient masks: 64 ms window, 32 ms hop
        "td_w64h32": lambda: preset("tdanet-mini", stride=256, **dict(OLD_MINI, kernel_ms=64.0)),
        # magnitude masks (mask_domain="magnitude"); mag_td_w64h16 is today's tdanet-mini
        "mag_td": lambda: preset("tdanet-mini", kernel_ms=32.0),
        "mag_td_w64h16": lambda: preset("tdanet-mini"),
        "mag_td_w64h8": lambda: preset("tdanet-mini", stride=64),
        "mag_td_w128h32": lambda: preset("tdanet-mini", kernel_ms=128.0),
        "mag_ctn": lambda: _mag_ctn(),
        "mag_ctn_w64h16": lambda: _mag_ctn(n_fft=512, hop=128),
        # uPIT-BLSTM masks (BLSTMNet): 2 x 128, 2 x 96, 2 x 64, 1 x 128, 3 x 128, 1 x 96, 1 x 192, 1 x 256
        "mag_lstm": lambda: _mag_lstm(),
        "mag_lstm96": lambda: _mag_lstm(hidden=96),
        "mag_lstm64": lambda: _mag_lstm(hidden=64),
        "mag_lstm1": lambda: _mag_lstm(layers=1),
        "mag_lstm3": lambda: _mag_lstm(layers=3),
        "mag_lstm1x96": lambda: _mag_lstm(hidden=96, layers=1),
        "mag_lstm1x192": lambda: _mag_lstm(hidden=192, layers=1),
        "mag_lstm1x256": lambda: _mag_lstm(hidden=256, layers=1),
        "s4m": lambda: preset("s4m-mini", **OLD_MINI),
        "ctn": lambda: preset("convtasnet-mini", **STFT),
        "ctn_sig": lambda: preset("convtasnet-mini", mask_act="sigmoid", **STFT),
        "ctn_deep": lambda: ConvTasNet(
            n_src=2,
            sample_rate=SR,
            bn_chan=64,
            hid_chan=128,
            skip_chan=64,
            n_blocks=6,
            n_repeats=3,
            **STFT,
        ),
        "lstm": lambda: LSTMTasNet(
            n_src=2, sample_rate=SR, hid_size=128, n_layers=2, dropout=0.0, **STFT
        ),
        "lstm_small": lambda: LSTMTasNet(
            n_src=2, sample_rate=SR, hid_size=96, n_layers=2, dropout=0.0, **STFT
        ),
        "dprnn": lambda: DPRNNTasNet(
            n_src=2, sample_rate=SR, bn_chan=64, hid_size=64, chunk_size=50, n_repeats=3, **STFT
        ),
    }
    if name not in builders:
        raise ValueError(f"Unknown sweep model {name!r}; choose one of {sorted(builders)}.")
    return builders[name]()
