"""Loading errors say what is wrong in full: the refused object of a malicious pickle (and
no advice to disable the safe load), the missing model argument, the keys that do not fit."""

import os
import re
import subprocess
import sys

import pytest
import torch
from _inference_helpers import save_tiny_model, tiny_model

from asteroid_tdanet import TDANet, load_model
from asteroid_tdanet.checkpoints import CheckpointMismatchError, NotACheckpointError
from asteroid_tdanet.cli import main


class _RunsAShellCommand:
    """Unpickling this with a plain ``torch.load(weights_only=False)`` runs ``touch flag``."""

    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (os.system, (f"touch {self.flag}",))


def _cli_error(capsys, model_path) -> str:
    assert main(["info", "--model", str(model_path), "--counter", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_malicious_checkpoint_names_the_blocked_global(tmp_path, capsys):
    flag = tmp_path / "code_ran"
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    package["infos"]["payload"] = _RunsAShellCommand(flag)
    torch.save(package, tmp_path / "evil.pth")
    err = _cli_error(capsys, tmp_path / "evil.pth")
    assert f"{os.system.__module__}.system" in err and "evil.pth" in err  # posix.system
    assert "weights_only" not in err and "safe_globals" not in err  # no advice to disable
    assert not flag.exists()


def test_look2hear_dict_without_the_encoder_window(tmp_path, capsys):
    package = dict(
        model_name="TDANetBest",
        model_args=dict(num_sources=2, sample_rate=8000),  # no enc_kernel_size
        state_dict={"sm.unet.globalatt.attn.attn.in_proj_weight": torch.zeros(3, 3)},
    )
    torch.save(package, tmp_path / "l2h.bin")
    err = _cli_error(capsys, tmp_path / "l2h.bin")
    assert "l2h.bin" in err and "model_args lack 'enc_kernel_size'" in err
    assert "num_sources" in err  # what the file does have


def test_unknown_look2hear_keys_are_all_counted(tmp_path):
    keys = ["sm.unet.globalatt.attn.attn.in_proj_weight", "foo.a", "foo.b", "bar"]
    package = dict(
        model_name="TDANetBest",
        model_args=dict(enc_kernel_size=4, num_sources=2, sample_rate=8000),
        state_dict={k: torch.zeros(1) for k in keys},
    )
    with pytest.raises(CheckpointMismatchError, match="3 unexpected keys .*: foo.a, foo.b, bar"):
        load_model(package)


def test_state_dict_mismatch_lists_missing_and_unexpected_keys(tmp_path, capsys):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    state = package["state_dict"]
    removed = list(state)[:6]  # in the model's order, as the message lists them
    for key in removed:
        del state[key]
    state["extra.weight"] = state["extra.bias"] = torch.zeros(2)
    torch.save(package, tmp_path / "cut.pth")
    err = _cli_error(capsys, tmp_path / "cut.pth")
    assert "cut.pth" in err
    assert f"6 missing keys ({', '.join(removed[:4])} and 2 more)" in err
    assert "2 unexpected keys (extra.weight, extra.bias)" in err


def test_shape_mismatch_names_both_shapes(tmp_path):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    package["state_dict"]["masker.bottleneck.bias"] = torch.zeros(3)
    with pytest.raises(CheckpointMismatchError) as info:
        load_model(package)
    expected = "1 shape mismatch (masker.bottleneck.bias: (3,) in the file, (16,) in the model)"
    assert expected in str(info.value)
    package["state_dict"]["masker.bottleneck.weight"] = torch.zeros(3, 1, 1)
    with pytest.raises(CheckpointMismatchError, match="2 shape mismatches"):
        load_model(package)


@pytest.mark.parametrize("key", ["model_args", "model_name", "state_dict"])
def test_a_package_without_a_required_key_names_it(tmp_path, key):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    del package[key]
    torch.save(package, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=f"bad.pth.*missing \\['{key}'\\]"):
        load_model(str(tmp_path / "bad.pth"))


@pytest.fixture
def no_hub(monkeypatch):
    """Fail the test if anything asks the hub for a file."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"hub look-up for {args}")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", refuse)


@pytest.mark.parametrize(
    "name",
    ["exp/best_model.pth", "./model", "/no/such/dir/model", "~/no_such_dir_xyz/model", "exp/last"],
)
def test_path_like_models_that_do_not_exist_fail_at_once(tmp_path, monkeypatch, no_hub, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp").mkdir()  # "exp/last": its first component is an existing folder
    with pytest.raises(FileNotFoundError, match=f"no such file: '{os.path.expanduser(name)}'"):
        load_model(name)


def test_hub_lookups_fail_fast_offline_naming_the_cache(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError) as info:
        load_model("someone/absent", cache_dir=str(tmp_path / "hub"))
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "someone/absent" in message and str(tmp_path / "hub") in message
    assert "HF_HUB_OFFLINE" in message
    # A hub that does not answer: one short try, then the cache only.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="did not answer") as info:
        load_model("someone/absent", cache_dir=str(tmp_path / "hub"))
    assert time.perf_counter() - start < 10 and str(tmp_path / "hub") in str(info.value)


def test_cli_refuses_a_model_with_nan_weights(tmp_path, capsys):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    name = next(k for k, v in package["state_dict"].items() if v.is_floating_point())
    package["state_dict"][name] = torch.full_like(package["state_dict"][name], float("nan"))
    torch.save(package, tmp_path / "nan.pth")
    assert main(["info", "--model", str(tmp_path / "nan.pth")]) == 2
    err = capsys.readouterr().err
    assert f"1 weight tensor(s) hold NaN or Inf values ({name})" in err


def test_asteroid_from_pretrained_reads_files_safely_under_an_unsafe_torch_default(tmp_path):
    # Asteroid's BaseModel.from_pretrained calls a bare torch.load(path): under torch < 2.6
    # (which setup.py allows) that unpickles anything. TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 gives
    # this torch that default; a child process keeps it out of this one.
    from asteroid.models import ConvTasNet

    flag = tmp_path / "code_ran"
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    package["infos"]["payload"] = _RunsAShellCommand(flag)
    torch.save(package, tmp_path / "evil.pth")
    tasnet = ConvTasNet(2, n_blocks=2, n_repeats=1, bn_chan=8, hid_chan=8, skip_chan=8)
    torch.save(tasnet.serialize(), tmp_path / "tasnet.pth")  # Asteroid's own serialize()
    script = f"""
import torch, asteroid_tdanet.checkpoints
from asteroid.models import BaseModel
try:
    BaseModel.from_pretrained({str(tmp_path / "evil.pth")!r})
except asteroid_tdanet.checkpoints.NotACheckpointError as err:
    print("refused:", err)
for name in ("ok.pth", "tasnet.pth"):
    path = {str(tmp_path)!r} + "/" + name
    model = BaseModel.from_pretrained(path)
    saved = asteroid_tdanet.checkpoints.safe_torch_load(path)["state_dict"]
    same = all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    print("loaded:", name, type(model).__name__, same)
"""
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not flag.exists()  # the payload did not run
    lines = run.stdout.splitlines()
    refused = [line for line in lines if line.startswith("refused:")]
    assert len(refused) == 1 and "evil.pth" in refused[0]
    assert f"{os.system.__module__}.system" in refused[0]
    assert "loaded: ok.pth TDANet True" in lines and "loaded: tasnet.pth ConvTasNet True" in lines


def test_a_checkpoint_damaged_inside_a_tensor_record_is_refused(tmp_path):
    import zipfile

    save_tiny_model(tmp_path / "model.pth")
    with zipfile.ZipFile(tmp_path / "model.pth") as archive:
        tensors = [i for i in archive.infolist() if re.search(r"/data/\d+$", i.filename)]
    record = max(tensors, key=lambda info: info.file_size)  # the largest tensor's bytes
    with open(tmp_path / "model.pth", "rb") as f:
        data = bytearray(f.read())
    # The record's data start after its local header (30 bytes + name + extra field).
    name_len = int.from_bytes(data[record.header_offset + 26 : record.header_offset + 28], "little")
    extra_len = int.from_bytes(
        data[record.header_offset + 28 : record.header_offset + 30], "little"
    )
    start = record.header_offset + 30 + name_len + extra_len + record.file_size // 2
    data[start : start + 16] = bytes(b ^ 0xFF for b in data[start : start + 16])
    (tmp_path / "damaged.pth").write_bytes(bytes(data))
    with pytest.raises(NotACheckpointError) as info:
        load_model(str(tmp_path / "damaged.pth"))
    message = str(info.value)
    assert "damaged.pth" in message and repr(record.filename) in message and "CRC" in message
    assert len(message.splitlines()) == 1


def test_a_checkpoint_saved_without_crcs_loads(tmp_path):
    """torch.save's compute_crc32 option off stores CRC 0 for every record: torch.load reads
    such files, so the CRC check must not call them damaged."""
    import zipfile

    # The option to save without CRCs came after torch 2.5 (setup.py's minimum).
    config = pytest.importorskip("torch.utils.serialization").config

    previous, config.save.compute_crc32 = config.save.compute_crc32, False
    try:
        saved = save_tiny_model(tmp_path / "model.pth")
    finally:
        config.save.compute_crc32 = previous
    with zipfile.ZipFile(tmp_path / "model.pth") as archive:
        assert {info.CRC for info in archive.infolist() if info.file_size} == {0}
    loaded = load_model(str(tmp_path / "model.pth"))
    for name, tensor in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_a_truncated_checkpoint_is_reported_as_a_truncated_zip_archive(tmp_path):
    save_tiny_model(tmp_path / "model.pth")
    data = (tmp_path / "model.pth").read_bytes()
    (tmp_path / "partial.pth").write_bytes(data[: len(data) // 2])  # an interrupted download
    with pytest.raises(NotACheckpointError) as info:
        load_model(str(tmp_path / "partial.pth"))
    message = str(info.value)
    assert "partial.pth" in message and "truncated or damaged zip archive" in message
    assert "neither a zip archive" not in message and len(message.splitlines()) == 1


@pytest.mark.parametrize(
    "change, expected",
    [
        (dict(model_args=None), "its model_args are None, not a dict"),
        (dict(model_args=[1, 2]), "its model_args are a list, not a dict"),
        (dict(state_dict=None), "its state_dict is None, not a dict of tensors"),
        (dict(model_name="TDANetBest", model_args=None), "its model_args are None, not a dict"),
    ],
)
def test_malformed_packages_name_the_file(tmp_path, change, expected):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    package.update(change)
    torch.save(package, tmp_path / "bad.pth")
    for loader in (load_model, TDANet.from_pretrained):
        with pytest.raises(NotACheckpointError) as info:
            loader(str(tmp_path / "bad.pth"))
        assert "bad.pth" in str(info.value) and expected in str(info.value)


def test_weights_that_are_not_tensors_are_named(tmp_path):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    names = list(package["state_dict"])[:2]
    package["state_dict"][names[0]] = [0.0, 1.0]
    package["state_dict"][names[1]] = None
    torch.save(package, tmp_path / "bad.pth")
    with pytest.raises(NotACheckpointError) as info:
        load_model(str(tmp_path / "bad.pth"))
    message = str(info.value)
    assert len(message.splitlines()) == 1 and "bad.pth" in message
    assert f"2 values that are not tensors ({names[0]}, {names[1]})" in message


def test_an_argument_of_a_newer_release_is_named_with_the_writing_release(tmp_path):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    package["model_args"]["new_option"] = True
    package["infos"]["software_versions"]["asteroid_tdanet_version"] = "9.1.0"
    torch.save(package, tmp_path / "newer.pth")
    with pytest.raises(CheckpointMismatchError) as info:
        load_model(str(tmp_path / "newer.pth"))
    message = str(info.value)
    assert "newer.pth" in message and "'new_option'" in message and "9.1.0" in message
    assert "a newer release is needed" in message and len(message.splitlines()) == 1
    # Asteroid's BaseModel.from_pretrained (wrapped on import) names them the same way.
    from asteroid.models import BaseModel

    with pytest.raises(CheckpointMismatchError, match="'new_option'.*9.1.0"):
        BaseModel.from_pretrained(str(tmp_path / "newer.pth"))
    # Written by this release (or an older one): an edited file, no newer release to suggest.
    package["infos"]["software_versions"]["asteroid_tdanet_version"] = "0.1.0"
    with pytest.raises(CheckpointMismatchError) as info:
        TDANet.from_pretrained(package)
    assert "written by asteroid_tdanet 0.1.0)" in str(info.value)
    assert "newer release" not in str(info.value)
    del package["infos"]
    with pytest.raises(CheckpointMismatchError, match="does not record the release"):
        TDANet.from_pretrained(package)
    # An unknown override given by the caller stays the constructor's own TypeError.
    with pytest.raises(TypeError, match="other_option"):
        load_model(str(tmp_path / "ok.pth"), other_option=1)


def test_a_look2hear_layout_without_model_args_names_the_file(tmp_path):
    state_dict = {"sm.unet.globalatt.attn.attn.in_proj_weight": torch.zeros(3, 3)}
    torch.save(
        dict(model_name="TDANetBest", model_args=None, state_dict=state_dict), tmp_path / "l.bin"
    )
    with pytest.raises(NotACheckpointError, match=r"l\.bin.*needs 'model_args' \(a dict\).*None"):
        load_model(str(tmp_path / "l.bin"))


def _lightning_checkpoints(exp):
    """``exp/checkpoints/{last,epoch=0-step=1}.ckpt`` as a Lightning Trainer writes them while
    training a system whose ``model`` is a tiny TDANet (the recipes' layout)."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    class System(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = tiny_model()

        def training_step(self, batch, _):
            return self.model(batch).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def on_save_checkpoint(self, checkpoint):
            checkpoint["training_config"] = {"model": {"model_name": "tdanet", "preset": "mini"}}

    trainer = pl.Trainer(
        max_steps=1,
        callbacks=[ModelCheckpoint(dirpath=str(exp / "checkpoints"), save_last=True)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(System(), torch.utils.data.DataLoader(torch.randn(2, 800), batch_size=2))
    return sorted((exp / "checkpoints").glob("*.ckpt"))


def test_lightning_training_checkpoints_point_to_the_model_package(tmp_path):
    exp = tmp_path / "exp"
    checkpoints = _lightning_checkpoints(exp)
    assert [p.name for p in checkpoints] == ["epoch=0-step=1.ckpt", "last.ckpt"]

    def error(path) -> str:
        with pytest.raises(NotACheckpointError) as info:
            load_model(str(path))
        message = str(info.value)
        assert len(message.splitlines()) == 1 and path.name in message
        assert "Lightning training checkpoint" in message and "missing" not in message
        return message

    for ckpt in checkpoints:  # training not finished: no best_model.pth yet
        assert f"no best_model.pth yet ({str(exp / 'best_model.pth')!r})" in error(ckpt)
    save_tiny_model(exp / "best_model.pth")
    for ckpt in checkpoints:
        assert f"load the experiment's model package {str(exp / 'best_model.pth')!r}" in error(ckpt)
    (tmp_path / "elsewhere.ckpt").write_bytes(checkpoints[-1].read_bytes())
    assert "the best_model.pth that the recipe's stage 2 writes" in error(
        tmp_path / "elsewhere.ckpt"
    )


def test_a_package_of_an_unknown_model_names_the_file(tmp_path):
    package = save_tiny_model(tmp_path / "ok.pth").serialize()
    package["model_name"] = "NoSuchNet"  # e.g. a model of a newer release or other package
    torch.save(package, tmp_path / "other.pth")
    with pytest.raises(NotACheckpointError) as info:
        load_model(str(tmp_path / "other.pth"))
    message = str(info.value)
    assert "other.pth" in message and "Unknown model 'NoSuchNet'" in message
    assert len(message.splitlines()) == 1
