"""Mel-band split of STFT bins (Mel-Band RoFormer, Wang et al. 2023; lucidrains' BS-RoFormer
``mel_band_roformer.py`` as vendored by the windowed-roformer reference).

Band ``b`` holds bin ``f`` iff ``librosa.filters.mel(sr, n_fft, n_mels=num_bands)[b, f] > 0``
(librosa's defaults: Slaney mel scale, ``norm="slaney"``, ``fmin=0``, ``fmax=sr/2``), with
entries ``[0, 0]`` and ``[-1, -1]`` forced to 1 so that the DC bin belongs to the first band and
the Nyquist bin to the last. Consecutive bands overlap; every bin is in one or two bands.
The filterbank is recomputed here with librosa's own numpy operations (float64 ramps, the
same ``linspace`` / ``log`` / ``exp``), so no librosa dependency is needed and the supports
are the reference's exactly.
"""

from typing import List, Tuple

import numpy as np
import torch

# Slaney mel scale (librosa ``hz_to_mel`` / ``mel_to_hz`` with ``htk=False``).
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies) -> np.ndarray:
    """librosa ``hz_to_mel(f, htk=False)``: linear below 1 kHz, logarithmic above."""
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    mels = frequencies / _F_SP
    if frequencies.ndim:
        log_t = frequencies >= _MIN_LOG_HZ
        mels[log_t] = _MIN_LOG_MEL + np.log(frequencies[log_t] / _MIN_LOG_HZ) / _LOGSTEP
    elif frequencies >= _MIN_LOG_HZ:
        mels = _MIN_LOG_MEL + np.log(frequencies / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels) -> np.ndarray:
    """librosa ``mel_to_hz(m, htk=False)``."""
    mels = np.asanyarray(mels, dtype=np.float64)
    freqs = _F_SP * mels
    if mels.ndim:
        log_t = mels >= _MIN_LOG_MEL
        freqs[log_t] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_t] - _MIN_LOG_MEL))
    elif mels >= _MIN_LOG_MEL:
        freqs = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels - _MIN_LOG_MEL))
    return freqs


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int) -> np.ndarray:
    """``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)`` (defaults: fmin 0,
    fmax ``sr / 2``, Slaney scale and norm, float32): ``(n_mels, n_fft // 2 + 1)``."""
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(float(sample_rate) / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def mel_band_membership(sample_rate: float, n_fft: int, num_bands: int) -> torch.Tensor:
    """Boolean ``(num_bands, n_fft // 2 + 1)``: True where the band holds the bin (the
    reference's ``freqs_per_band``). Raises ``ValueError`` if a bin is in no band."""
    fb = torch.from_numpy(mel_filterbank(sample_rate, n_fft, num_bands)).to("cpu")
    fb[0, 0] = 1.0
    fb[-1, -1] = 1.0
    member = fb > 0
    if not member.any(dim=0).all():
        missing = (~member.any(dim=0)).nonzero().flatten().tolist()
        raise ValueError(
            f"{num_bands} mel bands at {sample_rate} Hz, n_fft {n_fft} leave bins {missing[:8]} "
            "uncovered: use fewer bands or a larger n_fft."
        )
    return member


def band_ranges(member: torch.Tensor) -> List[Tuple[int, int]]:
    """Inclusive ``(first, last)`` bin of each band (the bands are contiguous)."""
    ranges = []
    for row in member:
        bins = row.nonzero().flatten()
        ranges.append((int(bins[0]), int(bins[-1])))
    return ranges


def band_freq_indices(member: torch.Tensor, channels: int = 2) -> torch.Tensor:
    """Rows of the ``(bins * channels)`` frequency axis (row ``channels * f + c``: bin ``f``,
    channel ``c``) that the bands read, band after band, bins ascending, channels innermost:
    the reference's ``freq_indices`` (length ``channels * member.sum()``)."""
    device = member.device  # explicit: also right under a ``torch.device("meta")`` context
    bins = torch.arange(member.shape[1], device=device).expand_as(member)[member]
    return (bins[:, None] * channels + torch.arange(channels, device=device)).flatten()


def bands_per_freq(member: torch.Tensor) -> torch.Tensor:
    """Number of bands holding each bin (1 or 2): the divisor of the mask averaging."""
    return member.sum(dim=0)


def freqs_per_band(member: torch.Tensor) -> List[int]:
    """Number of bins of each band."""
    return member.sum(dim=1).tolist()
