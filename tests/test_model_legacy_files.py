"""Files written by release 0.1.0 (before the GA mixer became a component) still load."""

from pathlib import Path

import pytest
import torch
from asteroid.models import BaseModel

from asteroid_tdanet import TDANet, load_model
from asteroid_tdanet.checkpoints import NotACheckpointError, load_package
from asteroid_tdanet.checkpoints.legacy import upgrade_tdanet_package

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_v0_1_0"
TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)


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
    assert package["infos"]["upgraded_from"] == "asteroid-tdanet 0.1.0 package"
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


@pytest.mark.parametrize("loader", [TDANet.from_pretrained, load_model, BaseModel.from_pretrained])
def test_mixer_arguments_without_a_mixer_name_are_kept(tmp_path, loader):
    # Today's form (ga_mixer_args) with the mixer left to TDANet's default is no 0.1.0 file:
    # its heads must not be replaced by 0.1.0's default of 8.
    model = TDANet(**TINY, ga_mixer_args={"n_heads": 2})
    package = model.serialize()
    del package["model_args"]["ga_mixer"]
    torch.save(package, tmp_path / "no_mixer_name.pth")
    loaded = loader(str(tmp_path / "no_mixer_name.pth")).eval()
    assert loaded.get_model_args()["ga_mixer_args"] == {"n_heads": 2}
    assert "upgraded_from" not in load_package(str(tmp_path / "no_mixer_name.pth"))["infos"]
    x = torch.randn(2, 1203)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x), atol=1e-6, rtol=0)


def test_converted_look2hear_files_are_not_taken_for_0_1_0_files(official_fixtures):
    package = load_package(str(official_fixtures / "tdanetbest_tiny_8k.ckpt.bin"))
    assert package["infos"]["converted_from"] == "look2hear TDANetBest"
    assert "upgraded_from" not in package["infos"]
    assert package["model_args"]["ga_mixer"] == "mhsa-frame-local"
    assert package["model_args"]["ga_mixer_args"] == {"n_heads": 8}  # the released code's heads


def test_the_upgrade_keeps_mixer_arguments_and_refuses_contradicting_heads():
    package = torch.load(LEGACY / "tdanet_default.pth", weights_only=True)
    del package["model_args"]["n_heads"]
    package["model_args"]["ga_mixer_args"] = {"n_heads": 4}
    assert upgrade_tdanet_package(package)["model_args"]["ga_mixer_args"] == {"n_heads": 4}
    package["model_args"]["n_heads"] = 2
    with pytest.raises(
        NotACheckpointError, match=r"n_heads=2 contradicts ga_mixer_args\['n_heads'\]=4"
    ):
        upgrade_tdanet_package(package)
