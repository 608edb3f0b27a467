"""The wsa mixer against the windowed-roformer reference (fixtures) and dense masked softmax."""

import json
import math
from pathlib import Path

import pytest
import torch

from asteroid_tdanet.masknn.attention import (
    WindowedSinkAttention,
    windowed_sink_attend,
    windowed_sink_mask,
)
from asteroid_tdanet.masknn.mixers import build_mixer
from asteroid_tdanet.masknn.rotary import RotaryEmbedding

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference_wsa"
BACKENDS = [("blocked", 4), ("blocked", 32), ("dense", 32), ("flex", 32)]


@pytest.fixture
def attention_fixture():
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    cfg = json.loads((FIXTURES / "wsa_attention.config.json").read_text())
    kw = cfg["kwargs"]
    layer = WindowedSinkAttention(
        kw["dim"],
        heads=kw["heads"],
        dim_head=kw["dim_head"],
        window=kw["wsa_window_len"],
        n_sinks=kw["n_wsa_sinks"],
    ).eval()
    state = torch.load(FIXTURES / "wsa_attention.state_dict.pt", weights_only=True)
    layer.load_state_dict(state)  # the reference's own key names
    return layer, torch.load(FIXTURES / "wsa_attention.io.pt", weights_only=True)


def test_reference_attention_layer(attention_fixture):
    layer, io = attention_fixture
    with torch.no_grad():
        assert (layer(io["input"]) - io["output"]).abs().max() <= 1e-5
        frames = layer(io["input"], frames_only=True)
    assert (frames - io["output"][:, layer.n_sinks :]).abs().max() <= 1e-5


@pytest.mark.parametrize("backend, block", BACKENDS)
def test_reference_core_and_mask(attention_fixture, backend, block):
    _, io = attention_fixture
    n_sinks, n = 8, io["q"].shape[-2]
    assert torch.equal(windowed_sink_mask(n_sinks, n - n_sinks, 10), io["mask"])
    out = windowed_sink_attend(
        io["q"], io["k"], io["v"], n_sinks=n_sinks, window=10, backend=backend, block_size=block
    )
    assert (out - io["attend_out"]).abs().max() <= 1e-5


def dense_reference(q, k, v, n_sinks, window, causal):
    """Masked softmax attention with the mask written out from its definition, float64."""
    n = q.shape[-2]
    allowed = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        for j in range(n):
            if causal:
                allowed[i, j] = j < n_sinks or (i >= n_sinks and 0 <= i - j <= window)
            else:
                allowed[i, j] = i < n_sinks or j < n_sinks or abs(i - j) <= window // 2
    scores = (q.double() @ k.double().transpose(-2, -1)) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    return (weights @ v.double()).to(q.dtype)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("frames, sinks, window", [(3, 2, 10), (41, 4, 6), (64, 0, 4), (37, 8, 1)])
@pytest.mark.parametrize("backend, block", BACKENDS)
def test_every_backend_equals_dense_masked_softmax(causal, frames, sinks, window, backend, block):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, sinks + frames, 8) for _ in range(3))
    expected = dense_reference(q, k, v, sinks, window, causal)
    out = windowed_sink_attend(
        q, k, v, n_sinks=sinks, window=window, causal=causal, backend=backend, block_size=block
    )
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    frames_only = windowed_sink_attend(
        q,
        k,
        v,
        n_sinks=sinks,
        window=window,
        causal=causal,
        frames_only=True,
        backend=backend,
        block_size=block,
    )
    torch.testing.assert_close(frames_only, expected[:, :, sinks:], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("causal", [False, True])
def test_long_inputs_processed_in_groups_of_blocks(causal, monkeypatch):
    """300 frames in blocks of 2: 150 blocks, computed in groups of 7 blocks (the group size
    follows a budget of gathered-key elements: 2 heads x 11 keys x 4 dims per block)."""
    import importlib

    attend = importlib.import_module("asteroid_tdanet.masknn.attention.windowed_sink_attend")
    monkeypatch.setattr(attend, "_GROUP_ELEMENTS", 7 * 2 * 11 * 4)
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 3 + 300, 4, requires_grad=True) for _ in range(3))
    out = windowed_sink_attend(
        q, k, v, n_sinks=3, window=6, causal=causal, backend="blocked", block_size=2
    )
    expected = dense_reference(q, k, v, 3, 6, causal)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    grads = torch.autograd.grad(out.pow(2).sum(), (q, k, v))
    dense = torch.autograd.grad(expected.pow(2).sum(), (q, k, v))
    for got, want in zip(grads, dense):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_rotary_embedding_rotates_interleaved_pairs():
    rope = RotaryEmbedding(8)
    torch.testing.assert_close(rope.freqs, torch.tensor([1.0, 0.1, 0.01, 0.001]))
    x = torch.randn(2, 5, 8)
    out = rope(x)
    for p in range(5):
        for i in range(4):
            angle = p * 10000 ** (-2 * i / 8)
            c, s = math.cos(angle), math.sin(angle)
            x0, x1 = x[:, p, 2 * i], x[:, p, 2 * i + 1]
            torch.testing.assert_close(out[:, p, 2 * i], x0 * c - x1 * s)
            torch.testing.assert_close(out[:, p, 2 * i + 1], x1 * c + x0 * s)
    assert not rope.freqs.requires_grad


def test_mixer_is_the_layer_on_sinks_plus_frames():
    torch.manual_seed(0)
    mixer = build_mixer("wsa", 16, window=4, sinks=3, n_heads=2).eval()
    x = torch.randn(2, 16, 30)
    seq = torch.cat([mixer.sink_tokens.expand(2, -1, -1), x.transpose(1, 2)], dim=1)
    with torch.no_grad():
        full = mixer.attention(seq)  # every row, sinks included
        torch.testing.assert_close(mixer(x), full[:, 3:].transpose(1, 2))


def test_auto_backend_keeps_narrow_heads_off_compiled_flex(monkeypatch):
    import importlib

    # The module (its package exports a function of the same name).
    wsa = importlib.import_module("asteroid_tdanet.masknn.attention.windowed_sink_attend")

    monkeypatch.setattr(wsa, "_flex_available", lambda: True)
    assert wsa.auto_backend(True, 4000, 64) == "flex"
    assert wsa.auto_backend(True, 4000, wsa.FLEX_MIN_HEAD_DIM) == "flex"
    # CUDA's compiled flex refuses heads under 16 channels: those take the CPU's choices.
    assert wsa.auto_backend(True, 100, 4) == "dense"
    assert wsa.auto_backend(True, 10**6, 4) == "blocked"
    assert wsa.auto_backend(False, 100, 64) == "dense"
