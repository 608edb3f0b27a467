"""Learning rate that follows the training budget: warm-up, then a cosine down to zero when
the budget runs out.

A run with a fixed time budget (the mini recipe, the equal-budget comparison) does not know
its number of steps in advance, so a step-based schedule cannot end on time; this one reads
the fraction of the budget spent before every step: of the wall-clock budget from
Lightning's own ``Timer`` (restored on resume, so an interrupted run continues its schedule
where it stopped) and of the step budget (``max_steps``, or ``max_epochs`` times the epoch
length), whichever is further spent, i.e. whichever will stop the training first:

    lr = lr_0 * min(1, step / warmup_steps) * (1 + cos(pi * spent)) / 2.
"""

import math

from pytorch_lightning.callbacks import Callback, Timer


class CosineToBudget(Callback):
    """Set every parameter group's learning rate from the budget spent (see module docstring).

    Args:
        warmup_steps (int): linear warm-up over the first steps (Adam's early steps at a
            high rate are what makes a short run diverge).

    The optimizer's initial ``lr`` of each group is lr_0.
    """

    NO_BUDGET = (
        "The cosine-to-budget schedule needs a budget: training.max_minutes, max_steps or a "
        "finite number of epochs"
    )

    @classmethod
    def missing_budget(cls, max_minutes, max_steps, epochs) -> str:
        """:attr:`NO_BUDGET` when the training limits (a conf's ``max_minutes``,
        ``max_steps``, ``epochs``; ``None``, ``-1`` or ``0``: none) give no finite budget,
        else ``""``: the rule :meth:`on_train_start` applies, checked before the training."""
        limits = (max_minutes, max_steps, epochs)
        return "" if any(v is not None and v > 0 for v in limits) else cls.NO_BUDGET

    def __init__(self, warmup_steps: int = 100):
        self.warmup_steps = max(int(warmup_steps), 0)
        self._base = None

    @staticmethod
    def factor(step: int, spent: float, warmup_steps: int) -> float:
        """The multiplier of lr_0 at ``step`` with ``spent`` (0-1) of the budget used."""
        warm = 1.0 if warmup_steps == 0 else min(1.0, (step + 1) / warmup_steps)
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(max(spent, 0.0), 1.0)))

    @staticmethod
    def spent(trainer) -> float:
        """The fraction of the budget used, ``None`` when the training has no finite budget."""
        fractions = []
        for callback in trainer.callbacks:
            if isinstance(callback, Timer) and callback.time_remaining("train") is not None:
                elapsed = callback.time_elapsed("train")
                remaining = callback.time_remaining("train")
                fractions.append(elapsed / max(elapsed + remaining, 1e-9))
        total = getattr(trainer, "estimated_stepping_batches", math.inf)
        if math.isfinite(total) and total > 0:
            fractions.append(trainer.global_step / total)
        return max(fractions) if fractions else None

    def on_train_start(self, trainer, pl_module) -> None:
        if self.spent(trainer) is None:  # fail before the first step, not within it
            raise ValueError(f"{self.NO_BUDGET}.")
        self._base = [
            group.setdefault("initial_lr", group["lr"])
            for optimizer in trainer.optimizers
            for group in optimizer.param_groups
        ]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        scale = self.factor(trainer.global_step, self.spent(trainer), self.warmup_steps)
        groups = [g for optimizer in trainer.optimizers for g in optimizer.param_groups]
        for group, base in zip(groups, self._base):
            group["lr"] = base * scale
