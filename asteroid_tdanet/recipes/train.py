"""Stage 2: train any registered model with an asteroid ``System`` and write ``best_model.pth``.

Usage::

    python -m asteroid_tdanet.recipes.train --conf local/conf.yml --exp_dir exp/tdanet_x \\
        [--lr 5e-4 --batch_size 8 ...any conf key...] [--force true]

Resumes automatically from ``<exp_dir>/checkpoints/last.ckpt`` when a previous run was
interrupted; that file is written at every epoch end and every ``--checkpoint_minutes``
(default 5) within epochs, atomically. Refuses to overwrite a finished experiment unless
``--force true``. Several
GPUs / nodes: ``--devices 4 --num_nodes 2`` (Lightning DDP); CPU DDP (gloo) with
``--accelerator cpu --devices 2 --strategy ddp``.
"""

import argparse
import datetime
import logging
import math
import os
import sys
import time

import torch
from torch.utils.data import DataLoader

from ..checkpoints import CheckpointMismatchError, check_state_dict
from ..utils.docs import doc_summary
from ..utils.allocator import ALLOCATOR_MODES, set_allocator
from . import experiment as xp
from .checkpointing import (
    DEFAULT_CHECKPOINT_MINUTES,
    AtomicCheckpointIO,
    best_checkpoint_callback,
    checkpoint_progress,
    last_checkpoint_callback,
)
from .config import parse_with_conf, save_conf, str2bool
from .dataset import BadAudioFileError, CsvMixDataset, DynamicMixDataset, EpochSampler
from .model_factory import build_model, initial_weights_licence, with_stem_target
from .music_data import is_music_data, make_music_sets, targets_of
from .objectives import build_objective

logger = logging.getLogger(__name__)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_known_optimizer(name) -> bool:
    """Whether asteroid's ``make_optimizer`` builds an optimizer called ``name``
    (``optim.optimizer``): asteroid's own and those added with ``register_optimizer``, looked
    up the way ``make_optimizer`` does (``asteroid.engine.optimizers.get``)."""
    from asteroid.engine import optimizers

    if not isinstance(name, str):
        return False
    try:
        found = optimizers.get(name)
    except ValueError:
        return False
    return (
        isinstance(found, type)
        and issubclass(found, torch.optim.Optimizer)
        and found is not torch.optim.Optimizer
    )


# (section, key, what it must be, test): conf values that would otherwise fail only later
# (mid-epoch, or in Lightning's set-up after the experiment folder was changed).
CONF_RULES = [
    (
        "training",
        "epochs",
        "an integer >= 1 (or -1: no limit)",
        lambda v: _integer(v) and (v >= 1 or v == -1),
    ),
    ("training", "batch_size", "an integer >= 1", lambda v: _integer(v) and v >= 1),
    ("training", "num_workers", "an integer >= 0", lambda v: _integer(v) and v >= 0),
    (
        "training",
        "max_minutes",
        "null or a number > 0",
        lambda v: v is None or _number(v) and v > 0,
    ),
    (
        "training",
        "checkpoint_minutes",
        "null or a number >= 0",
        lambda v: v is None or _number(v) and v >= 0,
    ),
    ("training", "save_top_k", "an integer >= -1", lambda v: _integer(v) and v >= -1),
    ("training", "num_nodes", "an integer >= 1", lambda v: _integer(v) and v >= 1),
    ("training", "stop_patience", "an integer >= 0", lambda v: _integer(v) and v >= 0),
    (
        "optim",
        "optimizer",
        "one of asteroid's optimizers (adam, sgd, adamw, radam, ...)",
        is_known_optimizer,
    ),
    ("optim", "lr", "a number > 0", lambda v: _number(v) and v > 0),
    ("optim", "weight_decay", "a number >= 0", lambda v: _number(v) and v >= 0),
    ("scheduler", "lr_factor", "a number > 0 and < 1", lambda v: _number(v) and 0 < v < 1),
    ("scheduler", "lr_patience", "an integer >= 0", lambda v: _integer(v) and v >= 0),
    ("scheduler", "warmup_steps", "an integer >= 0", lambda v: _integer(v) and v >= 0),
    (
        "data",
        "segment",
        "null or a number of seconds > 0",
        lambda v: v is None or _number(v) and v > 0,
    ),
]


