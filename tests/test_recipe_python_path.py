"""``--python`` is one path, spaces and all: every stage runs it quoted (an unquoted $python
split "/my tools/python" into two words and every stage failed)."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from _recipe_helpers import env, make_tiny_music_data
from corpus.corpora import WHAM
from test_recipe_data_checks import user_copy
from test_recipe_stage3 import FAST_EVAL, made_up_experiment


@pytest.fixture
def spaced_python(tmp_path):
    """This interpreter reached through a folder whose name has spaces: a symlink to its
    virtual environment (a venv's python finds its packages through ``../pyvenv.cfg`` of the
    path it is started by), or to the interpreter itself outside a venv."""
    folder = tmp_path / "my tools"
    folder.mkdir()
    if sys.prefix != sys.base_prefix:
        (folder / "the venv").symlink_to(sys.prefix, target_is_directory=True)
        python = folder / "the venv" / "bin" / os.path.basename(sys.executable)
    else:
        python = folder / "python 3"
        python.symlink_to(sys.executable)
    check = subprocess.run([str(python), "-c", "import torch, asteroid"], env=env())
    assert check.returncode == 0, "the symlinked interpreter lost its packages"
    return str(python)


def run(script, cwd, *args, timeout=300):
    out = subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env(), cwd=cwd, timeout=timeout
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out


def test_speech_recipe_stages_run_a_python_path_with_spaces(tmp_path, spaced_python):
    """wham/run.sh stages 0-1 (local/prepare_data.sh, corpus.metadata) and 3 (evaluate),
    after the requirements and task checks, with --python "<dir with spaces>/python"."""
    recipe_dir, exp = made_up_experiment(tmp_path / "work")
    storage = tmp_path / "wham storage"
    user_copy(storage, "wham", WHAM, 8000)
    common = ["--python", spaced_python, "--storage_dir", str(storage)]
    out = run(recipe_dir / "run.sh", recipe_dir, *common, "--stage", "0", "--stop_stage", "1")
    assert "Found wham" in out.stdout and "Wrote" in out.stdout
    assert (
        recipe_dir / "data" / "wham" / "wav8k" / "min" / "tt" / "mixture_tt_mix_both.csv"
    ).is_file()
    args = [*common, "--stage", "3", "--stop_stage", "3", "--eval_args", FAST_EVAL]
    out = run(recipe_dir / "run.sh", recipe_dir, *args, "--n_save_ex", "0")
    assert "SI-SNRi" in out.stdout and (exp / "eval" / "final_metrics.json").is_file()


def test_music_recipe_and_compare_run_a_python_path_with_spaces(tmp_path, spaced_python):
    """musdb18/run.sh stage 1 and compare.sh's reading of a kept experiment's budget (a
    failed `$python -c` there only showed as a wrong 'trained with a budget of unknown')."""
    recipe_dir, exp = made_up_experiment(tmp_path / "work", recipe="libri2mix", task="sep_clean")
    make_tiny_music_data(tmp_path / "music", seconds=1.0)
    musdb = recipe_dir.parent / "musdb18"
    args = [
        "--python",
        spaced_python,
        "--dataset",
        "mini",
        "--storage_dir",
        str(tmp_path / "music"),
        "--sample_rate",
        "16000",
    ]
    out = run(musdb / "run.sh", musdb, *args, "--stage", "1", "--stop_stage", "1")
    assert (musdb / "data" / "mini" / "songs.json").is_file(), out.stdout

    kept = recipe_dir / "exp" / "tdanet_tiny_tdanet-mini"
    exp.rename(kept)
    conf = yaml.safe_load((kept / "conf.yml").read_text())
    conf["training"]["max_minutes"] = 0.5
    (kept / "conf.yml").write_text(yaml.safe_dump(conf))
    (kept / "eval").mkdir()
    (kept / "eval" / "final_metrics.json").write_text(json.dumps({"si_snr_i": 1.0}))
    args = ["--python", spaced_python, "--models", "tdanet:tdanet-mini", "--minutes", "0.5"]
    out = run(
        recipe_dir / "compare.sh",
        recipe_dir,
        *args,
        "--tag",
        "tiny",
        "--stage",
        "1",
        "--stop_stage",
        "1"
    )
    assert "finished in exp/tdanet_tiny_tdanet-mini, kept" in out.stdout
    assert "trained with a budget" not in out.stderr
