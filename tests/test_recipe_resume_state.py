"""A resumed training goes on as the uninterrupted one would: the state saved at an epoch end
(``last.ckpt``) holds that epoch's early-stopping and learning-rate updates, and the best
checkpoint is still known when the experiment folder was moved in between.

The validation loss of each epoch is fixed (injected) so that the bookkeeping is
deterministic; a kill is an exception at the start of an epoch, after the previous epoch's
end (and its checkpoints) is complete."""

import hashlib
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


def _checksum(*tensors) -> str:
    digest = hashlib.sha1()
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _session(monkeypatch, conf_path, exp, losses, kills, record, *extra, batches=None):
    """One run of stage 2 with val_loss ``losses[epoch]``; raises :class:`Killed` at the
    start of the first epoch in ``kills`` (removed from it); ``record[epoch]`` = the
    learning rate the epoch trains with; ``batches[epoch]`` (when given) = a checksum of
    each training batch of the epoch and of torch's global random state at its start
    (``("train", batch, state)``), and of each validation batch (``("val", batch)``)."""

    def validation_step(self, batch, batch_nb):
        if batches is not None and not self.trainer.sanity_checking:
            batches.setdefault(self.current_epoch, []).append(("val", _checksum(*batch)))
        value = losses[min(self.current_epoch, len(losses) - 1)]
        self.log("val_loss", torch.tensor(float(value)), on_epoch=True)

    def on_train_epoch_start(self):
        if kills and self.current_epoch == kills[0]:
            kills.pop(0)
            raise Killed(f"before epoch {self.current_epoch}")
        record[self.current_epoch] = self.trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_start(self, batch, batch_idx):
        if batches is not None:
            batches.setdefault(self.current_epoch, []).append(
                ("train", _checksum(*batch), _checksum(torch.get_rng_state()))
            )

    monkeypatch.setattr(SeparationSystem, "validation_step", validation_step)
    monkeypatch.setattr(SeparationSystem, "on_train_batch_start", on_train_batch_start, False)
    monkeypatch.setattr(SeparationSystem, "on_train_epoch_start", on_train_epoch_start, False)
    args = ["--conf", conf_path, "--exp_dir", str(exp), "--num_workers", "0", *TINY_MODEL]
    args += ["--checkpoint_minutes", "0", "--max_minutes", "none", *extra]
    return train.main(args)


def _train(monkeypatch, conf_path, exp, losses, kills=(), *extra, move_to=None, batches=None):
    """Sessions until the training finishes, the experiment folder moved to ``move_to`` after
    the first kill when given; (learning rate per epoch, train_done.json)."""
    kills, record = list(kills), {}
    for _ in range(len(kills) + 1):
        try:
            code = _session(
                monkeypatch, conf_path, exp, losses, kills, record, *extra, batches=batches
            )
            assert code == 0
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


DATA_EPOCHS = ["--epochs", "4", "--cosine_to_budget", "false", "--early_stop", "false"]


def _drawn(batches: dict, kind: str = "train") -> dict:
    """The batch checksums of each epoch of one kind."""
    return {epoch: [b[1] for b in drawn if b[0] == kind] for epoch, drawn in batches.items()}


@pytest.mark.parametrize("workers", [0, 2])
def test_resumed_sessions_train_on_the_uninterrupted_runs_batches(
    monkeypatch, conf_path, tmp_path, workers
):
    """Killed between epochs and resumed (each session starts with seed_everything), the run
    draws in every epoch the training batches of the uninterrupted run (the mini conf's
    dynamic mixing, speed perturbation and shuffling) and its validation crops, and torch's
    global random state at every training batch (dropout) is the uninterrupted run's too.
    Sessions used to replay the first session's epochs: session 3's equalled session 2's."""
    extra = [*DATA_EPOCHS, "--num_workers", str(workers)]
    whole, parts = {}, {}
    _train(monkeypatch, conf_path, tmp_path / "a", [1.0], (), *extra, batches=whole)
    data = _drawn(whole)
    assert sorted(data) == [0, 1, 2, 3] and all(len(b) == 3 for b in data.values())
    # Every epoch draws other data (new mixtures), and no batch repeats.
    assert len({b for epoch in data.values() for b in epoch}) == 12
    # Validation: the dev mixtures with a new random crop every epoch (docs/recipes.md).
    crops = _drawn(whole, "val")
    assert all(len(b) == 1 for b in crops.values()) and len(set(map(tuple, crops.values()))) == 4
    _train(monkeypatch, conf_path, tmp_path / "b", [1.0], (1, 3), *extra, batches=parts)
    assert _drawn(parts) == data
    assert _drawn(parts, "val") == crops
    assert parts == whole


def test_fresh_runs_draw_the_seeds_batches(monkeypatch, conf_path, tmp_path):
    """Two fresh runs with one seed train on the same batches; another seed on others."""
    extra = [*DATA_EPOCHS, "--epochs", "2"]
    runs = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        batches = {}
        _train(monkeypatch, conf_path, tmp_path / name, [1.0], (), *extra, "--seed", seed,
               batches=batches)  # fmt: skip
        runs.append(_drawn(batches))
    assert runs[0] == runs[1]
    assert not set(runs[0][0] + runs[0][1]) & set(runs[2][0] + runs[2][1])


def test_epoch_sampler_orders_by_seed_and_epoch_and_shards_ranks(monkeypatch):
    """The order is a function of (seed, epoch); under DDP the ranks take alternate positions
    of one order, padded as DistributedSampler's (Lightning leaves the sampler as it is)."""
    from torch.utils.data import DistributedSampler

    from asteroid_tdanet.recipes.dataset import EpochSampler, ItemKey, draw

    sampler = EpochSampler(7, seed=3)
    assert isinstance(sampler, DistributedSampler)
    first = list(sampler)
    assert sorted(k[0] for k in first) == list(range(7)) and all(k[1:] == (3, 0) for k in first)
    assert list(EpochSampler(7, seed=3)) == first
    sampler.set_epoch(1)
    assert [k[0] for k in sampler] != [k[0] for k in first] and list(sampler)[0][2] == 1
    assert [k[0] for k in EpochSampler(7, seed=3, shuffle=False)] == list(range(7))
    order = [k[0] for k in sampler]
    shards = []
    for rank in (0, 1, 2):
        monkeypatch.setattr(EpochSampler, "_replicas", staticmethod(lambda r=rank: (r, 3)))
        assert len(sampler) == 3
        shards.append([k[0] for k in sampler])
    assert shards == [(order + order[:2])[r::3] for r in range(3)]
    # An item's numbers depend on its key alone.
    a, b = draw(ItemKey(2, 3, 1))[1].random(3), draw(ItemKey(2, 3, 1))[1].random(3)
    assert (a == b).all() and not (a == draw(ItemKey(2, 3, 2))[1].random(3)).all()