def conf_problems(conf: dict) -> list:
    """What in ``conf`` breaks :data:`CONF_RULES` or asks for a GPU that is not there: one
    line per problem, naming the conf key (= the command-line option)."""
    problems = [
        f"{section}.{key} must be {what}, got {conf[section][key]!r} (--{key})"
        for section, key, what, ok in CONF_RULES
        if key in conf.get(section, {}) and not ok(conf[section][key])
    ]
    accelerator = str(conf["training"].get("accelerator", "auto")).lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        problems.append(
            f"training.accelerator is {accelerator!r} but no CUDA GPU is available here "
            "(run.sh: --gpus 0 trains on the CPU)"
        )
    training, scheduler = conf["training"], conf.get("scheduler", {})
    if scheduler.get("cosine_to_budget"):
        from .budget_schedule import CosineToBudget

        missing = CosineToBudget.missing_budget(
            training.get("max_minutes"), training.get("max_steps"), training.get("epochs")
        )
        if missing:
            problems.append(f"{missing} (or --cosine_to_budget false)")
    return problems


def resume_mismatch(exp_dir: str, model) -> str:
    """How ``model`` (built from this run's conf) does not fit the weights of ``exp_dir``'s
    interrupted run (its ``last.ckpt``; :func:`~asteroid_tdanet.checkpoints.check_state_dict`
    names the keys and shapes), or ``""`` when it fits (options that change no weight, such
    as dropout or epochs, may change; see :func:`resume_changes` for lr and the schedule)."""
    path = xp.last_checkpoint(exp_dir)
    prefix = "model."
    saved = {
        key[len(prefix) :]: value
        for key, value in load_lightning_state_dict(path).items()
        if key.startswith(prefix)
    }
    try:
        check_state_dict(model, saved, path)
    except CheckpointMismatchError as err:
        return str(err)
    return ""


# Options whose values an interrupted run's last.ckpt restores over the conf's (optimizer
# state, plateau schedule, early stopping, the cosine schedule's initial_lr and warm-up).
RESTORED_ON_RESUME = [
    ("optim", "optimizer"),
    ("optim", "lr"),
    ("optim", "weight_decay"),
    ("training", "stop_patience"),
    ("scheduler", "half_lr"),
    ("scheduler", "lr_factor"),
    ("scheduler", "lr_patience"),
    ("scheduler", "cosine_to_budget"),
    ("scheduler", "warmup_steps"),
]


def resume_changes(exp_dir: str, conf: dict) -> list:
    """``--key saved (now new)`` for each of :data:`RESTORED_ON_RESUME` that ``conf`` sets
    otherwise than the interrupted run's ``conf.yml`` (a resume would go on with the saved
    value while recording the new one)."""
    from .config import load_conf

    path = os.path.join(exp_dir, xp.CONF)
    if not os.path.exists(path):
        return []
    saved = load_conf(path)
    return [
        f"--{key} {saved[section][key]!r} (now {conf[section][key]!r})"
        for section, key in RESTORED_ON_RESUME
        if key in saved.get(section, {})
        and key in conf.get(section, {})
        and saved[section][key] != conf[section][key]
    ]


def make_loaders(conf: dict):
    """Training and validation loaders of the conf's data: Libri2Mix-layout csv folders, or
    a MUSDB18-HQ-layout music corpus (``data.layout: musdb``, :mod:`.music_data`)."""
    data, training = conf["data"], conf["training"]
    if is_music_data(data):
        train_set, val_set = make_music_sets(data)
    else:
        train_set, val_set = _speech_sets(data)
    workers, seed = training["num_workers"], int(training.get("seed") or 0)
    loader_args = dict(
        batch_size=training["batch_size"], num_workers=workers, persistent_workers=workers > 0
    )
    # The order and every random draw of an epoch's items (dynamic mixing, random crops) are
    # functions of (seed, epoch, index) (EpochSampler, set_epoch'ed by Lightning): a training
    # resumed at an epoch end trains on the batches the uninterrupted one would (torch's
    # RandomSampler drew from the global generator, which seed_everything resets at every
    # session, so each session replayed the first session's data). A generator of its own
    # per loader: starting the loader's iterator (its workers' base seed) then draws nothing
    # from the global generator, whose state the checkpoint restores (dropout and the like).
    train_loader = DataLoader(
        train_set,
        sampler=EpochSampler(len(train_set), seed, shuffle=True),
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
        **loader_args,
    )
    val_loader = DataLoader(
        val_set,
        sampler=EpochSampler(len(val_set), seed, shuffle=False),
        drop_last=False,
        generator=torch.Generator().manual_seed(seed + 1),
        **loader_args,
    )
    return train_loader, val_loader, dict(train=train_set.get_infos(), valid=val_set.get_infos())


