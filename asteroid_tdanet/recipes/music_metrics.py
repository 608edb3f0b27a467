"""Music source-separation metrics as the MUSDB18 / MDX literature reports them.

Pure numpy/scipy (no torch, no museval at runtime); everything is computed in float64.
All signals use this package's layout: one source is ``(channels, time)`` (a ``(time,)``
array is treated as mono); a set of sources is ``(n_src, channels, time)``. museval uses
``(n_src, time, channels)`` (``x.transpose(0, 2, 1)`` converts).

Two SDR families are in use and they are *not* interchangeable:

* **uSDR** ("utterance"/track-level SDR; the "SDR" of the MDX 2021/2023 challenges, the
  "uSDR" of the BS-RoFormer / Mel-Band RoFormer papers), :func:`usdr`::

      uSDR = 10 log10( (sum_{c,t} s[c,t]^2 + delta) / (sum_{c,t} (s[c,t] - ŝ[c,t])^2 + delta) )

  with ``delta = 1e-7`` (AIcrowd music-demixing-challenge starter kit, copied verbatim as
  ``new_sdr`` in facebookresearch/demucs ``demucs/evaluate.py``).

* **SDR** of SiSEC 2018 / MUSDB18 (museval, BSS Eval v4), :func:`bss_eval_v4_sdr`: one
  value per 1 s frame, aggregated by the median over frames ("cSDR", :func:`csdr`) and then
  by the median over tracks (:func:`summarize`).

BSS Eval v4 SDR in museval's default mode (``bsseval_sources_version=False``, i.e. the
"images" criterion that ``museval.eval_mus_track`` / ``museval.evaluate`` use) is::

    SDR_j(frame) = 10 log10( ||s_true||^2 / ||e_spat + e_interf + e_artif||^2 )

and museval builds ``e_artif = ŝ - s_true - e_spat - e_interf``, so the three error terms
sum to ``ŝ - s`` *identically*: the 512-tap time-invariant distortion filters only split
the error into ISR/SIR/SAR and cancel out of SDR. Hence the MUSDB "SDR" of a frame is the
plain frame SNR ``10 log10(sum s^2 / sum (s - ŝ)^2)`` (no delta), which is what
:func:`bss_eval_v4_sdr` computes for ``sources_version=False`` (verified against museval
0.4.1 to ~1e-12 dB). In particular a filtered estimate (``ŝ = h * s``) is *penalised* by
this SDR; the filters do not absorb ``h``.

The filters *do* matter for the BSS Eval v2/v3 "bss_eval_sources" criterion
(``sources_version=True``; museval ``bsseval_sources_version=True``), where::

    SDR_j(frame) = 10 log10( ||P_j ŝ||^2 / ||ŝ - P_j ŝ||^2 )

with ``P_j ŝ = sum_{c',k} C[c',k,c] s_j[c', t-k]`` the least-squares projection of the
estimate on ``filters_len`` delayed copies of all channels of reference ``j``, the filter
``C`` being fitted once on the whole track (v4 "time-invariant filters") and applied to the
frame-truncated reference. That criterion is provided for completeness; nobody reports it
for MUSDB18.

museval's frame conventions are reproduced exactly: ``window = int(window_s * sr)``,
``hop = int(hop_s * sr)``, ``n_frames = floor((T - window + hop) / hop)`` (the tail after
the last full frame is dropped), a single whole-track frame when ``window >= T``; a frame
is NaN for *every* source as soon as any reference or any estimate of the evaluated set is
"silent" there, where silent means ``sum_c x[c, t] == 0`` for all ``t`` of the frame
(museval sums the channels, so an exactly anti-phase stereo frame also counts as silent);
a frame with a perfect estimate gives ``+inf``.
"""

import math
import warnings

import numpy as np
import scipy.fft
from scipy.linalg import toeplitz

__all__ = [
    "USDR_DELTA",
    "usdr",
    "bss_eval_v4_sdr",
    "framewise_sdr",
    "csdr",
    "evaluate_track",
    "summarize",
]

#: delta of the MDX challenge SDR (AIcrowd starter kit / demucs ``new_sdr``).
USDR_DELTA = 1e-7


