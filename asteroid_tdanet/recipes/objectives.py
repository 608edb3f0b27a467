"""Training objectives: what a recipe minimises, and the hook through which a model brings its own.

An objective is called as ``objective(model, mixture, sources, epoch=e) -> scalar loss`` with
``mixture (batch, time)``, ``sources (batch, n_src, time)`` and ``e`` Lightning's epoch
(0-based). It runs the model itself, so a model whose training needs extra outputs
(SepReformer's auxiliary decoder-stage estimates) or a loss that changes over epochs (their
weight decays) fits the same training loop. An objective whose value depends on the epoch
may define ``validation_loss(model, mixture, sources)``: what validation reports as
``val_loss`` (checkpoint selection, early stopping and the LR schedule compare it across
epochs, so it must not change with the epoch); otherwise validation calls the objective.

The hook: a model class may define

* ``recipe_objectives() -> {name: factory}`` where ``factory(training_conf) -> objective``;
  its names join :data:`OBJECTIVES` for that model (and may replace one);
* ``default_recipe_loss: str``, the name used when the conf's ``training.loss`` is empty.

``training.loss`` picks by name, so ``--loss sisdr`` always gives plain PIT SI-SNR.
"""

from functools import partial
from typing import Callable, Dict

from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
from torch import nn

DEFAULT_LOSS = "sisdr"


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


class PITObjective(nn.Module):
    """Permutation-invariant ``pairwise_loss`` of ``model(mixture)`` against the sources."""

    def __init__(self, pairwise_loss: Callable):
        super().__init__()
        self.pit = PITLossWrapper(pairwise_loss, pit_from="pw_mtx")

    def forward(self, model, mixture, sources, epoch: int = 0):
        return self.pit(model(mixture), sources)


# name -> factory(training_conf) -> objective, for every model.
OBJECTIVES: Dict[str, Callable[[dict], nn.Module]] = {
    "sisdr": lambda training: PITObjective(pairwise_neg_sisdr),
    "snr": lambda training: PITObjective(
        partial(pairwise_neg_snr_threshold, threshold_db=training.get("snr_threshold", 30.0))
    ),
}


def model_objectives(model) -> Dict[str, Callable[[dict], nn.Module]]:
    """:data:`OBJECTIVES` plus (overridden by) the model's own ``recipe_objectives()``."""
    own = getattr(model, "recipe_objectives", None)
    return {**OBJECTIVES, **(own() if callable(own) else {})}


def loss_name(training_conf: dict, model) -> str:
    """The objective ``training_conf`` selects for ``model`` (a model or its class): the conf's
    ``loss``, else the model's ``default_recipe_loss``, else :data:`DEFAULT_LOSS`."""
    return training_conf.get("loss") or getattr(model, "default_recipe_loss", DEFAULT_LOSS)


def build_objective(training_conf: dict, model) -> nn.Module:
    """The objective named ``training_conf['loss']`` (empty: the model's default) for
    ``model``; an unknown name is an error listing the model's choices."""
    choices = model_objectives(model)
    name = loss_name(training_conf, model)
    if name not in choices:
        raise ValueError(
            f"Unknown loss {name!r} for {type(model).__name__}: choose one of {sorted(choices)}."
        )
    return choices[name](training_conf)