def _speech_sets(data: dict):
    common = dict(
        task=data["task"],
        sample_rate=data["sample_rate"],
        n_src=data["n_src"],
        segment=data["segment"],
        validate=data["validate_files"],
    )
    # Dynamic mixing draws new training mixtures from the split's sources at every item.
    train_cls = DynamicMixDataset if data.get("dynamic_mixing") else CsvMixDataset
    extra = {}
    if data.get("dynamic_mixing"):
        extra = dict(
            speed_range=data.get("speed_perturb") or 0.0,
            sources=data.get("mix_sources", "auto"),
            pair_share=data.get("pair_share") or 0.0,
            pair_semitones=data.get("pair_semitones") or (0.0, 2.0),
            pair_groups=data.get("pair_groups") or (),
        )
    return train_cls(data["train_dir"], **common, **extra), CsvMixDataset(
        data["valid_dir"], **common
    )


def _devices(value):
    """``auto``, an int, or a list like ``0,1`` for Lightning's ``devices``."""
    value = str(value)
    if value == "auto":
        return value
    if "," in value:
        return [int(v) for v in value.split(",") if v]
    return int(value)


def build_trainer(conf: dict, exp_dir: str):
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping, LearningRateMonitor
    from pytorch_lightning.loggers import TensorBoardLogger

    training = conf["training"]
    checkpoint = best_checkpoint_callback(
        dirpath=os.path.join(exp_dir, xp.CHECKPOINTS),
        filename="{epoch}-{val_loss:.3f}",
        monitor="val_loss",
        mode="min",
        save_top_k=training["save_top_k"],
        save_last=True,
        verbose=True,
        enable_version_counter=False,  # last.ckpt is shared with the timed checkpoint
    )
    callbacks = [checkpoint, LearningRateMonitor(logging_interval="epoch")]
    if conf["scheduler"].get("cosine_to_budget"):
        from .budget_schedule import CosineToBudget

        callbacks.append(CosineToBudget(conf["scheduler"].get("warmup_steps", 100)))
    # last.ckpt at every epoch end, and every few minutes within epochs: a stopped run loses
    # at most that.
    minutes = training.get("checkpoint_minutes", DEFAULT_CHECKPOINT_MINUTES)
    callbacks.append(last_checkpoint_callback(os.path.join(exp_dir, xp.CHECKPOINTS), minutes))
    if training["early_stop"]:
        callbacks.append(
            # strict=False: a budget that ends before the first validation is not an error.
            EarlyStopping(
                monitor="val_loss",
                mode="min",
                patience=training["stop_patience"],
                verbose=True,
                strict=False,
            )
        )
    max_minutes = training.get("max_minutes")
    if not max_minutes:
        # Without a budget Lightning adds no Timer; one without a duration still counts the
        # training time across resumed sessions (saved in last.ckpt) for train_done.json.
        from pytorch_lightning.callbacks import Timer

        callbacks.append(Timer(duration=None))
    trainer = pl.Trainer(
        max_epochs=training["epochs"],
        max_steps=training["max_steps"] if training["max_steps"] else -1,
        max_time=datetime.timedelta(minutes=max_minutes) if max_minutes else None,
        callbacks=callbacks,
        default_root_dir=exp_dir,
        logger=TensorBoardLogger(exp_dir, name="tb_logs", version=0),
        accelerator=training["accelerator"],
        devices=_devices(training["devices"]),
        num_nodes=training["num_nodes"],
        strategy=training["strategy"],
        gradient_clip_val=training["gradient_clipping"],
        log_every_n_steps=min(50, training.get("log_every_n_steps") or 50),
        limit_val_batches=training.get("limit_val_batches") or 1.0,
        plugins=[AtomicCheckpointIO()],
    )
    return trainer, checkpoint


