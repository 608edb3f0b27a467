"""A speaker's typical pitch, for pairing voices by pitch in dynamic mixing.

:func:`median_f0` is a plain autocorrelation pitch estimate: 64 ms frames (at 8 kHz) every
16 ms, the lag of the largest normalised autocorrelation between the periods of ``fmax`` and
``fmin``; frames count as voiced where that peak exceeds ``voicing`` and the frame's energy is
above a tenth of the loudest frame's. The median over voiced frames is robust to the octave
errors of single frames, which is all a speaker-level figure needs.
"""

import numpy as np


def median_f0(
    audio: np.ndarray,
    sample_rate: int,
    *,
    fmin: float = 60.0,
    fmax: float = 400.0,
    voicing: float = 0.5,
) -> float:
    """Median fundamental frequency (Hz) of the voiced frames of ``audio`` ``(time,)``, or
    ``nan`` when no frame is voiced."""
    frame = int(round(0.064 * sample_rate))
    hop = frame // 4
    lo, hi = int(sample_rate // fmax), int(np.ceil(sample_rate / fmin))
    if len(audio) < frame or hi >= frame:
        return float("nan")
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(audio, np.float64), frame)
    frames = frames[::hop] - frames[::hop].mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames, 2 * frame, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, : hi + 1]
    energy = acf[:, 0]
    nacf = acf[:, lo : hi + 1] / (energy[:, None] + 1e-12)
    voiced = (nacf.max(axis=1) > voicing) & (energy > 0.1 * energy.max())
    if not voiced.any():
        return float("nan")
    lags = nacf[voiced].argmax(axis=1) + lo
    return float(np.median(sample_rate / lags))