def _as_channels_time(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be (channels, time) or (time,), got shape {x.shape}")
    return x


def usdr(reference, estimate, delta=USDR_DELTA):
    """Track-level SDR of the MDX challenges ("uSDR"), in dB.

    ``10 log10( (sum s^2 + delta) / (sum (s - ŝ)^2 + delta) )``, sums over all channels and
    samples of the track.

    Args:
        reference: ``(channels, time)`` or ``(time,)`` true source ``s``.
        estimate: same shape as ``reference``, the estimate ``ŝ``.
        delta: regulariser added to numerator and denominator (MDX: ``1e-7``). It bounds a
            perfect estimate at ``10 log10(sum s^2 / delta + 1)`` and makes a silent
            reference with a silent estimate score 0 dB.

    Returns:
        float, the uSDR in dB.
    """
    s = _as_channels_time(reference, "reference")
    s_hat = _as_channels_time(estimate, "estimate")
    if s.shape != s_hat.shape:
        raise ValueError(f"shape mismatch: reference {s.shape} vs estimate {s_hat.shape}")
    num = np.sum(np.square(s)) + delta
    den = np.sum(np.square(s - s_hat)) + delta
    return float(10.0 * np.log10(num / den))


def _frame_bounds(n_samples, window, hop):
    """museval ``Framing``: returns ``(n_frames, frame_len)``; frame ``t`` is
    ``[t * hop, t * hop + frame_len)``."""
    if window < n_samples:
        return int(math.floor((n_samples - window + hop) / hop)), window
    return 1, n_samples


def _frames(x, n_frames, frame_len, hop):
    """``(..., time) -> (..., n_frames, frame_len)`` strided view (no copy)."""
    view = np.lib.stride_tricks.sliding_window_view(x, frame_len, axis=-1)
    return view[..., ::hop, :][..., :n_frames, :]


def _silent_frames(x, n_frames, frame_len, hop):
    """``(n_src, channels, time) -> (n_src, n_frames)`` bool, museval's
    ``_any_source_silent`` rule per source: the channel *sum* is exactly 0 everywhere."""
    nonzero = np.sum(x, axis=1) != 0  # (n_src, time)
    return ~np.any(_frames(nonzero, n_frames, frame_len, hop), axis=-1)


def _safe_db(num, den):
    """museval ``_safe_db`` vectorised: ``+inf`` where ``den == 0``, else ``10 log10(num/den)``."""
    out = np.full(np.broadcast(num, den).shape, np.inf)
    ok = den != 0
    with np.errstate(divide="ignore"):  # num == 0 only on frames the caller masks to NaN
        out[ok] = 10.0 * np.log10(num[ok] / den[ok])
    return out


def _projection_filters(ref, est, filters_len):
    """Whole-track distortion filters of bss_eval_sources (museval ``compute_Cj``).

    Solves ``(G + eps I) C = D`` with, for reference ``r`` ``(C, T)`` and estimate ``e``,
    ``G[(a,k),(b,l)] = sum_t r_a(t-k) r_b(t-l)`` and ``D[(a,k), c] = sum_t r_a(t-k) e_c(t)``
    (zero-padded signals, lags ``0..filters_len-1``), correlations by FFT.

    Returns:
        ``(C_in, filters_len, C_out)`` array ``C`` such that
        ``P e_c(t) = sum_{a,k} C[a,k,c] r_a(t-k)``.
    """
    n_chan, n_samples = ref.shape
    n_fft = scipy.fft.next_fast_len(n_samples + filters_len - 1, real=True)
    rf = scipy.fft.rfft(ref, n=n_fft, axis=-1)
    ef = scipy.fft.rfft(est, n=n_fft, axis=-1)
    # xc[a, b, m] = sum_u r_a(u) r_b(u + m) (circular, but n_fft >= T + L - 1 avoids wrap for
    # the lags |m| < L we read).
    xc = scipy.fft.irfft(np.conj(rf)[:, None] * rf[None], n=n_fft, axis=-1)
    G = np.empty((n_chan, filters_len, n_chan, filters_len))
    for a in range(n_chan):
        for b in range(n_chan):
            # block[k, l] = xc[a, b, k - l]
            col = xc[a, b, :filters_len]
            row = np.concatenate([xc[a, b, :1], xc[a, b, :-filters_len:-1]])
            G[a, :, b, :] = toeplitz(col, row)
    G = G.reshape(n_chan * filters_len, n_chan * filters_len)
    # D[a, k, c] = sum_u e_c(u) r_a(u - k) = y[a, c, -k], y[m] = sum_u e_c(u) r_a(u + m)
    y = scipy.fft.irfft(rf[:, None] * np.conj(ef)[None], n=n_fft, axis=-1)
    lags = (-np.arange(filters_len)) % n_fft
    D = np.moveaxis(y[:, :, lags], 2, 1).reshape(n_chan * filters_len, n_chan)
    # same ridge as museval (machine epsilon) so ill-conditioned G give the same filters
    G_reg = G + np.finfo(float).eps * np.eye(G.shape[0])
    try:
        C = np.linalg.solve(G_reg, D)
    except np.linalg.LinAlgError:
        C = np.linalg.lstsq(G, D, rcond=None)[0]
    return C.reshape(n_chan, filters_len, n_chan)


def _sources_version_sdr(ref, est, n_frames, frame_len, hop, filters_len, chunk=32):
    """Per-frame bss_eval_sources SDR ``(n_frames,)`` for one target (NaN handling is the
    caller's). ``ref``/``est`` are ``(channels, time)``."""
    C = _projection_filters(ref, est, filters_len)
    out_len = frame_len + filters_len - 1
    n_fft = scipy.fft.next_fast_len(out_len, real=True)
    Hf = scipy.fft.rfft(C, n=n_fft, axis=1)  # (C_in, F, C_out)
    ref_fr = _frames(ref, n_frames, frame_len, hop)  # (C, n_frames, frame_len)
    est_fr = _frames(est, n_frames, frame_len, hop)
    num = np.empty(n_frames)
    den = np.empty(n_frames)
    # chunk the frames: a 3-min track is 180 spectra of ~22k bins per channel
    for lo in range(0, n_frames, chunk):
        hi = min(lo + chunk, n_frames)
        Rf = scipy.fft.rfft(ref_fr[:, lo:hi], n=n_fft, axis=-1)  # (C_in, f, F)
        proj = scipy.fft.irfft(np.einsum("afk,akc->cfk", Rf, Hf), n=n_fft, axis=-1)
        proj = proj[..., :out_len]  # frame + filter tail, as museval's zero-padded frame
        err = -proj
        err[..., :frame_len] += est_fr[:, lo:hi]
        num[lo:hi] = np.sum(proj**2, axis=(0, 2))
        den[lo:hi] = np.sum(err**2, axis=(0, 2))
    return _safe_db(num, den)


def bss_eval_v4_sdr(
    references,
    estimates,
    sample_rate,
    window_s=1.0,
    hop_s=1.0,
    sources_version=False,
    filters_len=512,
):
    """Framewise BSS Eval v4 SDR exactly as museval computes it (SiSEC 2018 / MUSDB18 "SDR").

    Equivalent to ``museval.metrics.bss_eval(refs, ests, window=int(window_s*sr),
    hop=int(hop_s*sr), compute_permutation=False, filters_len=filters_len,
    framewise_filters=False, bsseval_sources_version=sources_version)[0]`` with
    ``refs = references.transpose(0, 2, 1)`` (museval is time-major), and, for the default
    ``sources_version=False``, to what ``museval.eval_mus_track`` stores (before its
    5-decimal JSON rounding and its ``inf -> NaN`` mapping).

    Default (images) criterion, per source ``j`` and frame ``f`` (see module docstring)::

        SDR[j, f] = 10 log10( sum_{c, t in f} s_j[c,t]^2 / sum_{c, t in f} (s_j - ŝ_j)[c,t]^2 )

    ``sources_version=True``: ``10 log10(||P_j ŝ_j||^2 / ||ŝ_j - P_j ŝ_j||^2)`` with
    whole-track ``filters_len``-tap MIMO filters (museval ``bsseval_sources_version=True``).

    The set of sources only matters through the NaN rule: a frame is NaN for all sources if
    any reference or estimate of the set is silent there. Pass the set museval would:
    MUSDB's ``eval_mus_track`` scores vocals and accompaniment as one set and
    drums/bass/other (+ vocals) as another; demucs passes all four stems at once.

    Args:
        references: ``(n_src, channels, time)`` (or ``(n_src, time)`` for mono).
        estimates: ``(n_src, channels, time_est)``; like museval ``evaluate``, zero-padded or
            truncated to the reference length.
        sample_rate: Hz, converts ``window_s``/``hop_s`` to samples with ``int()``.
        window_s, hop_s: frame length and hop in seconds (MUSDB: 1.0 and 1.0).
        sources_version: use the bss_eval_sources criterion instead of images.
        filters_len: distortion-filter taps (only used by ``sources_version=True``).

    Returns:
        ``(n_src, n_frames)`` float64 SDR in dB (NaN: silent frame, +inf: perfect frame).
        Where museval raises because a whole source is silent, this returns all-NaN frames.
    """
    refs = np.asarray(references, dtype=np.float64)
    ests = np.asarray(estimates, dtype=np.float64)
    if refs.ndim == 2:
        refs = refs[:, None]
    if ests.ndim == 2:
        ests = ests[:, None]
    if refs.ndim != 3 or refs.shape[:2] != ests.shape[:2]:
        raise ValueError(
            f"expected (n_src, channels, time) arrays with matching (n_src, channels), got "
            f"references {refs.shape} and estimates {ests.shape}"
        )
    n_samples = refs.shape[-1]
    if ests.shape[-1] > n_samples:
        ests = ests[..., :n_samples]
    elif ests.shape[-1] < n_samples:
        ests = np.pad(ests, [(0, 0), (0, 0), (0, n_samples - ests.shape[-1])])
    window, hop = int(window_s * sample_rate), int(hop_s * sample_rate)
    if window <= 0 or hop <= 0:
        raise ValueError(f"window ({window}) and hop ({hop}) must be >= 1 sample")
    n_src = refs.shape[0]
    if n_samples == 0:
        return np.empty((n_src, 0))
    n_frames, frame_len = _frame_bounds(n_samples, window, hop)

    silent = np.any(_silent_frames(refs, n_frames, frame_len, hop), axis=0)
    silent |= np.any(_silent_frames(ests, n_frames, frame_len, hop), axis=0)

    sdr = np.empty((n_src, n_frames))
    for j in range(n_src):
        if sources_version:
            if np.all(silent):
                sdr[j] = np.nan
                continue
            sdr[j] = _sources_version_sdr(refs[j], ests[j], n_frames, frame_len, hop, filters_len)
        else:
            s = _frames(refs[j], n_frames, frame_len, hop)  # (C, n_frames, frame_len)
            e = _frames(ests[j], n_frames, frame_len, hop)
            num = np.einsum("cft,cft->f", s, s)
            diff = e - s
            den = np.einsum("cft,cft->f", diff, diff)
            sdr[j] = _safe_db(num, den)
    sdr[:, silent] = np.nan
    return sdr


def framewise_sdr(reference, estimate, sample_rate, window_s=1.0, hop_s=1.0):
    """museval v4 SDR per frame of one source evaluated on its own.

    ``bss_eval_v4_sdr(reference[None], estimate[None], ...)[0]``: ``(channels, time)`` or
    ``(time,)`` in, ``(n_frames,)`` out. Identical to the multi-source call except that only
    this source's silence turns frames into NaN (MUSDB scoring uses the multi-source call).
    """
    ref = _as_channels_time(reference, "reference")
    est = _as_channels_time(estimate, "estimate")
    return bss_eval_v4_sdr(ref[None], est[None], sample_rate, window_s, hop_s)[0]


def csdr(frame_sdr):
    """Chunk-level SDR: ``nanmedian`` over frames (museval ``TrackStore`` aggregation).

    Args:
        frame_sdr: ``(n_frames,)`` or ``(n_src, n_frames)`` framewise SDR.

    Returns:
        float, or ``(n_src,)``; NaN where every frame is NaN. ``+inf`` frames are kept (as
        ``museval.metrics`` returns them; museval's JSON store maps them to NaN).
    """
    x = np.asarray(frame_sdr, dtype=np.float64)
    with warnings.catch_warnings():
        # an all-NaN row (reference silent throughout) is a legitimate NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(x, axis=-1)
    return float(med) if np.ndim(med) == 0 else med


def evaluate_track(
    references, estimates, sample_rate, target_names, track_name=None, window_s=1.0, hop_s=1.0
):
    """All metrics of one track, in the per-track format :func:`summarize` consumes.

    Args:
        references, estimates: ``(n_src, channels, time)``; the whole set is one BSS Eval
            call (see :func:`bss_eval_v4_sdr` for which sets MUSDB uses).
        sample_rate: Hz.
        target_names: ``n_src`` names, e.g. ``["vocals", "accompaniment"]``.
        track_name: optional, copied to the output.

    Returns:
        ``{"track": track_name, "targets": {name: {"uSDR": float, "cSDR": float,
        "SDR_frames": [float, ...]}}}`` (NaN/inf kept as floats).
    """
    refs = np.asarray(references, dtype=np.float64)
    ests = np.asarray(estimates, dtype=np.float64)
    if len(target_names) != refs.shape[0]:
        raise ValueError(f"{len(target_names)} target names for {refs.shape[0]} sources")
    frames = bss_eval_v4_sdr(refs, ests, sample_rate, window_s, hop_s)
    targets = {}
    for j, name in enumerate(target_names):
        targets[name] = {
            "uSDR": usdr(refs[j], ests[j]),
            "cSDR": csdr(frames[j]),
            "SDR_frames": frames[j].tolist(),
        }
    return {"track": track_name, "targets": targets}


def _json_float(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _nanstat(fn, values):
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return fn(v) if v.size else np.nan


def summarize(per_track):
    """Aggregate per-track results over a test set, MUSDB18 / MDX conventions.

    Per target ``j`` over tracks ``n`` (NaN tracks skipped, as pandas does in museval)::

        SDR         = median_n( nanmedian_frames SDR_n,j )   # SiSEC/museval "SDR"
        cSDR_mean   = mean_n( nanmedian_frames SDR_n,j )     # demucs "sdr_<target>"
        uSDR_mean   = mean_n uSDR_n,j                        # MDX / Mel-RoFormer "uSDR"
        uSDR_median = median_n uSDR_n,j

    ``"average"`` is the unweighted mean over targets of each of these (the MDX leaderboard
    "SDR" is ``average.uSDR_mean``).

    Args:
        per_track: list of :func:`evaluate_track` outputs (each needs ``"targets"`` mapping
            target -> ``{"uSDR", and "cSDR" or "SDR_frames"}``).

    Returns:
        JSON-ready dict ``{"n_tracks", "targets": {name: {...}}, "average": {...}}``; NaN and
        inf are written as ``None``.
    """
    keys = ("SDR", "cSDR_mean", "uSDR_mean", "uSDR_median")
    collected = {}
    for track in per_track:
        for name, res in track["targets"].items():
            c = res["cSDR"] if "cSDR" in res else csdr(res["SDR_frames"])
            entry = collected.setdefault(name, {"cSDR": [], "uSDR": []})
            entry["cSDR"].append(np.nan if c is None else c)
            entry["uSDR"].append(np.nan if res["uSDR"] is None else res["uSDR"])
    targets = {}
    for name, entry in collected.items():
        targets[name] = {
            "SDR": _nanstat(np.median, entry["cSDR"]),
            "cSDR_mean": _nanstat(np.mean, entry["cSDR"]),
            "uSDR_mean": _nanstat(np.mean, entry["uSDR"]),
            "uSDR_median": _nanstat(np.median, entry["uSDR"]),
            "n_tracks": len(entry["uSDR"]),
        }
    average = {k: _nanstat(np.mean, [t[k] for t in targets.values()]) for k in keys}
    return {
        "n_tracks": len(per_track),
        "targets": {
            name: {k: (_json_float(v) if k in keys else v) for k, v in t.items()}
            for name, t in targets.items()
        },
        "average": {k: _json_float(v) for k, v in average.items()},
    }
