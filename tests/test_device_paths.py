"""The masker's device-dependent paths, checked on the CPU.

Off the CPU the masker stores its maps channel-major (``frame_major.FRAME_MAJOR_DEVICES``) and
computes gLN of large items with one device-wide reduction (``norms.GROUP_NORM_DEVICES``,
``norms.GROUP_NORM_MAX_ITEM``). A GPU is not needed to check those paths: emptying the two
tuples (and setting the item limit to 0) makes the CPU take them. References: a dense 1x1
convolution and gLN's formula written in the test (float64), and the whole model's output and
gradients on the CPU's own paths.
"""

import pytest
import torch

from asteroid_tdanet import TDANet
from asteroid_tdanet.masknn import depthwise_grad, nearest, norms
from asteroid_tdanet.masknn import frame_major as layout
from asteroid_tdanet.masknn.convolutions import PointwiseConv1d
from asteroid_tdanet.masknn.frame_major import is_frame_major


def _naive_gln(x, weight, bias, eps):
    x = x.double()
    dims = tuple(range(1, x.dim()))
    mean = x.mean(dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dims, keepdim=True)
    view = (1, -1) + (1,) * (x.dim() - 2)
    return weight.double().view(view) * (x - mean) / torch.sqrt(var + eps) + bias.double().view(
        view
    )


@pytest.mark.parametrize("shape", [(2, 8, 40), (2, 8, 5, 6), (1, 3, 7)])
@pytest.mark.parametrize("device_wide", [True, False])
def test_global_layer_norm_is_its_formula(monkeypatch, shape, device_wide):
    if device_wide:
        monkeypatch.setattr(norms, "GROUP_NORM_DEVICES", ())
        monkeypatch.setattr(norms, "GROUP_NORM_MAX_ITEM", 0)
    torch.manual_seed(0)
    norm = norms.GlobalLayerNorm(shape[1], eps=1e-5)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = 3.0 + 2.0 * torch.randn(shape)
    expected = _naive_gln(x, norm.weight, norm.bias, 1e-5)
    torch.testing.assert_close(norm(x).double(), expected, atol=1e-5, rtol=1e-5)
    frame_major_x = x.transpose(1, -1).contiguous().transpose(1, -1)
    torch.testing.assert_close(norm(frame_major_x).double(), expected, atol=1e-5, rtol=1e-5)


def test_global_layer_norm_of_half_inputs_keeps_the_dtype_with_float32_statistics():
    torch.manual_seed(0)
    # 300 x 600 values around 100: their squares summed in half precision would overflow.
    x = (100.0 + torch.randn(1, 300, 600)).half()
    weight, bias = torch.randn(300), torch.randn(300)
    out = norms.global_layer_norm(x, weight.half(), bias.half(), 1e-8)
    assert out.dtype == torch.half
    expected = _naive_gln(x.float(), weight.half().float(), bias.half().float(), 1e-8)
    torch.testing.assert_close(out.double(), expected, atol=2e-2, rtol=1e-2)


@pytest.mark.parametrize("limit", [0, 2 * 8 * 40 - 1, 2 * 8 * 40, 10**9])
def test_gln_path_off_the_cpu_follows_the_item_size(monkeypatch, limit):
    """Off GROUP_NORM_DEVICES, items (C x frames) up to GROUP_NORM_MAX_ITEM elements take
    group_norm (its one block per item is quick for them), larger ones the device-wide
    reduction; on those devices group_norm at any size."""
    calls = []
    device_wide = norms.global_layer_norm
    monkeypatch.setattr(
        norms, "global_layer_norm", lambda *a: calls.append("var_mean") or device_wide(*a)
    )
    group_norm = torch.nn.functional.group_norm
    monkeypatch.setattr(
        torch.nn.functional,
        "group_norm",
        lambda *a, **k: calls.append("group_norm") or group_norm(*a, **k),
    )
    monkeypatch.setattr(norms, "GROUP_NORM_MAX_ITEM", limit)
    norm, x = norms.GlobalLayerNorm(16), torch.randn(3, 16, 40)  # items of 640 elements
    norm(x)
    assert calls == ["group_norm"], "the CPU is a group_norm device"
    monkeypatch.setattr(norms, "GROUP_NORM_DEVICES", ())
    calls.clear()
    norm(x)
    assert calls == ["group_norm" if 16 * 40 <= limit else "var_mean"]


