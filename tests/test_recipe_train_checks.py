"""Stage 2's checks before anything is changed: bad conf values are one-line errors (exit 2)
that leave no experiment folder; ``--force`` moves a finished experiment aside only once the
new run has passed them, and resumes an interrupted one (a requeued ``run.sh --force true``
must not start over); a resume of another model is refused, naming the differing weights,
while options that change no weight (dropout) resume."""

import os

import pytest
import torch
from _recipe_helpers import TINY_MODEL, make_tiny_data

from asteroid_tdanet.recipes import experiment as xp
from asteroid_tdanet.recipes import train


@pytest.fixture(scope="module")
def conf_path(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("data"))[0]


def _train(conf_path, exp, *extra):
    args = ["--conf", conf_path, "--exp_dir", str(exp), "--num_workers", "0", *TINY_MODEL]
    return train.main(args + list(extra))


BAD_VALUES = [
    (["--epochs", "-3"], "training.epochs must be an integer >= 1"),
    (["--segment", "0"], "data.segment must be null or a number of seconds > 0"),
    (["--lr", "-1"], "optim.lr must be a number > 0"),
    (["--batch_size", "0"], "training.batch_size must be an integer >= 1"),
]
if not torch.cuda.is_available():
    BAD_VALUES.append((["--accelerator", "gpu"], "training.accelerator is 'gpu' but no CUDA GPU"))


@pytest.mark.parametrize(
    "args,message", BAD_VALUES, ids=lambda v: v[0] if isinstance(v, list) else None
)
def test_bad_values_are_one_line_errors_before_any_folder(
    conf_path, tmp_path, capsys, args, message
):
    exp = tmp_path / "exp"
    assert _train(conf_path, exp, *args) == 2
    err = capsys.readouterr().err
    assert f"Conf error: {message}" in err and "Traceback" not in err
    assert not exp.exists()


BAD_MODELS = [
    (["--model_name", "nosuchnet"], "Unknown model 'nosuchnet'"),
    (["--preset", "nosuch"], "Unknown preset 'nosuch'"),
    (["--model_args", "{bogus: 1}"], "TDANet does not take ['bogus']"),
    (["--init_from", "/nonexistent/weights.pth"], "no such file: '/nonexistent/weights.pth'"),
]


@pytest.mark.parametrize(
    "args,message", BAD_MODELS, ids=lambda v: v[0] if isinstance(v, list) else None
)
def test_a_bad_model_is_reported_before_the_data_is_scanned(
    conf_path, tmp_path, capsys, monkeypatch, args, message
):
    """Scanning a big corpus's csvs (and checking its files) takes long: a mistake in the
    model section is reported before it starts."""
    scans = []

    def make_loaders(conf):
        scans.append(conf["data"]["train_dir"])
        raise FileNotFoundError("(the scan of the csvs)")

    monkeypatch.setattr(train, "make_loaders", make_loaders)
    exp = tmp_path / "exp"
    assert _train(conf_path, exp, *args) == 2
    err = capsys.readouterr().err
    assert "Conf error: " in err and message in err, err
    assert "Data error" not in err and "Traceback" not in err
    assert scans == [] and not exp.exists()


