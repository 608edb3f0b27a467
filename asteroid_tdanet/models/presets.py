"""Named configurations of the package's models and of Asteroid's models used in comparisons.

Each preset is a dict of constructor arguments plus ``model`` (the class it builds: one of
ours or any model registered with ``asteroid.models``). The ``-mini`` presets are sized to
train on a CPU in minutes (150k-240k parameters) for the mini recipe and the equal-budget
comparison. The
encoder window and hop may be given in milliseconds (``kernel_ms``, ``stride_ms``) so that a
preset works at any sample rate; ``sample_rate`` in a preset is its default rate (16 kHz
otherwise).
"""

from typing import Dict, Optional

DEFAULT_SAMPLE_RATE = 16000

PRESETS: Dict[str, dict] = {
    # The paper's model (4 ms window, 1 ms hop), as released (TDANetBest-4ms).
    "tdanet": dict(model="TDANet", kernel_ms=4.0),
    # TDANet-Large: 2 ms window, 0.5 ms hop (twice the frames, about twice the MACs).
    "tdanet-large": dict(model="TDANet", kernel_ms=2.0),
    # Paper appendix D: causal convolutions/pooling/attention, frame-wise norm, no look-ahead
    # beyond one encoder window.
    "tdanet-causal": dict(model="TDANet", kernel_ms=4.0, causal=True, norm_type="cLN"),
    # Small model for CPU demos and the embedded mini recipe: magnitude masks on a fixed STFT
    # (64 ms window, 16 ms hop), which learns several times faster on a CPU than the 4 ms free
    # encoder (benchmarks/mini_budget_sweep: 32 ms / 8 ms coefficient masks 1.52 dB, 32 ms
    # magnitude 1.95, 64 ms magnitude 2.37 dB on real speech after the same 10.5 minutes).
    "tdanet-mini": dict(
        model="TDANet",
        fb_name="stft",
        mask_domain="magnitude",
        kernel_ms=64.0,
        mask_act="sigmoid",
        bn_chan=64,
        hid_chan=128,
        n_blocks=4,
        upsampling_depth=4,
        ga_mixer_args={"n_heads": 4},
        dropout=0.0,  # a small model trained for minutes underfits; regularising hurts
        drop_path=0.0,
    ),
    # The reference S4M file's defaults (JusperLee/S4M: 16 kHz, 21 ms window).
    "s4m": dict(model="S4M", sample_rate=16000, kernel_ms=21.0),
    # The paper's S4M-tiny (8 kHz, 4 ms window; 1,828,967 parameters in the reference).
    "s4m-tiny": dict(model="S4M", sample_rate=8000, kernel_ms=4.0),
    # Small S4M for CPU demos and the embedded mini recipe.
    "s4m-mini": dict(
        model="S4M",
        sample_rate=8000,
        # An STFT front end with a 32 ms window masking real and imaginary parts: tdanet-mini's
        # magnitude masks on a 64 ms window made S4M worse in a 7-minute compare.sh run (mini
        # test split 2.26 -> 1.84 dB, real speech 1.20 -> 0.37 dB).
        fb_name="stft",
        mask_domain="coefficients",
        kernel_ms=32.0,
        mask_act="sigmoid",
        bn_chan=64,
        hid_chan=128,
        n_blocks=4,
    ),
    # FLA-SepReformer (FLASepformer, Interspeech 2025): SepReformer-T / -B / -L (F = 64, 128,
    # 256) with every global block's attention replaced by gated focused linear attention at
    # full stage resolution (attention="softmax": the original SepReformer). -B: 14,629,696
    # parameters with the auxiliary heads (the reference's 14,693,696 less its unused
    # relative-position table, kept only with official_compat), 14,085,952 without.
    "fla-sepreformer-t": dict(model="FLASepReformer", sample_rate=8000, feature_dim=64),
    "fla-sepreformer-b": dict(model="FLASepReformer", sample_rate=8000, feature_dim=128),
    "fla-sepreformer-l": dict(model="FLASepReformer", sample_rate=8000, feature_dim=256),
    # Small FLA-SepReformer for CPU demos and the mini recipe (the fixture's sizes).
    "fla-sepreformer-mini": dict(
        model="FLASepReformer",
        sample_rate=8000,
        enc_channels=64,
        feature_dim=32,
        n_stages=2,
        n_heads=4,
    ),
    # FLA-TFLocoformer (FLASepformer, Interspeech 2025): TF-Locoformer-M / -L with the time
    # path's attention replaced by gated focused linear attention (attention="softmax": the
    # original TF-Locoformer of the same size). 15,080,468 / 22,617,044 parameters.
    "fla-tflocoformer-m": dict(model="FLATFLocoformer", sample_rate=8000, n_layers=6),
    "fla-tflocoformer-l": dict(model="FLATFLocoformer", sample_rate=8000, n_layers=9),
    # Small FLA-TFLocoformer for CPU demos and the mini recipe.
    "fla-tflocoformer-mini": dict(
        model="FLATFLocoformer",
        sample_rate=8000,
        n_layers=2,
        emb_dim=32,
        attention_dim=32,
        n_heads=2,
        ffn_hidden_dim=64,
    ),
    # Mel-Band RoFormer (vocals, stereo, 44.1 kHz). -wsa: the released mbr-win10-sink8 (windowed
    # sink attention in time: +-5 frames and 8 sinks; 228,387,172 parameters); -full: the
    # Mel-Band RoFormer with full time attention and no sinks (the distillation teacher).
    "mel-band-roformer-wsa": dict(model="MelBandRoformer", sample_rate=44100),
    "mel-band-roformer-full": dict(
        model="MelBandRoformer", sample_rate=44100, time_attention="full", sinks=0
    ),
    # Small Mel-Band RoFormer for CPU training (the musdb18 mini recipe): 267,244 parameters.
    "mel-band-roformer-mini": dict(
        model="MelBandRoformer",
        sample_rate=44100,
        dim=32,
        depth=2,
        num_bands=16,
        heads=4,
        dim_head=8,
        stft_n_fft=512,
        stft_hop_length=128,
        sinks=4,
        mlp_expansion_factor=1,
    ),
    # uPIT-BLSTM (Kolbaek et al. 2017) on 64 ms STFT magnitudes: 3 x 512 as in the paper, and
    # one bidirectional layer of 128 for CPU demos: it scored best of eight LSTM sizes and
    # TDANet-mini on real speech in the mini recipe's 10.5 CPU minutes (benchmarks/
    # mini_budget_sweep, follow-up 3). Its 32 ms hop (half the frames of the 16 ms default)
    # fits ~19,000 steps instead of ~13,000 there, and scored higher (README, the mini set).
    "blstm": dict(model="BLSTMNet", sample_rate=8000, hidden=512, n_layers=3),
    "blstm-mini": dict(model="BLSTMNet", sample_rate=8000, hidden=128, n_layers=1, stride_ms=32.0),
    # Asteroid's models: their own defaults (the papers' configurations) and a mini size.
    # Conv-TasNet (Luo & Mesgarani 2019): N=512, L=16, B=128, H=512, P=3, X=8, R=3.
    "convtasnet": dict(model="ConvTasNet"),
    "convtasnet-mini": dict(
        model="ConvTasNet",
        n_filters=128,
        bn_chan=64,
        hid_chan=128,
        skip_chan=64,
        n_blocks=4,
        n_repeats=2,
    ),
    # SuDoRM-RF (Tzinis et al. 2020), Asteroid's defaults.
    "sudormrfnet": dict(model="SuDORMRFNet"),
    "sudormrfnet-mini": dict(
        model="SuDORMRFNet",
        n_filters=128,
        in_chan=128,
        bn_chan=64,
        num_blocks=8,
        upsampling_depth=4,
    ),
    # DPRNN-TasNet (Luo et al. 2020), Asteroid's defaults.
    "dprnntasnet": dict(model="DPRNNTasNet"),
    "dprnntasnet-mini": dict(
        model="DPRNNTasNet", n_filters=64, bn_chan=64, hid_size=32, n_repeats=3
    ),
}


