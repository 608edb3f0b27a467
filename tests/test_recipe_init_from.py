"""Fine-tuning: the recipe's ``model.init_from`` starts from a checkpoint's weights."""

import pytest
import torch
import yaml

from asteroid_tdanet.models import SeparationModel, package_model
from asteroid_tdanet.recipes.model_card import model_card
from asteroid_tdanet.recipes.model_factory import build_model

TINY = dict(bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, ga_mixer_args={"n_heads": 2})


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = SeparationModel.from_preset("tdanet-mini", n_src=2, sample_rate=8000, **TINY)
    package = package_model(model)
    package["infos"]["licence"] = "CC BY-NC 4.0 (test)"
    path = tmp_path / "start.pth"
    torch.save(package, path)
    return model, path


def test_init_from_loads_the_weights_and_its_architecture(checkpoint):
    start, path = checkpoint
    conf = dict(model_name="tdanet", preset="mini", init_from=str(path), dropout=None)
    model = build_model(conf, sample_rate=8000, n_src=2)
    assert model.training  # ready to train
    assert model.get_model_args()["bn_chan"] == 16  # the checkpoint's size, not the preset's
    for (name, a), b in zip(start.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_init_from_refuses_other_data(checkpoint):
    _, path = checkpoint
    with pytest.raises(ValueError, match="16000"):
        build_model(dict(model_name="tdanet", init_from=str(path)), sample_rate=16000, n_src=2)
    with pytest.raises(ValueError, match="not a S4M"):
        build_model(dict(model_name="s4m", init_from=str(path)), sample_rate=8000, n_src=2)


def test_card_of_a_fine_tuned_model_states_the_initial_licence(checkpoint):
    _, path = checkpoint
    conf = dict(
        data=dict(dataset="mini", task="sep_clean", sample_rate=8000, n_src=2, segment=2.0),
        model=dict(model_name="tdanet", preset="mini", init_from=str(path)),
        training=dict(loss="sisdr", batch_size=4),
        optim=dict(lr=1e-3),
    )
    text = model_card(None, conf, {"si_sdr_imp": 1.0}, "cc-by-nc-4.0", model_name="TDANet")
    assert "Fine-tuned from" in text and "CC BY-NC 4.0 (test)" in text
    # A permissive --license on weights derived from non-commercial ones: the front matter
    # (the hub's licence filter) says non-commercial; training's record is used first.
    text = model_card(None, conf, {}, "mit", model_name="TDANet")
    assert yaml.safe_load(text.split("---")[1])["license"] == "cc-by-nc-4.0"
    conf["model"]["init_from"] = "gone.pth"
    infos = {"init_licence": "CC BY-NC"}
    text = model_card(None, conf, {}, "mit", model_name="TDANet", recipe_infos=infos)
    assert "**CC BY-NC**" in text
    conf["model"]["init_from"] = None
    assert "Fine-tuned" not in model_card(None, conf, {}, "cc-by-sa-3.0", model_name="TDANet")
