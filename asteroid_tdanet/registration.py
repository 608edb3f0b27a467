"""Registration of our models with ``asteroid.models`` (safe to call any number of times)."""

import asteroid.models


def register_asteroid_models() -> None:
    """Make ``asteroid.models.get(name)`` and ``BaseModel.from_pretrained`` find our models."""
    from .models import MODELS

    for cls in MODELS.values():
        existing = getattr(asteroid.models, cls.__name__, None)
        if existing is cls:
            continue
        if existing is not None:
            raise RuntimeError(
                f"asteroid.models already holds another {cls.__name__!r} ({existing!r})."
            )
        asteroid.models.register_model(cls)