def kernel_from_ms(kernel_ms: float, sample_rate: float) -> int:
    """Encoder window (or hop) in samples for one in milliseconds (the released rounding)."""
    return int(kernel_ms * sample_rate // 1000)


def _preset(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


def preset_model(name: str) -> str:
    """Name of the model class preset ``name`` builds."""
    return _preset(name)["model"]


def preset_args(name: str, sample_rate: Optional[float] = None, **overrides) -> dict:
    """Constructor arguments of preset ``name`` at ``sample_rate``, with ``overrides``."""
    args = {k: v for k, v in _preset(name).items() if k != "model"}
    sample_rate = sample_rate or args.pop("sample_rate", DEFAULT_SAMPLE_RATE)
    args.pop("sample_rate", None)
    overrides = dict(overrides)
    if "ga_mixer_args" in args:
        # A preset's mixer arguments are for its mixer: kept (and merged with overridden ones,
        # including the ``n_heads`` shorthand) unless the override picks another mixer.
        mixers = {overrides.get("ga_mixer") or "mhsa", args.get("ga_mixer") or "mhsa"}
        if len(mixers) == 1 or mixers <= {"mhsa", "mhsa-frame-local"}:
            merged = {**args["ga_mixer_args"], **(overrides.pop("ga_mixer_args", None) or {})}
            if overrides.get("n_heads") is not None:
                merged["n_heads"] = overrides.pop("n_heads")
            args["ga_mixer_args"] = merged
        else:
            del args["ga_mixer_args"]
    args.update(overrides)
    # A window / hop in samples (an override) wins over the preset's in milliseconds.
    for key, ms_key in (("kernel_size", "kernel_ms"), ("stride", "stride_ms")):
        ms = args.pop(ms_key, None)
        if ms is not None and key not in args:
            args[key] = kernel_from_ms(ms, sample_rate)
    return dict(sample_rate=sample_rate, **args)
