"""Gradient checkpointing of the U-block (training option): the same outputs and gradients,
dropout included, and far fewer activations kept for the backward pass."""

import pytest
import torch
from torch.autograd.graph import saved_tensors_hooks

from asteroid_tdanet import S4M, FLASepReformer, TDANet

TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=4, upsampling_depth=3)


def loss_and_grads(model, x, seed=0):
    """Loss and parameter gradients of one training step; bytes saved for the backward."""
    saved = []

    def pack(tensor):
        saved.append(tensor.numel() * tensor.element_size())
        return tensor

    torch.manual_seed(seed)  # the same dropout / drop-path draws
    model.zero_grad()
    with saved_tensors_hooks(pack, lambda t: t):
        loss = model(x).pow(2).mean()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads, sum(saved)


@pytest.mark.parametrize("cls", [TDANet, S4M])
def test_same_gradients_and_fewer_saved_activations(cls):
    torch.manual_seed(0)
    args = dict(TINY, n_heads=2) if cls is TDANet else TINY
    model = cls(**args).train()  # dropout and drop-path active (TDANet)
    x = torch.randn(2, 8000)
    loss, grads, saved = loss_and_grads(model, x)
    model.gradient_checkpointing_enable()
    loss_ckpt, grads_ckpt, saved_ckpt = loss_and_grads(model, x)
    torch.testing.assert_close(loss_ckpt, loss, rtol=0, atol=0)
    assert grads_ckpt.keys() == grads.keys()
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], rtol=1e-5, atol=1e-6)
    # Only the blocks' inputs are kept: n_blocks = 4 blocks' activations become 4 inputs.
    assert saved_ckpt < saved / 3
    # Not an architecture argument, and no effect in inference.
    assert "gradient_checkpointing" not in model.get_model_args()
    with torch.inference_mode():
        on = model.eval()(x)
        model.gradient_checkpointing_enable(False)
        off = model(x)
    torch.testing.assert_close(on, off, rtol=0, atol=0)
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


def test_models_without_repeated_blocks_say_so():
    model = FLASepReformer(sample_rate=8000, enc_channels=32, feature_dim=16, n_stages=2)
    with pytest.raises(ValueError, match="no blocks to checkpoint"):
        model.gradient_checkpointing_enable()


def test_recipe_option_trains_with_checkpointing_and_refuses_models_without(
    tmp_path, monkeypatch, capsys
):
    from _recipe_helpers import TINY_MODEL, make_tiny_data

    from asteroid_tdanet.recipes import train

    # The allocator mode is process-wide: record it instead of changing the test process's.
    modes = []
    monkeypatch.setattr(train, "set_allocator", modes.append)
    conf_path, _ = make_tiny_data(tmp_path)
    common = ["--conf", conf_path, "--epochs", "1", "--num_workers", "0"]
    args = common + ["--exp_dir", str(tmp_path / "exp"), "--gradient_checkpointing", "true"]
    assert train.main(args + TINY_MODEL + ["--allocator", "release"]) == 0
    assert (tmp_path / "exp" / "best_model.pth").exists()
    assert modes == ["release"]
    bad = ["--exp_dir", str(tmp_path / "bad"), "--allocator", "jemalloc"]
    assert train.main(common + bad + TINY_MODEL) == 2
    assert "training.allocator must be one of reuse, release, system" in capsys.readouterr().err
    fla = ["--exp_dir", str(tmp_path / "fla"), "--gradient_checkpointing", "true"]
    fla += ["--model_name", "flasepreformer", "--preset", "fla-sepreformer-mini"]
    assert train.main(common + fla) == 2  # "Conf error: ... no blocks to checkpoint"
