"""Training objectives: PIT losses against formulas written here, and the model hook."""

import itertools

import pytest
import torch

from asteroid_tdanet.recipes.objectives import (
    OBJECTIVES,
    PITObjective,
    build_objective,
    pairwise_neg_snr_threshold,
)
from asteroid_tdanet.recipes.system import SeparationSystem


def si_sdr(est, ref):
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * torch.log10((target @ target) / ((est - target) @ (est - target)))


class Swap(torch.nn.Module):
    """A 'model' whose estimates are the sources in reverse order, plus noise."""

    def __init__(self, sources, noise):
        super().__init__()
        self.out = sources.flip(1) + noise

    def forward(self, mixture):
        return self.out


def test_sisdr_objective_is_the_best_permutation_mean():
    torch.manual_seed(0)
    sources = torch.randn(3, 2, 800)
    model = Swap(sources, 0.3 * torch.randn(3, 2, 800))
    loss = OBJECTIVES["sisdr"]({})(model, sources.sum(1), sources)
    expected = torch.stack(
        [
            max(
                sum(si_sdr(model.out[b, p[i]], sources[b, i]) for i in range(2)) / 2
                for p in itertools.permutations(range(2))
            )
            for b in range(3)
        ]
    ).mean()
    torch.testing.assert_close(loss, -expected, rtol=1e-4, atol=1e-4)


def test_snr_objective_saturates_at_the_threshold():
    sources = torch.randn(1, 2, 400)
    perfect = OBJECTIVES["snr"]({"snr_threshold": 20.0})(Swap(sources, 0.0), None, sources)
    torch.testing.assert_close(perfect, torch.tensor(-20.0), rtol=0, atol=1e-3)
    pw = pairwise_neg_snr_threshold(sources, sources, threshold_db=30.0)
    assert pw.shape == (1, 2, 2) and torch.allclose(
        pw.diagonal(dim1=1, dim2=2), torch.tensor(-30.0)
    )


class WithAuxiliary(torch.nn.Module):
    """A model that brings its own objective (as SepReformer's multi-stage loss will)."""

    default_recipe_loss = "aux"
    calls = []

    def recipe_objectives(self):
        def factory(training):
            def objective(model, mixture, sources, epoch=0):
                WithAuxiliary.calls.append((training.get("aux_weight"), epoch))
                return torch.tensor(float(epoch))

            return objective

        return {"aux": factory, "sisdr": lambda training: "replaced"}


def test_model_hook_supplies_the_default_and_may_replace_names():
    model = WithAuxiliary()
    objective = build_objective({"loss": None, "aux_weight": 0.4}, model)
    assert objective(model, None, None, epoch=3) == 3.0 and WithAuxiliary.calls[-1] == (0.4, 3)
    assert build_objective({"loss": "sisdr"}, model) == "replaced"
    assert isinstance(build_objective({"loss": "snr"}, model), PITObjective)  # shared names stay
    assert isinstance(build_objective({}, torch.nn.Identity()), PITObjective)  # default sisdr
    with pytest.raises(ValueError, match=r"'nope' for WithAuxiliary.*\['aux', 'sisdr', 'snr'\]"):
        build_objective({"loss": "nope"}, model)


def test_system_step_runs_the_objective_with_the_epoch():
    seen = []

    def objective(model, mixture, sources, epoch=0):
        seen.append((model, mixture.shape, sources.shape, epoch))
        return torch.tensor(1.5)

    model = torch.nn.Linear(1, 1)
    system = SeparationSystem(model, torch.optim.SGD(model.parameters(), 0.1), objective, [], [])
    batch = (torch.zeros(2, 100), torch.zeros(2, 2, 100))
    assert system.common_step(batch, 0, train=True) == 1.5
    assert seen == [(model, (2, 100), (2, 2, 100), 0)]


def test_flasepreformer_trains_with_the_multi_stage_loss_unless_told_otherwise():
    from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr

    from asteroid_tdanet import FLASepReformer
    from asteroid_tdanet.masknn.sepreformer_loss import multi_stage_loss

    torch.manual_seed(0)
    model = FLASepReformer(
        enc_channels=16, feature_dim=8, n_stages=2, n_heads=2, cla_kernel=5, dropout=0.0
    ).eval()
    mixture, sources = torch.randn(2, 800), torch.randn(2, 2, 800)
    default = build_objective({"loss": None}, model)
    est, aux = model.forward_with_aux(mixture)
    assert len(aux) == 2
    # The recipes count epochs from 0, the reference's schedule from 1: the recipes' epoch
    # 100 is the reference's 101st, the first with a decayed weight (0.32).
    for epoch in (0, 99, 100, 150):
        expected = multi_stage_loss(est, aux, sources, epoch + 1)
        torch.testing.assert_close(default(model, mixture, sources, epoch=epoch), expected)
    main = multi_stage_loss(est, [], sources, epoch=1)
    assert not torch.allclose(default(model, mixture, sources, epoch=0), main)
    # Validation reports the time term alone, the same whatever the epoch.
    torch.testing.assert_close(default.validation_loss(model, mixture, sources), main)
    system = SeparationSystem(model, torch.optim.SGD(model.parameters(), 0.1), default, [], [])
    logged = {}
    system.log = lambda name, value, **kwargs: logged.update({name: value})
    system.validation_step((mixture, sources), 0)
    torch.testing.assert_close(logged["val_loss"], main)
    plain = build_objective({"loss": "sisdr"}, model)
    pit = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    torch.testing.assert_close(plain(model, mixture, sources), pit(model(mixture), sources))
