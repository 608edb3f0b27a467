"""Stage 3 of the speech recipes (run.sh) on a tiny made-up experiment: the evaluation of the
recipe's test set and, with --real_speech_dir, of real read speech (no training: the
experiment folder is written here, a tiny TDANet's best_model.pth and a conf)."""

import json
import os
import subprocess

import numpy as np
import soundfile as sf
import torch
import yaml

from asteroid_tdanet import TDANet
from asteroid_tdanet.models import package_model
from asteroid_tdanet.recipes import experiment as xp
from corpus.corpora import MINI
from corpus.metadata import write_metadata
from _recipe_helpers import CONF_MINI, PYTHON, copy_recipes, env, make_tiny_corpus

TINY = dict(sample_rate=8000, bn_chan=16, hid_chan=32, n_blocks=2, upsampling_depth=3, n_heads=2)
FAST_EVAL = "--metrics si_sdr --device cpu"


def made_up_experiment(work, recipe="wham", task="sep_noisy"):
    """``egs/<recipe>/exp/tdanet_<recipe>_<task>_8k`` as stage 2 leaves it (conf, best model)
    over the csvs of a tiny corpus with noise (mix_clean and mix_both); returns
    (the recipe folder, the experiment folder)."""
    recipe_dir = copy_recipes(work).parent / recipe
    make_tiny_corpus(str(work / "storage"), n_mix=(2, 2, 2))
    write_metadata(MINI, str(work / "storage"), 8000, str(work / "data"))
    conf = yaml.safe_load(open(CONF_MINI))
    conf["data"].update(
        dataset=recipe, task=task, sample_rate=8000, n_src=2, test_dir=str(work / "data" / "test")
    )
    exp = recipe_dir / "exp" / f"tdanet_{recipe}_{task}_8k"
    exp.mkdir(parents=True)
    (exp / xp.CONF).write_text(yaml.safe_dump(conf))
    torch.save(package_model(TDANet(**TINY).eval()), exp / xp.BEST_MODEL)
    (exp / xp.TRAIN_DONE).write_text("{}")
    return recipe_dir, exp


def librispeech_layout(root, speakers=(100, 101)):
    """<speaker>/<chapter>/*.flac of two 'speakers' (tones), 16 kHz, 1.5 s each."""
    t = np.arange(int(1.5 * 16000)) / 16000
    for s, spk in enumerate(speakers):
        folder = root / str(spk) / "7"
        folder.mkdir(parents=True)
        for u in range(2):
            tone = 0.3 * np.sin(2 * np.pi * (150 + 60 * s + 10 * u) * t)
            sf.write(folder / f"{spk}-7-{u:04d}.flac", tone, 16000)
    return root


def stage3(recipe_dir, *args):
    cmd = [str(recipe_dir / "run.sh"), "--python", PYTHON, "--stage", "3", "--stop_stage", "3"]
    cmd += ["--n_save_ex", "0", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env(), cwd=recipe_dir, timeout=300
    )


def metrics(exp, out_name):
    return json.loads((exp / out_name / xp.FINAL_METRICS).read_text())


