"""Registration of our models with ``asteroid.models`` (safe to call any number of times)."""

import asteroid.models


def register_asteroid_models() -> None:
    """Make ``asteroid.models.get("TDANet")`` and ``BaseModel.from_pretrained`` find TDANet."""
    from .models import TDANet

    existing = getattr(asteroid.models, TDANet.__name__, None)
    if existing is TDANet:
        return
    if existing is not None:
        raise RuntimeError(
            f"asteroid.models already holds another {TDANet.__name__!r} ({existing!r})."
        )
    asteroid.models.register_model(TDANet)
