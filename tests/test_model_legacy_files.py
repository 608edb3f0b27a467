"""Files written by release 0.1.0 (before the GA mixer became a component) still load."""

from pathlib import Path

import pytest
import torch
from asteroid.models import BaseModel

from asteroid_tdanet import TDANet, load_model
from asteroid_tdanet.checkpoints import load_package

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_v0_1_0"


@pytest.mark.parametrize("name", ["default", "compat", "causal"])
@pytest.mark.parametrize("loader", [TDANet.from_pretrained, load_model, BaseModel.from_pretrained])
def test_legacy_packages_give_the_same_outputs(name, loader):
    model = loader(str(LEGACY / f"tdanet_{name}.pth")).eval()
    io = torch.load(LEGACY / f"tdanet_{name}.io.pt", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(model(io["mixture"]), io["estimates"], atol=1e-5, rtol=0)


def test_legacy_arguments_are_upgraded(tmp_path):
    old = torch.load(LEGACY / "tdanet_compat.pth", weights_only=True)
    assert old["model_args"]["n_heads"] == 2 and "ga_mixer" not in old["model_args"]
    package = load_package(str(LEGACY / "tdanet_compat.pth"))
    args = package["model_args"]
    assert "n_heads" not in args
    assert args["ga_mixer"] == "mhsa-frame-local" and args["ga_mixer_args"] == {"n_heads": 2}
    model = TDANet.from_pretrained(package)
    # fb_name and mask_domain are newer than these files: the free filterbank, masks on it
    newer = dict(fb_name="free", mask_domain="coefficients")
    assert model.get_model_args() == {**args, "ga_mixer_args": {"n_heads": 2}, **newer}
    torch.save(model.serialize(), tmp_path / "new.pth")
    again = torch.load(tmp_path / "new.pth", weights_only=True)
    assert again["model_args"]["ga_mixer"] == "mhsa-frame-local"
    assert not any("global_attention" in k for k in again["state_dict"])