@pytest.fixture
def channel_major(monkeypatch):
    """Run the test with every device taking the channel-major path, as a GPU does."""
    monkeypatch.setattr(layout, "FRAME_MAJOR_DEVICES", ())


def _inputs(frame_major_input: bool):
    torch.manual_seed(0)
    x = torch.randn(2, 40, 8)  # (batch, frames, C)
    return x.transpose(1, 2) if frame_major_input else x.transpose(1, 2).contiguous()


def _naive(conv: PointwiseConv1d, x: torch.Tensor) -> torch.Tensor:
    # y[n, o, t] = b[o] + sum_i W[o, i] x[n, i, t]
    w = conv.weight[..., 0]
    out = torch.zeros(x.shape[0], w.shape[0], x.shape[-1], dtype=torch.float64)
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            out[:, o] += w[o, i].double() * x[:, i].double()
        if conv.bias is not None:
            out[:, o] += conv.bias[o].double()
    return out


@pytest.mark.parametrize("frame_major_input", [True, False])
def test_pointwise_layout_on_the_cpu_is_frame_major(frame_major_input):
    conv = PointwiseConv1d(8, 5)
    x = _inputs(frame_major_input)
    out = conv(x)
    assert is_frame_major(out)
    torch.testing.assert_close(out.double(), _naive(conv, x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("frame_major_input", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_pointwise_layout_elsewhere_is_channel_major(channel_major, frame_major_input, bias):
    conv = PointwiseConv1d(8, 5, bias=bias)
    x = _inputs(frame_major_input)
    out = conv(x)
    assert out.is_contiguous() and not is_frame_major(out)
    torch.testing.assert_close(out.double(), _naive(conv, x), atol=1e-5, rtol=1e-5)


def test_model_output_and_gradients_are_the_same_on_the_gpu_paths(monkeypatch):
    """The whole model on the paths a GPU takes (channel-major storage: the fused up-sampling
    and the hand-written depthwise backward step aside; gLN from one reduction) equals the
    CPU's computation, outputs and gradients."""
    # The CPU's fused paths on maps of any size, so that the frame-major run takes them.
    monkeypatch.setattr(nearest, "MIN_FUSED_ELEMENTS", 0)
    monkeypatch.setattr(depthwise_grad, "MIN_ELEMENTS", 0)
    fused_calls = []
    fused = nearest._fused_forward
    monkeypatch.setattr(nearest, "_fused_forward", lambda *a: fused_calls.append(1) or fused(*a))
    torch.manual_seed(0)
    model = TDANet(
        sample_rate=8000,
        bn_chan=16,
        hid_chan=32,
        n_blocks=2,
        upsampling_depth=3,
        dropout=0.0,
        drop_path=0.0,
    )
    wav = torch.randn(2, 8000)

    def run():
        model.zero_grad()
        est = model(wav)
        est.square().mean().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        return est.detach(), grads

    est_fm, grads_fm = run()
    assert fused_calls, "the frame-major run should take the fused up-sampling"
    fused_calls.clear()
    monkeypatch.setattr(layout, "FRAME_MAJOR_DEVICES", ())
    monkeypatch.setattr(norms, "GROUP_NORM_DEVICES", ())
    monkeypatch.setattr(norms, "GROUP_NORM_MAX_ITEM", 0)
    est_cm, grads_cm = run()
    assert not fused_calls, "channel-major maps cannot take the fused up-sampling"
    torch.testing.assert_close(est_cm, est_fm, atol=1e-5, rtol=1e-5)
    for name, grad in grads_fm.items():
        torch.testing.assert_close(grads_cm[name], grad, atol=1e-5, rtol=1e-4, msg=name)
    with torch.inference_mode():
        torch.testing.assert_close(model(wav), est_fm, atol=1e-5, rtol=1e-5)
