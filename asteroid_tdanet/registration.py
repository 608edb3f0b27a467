"""Registration of our models with ``asteroid.models`` (safe to call any number of times)."""

import functools

import asteroid.models
from asteroid.models.base_models import BaseModel


def register_asteroid_models() -> None:
    """Make ``asteroid.models.get(name)`` and ``BaseModel.from_pretrained`` find our models,
    make ``BaseModel.from_pretrained`` read files with the safe load (see
    :func:`_eval_our_models`) and return our models in eval mode."""
    from .models import MODELS

    for cls in MODELS.values():
        existing = getattr(asteroid.models, cls.__name__, None)
        if existing is cls:
            continue
        if existing is not None and not _same_class(existing, cls):
            raise RuntimeError(
                f"asteroid.models already holds another {cls.__name__!r} ({existing!r})."
            )
        if existing is None:
            asteroid.models.register_model(cls)
        else:  # ours from an earlier import of this package (its modules dropped from
            # sys.modules and imported again, as autoreloaders do): this one replaces it
            setattr(asteroid.models, cls.__name__, cls)
    wrapped = getattr(BaseModel.from_pretrained, "_evals_our_models", None)
    if wrapped is None:
        BaseModel.from_pretrained = _eval_our_models(BaseModel.from_pretrained.__func__)
    elif wrapped is not _package_base():  # wrapped by an earlier import of this package
        BaseModel.from_pretrained = _eval_our_models(BaseModel.from_pretrained.__wrapped__)


def _same_class(a, b) -> bool:
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _package_base():
    from .models.base import PackagedModel

    return PackagedModel


def _eval_our_models(from_pretrained):
    """Asteroid's ``BaseModel.from_pretrained``, reading files safely and returning our models
    in eval mode.

    Asteroid reads a path or hub id with a bare ``torch.load(path)``: under torch 2.5 (which
    setup.py allows) that unpickles with ``weights_only=False`` and runs whatever code a
    malicious file holds. Here a ``str`` is fetched as Asteroid fetches it
    (``asteroid.utils.hub_utils.cached_download``: a local file, a hub id, a URL) and read with
    :func:`~asteroid_tdanet.checkpoints.safe_torch_load`; Asteroid's method then gets the dict.
    ``BaseModel.from_pretrained(path)`` builds the model class named in the file and loads its
    weights without going through our ``from_pretrained``; our loaded models are in eval mode
    whichever way they are loaded. Other models are returned as Asteroid leaves them.
    """
    from .models.base import PackagedModel

    @functools.wraps(from_pretrained)
    def wrapper(cls, pretrained_model_conf_or_path, *args, **kwargs):
        conf = pretrained_model_conf_or_path
        source = "the package"
        if isinstance(conf, str):
            source, conf = repr(conf), _safe_package(conf)
        if isinstance(conf, dict):
            _check_our_model_args(conf, source)
        model = from_pretrained(cls, conf, *args, **kwargs)
        return model.eval() if isinstance(model, PackagedModel) else model

    wrapper._evals_our_models = PackagedModel  # which import of the package wrapped it
    return classmethod(wrapper)


def _safe_package(name: str) -> dict:
    """The package dict of the file, hub id or URL ``name``, read with ``weights_only=True``.

    Asteroid fills in a missing ``sample_rate`` from its table of published models only when
    it is given a name, not a dict: that step is repeated here so the result is the same.
    """
    from asteroid.utils.hub_utils import SR_HASHTABLE, cached_download

    from .checkpoints import NotACheckpointError, safe_torch_load

    path = cached_download(name)
    package = safe_torch_load(path)
    if not isinstance(package, dict):
        raise NotACheckpointError(f"{path!r} does not hold a model package (a dict).")
    args = package.get("model_args")
    if isinstance(args, dict) and "sample_rate" not in args:
        args["sample_rate"] = SR_HASHTABLE.get(name, None)
    return package


def _check_our_model_args(package: dict, source: str) -> None:
    """For a package of one of our models, arguments its class does not take are named with
    the release that wrote the file (:func:`~.models.base.check_model_args`, as our loaders
    do), not left to the constructor's bare ``TypeError``."""
    from .models import MODELS
    from .models.base import check_model_args
    from .models.registry import get_model_class

    try:
        model_cls = get_model_class(package.get("model_name"))
    except ValueError:  # not a model anyone registered: Asteroid's own error says so
        return
    if model_cls in MODELS.values() and isinstance(package.get("model_args"), dict):
        check_model_args(model_cls, package["model_args"], source, package.get("infos"))
