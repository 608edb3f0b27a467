"""The s4 mixer against the reference S4 (fixtures), an explicit recurrence, and its state."""

import json
from pathlib import Path

import pytest
import torch

from asteroid_tdanet.checkpoints.s4m_reference import convert_s4_block_state_dict
from asteroid_tdanet.masknn.mixers import build_mixer
from asteroid_tdanet.masknn.ssm import NPLRKernel, legs_nplr

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "reference_s4m"


@pytest.fixture
def block_fixture():
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {FIXTURES}")
    config = json.loads((FIXTURES / "s4block_d16_n8.config.json").read_text())["S4"]
    io = torch.load(FIXTURES / "s4block_d16_n8.io.pt", weights_only=True)

    def load(name):
        sd = torch.load(FIXTURES / f"s4block_d16_n8.{name}.pt", weights_only=True)
        mixer = build_mixer("s4", config["d_model"], state_size=config["d_state"]).eval()
        mixer.load_state_dict(convert_s4_block_state_dict(sd))
        return mixer, sd

    return load, io


# (state_dict, input, expected output, internal length after the call): the reference's chain.
CHAIN = [
    ("state_dict_fresh", "input", "output", 257),  # set-up from L = 0
    ("state_dict", "input", "output", 257),  # pure function of the state
    ("state_dict", "input_long", "output_long", 1028),  # doubling 257 -> 514 -> 1028
    ("state_dict_after_long", "input_long", "output_long", 1028),
]


@pytest.mark.parametrize("state, inp, out, length", CHAIN)
def test_reference_block_chain(block_fixture, state, inp, out, length):
    load, io = block_fixture
    mixer, _ = load(state)
    with torch.no_grad():
        got = io[inp] + mixer(io[inp])  # the reference block adds its residual
    assert (got - io[out]).abs().max() <= 1e-5
    assert int(mixer.layer.kernel.L) == length
    # The reference's CPU fallback (Cauchy sum without the conjugate half) is not matched.
    if out == "output":
        assert (got - io["output_naive_cauchy_fallback"]).abs().max() > 1e-2


def test_set_up_and_doubling_write_the_reference_state(block_fixture):
    load, io = block_fixture
    mixer, _ = load("state_dict_fresh")
    with torch.no_grad():
        mixer(io["input"])
        after = convert_s4_block_state_dict(load("state_dict")[1])
        torch.testing.assert_close(mixer.layer.kernel.C, after["layer.kernel.C"], atol=1e-4, rtol=0)
        mixer(io["input_long"])
        after = convert_s4_block_state_dict(load("state_dict_after_long")[1])
        torch.testing.assert_close(mixer.layer.kernel.C, after["layer.kernel.C"], atol=1e-4, rtol=0)
    assert int(mixer.layer.kernel.L) == int(after["layer.kernel.L"])


