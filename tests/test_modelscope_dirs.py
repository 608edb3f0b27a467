"""ModelScope model directories (FLASepformer releases): layout detection and clear errors.

The releases cannot be downloaded here; the reference fixtures' weights and constructor
arguments are placed in directories of the release layout instead.
"""

import json

import pytest
import torch
from _reference_fixtures import reference_fixture

from asteroid_tdanet.checkpoints import NotACheckpointError, load_package
from asteroid_tdanet.models import load_model

GROUP = "reference_fla"
MODELS = {
    "flasepreformer_small_8k": "FLASepReformer",
    "flatflocoformer_small_8k": "FLATFLocoformer",
}


def release_dir(tmp_path, fixture, nesting):
    """A directory of the release layout holding the fixture's weights and kwargs, and the
    fixture's io tensors."""
    sd, config, io = reference_fixture(GROUP, fixture)
    if nesting == "model":  # ModelScope's usual file: the model's arguments under "model"
        config = {"framework": "pytorch", "task": "speech-separation", "model": config}
    folder = tmp_path / fixture
    folder.mkdir()
    (folder / "configuration.json").write_text(json.dumps(config))
    torch.save(sd, folder / "pytorch_model.bin")
    return folder, io


@pytest.mark.parametrize("nesting", ["top", "model"])
@pytest.mark.parametrize("fixture", sorted(MODELS))
def test_release_directory_loads_exactly(tmp_path, fixture, nesting):
    folder, io = release_dir(tmp_path, fixture, nesting)
    model = load_model(str(folder))
    assert type(model).__name__ == MODELS[fixture]
    assert model.get_model_args()["official_compat"] is True
    with torch.inference_mode():
        est = model(io["mixture"])
    torch.testing.assert_close(est, io["estimates"], rtol=0, atol=1e-4)
    assert "CC BY-NC 4.0" in load_package(str(folder))["infos"]["licence"]


def test_folder_without_the_files_is_named(tmp_path):
    (tmp_path / "configuration.json").write_text("{}")
    with pytest.raises(NotACheckpointError, match="without pytorch_model.bin"):
        load_package(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotACheckpointError, match="is a folder, not a checkpoint"):
        load_package(str(empty))


def test_configuration_without_model_arguments_says_what_is_missing(tmp_path):
    folder, _ = release_dir(tmp_path, "flatflocoformer_small_8k", "top")
    (folder / "configuration.json").write_text(json.dumps({"framework": "pytorch", "model": {}}))
    with pytest.raises(NotACheckpointError, match="no 'separator_conf'.*found keys"):
        load_package(str(folder))


def test_weights_of_another_model_are_refused(tmp_path):
    folder, _ = release_dir(tmp_path, "flatflocoformer_small_8k", "top")
    torch.save({"encoder.weight": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(NotACheckpointError, match="not a FLA-SepReformer or FLA-TFLocoformer"):
        load_package(str(folder))


@pytest.mark.parametrize("fixture", sorted(MODELS))
def test_bare_reference_state_dict_points_to_the_directory(tmp_path, fixture):
    sd, _, _ = reference_fixture(GROUP, fixture)
    torch.save(sd, tmp_path / "pytorch_model.bin")
    with pytest.raises(NotACheckpointError, match=f"bare {MODELS[fixture]} state_dict.*from_ref"):
        load_package(str(tmp_path / "pytorch_model.bin"))


def test_cli_separates_with_a_release_directory(tmp_path):
    import numpy as np
    import soundfile as sf

    from asteroid_tdanet.cli import main as cli_main

    folder, io = release_dir(tmp_path, "flatflocoformer_small_8k", "model")
    sf.write(tmp_path / "mix.wav", io["mixture"][0].numpy(), 8000, subtype="FLOAT")
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / "mix.wav"), "--model", str(folder), "-o", str(out), "-q"]
    assert cli_main(args) == 0
    for i in range(2):
        got, rate = sf.read(out / f"mix_s{i + 1}.wav", dtype="float32")
        assert rate == 8000
        np.testing.assert_allclose(got, io["estimates"][0, i].numpy(), atol=1e-4)


@pytest.mark.parametrize("fixture", sorted(MODELS))
def test_modelscope_keys_next_to_top_level_arguments_are_ignored(tmp_path, fixture):
    folder, io = release_dir(tmp_path, fixture, "top")
    config = json.loads((folder / "configuration.json").read_text())
    config.update(
        framework="pytorch", task="speech-separation", pipeline={"type": "speech-separation"}
    )
    (folder / "configuration.json").write_text(json.dumps(config))
    model = load_model(str(folder))
    assert type(model).__name__ == MODELS[fixture]
    with torch.inference_mode():
        torch.testing.assert_close(model(io["mixture"]), io["estimates"], rtol=0, atol=1e-4)
    # The model's own config reader (from_reference) ignores them too.
    _, plain, _ = reference_fixture(GROUP, fixture)
    assert type(model).reference_model_args(config) == type(model).reference_model_args(plain)


# An argument each port refuses, set inside separator_conf.
UNSUPPORTED = {
    "flasepreformer_small_8k": ("num_spks_typo", 2),
    "flatflocoformer_small_8k": ("use_rope", False),
}


@pytest.mark.parametrize("nesting", ["top", "model"])
@pytest.mark.parametrize("fixture", sorted(MODELS))
def test_an_argument_the_port_refuses_names_the_configuration_file(tmp_path, fixture, nesting):
    folder, _ = release_dir(tmp_path, fixture, nesting)
    config = json.loads((folder / "configuration.json").read_text())
    key, value = UNSUPPORTED[fixture]
    (config["model"] if nesting == "model" else config)["separator_conf"][key] = value
    (folder / "configuration.json").write_text(json.dumps(config))
    with pytest.raises(NotACheckpointError) as info:
        load_model(str(folder))
    message = str(info.value)
    assert repr(str(folder / "configuration.json")) in message and key in message
    assert len(message.splitlines()) == 1
