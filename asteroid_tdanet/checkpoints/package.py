"""One entry point for every form a pretrained model comes in."""

import os
from typing import Callable, List, Tuple

import torch

from .hub import hub_download, is_hub_id, looks_like_path
from .legacy import is_legacy_tdanet_package, upgrade_tdanet_package
from .mismatch import CheckpointMismatchError, format_keys
from ..models.mel_band_roformer import is_release_state_dict, release_to_package
from .look2hear import is_look2hear_package, look2hear_to_package
from .modelscope import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    is_bare_modelscope_state_dict,
    is_modelscope_dir,
    modelscope_dir_to_package,
    refuse_bare_state_dict,
)
from .s4m_reference import is_reference_package, reference_to_package
from .safe_load import NotACheckpointError, safe_torch_load

REQUIRED_KEYS = ("model_name", "model_args", "state_dict")

# (detects, converts) pairs tried in order on every loaded dict: foreign layouts and earlier
# releases of our own format become today's package. Adding a layout is one line here.
CONVERTERS: List[Tuple[Callable[[dict], bool], Callable[[dict], dict]]] = [
    (is_look2hear_package, look2hear_to_package),
    (is_reference_package, reference_to_package),
    (is_legacy_tdanet_package, upgrade_tdanet_package),
    (is_release_state_dict, release_to_package),  # windowed-roformer mbr-win10-sink8.ckpt
    (is_bare_modelscope_state_dict, refuse_bare_state_dict),
]


def source_name(pretrained) -> str:
    """How error messages name ``pretrained``: its path or hub id, or "the given dict"."""
    if isinstance(pretrained, dict):
        return "the given dict"
    return repr(os.fspath(pretrained)) if isinstance(pretrained, (str, os.PathLike)) else "?"


def load_package(pretrained, **hub_kwargs) -> dict:
    """Return a model package dict (``model_name``, ``model_args``, ``state_dict``, ``infos``).

    Args:
        pretrained: a package dict, a checkpoint dict in a layout of :data:`CONVERTERS`, a
            path to either, a ModelScope model directory (FLASepformer releases: see
            :mod:`.modelscope`), or a hub id ``user/repo[@revision]``.
        **hub_kwargs: ``revision``, ``cache_dir``, ``local_files_only``, ``filename`` for hub ids.

    The input dict is not modified.
    """
    source = source_name(pretrained)
    path = None
    if isinstance(pretrained, dict):
        package = pretrained
    else:
        if not isinstance(pretrained, (str, os.PathLike)):
            raise TypeError(f"Expected a dict, a path or a hub id, got {type(pretrained)}.")
        path = os.path.expanduser(os.fspath(pretrained))
        if is_hub_id(path):
            path = hub_download(path, **hub_kwargs)
        elif not os.path.exists(path):
            # A path-like name (extension, ./ ~ /, existing first folder) is never a hub id.
            hint = "" if looks_like_path(path) else " (nor a hub id 'user/repo[@revision]')"
            raise FileNotFoundError(f"no such file: {path!r}{hint}")
        if os.path.isdir(path):
            package = _folder_package(path, source)
        else:
            package = safe_torch_load(path)
    if not isinstance(package, dict):
        raise NotACheckpointError(f"{source} does not hold a model package (a dict).")
    if is_lightning_checkpoint(package):
        raise NotACheckpointError(lightning_checkpoint_message(source, path))
    if "state_dict" in package and not isinstance(package["state_dict"], dict):
        # Every converter reads it as a dict: say so here rather than fail inside one.
        raise NotACheckpointError(
            f"{source}: its state_dict is {_a(package['state_dict'])}, not a dict of tensors."
        )
    for detects, converts in CONVERTERS:
        if detects(package):
            try:
                package = converts(package)
            except (NotACheckpointError, CheckpointMismatchError) as err:
                raise type(err)(f"{source}: {err}") from err
    missing = [k for k in REQUIRED_KEYS if k not in package]
    if missing:
        raise NotACheckpointError(f"{source} is not a model package: missing {missing}.")
    check_package_types(package, source)
    return {**package, "model_args": dict(package["model_args"])}


