"""Serialization, safe loading, asteroid integration, hub ids and released checkpoints."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import asteroid.models
from asteroid.models import BaseModel

import asteroid_tdanet
from asteroid_tdanet import TDANet, load_model
from asteroid_tdanet.checkpoints import NotACheckpointError, load_package, safe_torch_load
from asteroid_tdanet.checkpoints.look2hear import convert_key


def _same_outputs(a, b, length=900):
    x = torch.randn(2, length)
    a.eval(), b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


@pytest.mark.parametrize("variant", [{}, dict(official_compat=True, n_src=3), dict(use_la=False)])
def test_serialize_file_round_trip_with_safe_load(tiny_args, tmp_path, variant):
    model = TDANet(**tiny_args, **variant)
    path = tmp_path / "model.pth"
    torch.save(model.serialize(), path)
    raw = torch.load(path, weights_only=True)  # no allow-list needed for our own files
    assert raw["model_args"] == model.get_model_args()
    loaded = TDANet.from_pretrained(str(path))
    assert loaded.get_model_args() == model.get_model_args()
    _same_outputs(model, loaded)


def test_from_pretrained_kwargs_override_and_dict_untouched(tiny_args):
    package = TDANet(**tiny_args).serialize()
    args_before = dict(package["model_args"])
    model = TDANet.from_pretrained(package, dropout=0.0)
    assert model.get_model_args()["dropout"] == 0.0
    assert package["model_args"] == args_before


def test_asteroid_registry_and_base_model_loading(tiny_args, tmp_path):
    assert asteroid.models.get("TDANet") is TDANet
    model = TDANet(**tiny_args)
    path = tmp_path / "model.pth"
    torch.save(model.serialize(), path)
    loaded = BaseModel.from_pretrained(str(path))  # asteroid's own loader (weights_only load)
    assert isinstance(loaded, TDANet)
    _same_outputs(model, loaded)


def test_registration_is_idempotent():
    asteroid_tdanet.register_asteroid_models()
    asteroid_tdanet.register_asteroid_models()
    assert asteroid.models.get("tdanet") is TDANet


TINY_TDANET = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3)


def test_a_fresh_import_of_the_package_registers_again(tmp_path):
    # Autoreloaders drop a package's modules from sys.modules and import it again: the new
    # classes replace the old ones in asteroid.models, and BaseModel.from_pretrained returns
    # the new classes' models in eval mode. Run in a child: this process keeps its classes.
    script = f"""
import sys, torch, asteroid_tdanet
from asteroid.models import BaseModel, get
torch.save(asteroid_tdanet.TDANet(**{TINY_TDANET!r}).serialize(), {str(tmp_path / "m.pth")!r})
for name in [m for m in sys.modules if m.startswith("asteroid_tdanet")]:
    del sys.modules[name]
import asteroid_tdanet as again
assert get("TDANet") is again.TDANet
model = BaseModel.from_pretrained({str(tmp_path / "m.pth")!r})
assert type(model) is again.TDANet and not model.training
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]


def test_published_folder_loads(tiny_args, tmp_path):
    # stage 4's publish_dir or a hub snapshot folder: its pytorch_model.bin
    model = TDANet(**tiny_args).eval()
    (tmp_path / "pub").mkdir()
    torch.save(model.serialize(), tmp_path / "pub" / "pytorch_model.bin")
    loaded = load_model(str(tmp_path / "pub"))
    x = torch.randn(1, 4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(NotACheckpointError, match="published model folder"):
        load_model(str(tmp_path))


def test_non_checkpoint_files_give_clear_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(NotACheckpointError, match="notes.txt.*neither a zip archive"):
        TDANet.from_pretrained(str(text))
    audio = tmp_path / "talk.wav"  # an input passed where the model goes
    sf.write(str(audio), np.zeros(800, np.float32), 8000)
    with pytest.raises(NotACheckpointError, match="talk.wav.*RIFF file .WAV audio"):
        TDANet.from_pretrained(str(audio))
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(NotACheckpointError, match="empty.bin.*the file is empty"):
        safe_torch_load(tmp_path / "empty.bin")
    with pytest.raises(FileNotFoundError):
        TDANet.from_pretrained(str(tmp_path / "missing.bin"))
    tensor_file = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(NotACheckpointError, match="tensor.pt"):
        TDANet.from_pretrained(str(tensor_file))


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_arbitrary_pickles_are_refused(tmp_path):
    evil = tmp_path / "evil.bin"
    torch.save({"model_name": "TDANet", "state_dict": {}, "model_args": {}, "x": _Payload()}, evil)
    with pytest.raises(NotACheckpointError, match="evil.bin"):
        safe_torch_load(evil)
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"a": _Payload()}, f)
    with pytest.raises(NotACheckpointError):
        safe_torch_load(tmp_path / "plain.pkl")


