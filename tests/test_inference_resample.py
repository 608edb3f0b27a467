"""Streaming resampling equals julius on the whole signal; impossible rates fail clearly."""

import julius
import pytest
import torch

from asteroid_tdanet.inference import ResampleError, StreamResampler, check_resamplable


def _stream(resampler, x, block_sizes, length=None):
    outs, start, i = [], 0, 0
    while start < x.shape[-1]:
        size = block_sizes[i % len(block_sizes)]
        outs.append(resampler.push(x[:, start : start + size]))
        start, i = start + size, i + 1
    outs.append(resampler.flush(length))
    return torch.cat(outs, dim=-1)


@pytest.mark.parametrize(
    "old,new", [(44100, 16000), (16000, 44100), (48000, 8000), (8000, 16000), (16000, 16000)]
)
@pytest.mark.parametrize("n", [1, 7, 1000, 20011])
def test_streaming_equals_julius_whole_signal(old, new, n):
    x = torch.randn(2, n)
    expected = julius.resample_frac(x, old, new, full=True)
    got = _stream(StreamResampler(old, new), x, [997, 1, 4096, 13])
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_round_trip_restores_length():
    """Input -> model rate (full length) -> input rate with the input's length."""
    n = 12345
    x = torch.randn(1, n)
    up = _stream(StreamResampler(44100, 8000), x, [3000])
    assert up.shape[-1] == -(-n * 8000 // 44100)
    back = _stream(StreamResampler(8000, 44100), up, [500], length=n)
    assert back.shape[-1] == n


@pytest.mark.parametrize("old,new", [(44101, 16000), (16000, 44101), (0, 16000), (16000, -8000)])
def test_unresamplable_rates_are_refused(old, new):
    with pytest.raises(ResampleError, match=f"{old} Hz -> {new} Hz"):
        check_resamplable(old, new)
