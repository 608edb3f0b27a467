"""Registration of our models with ``asteroid.models`` (safe to call any number of times)."""

import functools

import asteroid.models
from asteroid.models.base_models import BaseModel


def register_asteroid_models() -> None:
    """Make ``asteroid.models.get(name)`` and ``BaseModel.from_pretrained`` find our models,
    and make ``BaseModel.from_pretrained`` return them in eval mode."""
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
    """Asteroid's ``BaseModel.from_pretrained``, returning our models in eval mode.

    ``BaseModel.from_pretrained(path)`` builds the model class named in the file and loads
    its weights without going through our ``from_pretrained``; our loaded models are in
    eval mode whichever way they are loaded. Other models are returned as Asteroid leaves them.
    """
    from .models.base import PackagedModel

    @functools.wraps(from_pretrained)
    def wrapper(cls, *args, **kwargs):
        model = from_pretrained(cls, *args, **kwargs)
        return model.eval() if isinstance(model, PackagedModel) else model

    wrapper._evals_our_models = PackagedModel  # which import of the package wrapped it
    return classmethod(wrapper)
