"""SepReformer's multi-stage training objective (Shin et al., NeurIPS 2024), reused for
FLA-SepReformer:

    L = (1 - a) PIT-SISNR_time(final) + a mean_i PIT-SISNR_mag(aux_i),

averaged over the sources (the reference sums over the ``S`` sources and divides by ``S``)
and the batch, with the aux weight ``a`` of :func:`aux_loss_weight`. As the reference's
``criterions.py`` (``PIT_SISNR_time``, ``PIT_SISNR_mag``, ``scale_inv: true``):

* ``SISNR_time``: negative zero-mean SI-SNR of the waveforms, clamped at >= -30 dB per
  utterance and source (an estimate better than 30 dB gives no gradient).
* ``SISNR_mag``: the waveforms' means removed, the target scaled by the *waveform*
  projection ``clamp(<e, s> / |s|^2, min=1e-2)``, then the negative SNR of the STFT
  magnitudes, ``-20 log10(|S| / |E - S|)`` (Frobenius norms over bins and frames; no clamp).
  An estimate of the wrong sign or phase has a small projection and scores badly, as in the
  reference. The STFT is the reference's: frames of 512 with hop 128, the signal zero-padded
  at the end to a whole number of hops (no centring), a Hann window times ``sqrt(2/3)``,
  DFT scaled by ``1 / (0.5 sqrt(512^2 / 128))``, magnitude ``sqrt(re^2 + im^2 + 1e-10)``.
* The permutation minimises each loss on its own (Asteroid's
  :class:`~asteroid.losses.PITLossWrapper` on the pairwise matrix), as the reference's
  separate PIT calls do.
"""

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from asteroid.losses import PITLossWrapper

EPS = 1e-8  # the reference's PIT_SISNR_time
MAG_EPS = 1e-12  # its PIT_SISNR_mag
CLAMP_DB = -30.0
STFT_FRAME, STFT_HOP = 512, 128


def aux_loss_weight(epoch: int) -> float:
    """``a`` = 0.4 up to epoch 100, then ``0.4 * 0.8^(1 + floor((epoch - 101) / 5))``."""
    if epoch <= 100:
        return 0.4
    return 0.4 * 0.8 ** (1 + (epoch - 101) // 5)


def pairwise_neg_sisnr_time(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Pairwise negative zero-mean SI-SNR of waveforms clamped at ``CLAMP_DB``: ``(batch, S,
    time)`` x2 -> ``(batch, S_est, S_tgt)`` (``[:, i, j]`` = loss of estimate ``i`` against
    target ``j``, as Asteroid's pairwise losses)."""
    e, t = _pairs(est, tgt)
    s_tgt = _projection(e, t, EPS) * t
    sisnr = 20 * torch.log10(s_tgt.norm(dim=-1) / ((e - s_tgt).norm(dim=-1) + EPS) + EPS)
    return (-sisnr).clamp(min=CLAMP_DB)


def pairwise_neg_sisnr_mag(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Pairwise ``PIT_SISNR_mag`` of the reference (module docstring): waveforms ``(batch,
    S, time)`` x2 -> ``(batch, S_est, S_tgt)``."""
    e, t = _pairs(est, tgt)
    scaled = _projection(e, t, MAG_EPS).clamp(min=1e-2) * t  # (B, S_est, S_tgt, T)
    mag_e, mag_t = stft_magnitude(e), stft_magnitude(scaled)  # each estimate's STFT once
    ratio = mag_t.flatten(-2).norm(dim=-1) / ((mag_e - mag_t).flatten(-2).norm(dim=-1) + MAG_EPS)
    return -20 * torch.log10(MAG_EPS + ratio)


def _pairs(est: torch.Tensor, tgt: torch.Tensor):
    """Zero-mean estimates ``(B, S_est, 1, T)`` and targets ``(B, 1, S_tgt, T)``."""
    est = est - est.mean(-1, keepdim=True)
    tgt = tgt - tgt.mean(-1, keepdim=True)
    return est.unsqueeze(2), tgt.unsqueeze(1)


def _projection(e: torch.Tensor, t: torch.Tensor, eps: float) -> torch.Tensor:
    """``<e, t> / (|t|^2 + eps)``, the scale of the target that best matches ``e``."""
    return (e * t).sum(-1, keepdim=True) / (t.pow(2).sum(-1, keepdim=True) + eps)


def stft_magnitude(x: torch.Tensor) -> torch.Tensor:
    """The reference criterion's STFT magnitude (module docstring): ``(..., time)`` ->
    ``(..., 257, frames)``; a signal shorter than a frame is zero-padded to one."""
    length = max(math.ceil(x.shape[-1] / STFT_HOP) * STFT_HOP, STFT_FRAME)
    frames = F.pad(x, (0, length - x.shape[-1])).unfold(-1, STFT_FRAME, STFT_HOP)
    window = torch.hann_window(STFT_FRAME, dtype=x.dtype, device=x.device) * (2 / 3) ** 0.5
    spec = torch.fft.rfft(frames * window, dim=-1) / (0.5 * (STFT_FRAME**2 / STFT_HOP) ** 0.5)
    return (spec.real.pow(2) + spec.imag.pow(2) + 1e-10).sqrt().transpose(-1, -2)


_PIT_TIME = PITLossWrapper(pairwise_neg_sisnr_time, pit_from="pw_mtx")
_PIT_MAG = PITLossWrapper(pairwise_neg_sisnr_mag, pit_from="pw_mtx")


def multi_stage_loss(
    estimates: torch.Tensor,
    aux_estimates: Sequence[torch.Tensor],
    sources: torch.Tensor,
    epoch: int,
) -> torch.Tensor:
    """SepReformer's training loss (scalar, lower is better).

    Args:
        estimates: final estimates ``(batch, S, time)``.
        aux_estimates: the aux heads' estimates (one per decoder stage), each
            ``(batch, S, time)``; empty: the time term only.
        sources: targets ``(batch, S, time)``.
        epoch (int): training epoch (1-based, as the reference's schedule).

    Returns ``(1 - a) PIT_time(estimates) + a mean_i PIT_mag(aux_i)`` with
    ``a = aux_loss_weight(epoch)``, each PIT term averaged over sources and batch.
    """
    main = _PIT_TIME(estimates, sources)
    if not len(aux_estimates):
        return main
    a = aux_loss_weight(epoch)
    aux = torch.stack([_PIT_MAG(est, sources) for est in aux_estimates]).mean()
    return (1 - a) * main + a * aux
