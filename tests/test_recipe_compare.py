"""The equal-budget comparison: compare.sh on the tiny mini set with two models writes one
table and one figure drawn from it."""

import json
import subprocess

import matplotlib.colors
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from _recipe_helpers import PYTHON, copy_recipes, env
from test_recipe_pipeline import MINI_ARGS

MODELS = "tdanet:tdanet-mini convtasnet:convtasnet-mini"
EXPERIMENTS = ("tdanet_tiny_tdanet-mini", "convtasnet_tiny_convtasnet-mini")


def count_points(image, color, alpha=0.75, tol=0.04):
    """Blobs of ``color`` drawn with ``alpha`` over the white axes (connected components of
    the pixels within ``tol`` of that blend; antialiased rims and tiny specks are ignored)."""
    blend = alpha * np.array(matplotlib.colors.to_rgb(color)) + (1 - alpha)
    close = (np.abs(image[..., :3] - blend) < tol).all(axis=-1)
    # Closing first: a label's text or another point's rim drawn across a point splits it.
    close = ndimage.binary_closing(close, structure=np.ones((7, 7)))
    labels, n = ndimage.label(close)
    sizes = np.bincount(labels.ravel())[1:]
    return int((sizes >= 20).sum())


def run_compare(work, recipe):
    cmd = [
        str(recipe / "compare.sh"),
        "--python",
        PYTHON,
        "--models",
        MODELS,
        "--minutes",
        "0.15",
        "--tag",
        "tiny",
        "--gpus",
        "0",
        "--mini_source",
        "espeak",
        "--mini_args",
        MINI_ARGS,
        "--train_args",
        "--segment 1.0 --batch_size 2 --num_workers 0",
        "--timing_seconds",
        "0.5",
        "--storage_dir",
        str(work / "storage"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=work, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    work = tmp_path_factory.mktemp("cmp")
    recipe = copy_recipes(work)
    return recipe, run_compare(work, recipe)


def test_every_model_gets_the_same_budget_and_test_set(compared):
    recipe, _ = compared
    for name in EXPERIMENTS:
        exp = recipe / "exp" / name
        conf = (exp / "conf.yml").read_text()
        assert "max_minutes: 0.15" in conf
        metrics = json.loads((exp / "eval" / "final_metrics.json").read_text())
        assert metrics["n_utterances"] == 3 and metrics["test_csv"].endswith("test_mix_clean.csv")


def test_table_json_and_figure_agree(compared):
    recipe, out = compared
    table = pd.read_csv(recipe / "compare" / "tiny" / "results.csv")
    assert list(table.label) == ["tdanet-mini", "convtasnet-mini"]
    assert list(table.model) == ["TDANet", "ConvTasNet"]
    assert (table.seconds_per_second > 0).all() and (table.params > 100_000).all()
    assert table.si_snr_i.notna().all() and (table.device == "cpu").all()
    rows = json.loads((recipe / "compare" / "tiny" / "results.json").read_text())
    assert [r["label"] for r in rows] == list(table.label)
    image = matplotlib.image.imread(recipe / "compare" / "tiny" / "results.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
    # One point per row of the csv, in the row's colour, and none in the next colour.
    points = [count_points(image, f"C{k}") for k in range(len(table) + 1)]
    assert points == [1] * len(table) + [0]
    assert "tdanet-mini" in out.stdout and "results.png" in out.stdout


def test_the_title_gives_the_budget_the_experiments_trained_with(compared, monkeypatch):
    """The title's budget comes from the experiments (their training.max_minutes), so a
    stage-2 rerun without --minutes does not print compare.sh's default."""
    from asteroid_tdanet.recipes import compare

    recipe, _ = compared
    table = pd.read_csv(recipe / "compare" / "tiny" / "results.csv")
    assert (table.budget_minutes == 0.15).all()
    titles = []
    monkeypatch.setattr(compare, "plot", lambda rows, path, title="": titles.append(title))
    exp_dirs = [str(recipe / "exp" / name) for name in EXPERIMENTS]
    out = str(recipe / "compare" / "retitled")
    args = ["--out_dir", out, "--seconds", "0.1", "--title", "mini, {budget} each", *exp_dirs]
    assert compare.main(args) == 0
    assert titles == ["mini, 0.15 min each"]
    assert compare.budget_text([{"budget_minutes": 7}, {"budget_minutes": 0.5}]) == "0.5-7 min"
    assert compare.budget_text([{"budget_minutes": None}]) == "no time limit"


def test_a_label_goes_below_its_point_when_a_close_neighbour_is_higher():
    from asteroid_tdanet.recipes.compare import _has_neighbour_above

    def row(x, own, real):
        return dict(seconds_per_second=x, si_snr_i=own, si_snr_i_real_speech=real)

    # Close on the figure's axes: 0.03 dB apart on a plotted range of 1.54 dB (own and real).
    rows = [row(0.0148, 2.06, 0.89), row(0.0156, 2.09, 1.41), row(0.0045, 2.15, 0.72)]
    assert [_has_neighbour_above(rows, k) for k in range(3)] == [True, False, False]
    far = [row(0.0045, 2.06, 0.89), row(0.0157, 2.09, 1.41)]  # far apart in compute
    assert not any(_has_neighbour_above(far, k) for k in range(2))


def test_a_rerun_keeps_finished_experiments_and_fills_in_what_is_missing(compared):
    """Last in this file: it re-runs compare.sh on the experiments the tests above read."""
    recipe, _ = compared
    exp = recipe / "exp"
    trained = {n: (exp / n / "train_done.json").stat().st_mtime_ns for n in EXPERIMENTS}
    missing = exp / EXPERIMENTS[1] / "eval" / "final_metrics.json"
    missing.unlink()  # as if the evaluation had been interrupted
    out = run_compare(recipe.parents[1], recipe)
    assert f"finished in exp/{EXPERIMENTS[0]}, kept" in out.stdout
    assert f"trained already (exp/{EXPERIMENTS[1]}/train_done.json): evaluating only" in out.stdout
    assert "Stage 2: training" not in out.stdout
    assert missing.exists()
    assert {n: (exp / n / "train_done.json").stat().st_mtime_ns for n in EXPERIMENTS} == trained
    table = pd.read_csv(recipe / "compare" / "tiny" / "results.csv")
    assert list(table.label) == ["tdanet-mini", "convtasnet-mini"]
    assert "trained with a budget" not in out.stderr  # the same --minutes
    # Another budget over the kept experiments is said, not silently mixed in.
    args = ["--python", PYTHON, "--models", MODELS, "--minutes", "3", "--tag", "tiny"]
    again = subprocess.run(
        [str(recipe / "compare.sh"), *args, "--stage", "1", "--stop_stage", "1"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=recipe.parents[1],
        timeout=300,
    )
    assert again.returncode == 0 and "trained with a budget of 0.15 min" in again.stderr


@pytest.mark.parametrize(
    "option,value", [("max_minutes", "1"), ("model", "tdanet"), ("force", "true"), ("stage", "x")]
)
def test_options_that_would_be_ignored_are_refused(option, value, tmp_path):
    recipe = copy_recipes(tmp_path)
    out = subprocess.run(
        [str(recipe / "compare.sh"), "--python", "false", f"--{option}", value],
        capture_output=True,
        text=True,
        env=env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert out.returncode == 2 and f"--{option}" in out.stderr and not out.stdout


def test_an_experiment_evaluated_without_si_sdr_is_refused_in_one_line(tmp_path, capsys):
    """stage 3 with --metrics stoi writes si_snr_i: null; the comparison ranks by SI-SNRi."""
    from asteroid_tdanet.recipes import compare
    from asteroid_tdanet.recipes import experiment as xp

    exp = tmp_path / "exp" / "tdanet_tiny"
    (exp / xp.EVAL_DIR).mkdir(parents=True)
    (exp / xp.TRAIN_DONE).write_text("{}")
    (exp / xp.EVAL_DIR / xp.FINAL_METRICS).write_text(json.dumps({"si_snr_i": None}))
    assert compare.main([str(exp), "--out_dir", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "has no SI-SNRi (stage 3 ran with --metrics" in err
