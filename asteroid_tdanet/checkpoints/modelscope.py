"""ModelScope model directories of the FLASepformer releases (CC BY-NC 4.0).

A directory holds ``configuration.json`` and ``pytorch_model.bin`` (a ``state_dict`` of the
reference wrapper: keys start with ``separator.``). The exact ``configuration.json`` schema of
the releases is not public; accepted: the reference constructor's keyword arguments
(``separator_conf``, and ``n_fft`` / ``hop_length`` / ``normalize_variance``) at the top level
or under a ``model`` key (ModelScope's usual nesting, next to ``framework``, ``task``,
``pipeline``; at the top level those keys are ignored). Which model it is comes from the
weights' layout, not from the file. An argument the port cannot take is an error naming
``configuration.json``.
"""

import json
import os
from typing import Dict, List, Tuple

from .released_layout import converted_infos
from .safe_load import NotACheckpointError, safe_torch_load

CONFIG_FILE = "configuration.json"
WEIGHTS_FILE = "pytorch_model.bin"
LICENCE = "CC BY-NC 4.0 (FLASepformer releases on ModelScope)"
# A key prefix only one layout has -> our model class name.
LAYOUTS: List[Tuple[str, str]] = [
    ("separator.audio_encoder.", "FLASepReformer"),
    ("separator.f_blocks.", "FLATFLocoformer"),
    ("separator.t_blocks.", "FLATFLocoformer"),
]


def modelscope_layout(state_dict) -> str:
    """The model name of a reference FLASepformer ``state_dict`` ("" if it is not one)."""
    if not isinstance(state_dict, dict):
        return ""
    for prefix, name in LAYOUTS:
        if any(isinstance(k, str) and k.startswith(prefix) for k in state_dict):
            return name
    return ""


def is_modelscope_dir(path: str) -> bool:
    """A folder with either of the two files of a ModelScope model directory."""
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, f)) for f in (CONFIG_FILE, WEIGHTS_FILE)
    )


def is_bare_modelscope_state_dict(package) -> bool:
    """A reference FLASepformer ``state_dict`` on its own (its configuration is elsewhere)."""
    return bool(modelscope_layout(package))


def refuse_bare_state_dict(package: dict) -> dict:
    name = modelscope_layout(package)
    raise NotACheckpointError(
        f"This is a bare {name} state_dict of the ModelScope reference (FLASepformer): its "
        f"configuration is not in it. Load the model directory (holding {CONFIG_FILE} and "
        f"{WEIGHTS_FILE}), or {name}.from_reference(state_dict, config) with the reference "
        "constructor's keyword arguments."
    )


# Keys of ModelScope's own ``configuration.json`` schema: how ModelScope runs a model (its
# framework, task, pipeline, pre-processing, training), not the model's arguments. With the
# arguments at the top level they stand next to ``separator_conf``; every model's config
# reader ignores them (FLA-SepReformer's reads only its own keys; FLA-TFLocoformer's, which
# refuses unknown keys to catch misspelt arguments, skips these).
MODELSCOPE_KEYS = (
    "framework",
    "task",
    "pipeline",
    "model",
    "preprocessor",
    "train",
    "evaluation",
    "dataset",
    "allow_remote",
)


def without_modelscope_keys(config: dict) -> dict:
    """``config`` without ModelScope's own keys (:data:`MODELSCOPE_KEYS`)."""
    return {k: v for k, v in config.items() if k not in MODELSCOPE_KEYS}


def model_config(config: dict, source: str) -> dict:
    """The reference constructor's keyword arguments in ``configuration.json`` (at the top
    level, without ModelScope's own keys, or under ``model``)."""
    for candidate in (config, config.get("model")):
        if isinstance(candidate, dict) and isinstance(candidate.get("separator_conf"), dict):
            return without_modelscope_keys(candidate)
    raise NotACheckpointError(
        f"{source}: no 'separator_conf' (the reference model's arguments) at the top level "
        f"or under 'model'; found keys {sorted(config)}."
    )


def modelscope_dir_to_package(path: str) -> Dict:
    """A model package (``model_name``, ``model_args``, ``state_dict``, ``infos``) from a
    ModelScope model directory; the model rebuilt with ``official_compat=True``."""
    from ..models.registry import get_model_class

    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not os.path.isfile(os.path.join(path, f))]
    if missing:
        raise NotACheckpointError(
            f"{path!r} is a folder without {' and '.join(missing)}: a ModelScope model "
            f"directory holds {CONFIG_FILE} (model arguments) and {WEIGHTS_FILE} (weights)."
        )
    config_path = os.path.join(path, CONFIG_FILE)
    try:
        with open(config_path, encoding="utf-8-sig") as f:  # a BOM from Windows editors
            config = json.load(f)
    except (OSError, ValueError) as err:
        raise NotACheckpointError(f"{config_path!r} is not readable JSON: {err}") from err
    if not isinstance(config, dict):
        raise NotACheckpointError(f"{config_path!r} does not hold a JSON object.")
    state_dict = safe_torch_load(os.path.join(path, WEIGHTS_FILE))
    if isinstance(state_dict, dict) and isinstance(state_dict.get("state_dict"), dict):
        state_dict = state_dict["state_dict"]
    name = modelscope_layout(state_dict)
    if not name:
        raise NotACheckpointError(
            f"{os.path.join(path, WEIGHTS_FILE)!r} is not a FLA-SepReformer or FLA-TFLocoformer "
            "state_dict of the ModelScope reference (no 'separator.audio_encoder.*' or "
            "'separator.f_blocks.*' keys)."
        )
    reference_args = model_config(config, repr(config_path))
    model_cls = get_model_class(name)
    try:
        args = model_cls.reference_model_args(reference_args)
    except ValueError as err:  # an argument the port cannot take: say which file holds it
        raise NotACheckpointError(f"{config_path!r}: {err}") from err
    return dict(
        model_name=name,
        model_args=args,
        state_dict=model_cls.reference_state_dict(state_dict),
        infos={
            **converted_infos({}, f"ModelScope {name} directory"),
            "licence": LICENCE,
        },
    )