def _naive_s4_layer(layer, u):
    """The S4 layer by its definition, float64: bilinear discretisation of
    A = diag(w) - P P^H over the full conjugate-symmetric state, C_bar recovered from the
    stored C~ = C_bar (I - A_bar^L), an explicit recurrence per direction, the backward
    direction starting one frame in the future, then D skip, GELU, 1x1 conv, GLU."""
    kern = layer.kernel
    dt = kern.log_dt.double().exp()
    w = torch.complex(-kern.inv_w_real.double().exp(), kern.w_imag.double())
    p = torch.view_as_complex(kern.P.double())[0]
    b = torch.view_as_complex(kern.B.double())[0]
    c_tilde = torch.view_as_complex(kern.C.double())
    full = lambda x: torch.cat([x, x.conj()], -1)  # noqa: E731
    w, p, b, c_tilde = full(w), full(p), full(b), full(c_tilde)
    n = w.shape[-1]
    eye = torch.eye(n, dtype=torch.complex128)
    a = torch.diag_embed(w) - p[:, :, None] * p.conj()[:, None, :]
    left = eye - dt[:, None, None] / 2 * a
    a_bar = torch.linalg.solve(left, eye + dt[:, None, None] / 2 * a)
    b_bar = torch.linalg.solve(left, (dt[:, None] * b)[..., None])[..., 0]
    a_pow = torch.linalg.matrix_power(a_bar, int(kern.L))
    c_bar = torch.linalg.solve((eye - a_pow).transpose(-1, -2), c_tilde[..., None])[..., 0]

    def run(c, seq):  # y_t = Re(c x_t), x_t = A_bar x_{t-1} + B_bar u_t
        x = torch.zeros(seq.shape[0], seq.shape[1], n, dtype=torch.complex128)
        out = []
        for t in range(seq.shape[-1]):
            x = (a_bar @ x[..., None])[..., 0] + b_bar * seq[..., t, None]
            out.append((c * x).sum(-1).real)
        return torch.stack(out, -1)

    y = run(c_bar[0], u)
    if c_bar.shape[0] == 2:
        backward = run(c_bar[1], u.flip(-1)).flip(-1)  # sum_j k1[j] u[t + j]
        y = y + torch.nn.functional.pad(backward[..., 1:], (0, 1))  # ... from u[t + 1] on
    y = torch.nn.functional.gelu(y + layer.D.double()[0, :, None] * u)
    weight = layer.output_linear.weight.double()[..., 0]
    z = torch.einsum("oh,bht->bot", weight, y) + layer.output_linear.bias.double()[:, None]
    return z[:, : z.shape[1] // 2] * torch.sigmoid(z[:, z.shape[1] // 2 :])


@pytest.mark.parametrize("causal", [False, True])
def test_layer_equals_the_explicit_recurrence(causal):
    torch.manual_seed(0)
    mixer = build_mixer("s4", 6, state_size=8, causal=causal).double().eval()
    with torch.no_grad():  # perturb so no parameter sits at its (structured) init
        for param in mixer.parameters():
            param.add_(0.05 * torch.randn_like(param))
    u = torch.randn(2, 6, 37, dtype=torch.float64)
    with torch.no_grad():
        got = mixer.layer(u)
    expected = _naive_s4_layer(mixer.layer, u)
    torch.testing.assert_close(got, expected, atol=1e-9, rtol=1e-7)


def test_hippo_legs_eigenvalues():
    """HiPPO-LegS N=16: w = -1/2 + i * (the values of the S4M specification)."""
    w, p, b = legs_nplr(16)
    expected = [-80.966, -25.629, -13.834, -8.362, -5.090, -2.900, -1.372, -0.352]
    torch.testing.assert_close(
        w.imag, torch.tensor(expected, dtype=torch.float64), atol=1e-3, rtol=0
    )
    assert torch.allclose(w.real, torch.full_like(w.real, -0.5))
    torch.testing.assert_close(b.abs(), 2**0.5 * p.abs())
    assert abs((p.abs() ** 2).sum().item() - 64.0) < 1e-9


def test_internal_length_state():
    torch.manual_seed(0)
    kernel = NPLRKernel(4, state_size=8, n_kernels=2)
    assert int(kernel.L) == 0
    c_bar = kernel.C.detach().clone()
    with torch.no_grad():
        first = kernel(50)
    assert int(kernel.L) == 50 and not torch.equal(kernel.C, c_bar)
    state = {k: v.clone() for k, v in kernel.state_dict().items()}
    with torch.no_grad():
        shorter = kernel(30)  # L suffices: nothing changes
    assert int(kernel.L) == 50 and torch.equal(kernel.C, state["C"])
    torch.testing.assert_close(shorter, first[..., :30])
    with torch.no_grad():
        longer = kernel(120)  # doubles until it fits: 100, 200
    assert int(kernel.L) == 200 and kernel.L.dtype == torch.int64
    # C~ changed with L but the kernel did not: k[j] = C_bar A_bar^j B_bar for any L.
    torch.testing.assert_close(longer[..., :50], first, atol=1e-6, rtol=1e-5)
    # C~ and L are saved and loaded: a fresh module with that state computes the same.
    reloaded = NPLRKernel(4, state_size=8, n_kernels=2)
    reloaded.load_state_dict(kernel.state_dict())
    assert int(reloaded.L) == 200
    with torch.no_grad():
        torch.testing.assert_close(reloaded(120), longer)
    assert int(reloaded.L) == 200


def test_kernel_cache_is_inference_only_and_follows_the_parameters():
    torch.manual_seed(0)
    kernel = NPLRKernel(4, state_size=8)
    with torch.inference_mode():  # in-place set-up inside inference mode works
        a, b = kernel(64), kernel(64)
    assert a is b
    with torch.no_grad():
        kernel.log_dt.add_(0.1)
        assert not torch.equal(kernel(64), a)
    # With autograd on, every call builds its own graph (no stale cached graph).
    kernel(64).sum().backward()
    kernel(64).sum().backward()
    assert kernel.log_dt.grad is not None


def test_kernel_cache_follows_swapped_parameters():
    # Parameters replaced by other tensors (load_state_dict(assign=True), functional_call,
    # ``p.data = ...``) whose version counters match the cached ones must not hit the cache.
    torch.manual_seed(0)
    kernel, other = NPLRKernel(4, state_size=8), NPLRKernel(4, state_size=8)
    with torch.no_grad():
        kernel(64)
        expected = other(64)
        kernel.load_state_dict(other.state_dict(), assign=True)
        torch.testing.assert_close(kernel(64), expected, rtol=0, atol=0)
        fresh = NPLRKernel(4, state_size=8)
        fresh(64)  # C~ and L set up for this length
        state = {**dict(fresh.named_parameters()), **dict(fresh.named_buffers())}
        swapped = torch.func.functional_call(kernel, state, (64,))
        torch.testing.assert_close(swapped, fresh.generate(64).float(), rtol=0, atol=0)
        kernel.log_dt.data = kernel.log_dt.data * 0.5
        kernel.clear_cache()
        halved = kernel(64)
        kernel.log_dt.data = kernel.log_dt.data * 2  # same counter, other storage
        torch.testing.assert_close(kernel(64), expected, rtol=0, atol=0)
        assert not torch.equal(halved, expected)
