"""LibriMix-style mixing: random loudness (LUFS) per source and noise, min mode, no clipping.

Follows the LibriMix generator (Cosentino et al., 2020): each speech source is normalised to a
loudness drawn uniformly in [-33, -25] LUFS and the noise in [-38, -30] LUFS (ITU-R BS.1770
via pyloudnorm); in "min" mode every signal is cut to the shortest source; when the noisy
mixture would clip (peak > 0.9) all signals are scaled down together, so sources still sum to
the mixtures.
"""

from typing import List, Optional, Tuple

import numpy as np
import pyloudnorm

SPEECH_LUFS = (-33.0, -25.0)
NOISE_LUFS = (-38.0, -30.0)
MAX_PEAK = 0.9
# pyloudnorm needs at least one 400 ms gating block.
MIN_LOUDNESS_SECONDS = 0.4


class LoudnessError(ValueError):
    """A signal whose loudness cannot be set (silent, or shorter than one gating block): the
    mixture is skipped. Its own class so that callers skip these and nothing else (a wrongly
    shaped signal is a bug in the input, not silence)."""


def loudness(signal: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of a 1D signal (``-inf`` for silence)."""
    if len(signal) < MIN_LOUDNESS_SECONDS * sample_rate:
        raise LoudnessError(f"Signal of {len(signal)} samples is too short to measure loudness.")
    with np.errstate(divide="ignore"):
        return pyloudnorm.Meter(sample_rate).integrated_loudness(signal.astype(np.float64))


def gain_to(signal: np.ndarray, sample_rate: int, target_lufs: float) -> float:
    """Linear gain that brings ``signal`` to ``target_lufs``."""
    current = loudness(signal, sample_rate)
    if not np.isfinite(current):
        raise LoudnessError("Cannot normalise a silent signal.")
    return float(10 ** ((target_lufs - current) / 20))


def mix_min(
    sources: List[np.ndarray],
    sample_rate: int,
    rng: np.random.Generator,
    noise: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray], np.ndarray]:
    """Mix 1D ``sources`` (and optional ``noise``, at least as long) the LibriMix way.

    Returns:
        ``(mix_clean (time,), scaled_sources (n_src, time), scaled_noise (time,) or None,
        mix_both (time,))`` with ``time`` the shortest source length.
    """
    length = min(len(s) for s in sources)
    cut = [s[:length] for s in sources]
    gains = [gain_to(s, sample_rate, rng.uniform(*SPEECH_LUFS)) for s in cut]
    scaled = np.stack([g * s for g, s in zip(gains, cut)])
    scaled_noise = None
    if noise is not None:
        if len(noise) < length:
            raise ValueError(f"Noise of {len(noise)} samples is shorter than the mixture.")
        noise = noise[:length]
        scaled_noise = gain_to(noise, sample_rate, rng.uniform(*NOISE_LUFS)) * noise
    mix_clean = scaled.sum(0)
    mix_both = mix_clean if scaled_noise is None else mix_clean + scaled_noise
    peak = max(np.abs(mix_both).max(), np.abs(mix_clean).max(), np.abs(scaled).max())
    if peak > MAX_PEAK:
        # One factor for everything keeps mix == sum(sources) [+ noise].
        factor = MAX_PEAK / peak
        scaled, mix_clean, mix_both = scaled * factor, mix_clean * factor, mix_both * factor
        scaled_noise = None if scaled_noise is None else scaled_noise * factor
    return mix_clean, scaled, scaled_noise, mix_both
