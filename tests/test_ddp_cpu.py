"""Two-process CPU DDP (gloo) training through the recipe's train entry point."""

import json
import subprocess

import pytest
import torch

from _recipe_helpers import PYTHON, TINY_MODEL, env, make_tiny_data


@pytest.mark.skipif(
    not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
    reason="no gloo backend",
)
def test_two_process_cpu_ddp(tmp_path):
    conf, _ = make_tiny_data(tmp_path)
    exp = tmp_path / "exp"
    cmd = [
        PYTHON,
        "-m",
        "asteroid_tdanet.recipes.train",
        "--conf",
        conf,
        "--exp_dir",
        str(exp),
        "--accelerator",
        "cpu",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--max_steps",
        "2",
        "--epochs",
        "5",
        *TINY_MODEL,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    # Both processes joined the process group.
    assert "MEMBER: 1/2" in log and "MEMBER: 2/2" in log
    done = json.loads((exp / "train_done.json").read_text())
    assert done["global_step"] == 2
    from asteroid_tdanet import TDANet

    model = TDANet.from_pretrained(str(exp / "best_model.pth"))
    assert model(torch.randn(1, 4000)).shape == (1, 2, 4000)
