"""Asteroid ``System`` for any model, driven by an objective, with metrics averaged over DDP
processes."""

import numbers
import random

import numpy as np
import torch
from asteroid.engine.system import System
from torch.optim.lr_scheduler import ReduceLROnPlateau


class SeparationSystem(System):
    """:class:`asteroid.engine.System` whose ``loss_func`` is an objective of
    :mod:`.objectives` (it runs the model: ``loss_func(model, mixture, sources, epoch=e)``) and
    whose logged losses are synchronised across processes.

    Batches are ``(mixture (batch, time), sources (batch, n_src, time))``.

    Checkpoints hold the process's global random states (torch, CUDA, numpy, Python's
    ``random``) under :attr:`RNG_KEY`, restored on resume: training started anew with
    ``seed_everything`` at every session, so the dropout and any other draw of the model and
    the objective repeated the first session's. (The data's draws do not use them: see
    :class:`~.dataset.EpochSampler`.)
    """

    RNG_KEY = "rng_states"

    @staticmethod
    def config_to_hparams(dic):
        """Asteroid's sanitising of the conf for TensorBoard, which turns every list into a
        tensor: lists that are not all numbers (e.g. ``data.pair_groups: [espeak_]``) and
        empty lists (``pair_groups: []``; TensorBoard cannot log an empty tensor) are kept as
        their text instead of failing."""

        def text_if_not_numbers(value):
            if isinstance(value, (list, tuple)) and (
                not value or not all(isinstance(v, numbers.Number) for v in value)
            ):
                return str(list(value))
            return value

        return System.config_to_hparams(
            {
                section: (
                    {k: text_if_not_numbers(v) for k, v in values.items()}
                    if isinstance(values, dict)
                    else values
                )
                for section, values in dic.items()
            }
        )

    def _at_epoch(self, loader):
        """``loader`` with its sampler set to the epoch the fit loop runs next (restored on
        resume): Lightning starts the first epoch's iterator, whose worker processes prefetch
        at once, before it calls ``set_epoch``, so a resumed session's first epoch drew epoch
        0's items with ``num_workers > 0``."""
        sampler = getattr(loader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)) and self._trainer is not None:
            sampler.set_epoch(self.trainer.fit_loop.epoch_progress.current.processed)
        return loader

    def train_dataloader(self):
        return self._at_epoch(super().train_dataloader())

    def val_dataloader(self):
        return self._at_epoch(super().val_dataloader())

    def on_save_checkpoint(self, checkpoint):
        checkpoint = super().on_save_checkpoint(checkpoint) or checkpoint
        name, keys, pos, has_gauss, cached = np.random.get_state()
        states = dict(
            torch=torch.get_rng_state(),
            numpy=[name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            python=random.getstate(),
        )
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            states["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint[self.RNG_KEY] = states
        return checkpoint

    def on_load_checkpoint(self, checkpoint):
        """Restore the saved random states (a checkpoint of an earlier version has none: the
        session's seeded ones stay)."""
        states = checkpoint.get(self.RNG_KEY)
        if not states:
            return
        torch.set_rng_state(states["torch"])
        name, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))
        cuda = states.get("cuda")
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)

    def common_step(self, batch, batch_nb, train=True):
        mixture, sources = batch
        return self.loss_func(self.model, mixture, sources, epoch=self.current_epoch)

    def training_step(self, batch, batch_nb):
        loss = self.common_step(batch, batch_nb, train=True)
        self.log("loss", loss, logger=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_nb):
        validation_loss = getattr(self.loss_func, "validation_loss", None)
        if validation_loss is None:
            loss = self.common_step(batch, batch_nb, train=False)
        else:  # an epoch-dependent objective's fixed yardstick (recipes.objectives)
            mixture, sources = batch
            loss = validation_loss(self.model, mixture, sources)
        # sync_dist: under DDP every process must agree on val_loss, which drives the
        # checkpointing, early stopping and LR schedule.
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True)

    def lr_scheduler_step(self, scheduler, metric):
        if isinstance(scheduler, ReduceLROnPlateau):
            return  # stepped at validation end (on_validation_end)
        super().lr_scheduler_step(scheduler, metric)

    def on_validation_end(self):
        """Step the plateau schedules (``half_lr``) with this epoch's validation loss here,
        not after the training epoch end as Lightning does: ``last.ckpt``, written at the
        training epoch end, then holds the updated schedule and learning rate, and a run
        resumed from it halves when the uninterrupted run does."""
        if self.trainer.sanity_checking:
            return
        for config in self.trainer.lr_scheduler_configs:
            if isinstance(config.scheduler, ReduceLROnPlateau):
                metric = self.trainer.callback_metrics.get(config.monitor)
                if metric is not None:
                    config.scheduler.step(metric)

    def on_validation_epoch_end(self):
        # Asteroid logs hp_metric from every process; only rank 0 writes TensorBoard.
        if self.trainer.is_global_zero:
            super().on_validation_epoch_end()
