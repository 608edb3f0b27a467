"""The configurations the sweep trains (names used by ``train.py --model``)."""

from asteroid_tdanet.models import SeparationModel

SR = 8000
# Asteroid's models on the STFT front end of tdanet-mini (32 ms window, 8 ms hop at 8 kHz).
STFT = dict(fb_name="stft", n_filters=256, kernel_size=256, stride=64)


def build(name):
    from asteroid.models import ConvTasNet, DPRNNTasNet, LSTMTasNet

    def preset(p, **kw):
        return SeparationModel.from_preset(p, sample_rate=SR, n_src=2, **kw)

    builders = {
        "td": lambda: preset("tdanet-mini"),
        "td_big": lambda: preset("tdanet-mini", bn_chan=128, hid_chan=256),
        "s4m": lambda: preset("s4m-mini"),
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
