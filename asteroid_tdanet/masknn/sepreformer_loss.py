"""SepReformer's multi-stage training objective (Shin et al., NeurIPS 2024), reused for
FLA-SepReformer:

    L = (1 - a) PIT-SISNR_time(final) + a mean_i PIT-SISNR_mag(aux_i),

averaged over the sources (the reference sums over the ``S`` sources and divides by ``S``)
and the batch, with the aux weight ``a`` of :func:`aux_loss_weight`.

* ``SISNR_time``: negative zero-mean SI-SNR of the waveforms.
* ``SISNR_mag``: negative SI-SNR of STFT magnitudes (frame 512, hop 128, Hann window scaled
  to unit energy; no mean removal), the projection scale clamped at >= 1e-2.
* Both are clamped at >= -30 dB per utterance and source (an estimate better than 30 dB SI-SNR
  gives no gradient); the permutation minimises the clamped loss (Asteroid's
  :class:`~asteroid.losses.PITLossWrapper` on the pairwise matrix).
"""

from typing import Sequence

import torch
from asteroid.losses import PITLossWrapper

EPS = 1e-8
CLAMP_DB = -30.0
STFT_FRAME, STFT_HOP = 512, 128


def aux_loss_weight(epoch: int) -> float:
    """``a`` = 0.4 up to epoch 100, then ``0.4 * 0.8^(1 + floor((epoch - 101) / 5))``."""
    if epoch <= 100:
        return 0.4
    return 0.4 * 0.8 ** (1 + (epoch - 101) // 5)


def _pairwise_neg_sisnr(est: torch.Tensor, tgt: torch.Tensor, zero_mean: bool, min_scale=None):
    """``(batch, S, D)`` x ``(batch, S, D)`` -> ``(batch, S_est, S_tgt)`` negative SI-SNR (dB)
    clamped at ``CLAMP_DB`` (``[:, i, j]`` = loss of estimate ``i`` against target ``j``, as
    Asteroid's pairwise losses)."""
    if zero_mean:
        est = est - est.mean(-1, keepdim=True)
        tgt = tgt - tgt.mean(-1, keepdim=True)
    t, e = tgt.unsqueeze(1), est.unsqueeze(2)  # (B, 1, S_tgt, D), (B, S_est, 1, D)
    scale = (e * t).sum(-1, keepdim=True) / (t.pow(2).sum(-1, keepdim=True) + EPS)
    if min_scale is not None:
        scale = scale.clamp(min=min_scale)
    s_tgt = scale * t
    noise = e - s_tgt
    sisnr = 20 * torch.log10(s_tgt.norm(dim=-1) / (noise.norm(dim=-1) + EPS) + EPS)
    return (-sisnr).clamp(min=CLAMP_DB)


def pairwise_neg_sisnr_time(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Pairwise clamped negative SI-SNR of waveforms ``(batch, S, time)`` ->
    ``(batch, S, S)``."""
    return _pairwise_neg_sisnr(est, tgt, zero_mean=True)


def _magnitude(x: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(STFT_FRAME, device=x.device, dtype=x.dtype)
    window = window / window.pow(2).sum().sqrt()
    b, s, t = x.shape
    flat = x.reshape(b * s, t)
    if t < STFT_FRAME:  # too short for one frame: zero-pad (the reflect pad needs >= n_fft/2)
        flat = torch.nn.functional.pad(flat, (0, STFT_FRAME - t))
    spec = torch.stft(flat, STFT_FRAME, STFT_HOP, window=window, center=True, return_complex=True)
    return spec.abs().reshape(b, s, -1)


def pairwise_neg_sisnr_mag(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Pairwise clamped negative SI-SNR of STFT magnitudes (512 / 128, unit-energy Hann),
    projection scale clamped at >= 1e-2: waveforms ``(batch, S, time)`` -> ``(batch, S, S)``."""
    return _pairwise_neg_sisnr(_magnitude(est), _magnitude(tgt), zero_mean=False, min_scale=1e-2)


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