def test_unreadable_confs_and_overrides(tmp_path, capsys):
    exp = str(tmp_path / "exp")
    assert train.main(["--conf", str(tmp_path / "missing.yml"), "--exp_dir", exp]) == 2
    err = capsys.readouterr().err
    assert "Conf error:" in err and "missing.yml" in err
    broken = tmp_path / "broken.yml"
    broken.write_text("data: {sample_rate: 8000\n")
    assert train.main(["--conf", str(broken), "--exp_dir", exp]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    conf = make_tiny_data(tmp_path)[0]
    with pytest.raises(SystemExit) as stop:  # argparse: a usage error naming the option
        train.main(["--conf", conf, "--exp_dir", exp, "--ga_mixer_args", "{window: 16"])
    assert stop.value.code == 2 and "not valid YAML" in capsys.readouterr().err
    assert not os.path.exists(exp)


def test_force_moves_aside_only_a_run_that_passed_the_checks(conf_path, tmp_path, capsys):
    exp = tmp_path / "exp"
    assert _train(conf_path, exp, "--epochs", "1") == 0
    assert (exp / xp.TRAIN_DONE).exists()
    # A bad new run with --force: refused, the finished experiment left as it was.
    assert _train(conf_path, exp, "--force", "true", "--lr", "-1") == 2
    assert (exp / xp.TRAIN_DONE).exists() and (exp / xp.BEST_MODEL).exists()
    assert not list(tmp_path.glob("exp.old-*"))
    # Interrupted (no train_done.json, last.ckpt there): another model is not resumed.
    (exp / xp.TRAIN_DONE).unlink()
    assert os.path.exists(xp.last_checkpoint(str(exp)))
    capsys.readouterr()
    for force in ("false", "true"):
        assert _train(conf_path, exp, "--epochs", "2", "--hid_chan", "48", "--force", force) == 2
        err = capsys.readouterr().err
        assert "interrupted training of another model: " in err, err
        assert "shape mismatches (masker." in err and "in the file, " in err
        assert "--tag" in err and "Traceback" not in err
    # Options that change no weight resume it, with --force too (a requeued run.sh --force).
    assert _train(conf_path, exp, "--epochs", "2", "--dropout", "0.2", "--force", "true") == 0
    assert "Resuming the interrupted training" in capsys.readouterr().out
    assert not list(tmp_path.glob("exp.old-*")) and (exp / xp.TRAIN_DONE).exists()


@pytest.fixture(scope="module")
def finished_exp(conf_path, tmp_path_factory):
    exp = tmp_path_factory.mktemp("finished") / "exp"
    assert _train(conf_path, exp, "--epochs", "1") == 0
    return exp


def _listing(folder):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    )


REFUSED_WITH_FORCE = [
    (["--optimizer", "bogus"], "optim.optimizer must be one of asteroid's optimizers"),
    (["--strategy", "bogus"], "You selected an invalid strategy name: `strategy='bogus'`"),
    (
        ["--half_lr", "true", "--cosine_to_budget", "false", "--lr_factor", "2"],
        "scheduler.lr_factor must be a number > 0 and < 1",
    ),
    (["--num_nodes", "0"], "training.num_nodes must be an integer >= 1"),
    (["--stop_patience", "-1"], "training.stop_patience must be an integer >= 0"),
    (
        ["--epochs", "-1", "--max_minutes", "none", "--cosine_to_budget", "true"],
        "The cosine-to-budget schedule needs a budget",
    ),
]


@pytest.mark.parametrize(
    "args,message", REFUSED_WITH_FORCE, ids=lambda v: "_".join(v) if isinstance(v, list) else None
)
def test_options_refused_late_leave_a_finished_experiment_alone(
    conf_path, finished_exp, tmp_path, capsys, args, message
):
    """Options that the optimizer, the schedule or Lightning's Trainer would refuse only
    when built: one-line Conf errors (exit 2) before --force moves the experiment aside."""
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(finished_exp, exp)
    before = _listing(exp)
    capsys.readouterr()
    assert _train(conf_path, exp, "--force", "true", *args) == 2
    err = capsys.readouterr().err
    assert f"Conf error: {message}" in err and "Traceback" not in err, err
    # One line, the last (before it only the csv checks' progress bars).
    assert "\n" not in err[err.index("Conf error: ") :].rstrip("\n"), err
    assert err.count("Conf error: ") == 1 and "Error" not in err.replace("Conf error", ""), err
    assert _listing(exp) == before and not list(tmp_path.glob("exp.old-*"))


def test_optimizers_are_the_ones_asteroid_builds(monkeypatch):
    """asteroid's make_optimizer looks names up in its module (its own optimizers and those of
    register_optimizer), case-insensitively; anything else is refused before training."""
    from asteroid.engine import optimizers

    class TestOnlyOptimizer(torch.optim.SGD):
        pass

    # What register_optimizer does, undone after the test.
    monkeypatch.setitem(vars(optimizers), "TestOnlyOptimizer", TestOnlyOptimizer)
    for name in ("adam", "AdamW", "sgd", "testonlyoptimizer"):
        assert train.is_known_optimizer(name), name
        params = [torch.nn.Parameter(torch.zeros(1))]
        assert isinstance(optimizers.make_optimizer(params, optimizer=name), torch.optim.Optimizer)
    for name in ("bogus", "optimizer", "", None, 3):
        assert not train.is_known_optimizer(name), name
