"""Stopping a training run: run.sh passes SIGTERM on to the trainer, and a checkpoint written
every few minutes within the epoch lets the next run resume from there."""

import json
import os
import signal
import subprocess
import time

import torch

from _recipe_helpers import PYTHON, TINY_MODEL, copy_recipes, env, make_tiny_corpus

from asteroid_tdanet.recipes.checkpointing import checkpoint_progress
from corpus.corpora import MINI
from corpus.metadata import write_metadata

N_TRAIN = 150  # mixtures, batch size 1: 150 steps (a few seconds) in the epoch


def _trainers(marker: str):
    """PIDs of trainer processes whose command line mentions ``marker``."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "asteroid_tdanet.recipes.train" in cmd:
            pids.append(int(pid))
    return pids


def _kill_if_alive(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_sigterm_in_the_first_epoch_then_resume(tmp_path):
    recipe = copy_recipes(tmp_path)
    make_tiny_corpus(str(tmp_path / "storage"), n_mix=(N_TRAIN, 2, 2))
    write_metadata(MINI, str(tmp_path / "storage"), 8000, str(recipe / "data/mini/wav8k/min"))
    exp = recipe / "exp" / "tdanet_mini_sep_clean_8k"
    train_args = " ".join(TINY_MODEL + ["--batch_size", "1"])
    cmd = [
        str(recipe / "run.sh"),
        "--python",
        PYTHON,
        "--dataset",
        "mini",
        "--model",
        "tdanet",  # TINY_MODEL holds TDANet's sizes (the mini default is blstmnet)
        "--stage",
        "2",
        "--stop_stage",
        "2",
        "--gpus",
        "0",
        "--epochs",
        "1",
        "--max_minutes",
        "none",
        "--segment",
        "1.0",
        "--train_args",
        train_args,
        "--storage_dir",
        str(tmp_path / "storage"),
    ]
    # A checkpoint every 0.6 s; SIGTERM to run.sh once the first one exists.
    proc = subprocess.Popen(
        cmd + ["--checkpoint_minutes", "0.01"],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (exp / "checkpoints" / "last.ckpt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 143, out + err
        assert _trainers(str(tmp_path)) == []  # run.sh waited for the trainer to stop
    finally:
        for pid in _trainers(str(tmp_path)):  # an orphan (the defect this test guards)
            _kill_if_alive(pid)
    assert not (exp / "train_done.json").exists()
    assert sorted(p.name for p in (exp / "checkpoints").iterdir()) == ["last.ckpt"]  # no .tmp
    saved = checkpoint_progress(str(exp / "checkpoints" / "last.ckpt"))
    assert saved["epoch"] == 0 and 0 < saved["global_step"] < N_TRAIN
    last = torch.load(exp / "checkpoints" / "last.ckpt", weights_only=False)
    timers = [v for k, v in last["callbacks"].items() if k.startswith("Timer")]
    timer_before = timers[0]["time_elapsed"]["train"]
    assert timer_before > 0

    out = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"(epoch 0, step {saved['global_step']})" in out.stdout
    # The epoch went on from the checkpoint's step: its steps were not done again.
    done = json.loads((exp / "train_done.json").read_text())
    assert done["global_step"] == N_TRAIN and done["epochs"] == 1
    # The training time counts the interrupted session too (the Timer's state in last.ckpt).
    assert done["training_time_s"] >= timer_before


FAKE_PYTHON = """#!/bin/sh
# Stands for the stage's python: records its pid, then waits until a signal ends it (the
# recipes' requirements check before the stages passes at once).
case "$*" in *recipes.requirements*) exit 0 ;; esac
trap 'echo TERM > "$MARKER_DIR/child.signal"; kill $!; exit 0' TERM
trap 'echo INT > "$MARKER_DIR/child.signal"; kill $!; exit 0' INT
sleep 60 &
echo $! > "$MARKER_DIR/sleep.pid"
# Announced only once its traps and its sleep are in place: a signal that came earlier
# would kill this shell and orphan the sleep, which keeps run.sh's output pipes open.
echo $$ > "$MARKER_DIR/child.pid"
wait
"""


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def test_sigint_to_run_sh_stops_the_running_stage(tmp_path):
    recipe = copy_recipes(tmp_path)
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    cmd = [
        str(recipe / "run.sh"),
        "--python",
        str(fake),
        "--dataset",
        "mini",
        "--stage",
        "0",
        "--stop_stage",
        "0",
        "--storage_dir",
        str(tmp_path / "storage"),
    ]
    proc = subprocess.Popen(
        cmd,
        env=dict(env(), MARKER_DIR=str(tmp_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a signal ignored when bash starts cannot be trapped, and what
        # the test process ignores at this point (after hundreds of tests) is not ours to know.
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "child.pid").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    child = int((tmp_path / "child.pid").read_text())
    os.kill(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # the defect: the stage was left running
            proc.kill()
            for name in ("child.pid", "sleep.pid"):
                _kill_if_alive(int((tmp_path / name).read_text()))
    assert proc.returncode == 130, out + err
    assert (tmp_path / "child.signal").read_text().strip() == "TERM"
    assert not os.path.exists(f"/proc/{child}")


def test_last_checkpoint_follows_every_epoch_even_without_improvement(tmp_path):
    """``last.ckpt`` (what a resume starts from) is the last epoch's, also when the
    validation loss did not improve (Lightning's save_last writes it only with a top-k
    checkpoint) and with no timed checkpoints (``checkpoint_minutes: 0``)."""
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.callbacks import ModelCheckpoint

    from asteroid_tdanet.recipes.checkpointing import last_checkpoint_callback

    class Worsening(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch, _):
            return (self.w - batch).pow(2).mean()

        def validation_step(self, batch, _):
            self.log("val_loss", float(self.current_epoch))  # worse every epoch

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.ones(4, 1), batch_size=2)

        def val_dataloader(self):
            return torch.utils.data.DataLoader(torch.ones(2, 1), batch_size=2)

    folder = str(tmp_path / "checkpoints")
    best = ModelCheckpoint(dirpath=folder, monitor="val_loss", save_top_k=1, save_last=True)
    trainer = pl.Trainer(
        max_epochs=4,
        callbacks=[best, last_checkpoint_callback(folder, 0)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
    )
    trainer.fit(Worsening())
    # The final step (4 epochs of 2 batches), not the first epoch's, the only improvement.
    assert checkpoint_progress(os.path.join(folder, "last.ckpt"))["global_step"] == 8
    assert os.path.basename(best.best_model_path).startswith("epoch=0")
