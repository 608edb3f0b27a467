"""Fused nearest up-sampling (masknn.nearest) against the materialised formula."""

import pytest
import torch
import torch.nn.functional as F

from asteroid_tdanet import TDANet
from asteroid_tdanet.masknn import nearest
from asteroid_tdanet.masknn.nearest import nearest_runs, upsample_addcmul


def materialised(add, fine, mul=None):
    """``up(add) + fine * up(mul)`` with ``up`` = ``F.interpolate`` (1D nearest)."""
    up = lambda x: F.interpolate(x, size=fine.shape[-1], mode="nearest")  # noqa: E731
    return up(add) + fine if mul is None else torch.addcmul(up(add), fine, up(mul))


def frame_major(batch, channels, frames):
    return torch.randn(batch, frames, channels).transpose(1, 2)


# 5002 -> 10003 and 626 -> 10003: float32 index arithmetic gives irregular runs mid-way.
PAIRS = [(5002, 10003), (626, 10003), (2501, 5002), (63, 1003), (7, 7), (3751, 60003)]


@pytest.mark.parametrize("coarse,fine", PAIRS)
@pytest.mark.parametrize("gated", [True, False])
def test_fused_sum_is_bit_identical_to_materialised(monkeypatch, coarse, fine, gated):
    monkeypatch.setattr(nearest, "MIN_FUSED_ELEMENTS", 0)  # fuse even the small cases
    x = frame_major(2, 8, fine)
    add, mul = torch.randn(2, 8, coarse), (torch.rand(2, 8, coarse) if gated else None)
    with torch.no_grad():
        got = upsample_addcmul(add, x, mul)
    assert got.shape == x.shape
    assert torch.equal(got, materialised(add, x, mul))


def test_runs_cover_every_fine_frame_once_in_order():
    for coarse, fine in PAIRS:
        segments = nearest_runs(coarse, fine)
        index = torch.cat(
            [torch.arange(c0, c1).repeat_interleave(run) for c0, c1, _, run in segments]
        )
        assert (
            index.tolist()
            == F.interpolate(torch.arange(coarse, dtype=torch.float32).view(1, 1, -1), size=fine)
            .view(-1)
            .long()
            .tolist()
        )
        assert [f0 for *_, f0, _ in segments][0] == 0


@pytest.mark.parametrize("coarse,fine", [(5002, 10003), (63, 1003), (7, 7)])
def test_fused_gradients_equal_the_literal_ones(monkeypatch, coarse, fine):
    monkeypatch.setattr(nearest, "MIN_FUSED_ELEMENTS", 0)
    # float32: torch's float64 nearest backward uses other indices than its forward (e.g.
    # 5002 -> 10003: the short run at 4997 instead of 4999); ours is the forward's adjoint.
    leaves = [
        torch.randn(2, fine, 3, requires_grad=True),  # frame-major
        torch.randn(2, 3, coarse, requires_grad=True),
        torch.rand(2, 3, coarse, requires_grad=True),
    ]
    weight = torch.randn(2, 3, fine)  # a channel-major upstream gradient

    def grads(fn):
        for leaf in leaves:
            leaf.grad = None
        x, add, mul = leaves[0].transpose(1, 2), leaves[1], leaves[2]
        (fn(add, x, mul) * weight).sum().backward()
        return [leaf.grad.clone() for leaf in leaves]

    for got, want in zip(grads(upsample_addcmul), grads(materialised)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_autograd_and_other_layouts_take_the_literal_path(monkeypatch):
    monkeypatch.setattr(nearest, "MIN_FUSED_ELEMENTS", 0)
    add = torch.randn(1, 4, 5, requires_grad=True)
    x, mul = torch.randn(1, 4, 9), torch.rand(1, 4, 5)  # channel-major fine map
    out = upsample_addcmul(add, x, mul)
    out.sum().backward()  # out= kernels would refuse autograd
    # d/d add of sum(up(add)) counts the fine frames each coarse frame covers
    runs = torch.tensor([run for c0, c1, _, run in nearest_runs(5, 9) for _ in range(c0, c1)])
    assert torch.equal(add.grad, runs.float().expand(1, 4, 5))
    with torch.no_grad():
        assert torch.equal(upsample_addcmul(add, x, mul), materialised(add, x, mul))


def test_model_outputs_unchanged_by_the_fused_path(monkeypatch):
    model = TDANet(n_src=2, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=4).eval()
    wav = torch.randn(2, 12347)
    plans = []
    monkeypatch.setattr(nearest, "nearest_runs", lambda *a: plans.append(a) or nearest_runs(*a))
    with torch.no_grad():
        monkeypatch.setattr(nearest, "MIN_FUSED_ELEMENTS", 0)
        fused = model(wav)
        assert len(plans) == 2 * (4 + 3)  # every fusion of both blocks took the fused path
        monkeypatch.setattr(nearest, "MIN_FUSED_ELEMENTS", 1 << 60)
        literal = model(wav)
    assert torch.equal(fused, literal)
