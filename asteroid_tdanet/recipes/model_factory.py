"""Build the model of a recipe conf (``model`` section) and the PIT loss (``training``)."""

import inspect
from functools import partial

from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

from ..models import get_model_class
from ..models.presets import PRESETS, preset_args, preset_model

# Keys of the model section that are not constructor arguments.
_NON_MODEL_KEYS = ("model_name", "preset")
DEFAULT_MODEL = "tdanet"


def resolve_preset(preset, model_name: str) -> str:
    """Preset name for ``model_name``: ``None`` is the model's own (``tdanet``, ``s4m``), and a
    name may omit the model prefix (``mini`` -> ``s4m-mini`` for S4M)."""
    if not preset:
        preset = model_name.lower()
    if preset not in PRESETS and f"{model_name.lower()}-{preset}" in PRESETS:
        preset = f"{model_name.lower()}-{preset}"
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
    of ``model_conf``.

    ``sample_rate`` and ``n_src`` come from the data section, so they cannot disagree. A
    non-null key the model does not take is an error naming it.
    """
    name = model_conf.get("model_name") or DEFAULT_MODEL
    cls = get_model_class(name)
    overrides = {k: v for k, v in model_conf.items() if k not in _NON_MODEL_KEYS and v is not None}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(overrides) - accepted)
    if unknown:
        raise ValueError(f"{cls.__name__} does not take {unknown} (model section of the conf).")
    preset = resolve_preset(model_conf.get("preset"), cls.__name__)
    return cls(n_src=n_src, **preset_args(preset, sample_rate=sample_rate, **overrides))


def pairwise_neg_snr_threshold(est_targets, targets, threshold_db: float = 30.0, eps=1e-8):
    """Pairwise negative SNR with a soft threshold (the released look2hear training loss).

    ``-10 log10(|s|^2 / (|s - s_hat|^2 + tau |s|^2 + eps))`` with ``tau = 10^(-threshold/10)``:
    once an estimate is better than ``threshold_db`` its gradient vanishes, so training
    focuses on the worse sources. Shapes: ``(batch, n_src, time)`` x2 -> ``(batch, n_src,
    n_src)``, entry ``[b, i, j]`` comparing estimate ``i`` with target ``j``
    (``pairwise_neg_sisdr``'s convention).
    """
    tau = 10 ** (-threshold_db / 10)
    est = est_targets.unsqueeze(2)  # (batch, n_src_est, 1, time)
    tgt = targets.unsqueeze(1)  # (batch, 1, n_src_tgt, time)
    tgt_pow = (tgt**2).sum(-1)
    err_pow = ((tgt - est) ** 2).sum(-1)
    return -10 * (tgt_pow / (err_pow + tau * tgt_pow + eps) + eps).log10()


def build_loss(training_conf: dict) -> PITLossWrapper:
    """``PITLossWrapper`` for ``training.loss``: ``sisdr`` (default) or ``snr`` (thresholded)."""
    name = training_conf.get("loss", "sisdr")
    if name == "sisdr":
        return PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    if name == "snr":
        threshold = training_conf.get("snr_threshold", 30.0)
        return PITLossWrapper(
            partial(pairwise_neg_snr_threshold, threshold_db=threshold), pit_from="pw_mtx"
        )
    raise ValueError(f"Unknown loss {name!r}: use 'sisdr' or 'snr'.")