# Key of every checkpoint a Lightning Trainer writes (pytorch_lightning and lightning alike).
LIGHTNING_KEY = "pytorch-lightning_version"
# The recipes' experiment layout (asteroid_tdanet.recipes.experiment takes these names from
# here: core modules never import recipe code): the model package stage 2 writes, and the
# folder of its Lightning checkpoints.
BEST_MODEL = "best_model.pth"
CHECKPOINTS = "checkpoints"


def is_lightning_checkpoint(package: dict) -> bool:
    """A checkpoint written by a Lightning Trainer (the recipes' ``checkpoints/last.ckpt``,
    ``epoch=*.ckpt``), not a model package."""
    return LIGHTNING_KEY in package and "model_name" not in package


def lightning_checkpoint_message(source: str, path) -> str:
    """Why a Lightning checkpoint is refused, and which file to load instead.

    Such a file holds the trainer's state: the weights under the training system's ``model.``
    prefix and the recipe's conf (a preset and overrides, which only the recipe's model
    factory turns into constructor arguments), not the model's arguments. Stage 2 writes the
    model package ``best_model.pth`` into the experiment folder, whose ``checkpoints/`` holds
    these files: that path is given when the file sits there.
    """

    head = f"{source} is a Lightning training checkpoint (the trainer's state), not a model package"
    folder = os.path.dirname(os.path.abspath(path)) if path else ""
    if os.path.basename(folder) == CHECKPOINTS:
        best = os.path.join(os.path.dirname(folder), BEST_MODEL)
        if os.path.isfile(best):
            return f"{head}: load the experiment's model package {best!r} instead."
        return (
            f"{head}; its experiment has no {BEST_MODEL} yet ({best!r}): the recipe's stage 2 "
            "writes it when training ends (resume the training to finish it)."
        )
    return (
        f"{head}: load the {BEST_MODEL} that the recipe's stage 2 writes into the experiment "
        f"folder (next to {CHECKPOINTS}/) instead."
    )


def _a(value) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def check_package_types(package: dict, source: str) -> None:
    """Raise :class:`NotACheckpointError` naming ``source`` unless ``model_args`` is a dict and
    ``state_dict`` a dict of tensors: a damaged or hand-made package otherwise fails far from
    here, without naming the file (``argument of type 'NoneType' is not iterable``, torch's
    two-line ``load_state_dict`` error)."""
    if not isinstance(package["model_args"], dict):
        raise NotACheckpointError(
            f"{source}: its model_args are {_a(package['model_args'])}, not a dict of the "
            "model's constructor arguments."
        )
    not_tensors = [str(k) for k, v in package["state_dict"].items() if not torch.is_tensor(v)]
    if not_tensors:
        raise NotACheckpointError(
            f"{source}: its state_dict holds {len(not_tensors)} "
            f"{'value' if len(not_tensors) == 1 else 'values'} that are not tensors "
            f"({format_keys(not_tensors)})."
        )


def _folder_package(path: str, source) -> dict:
    """The package of a folder: a published model folder (stage 4's ``publish_dir``, a hub
    snapshot: ``pytorch_model.bin`` holding a whole package) or a ModelScope model directory
    (``configuration.json`` + a ``pytorch_model.bin`` state_dict)."""
    weights = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)) and os.path.isfile(weights):
        package = safe_torch_load(weights)
        if isinstance(package, dict) and "model_args" in package:
            return package
    if not is_modelscope_dir(path):
        raise NotACheckpointError(
            f"{source} is a folder, not a checkpoint file (a published model folder holds "
            f"{WEIGHTS_FILE}; a ModelScope model directory {CONFIG_FILE} and {WEIGHTS_FILE})."
        )
    return modelscope_dir_to_package(path)
