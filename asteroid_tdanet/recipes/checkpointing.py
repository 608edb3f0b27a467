"""Training checkpoints: written atomically, and every few minutes within an epoch.

Lightning writes a checkpoint to a temporary file in the system's temporary folder and moves
it into place, which is a copy (not atomic) when that folder is on another file system; and
by default it checkpoints at epoch ends only, so a run stopped within its first epoch
(SIGTERM from a scheduler, ``timeout``, Ctrl-C) loses everything.
"""

import datetime
import os
from typing import Optional

from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

# Writing a checkpoint (weights + Adam state) takes about 0.1 s for full-size TDANet (28 MB)
# and 0.01 s for tdanet-mini (2 MB) on this project's CPU VM: negligible every few minutes.
DEFAULT_CHECKPOINT_MINUTES = 5.0


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint next to its destination, then rename it into place: a reader
    (the resume path) sees the previous complete file or the new complete file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = os.fspath(path)
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def relocated_checkpoint_state(state: dict, dirpath: str, mode: str = "min") -> dict:
    """A ``ModelCheckpoint`` state saved in another folder (``state["dirpath"]``: the
    experiment was moved, or its scratch mount differs on a requeued job) mapped onto
    ``dirpath``: each checkpoint path becomes the file of the same name in ``dirpath``, and
    top-k entries whose file is not there are dropped (the best and k-th best then follow
    from the rest)."""

    def here(path):
        return os.path.join(dirpath, os.path.basename(os.fspath(path))) if path else path

    state = dict(state, dirpath=dirpath)
    top_k = {here(p): score for p, score in (state.get("best_k_models") or {}).items()}
    top_k = {p: score for p, score in top_k.items() if os.path.exists(p)}
    state["best_k_models"] = top_k
    state["last_model_path"] = here(state.get("last_model_path"))
    best = here(state.get("best_model_path"))
    if top_k:
        order = sorted(top_k, key=lambda p: float(top_k[p]), reverse=mode == "max")
        if best not in top_k:
            best = order[0]
            state["best_model_score"] = top_k[best]
        kth = here(state.get("kth_best_model_path"))
        if kth not in top_k:
            state["kth_best_model_path"], state["kth_value"] = order[-1], top_k[order[-1]]
        else:
            state["kth_best_model_path"] = kth
    elif not (best and os.path.exists(best)):
        best = ""
        state["best_model_score"] = None
    state["best_model_path"] = best
    return state


def best_checkpoint_callback(**kwargs):
    """Lightning's ``ModelCheckpoint`` (same arguments and state key) whose saved state is
    reloaded on resume also when the checkpoints folder's absolute path changed: Lightning
    then keeps only ``best_model_path`` (with a warning), and the first epoch after the
    resume became the best one, whatever the loss of the checkpoints still on disk."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    class BestCheckpoint(ModelCheckpoint):
        @property
        def state_key(self) -> str:  # ModelCheckpoint's: last.ckpt files of earlier runs load
            return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

        def load_state_dict(self, state_dict) -> None:
            saved = state_dict.get("dirpath")
            if saved and self.dirpath and os.path.realpath(saved) != self.dirpath:
                state_dict = relocated_checkpoint_state(state_dict, self.dirpath, self.mode)
            super().load_state_dict(state_dict)

    return BestCheckpoint(**kwargs)


def last_checkpoint_callback(dirpath: str, minutes: Optional[float]):
    """A callback that writes ``<dirpath>/last.ckpt``, the file the recipe resumes from, at
    every training epoch end (after the validation and the updates that depend on it) and,
    with ``minutes > 0``, every ``minutes`` of training within epochs too.

    Lightning's own ``save_last`` writes ``last.ckpt`` only when it writes a top-k
    checkpoint, i.e. when the monitored loss improved: after a run of epochs without
    improvement an interruption would lose all of them.
    """
    from pytorch_lightning.callbacks import ModelCheckpoint

    class LastCheckpoint(ModelCheckpoint):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            # At the training epoch end, after the validation, its learning-rate update
            # (SeparationSystem steps a plateau schedule at validation end) and early
            # stopping (Lightning runs checkpoint callbacks last): a resume from here goes on
            # with this epoch's updates, as the uninterrupted run does.
            if not trainer.fast_dev_run:
                trainer.save_checkpoint(os.path.join(dirpath, "last.ckpt"))

    timed = {}
    if minutes and minutes > 0:
        timed = dict(train_time_interval=datetime.timedelta(minutes=minutes))
    return LastCheckpoint(
        dirpath=dirpath,
        monitor=None,
        save_top_k=0,
        save_last=True,
        enable_version_counter=False,  # always last.ckpt, never last-v1.ckpt
        **timed,
    )


def checkpoint_progress(path: str) -> dict:
    """``{"epoch", "global_step"}`` of a Lightning checkpoint (read with weights_only)."""
    import pathlib

    import torch

    from ..checkpoints.safe_load import SAFE_GLOBALS

    allowed = [*SAFE_GLOBALS, pathlib.PosixPath, pathlib.WindowsPath]
    with torch.serialization.safe_globals(allowed):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return {"epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")}
