"""Learning rate that follows the wall-clock budget: warm-up, then a cosine down to zero
when ``training.max_minutes`` runs out.

A run with a fixed time budget (the mini recipe, the equal-budget comparison) does not know
its number of steps in advance, so a step-based schedule cannot end on time; this one reads
the fraction of the budget spent from Lightning's own ``Timer`` (restored on resume, so an
interrupted run continues its schedule where it stopped) and sets, before every step,

    lr = lr_0 * min(1, step / warmup_steps) * (1 + cos(pi * spent)) / 2.
"""

import math

from pytorch_lightning.callbacks import Callback, Timer


class CosineToBudget(Callback):
    """Set every parameter group's learning rate from the budget spent (see module docstring).

    Args:
        warmup_steps (int): linear warm-up over the first steps (Adam's early steps at a
            high rate are what makes a short run diverge).

    Needs ``Trainer(max_time=...)``; the optimizer's initial ``lr`` of each group is lr_0.
    """

    def __init__(self, warmup_steps: int = 100):
        self.warmup_steps = max(int(warmup_steps), 0)
        self._base = None

    @staticmethod
    def factor(step: int, spent: float, warmup_steps: int) -> float:
        """The multiplier of lr_0 at ``step`` with ``spent`` (0-1) of the budget used."""
        warm = 1.0 if warmup_steps == 0 else min(1.0, (step + 1) / warmup_steps)
        return warm * 0.5 * (1.0 + math.cos(math.pi * min(max(spent, 0.0), 1.0)))

    def _timer(self, trainer) -> Timer:
        for callback in trainer.callbacks:
            if isinstance(callback, Timer):
                return callback
        raise ValueError("The cosine-to-budget schedule needs training.max_minutes.")

    def on_train_start(self, trainer, pl_module) -> None:
        self._timer(trainer)  # fail before the first step, not within it
        self._base = [
            group.setdefault("initial_lr", group["lr"])
            for optimizer in trainer.optimizers
            for group in optimizer.param_groups
        ]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        timer = self._timer(trainer)
        elapsed = timer.time_elapsed("train")
        remaining = timer.time_remaining("train") or 0.0
        spent = elapsed / max(elapsed + remaining, 1e-9)
        scale = self.factor(trainer.global_step, spent, self.warmup_steps)
        groups = [g for optimizer in trainer.optimizers for g in optimizer.param_groups]
        for group, base in zip(groups, self._base):
            group["lr"] = base * scale
