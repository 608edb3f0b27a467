"""A resumed training goes on as the uninterrupted one would: the state saved at an epoch end
(``last.ckpt``) holds that epoch's early-stopping and learning-rate updates, and the best
checkpoint is still known when the experiment folder was moved in between.

The validation loss of each epoch is fixed (injected) so that the bookkeeping is
deterministic; a kill is an exception at the start of an epoch, after the previous epoch's
end (and its checkpoints) is complete."""

import json
import os
import shutil

import pytest
import torch
from _recipe_helpers import TINY_MODEL, make_tiny_data

from asteroid_tdanet.recipes import experiment as xp
from asteroid_tdanet.recipes import train
from asteroid_tdanet.recipes.system import SeparationSystem


class Killed(RuntimeError):
    """Stands for a kill (SIGKILL, a lost node) between two epochs."""


@pytest.fixture(scope="module")
def conf_path(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("data"))[0]


def _session(monkeypatch, conf_path, exp, losses, kills, record, *extra):
    """One run of stage 2 with val_loss ``losses[epoch]``; raises :class:`Killed` at the
    start of the first epoch in ``kills`` (removed from it); ``record[epoch]`` = the
    learning rate the epoch trains with."""

    def validation_step(self, batch, batch_nb):
        value = losses[min(self.current_epoch, len(losses) - 1)]
        self.log("val_loss", torch.tensor(float(value)), on_epoch=True)

    def on_train_epoch_start(self):
        if kills and self.current_epoch == kills[0]:
            kills.pop(0)
            raise Killed(f"before epoch {self.current_epoch}")
        record[self.current_epoch] = self.trainer.optimizers[0].param_groups[0]["lr"]

    monkeypatch.setattr(SeparationSystem, "validation_step", validation_step)
    monkeypatch.setattr(SeparationSystem, "on_train_epoch_start", on_train_epoch_start, False)
    args = ["--conf", conf_path, "--exp_dir", str(exp), "--num_workers", "0", *TINY_MODEL]
    args += ["--checkpoint_minutes", "0", "--max_minutes", "none", *extra]
    return train.main(args)


def _train(monkeypatch, conf_path, exp, losses, kills=(), *extra, move_to=None):
    """Sessions until the training finishes, the experiment folder moved to ``move_to`` after
    the first kill when given; (learning rate per epoch, train_done.json)."""
    kills, record = list(kills), {}
    for _ in range(len(kills) + 1):
        try:
            assert _session(monkeypatch, conf_path, exp, losses, kills, record, *extra) == 0
            break
        except Killed:
            assert not (exp / xp.TRAIN_DONE).exists()
            if move_to is not None:
                move_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(exp, move_to)
                exp, move_to = move_to, None
    return record, json.loads((exp / xp.TRAIN_DONE).read_text())


PLATEAU = [
    "--epochs", "8", "--cosine_to_budget", "false", "--half_lr", "true", "--lr_patience", "0",
    "--lr_factor", "0.5", "--early_stop", "true", "--stop_patience", "3",
]  # fmt: skip


def test_resumes_keep_the_epoch_end_early_stopping_and_lr_updates(monkeypatch, conf_path, tmp_path):
    """Constant val_loss: the rate halves after every epoch but the first, and early stopping
    ends the run after ``stop_patience`` epochs without improvement, however often the run
    was killed between epochs (each resume used to lose the last epoch's updates)."""
    losses = [1.0]
    whole, whole_done = _train(monkeypatch, conf_path, tmp_path / "a", losses, (), *PLATEAU)
    lr = 3e-3
    assert whole == {0: lr, 1: lr, 2: lr / 2, 3: lr / 4}
    assert whole_done["stopped_by"] == "early_stopping" and whole_done["epochs"] == 4
    parts, done = _train(monkeypatch, conf_path, tmp_path / "b", losses, (1, 2, 3), *PLATEAU)
    assert parts == whole
    assert (done["stopped_by"], done["epochs"]) == ("early_stopping", 4)


def test_a_moved_experiment_resumes_with_its_best_checkpoint(monkeypatch, conf_path, tmp_path):
    """The experiment folder moved between the kill and the resume (mv, another scratch
    mount on a requeued job): the best epoch before the move stays the best (Lightning kept
    only the old best path, and the first epoch after the resume became the best)."""
    losses = [3.0, 1.0, 2.0, 2.5, 4.0]
    extra = ["--epochs", "5", "--cosine_to_budget", "false", "--early_stop", "false"]
    extra += ["--save_top_k", "3"]
    _, whole = _train(monkeypatch, conf_path, tmp_path / "a", losses, (), *extra)
    assert os.path.basename(whole["best_checkpoint"]) == "epoch=1-val_loss=1.000.ckpt"
    moved = tmp_path / "elsewhere" / "b"
    _, done = _train(monkeypatch, conf_path, tmp_path / "b", losses, (3,), *extra, move_to=moved)
    assert done["best_checkpoint"] == str(moved / "checkpoints" / "epoch=1-val_loss=1.000.ckpt")
    assert done["best_val_loss"] == whole["best_val_loss"] == 1.0
    package = torch.load(moved / xp.BEST_MODEL, weights_only=False)
    assert package["infos"]["recipe"]["best_checkpoint"] == "epoch=1-val_loss=1.000.ckpt"
    # The top 3 on disk are the uninterrupted run's.
    kept = sorted(p.name for p in (moved / "checkpoints").glob("epoch=*"))
    assert kept == sorted(p.name for p in (tmp_path / "a" / "checkpoints").glob("epoch=*"))


@pytest.mark.parametrize(
    "option", [["--lr", "0.001"], ["--stop_patience", "5"], ["--lr_patience", "2"]], ids=str
)
def test_options_a_resume_would_ignore_are_refused(
    monkeypatch, conf_path, tmp_path, capsys, option
):
    """The checkpoint restores the learning rate, the schedule and early stopping: a resume
    asked for other values is refused in one line naming them (exit 2), and changes nothing
    (conf.yml would have recorded values that were not used)."""
    exp = tmp_path / "exp"
    extra = [*PLATEAU, "--stop_patience", "3", "--lr_patience", "0"]
    with pytest.raises(Killed):
        _session(monkeypatch, conf_path, exp, [1.0], [1], {}, *extra)
    kept = [exp / xp.CONF, exp / "checkpoints" / "last.ckpt"]
    before = [p.read_bytes() for p in kept]
    capsys.readouterr()
    assert _session(monkeypatch, conf_path, exp, [1.0], [], {}, *extra, *option) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"checkpoint restores {option[0]} " in err and "(now " in err, err
    assert "goes on with the saved values" in err, err
    assert [p.read_bytes() for p in kept] == before and not (exp / xp.TRAIN_DONE).exists()
    # With the saved values it resumes.
    assert _session(monkeypatch, conf_path, exp, [1.0], [], {}, *extra) == 0