def build_system(conf: dict, exp_dir: str, model, objective, train_loader, val_loader):
    """The Lightning module (model, optimizer, ``half_lr`` schedule) and the trainer of
    ``conf``: ``(system, trainer, best-checkpoint callback)``. Writes nothing; raises
    ``ValueError`` (or Lightning's ``MisconfigurationException``) on an option that Lightning
    or the optimizer refuses."""
    from asteroid.engine.optimizers import make_optimizer
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from .system import SeparationSystem

    optim = conf["optim"]
    optimizer = make_optimizer(
        model.parameters(),
        optimizer=optim["optimizer"],
        lr=optim["lr"],
        weight_decay=optim["weight_decay"],
    )
    scheduler = None
    if conf["scheduler"]["half_lr"]:
        scheduler = ReduceLROnPlateau(
            optimizer,
            mode="min",
            factor=conf["scheduler"]["lr_factor"],
            patience=conf["scheduler"]["lr_patience"],
        )
    system = SeparationSystem(
        model=model,
        optimizer=optimizer,
        loss_func=objective,
        train_loader=train_loader,
        val_loader=val_loader,
        scheduler=scheduler,
        config=conf,
    )
    trainer, checkpoint_cb = build_trainer(conf, exp_dir)
    return system, trainer, checkpoint_cb


def training_seconds(trainer, session_seconds: float) -> float:
    """Training time over every session: Lightning's ``Timer`` (the budget's, or one
    without a duration; restored from ``last.ckpt`` on resume), else this session's time."""
    from pytorch_lightning.callbacks import Timer

    for callback in trainer.callbacks:
        if isinstance(callback, Timer):
            return float(callback.time_elapsed("train"))
    return session_seconds


def stop_reason(trainer) -> str:
    """Why ``trainer.fit`` returned: ``early_stopping``, ``max_steps``, ``max_epochs`` or
    ``max_time`` (the only remaining limit; Lightning does not record it)."""
    from pytorch_lightning.callbacks import EarlyStopping

    if any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0 for c in trainer.callbacks):
        return "early_stopping"
    if 0 < trainer.max_steps <= trainer.global_step:
        return "max_steps"
    if trainer.max_epochs is not None and trainer.current_epoch >= trainer.max_epochs:
        return "max_epochs"
    return "max_time"


def load_lightning_state_dict(path: str) -> dict:
    """``state_dict`` of a Lightning checkpoint, read with ``weights_only=True``.

    Lightning checkpoints hold only tensors and plain containers plus a few numpy / pathlib
    objects; those are allow-listed explicitly rather than unpickling arbitrary objects.
    """
    import pathlib

    from ..checkpoints.safe_load import SAFE_GLOBALS

    allowed = [*SAFE_GLOBALS, pathlib.PosixPath, pathlib.WindowsPath]
    with torch.serialization.safe_globals(allowed):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return ckpt["state_dict"]


