"""Experiment-directory state: what a stage leaves behind and the no-overwrite rule.

Each stage writes a marker when it finishes (``train_done.json``, ``eval/final_metrics.json``,
``publish_dir/pytorch_model.bin``). A stage whose marker exists refuses to run again unless
forced; forcing a new training moves the old experiment aside instead of deleting it.
"""

import json
import os
import shutil
import time

from ..checkpoints.package import BEST_MODEL, CHECKPOINTS  # noqa: F401 (this layout's names)

TRAIN_DONE = "train_done.json"
CONF = "conf.yml"
EVAL_DIR = "eval"
EXAMPLES_DIR = "examples"  # inside an evaluation folder
FINAL_METRICS = "final_metrics.json"
PUBLISH_DIR = "publish_dir"
REFUSED = 3  # exit status of a stage that refuses to overwrite


class ExperimentExists(RuntimeError):
    """A stage's results already exist and ``--force`` was not given."""


def refuse_message(what: str, path: str, stage: int) -> str:
    later = f", or start at a later stage (--stage {stage + 1})" if stage < 4 else ""
    return (
        f"{what} already exists: {path}\nRefusing to overwrite it. Pass --force true to "
        f"redo stage {stage}{later}."
    )


def train_state(exp_dir: str, force: bool) -> str:
    """What stage 2 will do with ``exp_dir``, decided before anything is changed:

    * ``"fresh"``: nothing there to resume;
    * ``"resume"``: an interrupted run (``last.ckpt``, no ``train_done.json``) goes on, with
      or without ``force`` (``run.sh --force true`` reaches every stage: a requeued job must
      not start its training over);
    * ``"replace"`` (``force``): a finished run is to be moved aside (:func:`move_aside`)
      and training starts anew.

    A finished experiment without ``force`` raises :class:`ExperimentExists`.
    """
    done = os.path.join(exp_dir, TRAIN_DONE)
    if os.path.exists(done):
        if not force:
            raise ExperimentExists(refuse_message("A finished training", done, 2))
        return "replace"
    return "resume" if os.path.exists(last_checkpoint(exp_dir)) else "fresh"


def move_aside(exp_dir: str) -> str:
    """Rename ``exp_dir`` to ``<exp_dir>.old-<time>`` (nothing is deleted); returns that."""
    backup = f"{exp_dir.rstrip(os.sep)}.old-{time.strftime('%Y%m%d-%H%M%S')}"
    shutil.move(exp_dir, backup)
    print(f"--force: moved the previous experiment to {backup}")
    return backup


def last_checkpoint(exp_dir: str) -> str:
    return os.path.join(exp_dir, CHECKPOINTS, "last.ckpt")


def check_output(path: str, what: str, stage: int, force: bool) -> None:
    """Refuse to overwrite ``path`` (a finished stage's output) unless ``force``."""
    if os.path.exists(path) and not force:
        raise ExperimentExists(refuse_message(what, path, stage))


def fresh_examples_dir(out_dir: str) -> str:
    """``out_dir/examples``, emptied: a forced re-evaluation must not leave the example
    folders of the run it replaces beside its own (other utterances, another model)."""
    folder = os.path.join(out_dir, EXAMPLES_DIR)
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def require(path: str, stage: int) -> None:
    """Fail clearly when a previous stage's output is missing."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: run stage {stage} first.")


def write_json(path: str, obj) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written marker


def read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)
