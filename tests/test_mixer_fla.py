"""The fla mixer against the FLASepformer reference (fixtures) and the quadratic form."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from asteroid_tdanet.masknn.attention import FocusedLinearAttention
from asteroid_tdanet.masknn.mixers import build_mixer

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference_fla"
BLOCKS = [
    "fla_block_gated_ln",
    "fla_block_ungated_ln",
    "fla_block_gated_ln_k7",
    "fla_block_gated_rms4_proj",
]


def reference_block(name):
    """Our mixer built from a reference ``Linear_Attn_Template`` config, with its weights."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    cfg = json.loads((FIXTURES / f"{name}.config.json").read_text())
    mixer = build_mixer(
        "fla",
        cfg.get("input_dim", cfg["query_dim"]),
        n_heads=cfg["query_dim"] // cfg["dim_head"],
        attention_dim=cfg["query_dim"],
        kernel_size=cfg["kernel_size"],
        focusing_factor=cfg["focusing_factor"],
        norm_type=cfg["norm_type"],
        gated=cfg["gated"],
    ).eval()
    # The reference's own key names load as they are.
    mixer.load_state_dict(torch.load(FIXTURES / f"{name}.state_dict.pt", weights_only=True))
    return mixer, torch.load(FIXTURES / f"{name}.io.pt", weights_only=True)


@pytest.mark.parametrize("name", BLOCKS)
def test_reference_blocks(name):
    mixer, io = reference_block(name)
    x = io["input"]  # (B, C, N); the reference outputs are (B, N, C)
    with torch.no_grad():
        output = x.transpose(1, 2) + mixer(x).transpose(1, 2)  # the template adds x
        normed = mixer.layer_norm(x.transpose(1, 2))
        attn = mixer.attn(normed)
    for got, key in [(output, "output"), (normed, "normed"), (attn, "attn_out")]:
        assert (got - io[key]).abs().max() <= 1e-5, key
    if "gate" in io:
        with torch.no_grad():
            gate = mixer.gate_layer(x.transpose(1, 2))
        assert (gate - io["gate"]).abs().max() <= 1e-5


def test_reference_fixture_tells_the_gate_apart():
    """Guard: the same weights without the gate miss the gated fixture by far more than 1e-4."""
    mixer, io = reference_block("fla_block_gated_ln")
    with torch.no_grad():
        ungated = io["input"].transpose(1, 2) + mixer.attn(
            mixer.layer_norm(io["input"].transpose(1, 2))
        )
    assert (ungated - io["output"]).abs().max() > 1e-2


def quadratic_attention(attn: FocusedLinearAttention, x: torch.Tensor, causal: bool):
    """The same kernelised attention as an explicit N x N form, from the definitions."""
    c, h = attn.dim, attn.n_heads
    d = c // h
    s = F.softplus(attn.scale)

    def phi(u):  # focused ReLU kernel, norms over all C channels
        u = (torch.relu(u) + 1e-6) / s
        r = u.norm(dim=-1, keepdim=True)
        u3 = u**3
        return u3 / (u3.norm(dim=-1, keepdim=True) + 1e-8) * r

    q = phi(x @ attn.q.weight.T + attn.q.bias)
    kv = x @ attn.kv.weight.T + attn.kv.bias
    k, v = phi(kv[..., :c]), kv[..., c:]
    n = x.shape[1]
    out = torch.zeros(x.shape[0], n, c, dtype=x.dtype)
    for head in range(h):
        sl = slice(head * d, (head + 1) * d)
        scores = q[..., sl] @ k[..., sl].transpose(1, 2)  # (B, N, N): phi(q_i) . phi(k_j)
        count = torch.full((n, 1), float(n), dtype=x.dtype)
        if causal:
            scores = scores * torch.ones(n, n, dtype=x.dtype).tril()
            count = torch.arange(1, n + 1, dtype=x.dtype)[:, None]
        out[..., sl] = (scores @ v[..., sl] / count) / (scores.sum(-1, keepdim=True) / count + 1e-6)
    # Depthwise conv of every head's values with the shared d-channel filters.
    k_size = attn.kernel_size
    pad = (k_size - 1, 0) if causal else (k_size // 2, k_size // 2)
    for head in range(h):
        sl = slice(head * d, (head + 1) * d)
        seq = F.pad(v[..., sl].transpose(1, 2), pad)
        out[..., sl] += F.conv1d(seq, attn.dwc.weight, attn.dwc.bias, groups=d).transpose(1, 2)
    return out @ attn.proj.weight.T + attn.proj.bias


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [1, 7, 50])
def test_equals_the_quadratic_form(causal, n):
    torch.manual_seed(0)
    attn = FocusedLinearAttention(12, input_dim=10, n_heads=3, causal=causal, chunk_size=8)
    attn = attn.double()
    with torch.no_grad():
        attn.scale.normal_()
    x = torch.randn(2, n, 10, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(
            attn(x), quadratic_attention(attn, x, causal), rtol=1e-9, atol=1e-10
        )


def test_causal_result_does_not_depend_on_the_chunk_size():
    torch.manual_seed(0)
    x = torch.randn(2, 45, 16)
    outs = []
    for chunk in (1, 8, 64):
        torch.manual_seed(1)
        attn = FocusedLinearAttention(16, n_heads=2, causal=True, chunk_size=chunk).eval()
        with torch.no_grad():
            outs.append(attn(x))
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(outs[0], outs[2])