def write_best_model(
    system, checkpoint_cb, conf: dict, exp_dir: str, data_infos: dict, trainer
) -> dict:
    """Reload the best checkpoint into the model and save ``best_model.pth`` (its
    ``serialize()`` package with plain-string versions: :func:`package_model`)."""
    from ..models import package_model

    best = checkpoint_cb.best_model_path or xp.last_checkpoint(exp_dir)
    state = load_lightning_state_dict(best)
    system.load_state_dict(state)
    model = system.model.cpu()
    package = package_model(model)
    package["infos"]["recipe"] = dict(
        dataset=conf["data"].get("dataset", ""),
        task=conf["data"]["task"],
        training_config=conf,
        data=data_infos,
        best_checkpoint=os.path.basename(best),
        init_licence=initial_weights_licence(conf["model"]),  # for the card, read while here
    )
    torch.save(package, os.path.join(exp_dir, xp.BEST_MODEL))
    score = checkpoint_cb.best_model_score
    return dict(
        best_checkpoint=best,
        best_val_loss=None if score is None else float(score),
        epochs=trainer.current_epoch,
        global_step=trainer.global_step,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--exp_dir", required=True)
    parser.add_argument(
        "--force",
        type=str2bool,
        default=False,
        help="train anew even if exp_dir holds a finished training",
    )
    try:
        args, conf = parse_with_conf(parser, argv)
    except (OSError, ValueError) as err:  # a missing conf file, or not YAML (load_conf)
        print(f"Conf error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import pytorch_lightning as pl
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    rank0 = int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0
    try:
        # Only the launching process decides (DDP children see the same files later). Nothing
        # is changed until the conf, the model and the data have been checked below.
        state = xp.train_state(args.exp_dir, args.force) if rank0 else "resume"
    except xp.ExperimentExists as err:
        print(err, file=sys.stderr)
        return xp.REFUSED
    problems = conf_problems(conf)
    allocator = conf["training"].get("allocator", "system")
    if allocator not in ALLOCATOR_MODES:
        problems.append(
            f"training.allocator must be one of {', '.join(ALLOCATOR_MODES)}, got {allocator!r}"
        )
    if conf["scheduler"]["half_lr"] and conf["scheduler"].get("cosine_to_budget"):
        problems.append(
            "scheduler.half_lr and scheduler.cosine_to_budget both set the learning rate; "
            "choose one (--half_lr false or --cosine_to_budget false)"
        )
    if problems:
        for problem in problems:
            print(f"Conf error: {problem}.", file=sys.stderr)
        return 2
    pl.seed_everything(conf["training"]["seed"], workers=True)
    set_allocator(allocator)  # before the model and the data allocate anything large
    # The model (and whether it fits an interrupted run's weights) before the data: a wrong
    # model name, preset or argument is reported before the data sets scan (and with
    # validate_files check) every file of the corpus, which takes long on a big one. It needs
    # nothing from the data sets (sample rate, n_src and targets come from the conf), and
    # building the data sets draws no random number, so the seeded model and training draws
    # are the same in this order.
    try:
        model_conf = conf["model"]
        if is_music_data(conf["data"]):
            model_conf = with_stem_target(model_conf, targets_of(conf["data"]))
        model = build_model(model_conf, conf["data"]["sample_rate"], conf["data"]["n_src"])
        if conf["training"].get("gradient_checkpointing"):
            model.gradient_checkpointing_enable()
        objective = build_objective(conf["training"], model)
    except (OSError, ValueError) as err:  # OSError: a missing or unreadable model.init_from
        print(f"Conf error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if rank0 and state == "resume":
        mismatch = resume_mismatch(args.exp_dir, model)
        if mismatch:
            print(
                f"{args.exp_dir} holds an interrupted training of another model: {mismatch} "
                "Re-run with its options to resume it, or train this model under another "
                "--tag (or move that folder away to start anew).",
                file=sys.stderr,
            )
            return 2
        changed = resume_changes(args.exp_dir, conf)
        if changed:
            print(
                f"{args.exp_dir} holds an interrupted training whose checkpoint restores "
                f"{', '.join(changed)}: a resume goes on with the saved values. Re-run "
                "with those to resume it, or train anew under another --tag (or move that "
                "folder away).",
                file=sys.stderr,
            )
            return 2
    try:
        train_loader, val_loader, data_infos = make_loaders(conf)
    except (BadAudioFileError, FileNotFoundError, ValueError) as err:
        print(f"Data error: {err}", file=sys.stderr)
        return 2
    # The optimizer, the schedule and the trainer too before anything is changed: Lightning
    # refuses a bad strategy, device list or node count only when the Trainer is built.
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        system, trainer, checkpoint_cb = build_system(
            conf, args.exp_dir, model, objective, train_loader, val_loader
        )
    except (ValueError, TypeError, MisconfigurationException) as err:
        print(f"Conf error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if rank0 and state == "replace":
        xp.move_aside(args.exp_dir)
    os.makedirs(args.exp_dir, exist_ok=True)
    if rank0:
        save_conf(conf, os.path.join(args.exp_dir, xp.CONF))
    resume = state == "resume"
    ckpt_path = xp.last_checkpoint(args.exp_dir)
    if resume and os.path.exists(ckpt_path):
        at = checkpoint_progress(ckpt_path)
        print(
            f"Resuming the interrupted training from {ckpt_path} "
            f"(epoch {at['epoch']}, step {at['global_step']})"
        )
    else:
        ckpt_path = None
    start = time.time()
    try:
        trainer.fit(system, ckpt_path=ckpt_path)
    except SIGTERMException:  # Lightning stops at the next batch and tears down
        print(
            f"Training stopped by SIGTERM; re-run stage 2 to resume from "
            f"{xp.last_checkpoint(args.exp_dir)}",
            file=sys.stderr,
        )
        return 143
    if trainer.interrupted:
        print(
            f"Training interrupted; re-run stage 2 to resume from {xp.last_checkpoint(args.exp_dir)}",
            file=sys.stderr,
        )
        return 130
    if trainer.is_global_zero:
        summary = write_best_model(system, checkpoint_cb, conf, args.exp_dir, data_infos, trainer)
        summary.update(
            wall_time_s=round(time.time() - start, 1),  # this session
            training_time_s=round(training_seconds(trainer, time.time() - start), 1),
            data=data_infos,
            stopped_by=stop_reason(trainer),
        )
        xp.write_json(os.path.join(args.exp_dir, xp.TRAIN_DONE), summary)
        print(
            f"Best model (val_loss {summary['best_val_loss']}) written to "
            f"{os.path.join(args.exp_dir, xp.BEST_MODEL)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