def test_numpy_scalars_and_torch_version_are_allowed(tiny_args, tmp_path):
    package = TDANet(**tiny_args).serialize()
    package["infos"]["software_versions"]["torch_version"] = torch.__version__  # TorchVersion
    package["infos"]["best_score"] = np.float32(12.5)
    package["model_args"]["n_src"] = np.int64(2)
    path = tmp_path / "published.bin"
    torch.save(package, path)
    model = TDANet.from_pretrained(str(path))
    assert model.n_src == 2


def test_hub_id_resolved_through_offline_cache(tiny_args, tmp_path):
    model = TDANet(**tiny_args)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_dir = tmp_path / "models--someone--TDANet_test"
    snapshot = repo_dir / "snapshots" / commit
    snapshot.mkdir(parents=True)
    torch.save(model.serialize(), snapshot / "pytorch_model.bin")
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text(commit)
    for hub_id, kwargs in [("someone/TDANet_test", {}), ("someone/TDANet_test@" + commit, {})]:
        loaded = TDANet.from_pretrained(
            hub_id, cache_dir=str(tmp_path), local_files_only=True, **kwargs
        )
        _same_outputs(model, loaded)
    with pytest.raises(FileNotFoundError, match="someone/absent"):
        TDANet.from_pretrained("someone/absent", cache_dir=str(tmp_path), local_files_only=True)


def test_look2hear_key_names_map_onto_our_modules():
    assert convert_key("sm.unet.loc_glo_fus.3.global_act.norm.gamma") == (
        "masker.ublock.global_fusion.3.global_gate.norm.weight"
    )
    assert convert_key("sm.unet.globalatt.attn.attn.in_proj_weight") == (
        "masker.ublock.global_module.mixer.mha.in_proj_weight"
    )
    with pytest.raises(KeyError):
        convert_key("something.else")


@pytest.mark.parametrize("name", ["tdanetbest_small_16k", "tdanetbest_tiny_8k"])
def test_released_checkpoints_reproduce_official_outputs(official_fixtures, name):
    ckpt = official_fixtures / f"{name}.ckpt.bin"
    io = torch.load(official_fixtures / f"{name}.io.pt", weights_only=True)
    model = TDANet.from_pretrained(str(ckpt)).eval()
    raw = safe_torch_load(ckpt)
    assert model.sample_rate == raw["model_args"]["sample_rate"]
    assert model.official_compat
    with torch.no_grad():
        est = model(io["mixture"])  # whole batch at once; the reference ran one item at a time
    assert est.shape == io["estimates"].shape
    assert (est - io["estimates"]).abs().max() <= 1e-4
    assert sum(p.numel() for p in model.parameters()) == sum(
        v.numel() for k, v in raw["state_dict"].items() if not k.endswith("pos_enc.pe")
    )


def test_released_checkpoint_reserializes_as_our_format(official_fixtures, tmp_path):
    ckpt = official_fixtures / "tdanetbest_tiny_8k.ckpt.bin"
    model = TDANet.from_pretrained(str(ckpt))
    package = load_package(str(ckpt))
    assert package["model_name"] == "TDANet" and package["model_args"]["official_compat"]
    path = tmp_path / "ours.pth"
    torch.save(model.serialize(), path)
    _same_outputs(model, BaseModel.from_pretrained(str(path)))
