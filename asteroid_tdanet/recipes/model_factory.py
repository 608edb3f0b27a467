"""Build the TDANet of a recipe conf (``model`` section) and the PIT loss (``training``)."""

from functools import partial

from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

from ..models import TDANet
from ..models.presets import preset_args

# conf keys of the model section that are not TDANet arguments.
_NON_MODEL_KEYS = ("preset",)


def build_model(model_conf: dict, sample_rate: float, n_src: int) -> TDANet:
    """TDANet from ``preset`` plus any non-null TDANet argument in ``model_conf``.

    ``sample_rate`` and ``n_src`` come from the data section, so they cannot disagree.
    """
    overrides = {k: v for k, v in model_conf.items() if k not in _NON_MODEL_KEYS and v is not None}
    args = preset_args(model_conf.get("preset") or "tdanet", sample_rate=sample_rate, **overrides)
    return TDANet(n_src=n_src, **args)


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