def test_real_speech_is_scored_as_clean_mixtures_after_a_noisy_training(tmp_path):
    """WHAM!'s default task is sep_noisy; the real-speech set has clean mixtures only (no
    mix_both csv): its evaluation asks for sep_clean, even over --eval_args' --task."""
    recipe_dir, exp = made_up_experiment(tmp_path)
    real = librispeech_layout(tmp_path / "librispeech")
    out = stage3(
        recipe_dir,
        "--real_speech_dir",
        str(real),
        "--real_speech_n",
        "2",
        "--eval_args",
        f"{FAST_EVAL} --task sep_noisy",
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "Data error" not in out.stderr
    own = metrics(exp, xp.EVAL_DIR)
    assert own["task"] == "sep_noisy" and own["test_csv"].endswith("mix_both.csv")
    real_speech = metrics(exp, "eval_real_speech")
    assert real_speech["task"] == "sep_clean" and real_speech["n_utterances"] == 2
    clean_csv = os.path.join("csv", "test", "mixture_test_mix_clean.csv")
    assert real_speech["test_csv"].endswith(clean_csv)


def test_stage_3_keeps_a_finished_evaluation_and_does_what_is_missing(tmp_path):
    """A re-run of stage 3 (interrupted in the real-speech evaluation, or --real_speech_dir
    added later) keeps the main evaluation instead of stopping at its exit 3, then scores the
    real speech; an evaluation older than its rebuilt test set is not kept."""
    recipe_dir, exp = made_up_experiment(tmp_path, recipe="libri2mix", task="sep_clean")
    out = stage3(recipe_dir, "--eval_args", FAST_EVAL)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    main = exp / xp.EVAL_DIR / xp.FINAL_METRICS
    evaluated = main.stat().st_mtime_ns
    real = ["--real_speech_n", "2", "--eval_args", FAST_EVAL]
    first = librispeech_layout(tmp_path / "a")
    out = stage3(recipe_dir, "--real_speech_dir", str(first), *real)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"keeping {os.path.join(exp.relative_to(recipe_dir), xp.EVAL_DIR)}" in out.stdout
    assert main.stat().st_mtime_ns == evaluated
    real_metrics = exp / "eval_real_speech" / xp.FINAL_METRICS
    assert metrics(exp, "eval_real_speech")["n_utterances"] == 2
    scored = real_metrics.stat().st_mtime_ns
    # Stage 1 again over the same corpus (compare.sh starts with stages 0-1 at every run):
    # the csvs are unchanged, so the evaluations made from them are still kept.
    test_csvs = sorted((tmp_path / "data" / "test").iterdir())
    before = {p: p.stat().st_mtime_ns for p in test_csvs}
    write_metadata(MINI, str(tmp_path / "storage"), 8000, str(tmp_path / "data"))
    assert {p: p.stat().st_mtime_ns for p in test_csvs} == before
    # Both done: both kept, nothing evaluated.
    out = stage3(recipe_dir, "--real_speech_dir", str(first), *real)
    assert out.returncode == 0 and out.stdout.count("keeping") == 3  # + the real-speech set
    assert "SI-SNRi" not in out.stdout and real_metrics.stat().st_mtime_ns == scored
    # Another real-speech folder rebuilds the set: its old score is not kept (exit 3).
    second = librispeech_layout(tmp_path / "b", speakers=(200, 201))
    out = stage3(recipe_dir, "--real_speech_dir", str(second), *real)
    assert out.returncode == 3 and "rebuilding it" in out.stdout
    assert f"{real_metrics.relative_to(recipe_dir)} is older than" in out.stderr
    assert "pass --force true to redo stage 3" in out.stderr.strip().splitlines()[-1]
    out = stage3(recipe_dir, "--real_speech_dir", str(second), *real, "--force", "true")
    assert out.returncode == 0 and out.stdout.count("SI-SNRi") == 2
    assert real_metrics.stat().st_mtime_ns > scored
    assert main.stat().st_mtime_ns > evaluated


def test_evaluate_alone_still_refuses_an_existing_evaluation(tmp_path, capsys):
    """Without --keep_existing (what run.sh passes), evaluate.py refuses to overwrite."""
    from asteroid_tdanet.recipes import evaluate

    _, exp = made_up_experiment(tmp_path)
    args = ["--exp_dir", str(exp), "--metrics", "si_sdr", "--device", "cpu", "--n_save_ex", "0"]
    assert evaluate.main(args) == 0
    assert evaluate.main(args) == xp.REFUSED
    assert "Refusing to overwrite" in capsys.readouterr().err
    assert evaluate.main([*args, "--keep_existing", "true"]) == 0
    assert "keeping" in capsys.readouterr().out
