"""Build the model of a recipe conf (``model`` section); its loss: :mod:`.objectives`."""

import inspect

from ..models import get_model_class
from ..models.presets import PRESETS, preset_args, preset_model

# Keys of the model section that are not constructor arguments.
_NON_MODEL_KEYS = ("model_name", "preset", "model_args", "init_from", "student_of")
DEFAULT_MODEL = "tdanet"


def resolve_preset(preset, model_name: str) -> str:
    """Preset name for ``model_name``: ``None`` is the model's own (``tdanet``, ``s4m``, or
    the class's ``default_preset``), and a name may omit the model prefix (``mini`` ->
    ``s4m-mini`` for S4M; ``b`` -> ``fla-sepreformer-b``: the class's ``preset_prefix``)."""
    cls = get_model_class(model_name)
    prefix = getattr(cls, "preset_prefix", model_name.lower())
    if not preset:
        preset = getattr(cls, "default_preset", model_name.lower())
    if preset not in PRESETS and f"{prefix}-{preset}" in PRESETS:
        preset = f"{prefix}-{preset}"
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    if preset_model(preset).lower() != model_name.lower():
        raise ValueError(
            f"Preset {preset!r} builds a {preset_model(preset)}, not a {model_name}: pass a "
            f"{model_name} preset (--preset)."
        )
    return preset


def build_model(model_conf: dict, sample_rate: float, n_src: int):
    """The ``model_name`` model (default TDANet) from ``preset`` plus every non-null argument
    of ``model_conf`` and of its ``model_args`` dict (any other constructor argument, e.g.
    ``{n_repeats: 2}`` for ConvTasNet).

    ``sample_rate`` and ``n_src`` come from the data section, so they cannot disagree. A
    non-null key the model does not take is an error naming it.

    ``init_from`` (fine-tuning): the model is loaded from that checkpoint, ModelScope
    directory or hub id (any form :func:`asteroid_tdanet.load_model` reads) with its own
    architecture (the preset is not used; the other keys override its stored arguments, e.g.
    ``dropout``); its sample rate and number of sources must match the data's.

    ``student_of`` (distillation): the model is the class's ``from_teacher(teacher,
    **other keys)`` of the model loaded from there (MelBandRoformer: the teacher's weights
    with windowed sink attention and new sink tokens).
    """
    name = model_conf.get("model_name") or DEFAULT_MODEL
    cls = get_model_class(name)
    extra = model_conf.get("model_args") or {}
    if not isinstance(extra, dict):
        raise ValueError(f"model_args must be a mapping like '{{n_repeats: 2}}', got {extra!r}.")
    overrides = {k: v for k, v in model_conf.items() if k not in _NON_MODEL_KEYS and v is not None}
    overrides.update(extra)
    if model_conf.get("init_from") and model_conf.get("student_of"):
        raise ValueError("model.init_from and model.student_of both set the initial weights.")
    if model_conf.get("init_from"):
        return _initial_model(model_conf["init_from"], cls, overrides, sample_rate, n_src)
    if model_conf.get("student_of"):
        return _student_model(model_conf["student_of"], cls, overrides, sample_rate, n_src)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise ValueError(f"{cls.__name__} does not take {unknown} (model section of the conf).")
    preset = resolve_preset(model_conf.get("preset"), cls.__name__)
    return cls(n_src=n_src, **preset_args(preset, sample_rate=sample_rate, **overrides))


def with_stem_target(model_conf: dict, targets) -> dict:
    """``model_conf`` with ``model_args.target`` set to a music recipe's target stem, for
    models that name the stem they separate (a ``target`` argument: MelBandRoformer): their
    outputs are then written and scored under that name (``drums`` / ``no_drums``), not
    under the class's default (``vocals``). Other models: ``model_conf`` unchanged."""
    cls = get_model_class(model_conf.get("model_name") or DEFAULT_MODEL)
    if "target" not in inspect.signature(cls.__init__).parameters:
        return model_conf
    targets = tuple(targets)
    extra = dict(model_conf.get("model_args") or {})
    if len(targets) != 1:
        raise ValueError(f"{cls.__name__} separates one target stem, the data names {targets}.")
    if extra.get("target", targets[0]) != targets[0]:
        raise ValueError(
            f"model_args.target ({extra['target']!r}) differs from the data's target "
            f"({targets[0]!r}, run.sh --task)."
        )
    extra["target"] = targets[0]
    return {**model_conf, "model_args": extra}


def _initial_model(init_from: str, cls, overrides: dict, sample_rate: float, n_src: int):
    from ..models import load_model, n_src_of

    model = load_model(init_from, **overrides)
    if not isinstance(model, cls):
        raise ValueError(
            f"init_from {init_from!r} holds a {type(model).__name__}, not a {cls.__name__} "
            f"(run.sh --model)."
        )
    if n_src_of(model) != n_src or float(model.sample_rate) != float(sample_rate):
        raise ValueError(
            f"init_from {init_from!r} separates {n_src_of(model)} sources at "
            f"{model.sample_rate:g} Hz; the data has {n_src} at {sample_rate:g} Hz."
        )
    return model.train()


def _student_model(teacher_path: str, cls, overrides: dict, sample_rate: float, n_src: int):
    if not hasattr(cls, "from_teacher"):
        raise ValueError(f"{cls.__name__} cannot start from a teacher (no from_teacher).")
    teacher = _initial_model(teacher_path, cls, {}, sample_rate, n_src)
    return cls.from_teacher(teacher, **overrides)


def initial_weights_licence(model_conf: dict) -> str:
    """Licence recorded with the ``init_from`` weights ("" without ``init_from`` or when the
    package records none): the card of a fine-tuned model states it."""
    if not model_conf.get("init_from"):
        return ""
    from ..checkpoints import load_package

    try:
        infos = load_package(model_conf["init_from"]).get("infos", {})
        # Our publish stage writes "license", the ModelScope reader "licence".
        return str(infos.get("license") or infos.get("licence") or "")
    except Exception:  # the card is still written when the initial weights are gone
        return ""
