"""The learning rate that follows the wall-clock budget (scheduler.cosine_to_budget)."""

import math
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.callbacks import Timer

from asteroid_tdanet.recipes.budget_schedule import CosineToBudget


class FakeTimer(Timer):
    """A Timer whose clock the test sets (seconds of training done of a budget)."""

    def __init__(self, budget: float):
        super().__init__(duration=dict(seconds=budget))
        self.budget, self.done = budget, 0.0

    def time_elapsed(self, stage="train"):
        return self.done

    def time_remaining(self, stage="train"):
        return self.budget - self.done


def trainer_with(optimizer, timer):
    return SimpleNamespace(callbacks=[timer], optimizers=[optimizer], global_step=0)


def expected(lr0, step, spent, warmup):
    return lr0 * min(1.0, (step + 1) / warmup) * (1 + math.cos(math.pi * spent)) / 2


def test_learning_rate_warms_up_then_reaches_zero_with_the_budget():
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.Adam([{"params": params, "lr": 3e-3}, {"params": [], "lr": 1e-3}])
    timer = FakeTimer(600.0)
    trainer = trainer_with(optimizer, timer)
    schedule = CosineToBudget(warmup_steps=10)
    schedule.on_train_start(trainer, None)
    for step, done in [(0, 0.0), (4, 1.0), (50, 150.0), (200, 300.0), (400, 540.0), (500, 600.0)]:
        trainer.global_step, timer.done = step, done
        schedule.on_train_batch_start(trainer, None, None, step)
        for group, lr0 in zip(optimizer.param_groups, (3e-3, 1e-3)):
            assert group["lr"] == pytest.approx(expected(lr0, step, done / 600.0, 10))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_resumed_run_continues_from_the_initial_rate_not_the_decayed_one():
    params = [torch.nn.Parameter(torch.zeros(1))]
    optimizer = torch.optim.Adam(params, lr=2e-3)
    timer = FakeTimer(100.0)
    trainer = trainer_with(optimizer, timer)
    first = CosineToBudget(warmup_steps=1)
    first.on_train_start(trainer, None)
    trainer.global_step, timer.done = 30, 50.0
    first.on_train_batch_start(trainer, None, None, 0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    # Resuming restores the optimizer's state (lr and initial_lr) and the timer's.
    resumed = torch.optim.Adam(params, lr=2e-3)
    resumed.load_state_dict(optimizer.state_dict())
    trainer = trainer_with(resumed, timer)
    second = CosineToBudget(warmup_steps=1)
    second.on_train_start(trainer, None)
    timer.done = 75.0
    second.on_train_batch_start(trainer, None, None, 0)
    assert resumed.param_groups[0]["lr"] == pytest.approx(expected(2e-3, 30, 0.75, 1))


def test_without_a_time_budget_it_follows_the_step_budget():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    trainer = SimpleNamespace(
        callbacks=[], optimizers=[optimizer], global_step=0, estimated_stepping_batches=200
    )
    schedule = CosineToBudget(warmup_steps=10)
    schedule.on_train_start(trainer, None)
    for step in (0, 50, 100, 199):
        trainer.global_step = step
        schedule.on_train_batch_start(trainer, None, None, step)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            expected(1e-3, step, step / 200, 10)
        )


def test_with_both_budgets_the_one_that_ends_first_sets_the_pace():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    timer = FakeTimer(100.0)
    trainer = SimpleNamespace(
        callbacks=[timer], optimizers=[optimizer], global_step=0, estimated_stepping_batches=1000
    )
    schedule = CosineToBudget(warmup_steps=1)
    schedule.on_train_start(trainer, None)
    trainer.global_step, timer.done = 100, 50.0  # half the time, a tenth of the steps
    schedule.on_train_batch_start(trainer, None, None, 0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected(1e-3, 100, 0.5, 1))
    trainer.global_step, timer.done = 900, 60.0  # now the steps run out first
    schedule.on_train_batch_start(trainer, None, None, 0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected(1e-3, 900, 0.9, 1))


def test_without_any_budget_it_says_what_is_missing():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    trainer = SimpleNamespace(
        callbacks=[], optimizers=[optimizer], global_step=0, estimated_stepping_batches=math.inf
    )
    with pytest.raises(ValueError, match="needs a budget: training.max_minutes, max_steps"):
        CosineToBudget().on_train_start(trainer, None)
