"""Depthwise convolution backward pass (masknn.depthwise_grad) against float64 autograd of
``F.conv1d`` and the explicit sums of the convolution's definition."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from asteroid_tdanet import TDANet
from asteroid_tdanet.masknn import depthwise_grad
from asteroid_tdanet.masknn.convolutions import DepthwiseConv1d
from asteroid_tdanet.masknn.depthwise_grad import depthwise_conv1d

CASES = [
    # (frames, kernel, stride, padding): same, strided, causal-style (k - 1) padding, short
    # inputs where taps miss the input entirely, no padding.
    (t, k, s, p)
    for t, k, s, p in itertools.product([1, 2, 7, 12, 13], [1, 3, 5], [1, 2, 3], [0, 1, 2, 4])
    if t + 2 * p >= k
]


@pytest.fixture(autouse=True)
def every_size(monkeypatch):
    # The function serves maps of any size; the model takes it from MIN_ELEMENTS up.
    monkeypatch.setattr(depthwise_grad, "MIN_ELEMENTS", 0)


def _input(batch, channels, frames, frame_major):
    if frame_major:
        return torch.randn(batch, frames, channels).transpose(1, 2).requires_grad_()
    return torch.randn(batch, channels, frames, requires_grad=True)


@pytest.mark.parametrize("frames,kernel,stride,padding", CASES)
@pytest.mark.parametrize("frame_major", [True, False])
def test_gradients_equal_float64_autograd(frames, kernel, stride, padding, frame_major):
    torch.manual_seed(frames * 100 + kernel * 10 + stride + padding)
    x = _input(2, 3, frames, frame_major)
    w = torch.randn(3, 1, kernel, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    y = depthwise_conv1d(x, w, b, stride, padding)
    assert y.grad_fn is not None and "DepthwiseConv1d" in type(y.grad_fn).__name__
    grad = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, w, b), grad)

    leaves = [t.detach().double().requires_grad_() for t in (x, w, b)]
    ref_y = F.conv1d(leaves[0], leaves[1], leaves[2], stride, padding, groups=3)
    assert ref_y.shape == y.shape
    torch.testing.assert_close(y.double(), ref_y, atol=1e-5, rtol=0)
    ref = torch.autograd.grad(ref_y, leaves, grad.double())
    for name, a, r in zip("xwb", got, ref):
        assert a.shape == r.shape, name
        torch.testing.assert_close(a.double(), r, atol=1e-5, rtol=1e-5, msg=name)


def test_weight_gradient_is_the_sum_of_products_of_its_definition():
    # dL/dw[c, j] = sum_{n,t} dy[n, c, t] x[n, c, s t + j - p], written as loops.
    torch.manual_seed(0)
    x, grad = torch.randn(2, 3, 11, dtype=torch.float64), torch.randn(2, 3, 5, dtype=torch.float64)
    kernel, stride, padding = 3, 2, 1
    expected = torch.zeros(3, 1, kernel, dtype=torch.float64)
    for n, c, t, j in itertools.product(range(2), range(3), range(5), range(kernel)):
        i = stride * t + j - padding
        if 0 <= i < 11:
            expected[c, 0, j] += grad[n, c, t] * x[n, c, i]
    got = depthwise_grad.weight_grad(grad, x, kernel, stride, padding)
    torch.testing.assert_close(got, expected)


def test_blocked_weight_gradient_equals_the_whole_map(monkeypatch):
    torch.manual_seed(1)
    x, grad = torch.randn(2, 4, 40, dtype=torch.float64), torch.randn(2, 4, 20, dtype=torch.float64)
    whole = depthwise_grad.weight_grad(grad, x, 5, 2, 2)
    monkeypatch.setattr(depthwise_grad, "WEIGHT_GRAD_BLOCK_ELEMENTS", 2 * 4 * 3)  # 3 frames
    torch.testing.assert_close(depthwise_grad.weight_grad(grad, x, 5, 2, 2), whole)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_module_gradients_equal_torch_conv(causal, stride):
    torch.manual_seed(2)
    conv = DepthwiseConv1d(4, 5, stride, causal=causal)
    ref = torch.nn.Conv1d(4, 4, 5, stride, padding=4 if causal else 2, groups=4).double()
    with torch.no_grad():
        ref.weight.copy_(conv.weight)
        ref.bias.copy_(conv.bias)
    x = torch.randn(2, 30, 4).transpose(1, 2).requires_grad_()
    y = conv(x)
    x64 = x.detach().double().requires_grad_()
    y64 = ref(x64)[..., : y.shape[-1]]
    grad = torch.randn_like(y)
    y.backward(grad)
    y64.backward(grad.double())
    tol = dict(atol=1e-5, rtol=1e-5)  # float32 sums against float64 ones
    torch.testing.assert_close(x.grad.double(), x64.grad, **tol)
    torch.testing.assert_close(conv.weight.grad.double(), ref.weight.grad, **tol)
    torch.testing.assert_close(conv.bias.grad.double(), ref.bias.grad, **tol)


def test_contexts_it_does_not_serve_keep_torch_autograd(monkeypatch):
    x = torch.randn(1, 3, 9, requires_grad=True)
    w = torch.randn(3, 1, 3, requires_grad=True)
    monkeypatch.setattr(depthwise_grad, "MIN_ELEMENTS", 28)  # small maps: torch's kernel
    assert "DepthwiseConv1d" not in type(depthwise_conv1d(x, w, None, 1, 1).grad_fn).__name__
    monkeypatch.setattr(depthwise_grad, "MIN_ELEMENTS", 27)
    assert "DepthwiseConv1d" in type(depthwise_conv1d(x, w, None, 1, 1).grad_fn).__name__
    with torch.no_grad():
        assert depthwise_conv1d(x, w, None, 1, 1).grad_fn is None
    plain = depthwise_conv1d(x.detach(), w.detach(), None, 1, 1)
    assert plain.grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = depthwise_conv1d(x, w, None, 1, 1)
    assert "DepthwiseConv1d" not in type(y.grad_fn).__name__
    half = depthwise_conv1d(x.bfloat16(), w.bfloat16(), None, 1, 1)
    assert "DepthwiseConv1d" not in type(half.grad_fn).__name__
    # Another device (a GPU's kernels need no help; ``meta`` stands in for it here).
    on_meta = depthwise_conv1d(x.detach().to("meta").requires_grad_(), w.to("meta"), None, 1, 1)
    assert "DepthwiseConv1d" not in type(on_meta.grad_fn).__name__


def test_model_gradients_unchanged(monkeypatch):
    torch.manual_seed(3)
    model = TDANet(n_src=2, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)
    x = torch.randn(2, 1600)

    def grads():
        torch.manual_seed(4)  # same dropout masks
        model.zero_grad()
        model(x).pow(2).mean().backward()
        return [p.grad.clone() for p in model.parameters()]

    fast = grads()
    monkeypatch.setattr(depthwise_grad, "_plain", lambda *args: True)
    plain = grads()
    for a, b in zip(fast, plain):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
