"""Named TDANet configurations.

Each preset is a dict of :class:`~asteroid_tdanet.models.TDANet` arguments, except that the
encoder window may be given in milliseconds (``kernel_ms``, ``stride_ms``) so that a preset
works at any sample rate.
"""

from typing import Dict

from .tdanet import kernel_from_ms

PRESETS: Dict[str, dict] = {
    # The paper's model (4 ms window, 1 ms hop), as released (TDANetBest-4ms).
    "tdanet": dict(kernel_ms=4.0),
    # TDANet-Large: 2 ms window, 0.5 ms hop (twice the frames, about twice the MACs).
    "tdanet-large": dict(kernel_ms=2.0),
    # Paper appendix D: causal convolutions/pooling/attention, frame-wise norm, no look-ahead
    # beyond one encoder window.
    "tdanet-causal": dict(kernel_ms=4.0, causal=True, norm_type="cLN"),
    # Small model for CPU demos and the embedded mini recipe.
    "tdanet-mini": dict(
        kernel_ms=4.0, bn_chan=64, hid_chan=128, n_blocks=4, upsampling_depth=4, n_heads=4
    ),
}


def preset_args(name: str, sample_rate: float = 16000, **overrides) -> dict:
    """Return TDANet arguments for preset ``name`` at ``sample_rate``, with ``overrides``."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(PRESETS)}.")
    args = {**PRESETS[name], **overrides}
    kernel_ms = args.pop("kernel_ms", None)
    if kernel_ms is not None and "kernel_size" not in args:
        args["kernel_size"] = kernel_from_ms(kernel_ms, sample_rate)
    return dict(sample_rate=sample_rate, **args)
