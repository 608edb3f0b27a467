"""Music separation metrics: uSDR (MDX), BSS Eval v4 SDR (museval / MUSDB18), cSDR, summaries."""

import importlib.util
import json
import os

import numpy as np
import pytest
from scipy.signal import lfilter

from asteroid_tdanet.recipes.music_metrics import (
    USDR_DELTA,
    bss_eval_v4_sdr,
    csdr,
    evaluate_track,
    framewise_sdr,
    summarize,
    usdr,
)

SR = 8000  # 1 s frames = 8000 samples: museval's conventions at a test-friendly rate


def _museval_metrics():
    """``museval.metrics`` loaded from its file, or skip.

    ``import museval`` imports musdb -> stempeg, which raises at import time when no ffmpeg
    binary is installed; ``metrics.py`` itself only needs numpy/scipy, so load it directly.
    """
    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("museval is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], "metrics.py")
    mspec = importlib.util.spec_from_file_location("_museval_metrics_standalone", path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


def _two_sources(seconds=4.0, extra=1234, seed=0):
    """Stereo vocals-like / accompaniment-like sums of sines + noise, ``(2, 2, T)``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR) + extra  # a tail shorter than a frame, which museval drops
    t = np.arange(n) / SR
    voc = np.stack(
        [np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 660 * t + c) for c in range(2)]
    )
    voc += 0.1 * rng.standard_normal((2, n))
    acc = np.stack(
        [np.sin(2 * np.pi * 110 * t + c) + 0.3 * np.sin(2 * np.pi * 1700 * t) for c in range(2)]
    )
    acc += 0.2 * rng.standard_normal((2, n))
    return np.stack([voc, acc]), rng


def _leaky_filtered_estimates(refs, rng, noise=0.05):
    """Each estimate = its reference through a short FIR + leakage of the other + noise."""
    h = np.array([0.8, 0.15, -0.05, 0.02])
    fir = np.stack([lfilter(h, 1, refs[0], axis=-1), lfilter(h[::-1], 1, refs[1], axis=-1)])
    leak = np.stack([0.1 * refs[1], 0.2 * refs[0]])
    return fir + leak + noise * rng.standard_normal(refs.shape), fir, leak


def _naive_frame_snr(s, s_hat, window, hop):
    n_frames = (s.shape[-1] - window + hop) // hop
    out = []
    for f in range(n_frames):
        a, b = s[:, f * hop : f * hop + window], s_hat[:, f * hop : f * hop + window]
        out.append(10 * np.log10(np.sum(a**2) / np.sum((a - b) ** 2)))
    return np.array(out)


# ---------------------------------------------------------------------------- uSDR


def test_usdr_matches_naive_formula():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((2, 5000))
    s_hat = s + 0.5 * rng.standard_normal((2, 5000))
    num = sum(float(v) ** 2 for v in s.ravel()) + 1e-7
    den = sum(float(v) ** 2 for v in (s - s_hat).ravel()) + 1e-7
    assert usdr(s, s_hat) == pytest.approx(10 * np.log10(num / den), abs=1e-9)
    # mono (time,) is one channel; float32 input is promoted to float64
    assert usdr(s[0], s_hat[0]) == pytest.approx(usdr(s[:1], s_hat[:1]), abs=1e-12)
    assert usdr(s.astype(np.float32), s_hat.astype(np.float32)) == pytest.approx(
        usdr(s, s_hat), abs=1e-4
    )
    with pytest.raises(ValueError):
        usdr(s, s_hat[:, :-1])


def test_usdr_perfect_estimate_bounded_by_delta_and_scale_invariant():
    rng = np.random.default_rng(2)
    s = rng.standard_normal((2, 4000))
    energy = np.sum(s**2)
    assert USDR_DELTA == 1e-7
    assert usdr(s, s) == pytest.approx(10 * np.log10((energy + 1e-7) / 1e-7), abs=1e-9)
    assert usdr(np.zeros(10), np.zeros(10)) == 0.0
    s_hat = s + 0.1 * rng.standard_normal(s.shape)
    # common gain: delta is negligible next to these energies
    assert usdr(3.0 * s, 3.0 * s_hat) == pytest.approx(usdr(s, s_hat), abs=1e-6)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 12.0, 30.0])
def test_usdr_of_independent_noise_at_known_snr(snr_db):
    rng = np.random.default_rng(3)
    s = rng.standard_normal((2, 44100))
    noise = rng.standard_normal(s.shape)
    noise *= np.sqrt(np.sum(s**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    assert usdr(s, s + noise) == pytest.approx(snr_db, abs=0.1)


# ---------------------------------------------------------------------------- BSS Eval v4


def test_bss_eval_v4_matches_museval():
    metrics = _museval_metrics()
    refs, rng = _two_sources()
    refs[0, :, SR : 2 * SR] = 0.0  # silent vocals second -> NaN frame for both sources
    ests, _, _ = _leaky_filtered_estimates(refs, rng)
    cases = [
        dict(window_s=1.0, hop_s=1.0, sources_version=False),  # MUSDB18 / SiSEC 2018
        dict(window_s=1.5, hop_s=0.7, sources_version=False),
        dict(window_s=1.0, hop_s=1.0, sources_version=True),
    ]
    for kw in cases:
        ref = metrics.bss_eval(
            refs.transpose(0, 2, 1),  # museval is (n_src, time, channels)
            ests.transpose(0, 2, 1),
            window=int(kw["window_s"] * SR),
            hop=int(kw["hop_s"] * SR),
            compute_permutation=False,
            filters_len=512,
            framewise_filters=False,
            bsseval_sources_version=kw["sources_version"],
        )[0]
        ours = bss_eval_v4_sdr(refs, ests, SR, **kw)
        assert ours.shape == ref.shape
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        # the silent second fills a whole 1 s frame, but no 1.5 s frame
        assert np.isnan(ours).any() == (kw["window_s"] == 1.0) and not np.isnan(ours).all()
        np.testing.assert_allclose(ours, ref, atol=1e-6, rtol=0, equal_nan=True)


def test_images_sdr_is_frame_snr_so_fir_is_penalised():
    """museval's default (images) SDR = plain frame SNR; distortion filters cancel out."""
    refs, rng = _two_sources(seconds=3.0)
    ests, fir, leak = _leaky_filtered_estimates(refs, rng)
    sdr = bss_eval_v4_sdr(refs, ests, SR)
    assert sdr.shape == (2, 3)
    for j in range(2):
        np.testing.assert_allclose(sdr[j], _naive_frame_snr(refs[j], ests[j], SR, SR), atol=1e-9)
        # the FIR error counts: well below the SNR of leakage + noise alone
        non_filter = _naive_frame_snr(fir[j], ests[j], SR, SR)
        assert np.all(sdr[j] < non_filter - 1.0)
    # single-source helper and estimate length handling (museval pads / truncates)
    np.testing.assert_allclose(framewise_sdr(refs[1], ests[1], SR), sdr[1], atol=1e-12)
    longer = np.concatenate([ests, np.ones((2, 2, 50))], axis=-1)
    np.testing.assert_allclose(bss_eval_v4_sdr(refs, longer, SR), sdr, atol=1e-12)


def test_sources_version_filters_absorb_fir():
    """bss_eval_sources SDR vs a naive least-squares projection on delayed references."""
    taps = 16  # short filters keep the naive design matrix small; FIR has 4 taps < 16
    refs, rng = _two_sources(seconds=2.0, extra=0)
    ests, fir, _ = _leaky_filtered_estimates(refs, rng)
    sdr = bss_eval_v4_sdr(refs, ests, SR, sources_version=True, filters_len=taps)
    n_chan, n = refs.shape[1:]
    for j in range(2):
        # columns: channel a of reference j delayed by k, zero-padded to n + taps - 1
        cols = np.zeros((n + taps - 1, n_chan * taps))
        for a in range(n_chan):
            for k in range(taps):
                cols[k : k + n, a * taps + k] = refs[j, a]
        target = np.zeros((n + taps - 1, n_chan))
        target[:n] = ests[j].T
        filt = np.linalg.lstsq(cols, target, rcond=None)[0].reshape(n_chan, taps, n_chan)
        naive = []
        for f in range(2):
            seg = refs[j][:, f * SR : (f + 1) * SR]
            proj = np.zeros((n_chan, SR + taps - 1))
            for a in range(n_chan):
                for c in range(n_chan):
                    proj[c] += np.convolve(filt[a, :, c], seg[a])
            err = -proj
            err[:, :SR] += ests[j][:, f * SR : (f + 1) * SR]
            naive.append(10 * np.log10(np.sum(proj**2) / np.sum(err**2)))
        np.testing.assert_allclose(sdr[j], naive, atol=1e-6)
        # the filters absorb the FIR: SDR ~ SNR of (leakage + noise) w.r.t. the FIR output
        np.testing.assert_allclose(sdr[j], _naive_frame_snr(fir[j], ests[j], SR, SR), atol=0.5)


def test_silent_reference_frames_are_nan_and_csdr_ignores_them():
    refs, rng = _two_sources(seconds=5.0, extra=0)
    ests, _, _ = _leaky_filtered_estimates(refs, rng)
    refs[0, :, 2 * SR : 4 * SR] = 0.0
    sdr = bss_eval_v4_sdr(refs, ests, SR)
    expected_nan = np.array([False, False, True, True, False])
    # museval: one silent source blanks the frame for every source of the set
    np.testing.assert_array_equal(np.isnan(sdr), np.stack([expected_nan, expected_nan]))
    np.testing.assert_allclose(csdr(sdr), np.median(sdr[:, ~expected_nan], axis=1), atol=1e-12)
    assert csdr(sdr[0]) == pytest.approx(float(np.median(sdr[0, ~expected_nan])), abs=1e-12)
    # evaluated alone, only the accompaniment's own silence would matter
    assert not np.isnan(framewise_sdr(refs[1], ests[1], SR)).any()
    # museval counts a frame as silent when the *channel sum* is 0 (anti-phase stereo too)
    anti = refs.copy()
    anti[1, 1, :SR] = -anti[1, 0, :SR]
    assert np.isnan(bss_eval_v4_sdr(anti, ests, SR)[:, 0]).all()
    # an all-silent source (museval raises) gives all-NaN frames and a NaN cSDR
    zeros = np.zeros_like(ests)
    assert np.isnan(csdr(bss_eval_v4_sdr(refs, zeros, SR))).all()
    assert bss_eval_v4_sdr(refs, refs, SR)[1, 0] == np.inf  # perfect frame, as museval


def test_summarize_musdb_conventions_and_json():
    refs, rng = _two_sources(seconds=3.0, extra=0)
    tracks = []
    for noise in (0.05, 0.2, 0.6):
        ests, _, _ = _leaky_filtered_estimates(refs, rng, noise=noise)
        tracks.append(evaluate_track(refs, ests, SR, ["vocals", "accompaniment"], f"n{noise}"))
    tracks[1]["targets"]["vocals"]["SDR_frames"] = [np.nan] * 3  # csdr recomputed from these
    del tracks[1]["targets"]["vocals"]["cSDR"]
    out = summarize(tracks)
    json.dumps(out, allow_nan=False)  # JSON-ready: no NaN/inf
    assert out["n_tracks"] == 3
    voc = out["targets"]["vocals"]
    c = [t["targets"]["vocals"].get("cSDR", np.nan) for t in tracks]
    u = [t["targets"]["vocals"]["uSDR"] for t in tracks]
    assert voc["SDR"] == pytest.approx(np.nanmedian(c))
    assert voc["cSDR_mean"] == pytest.approx(np.nanmean(c))
    assert voc["uSDR_mean"] == pytest.approx(np.mean(u))
    assert voc["uSDR_median"] == pytest.approx(np.median(u))
    acc = out["targets"]["accompaniment"]
    assert out["average"]["uSDR_mean"] == pytest.approx((voc["uSDR_mean"] + acc["uSDR_mean"]) / 2)
