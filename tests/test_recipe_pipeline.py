"""The whole recipe (run.sh --dataset mini, stages 0-4) at a tiny size, and its restart rules.

Uses the eSpeak NG source (no network) with a handful of speakers and mixtures and a tiny
TDANet, so it checks the plumbing in well under a minute, not the separation quality.
"""

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from _recipe_helpers import PYTHON, TINY_MODEL, copy_recipes, env

from asteroid_tdanet import S4M, load_model

MINI_ARGS = (
    "--mini_n_espeak_speakers 8 --mini_utts_per_speaker 2 --mini_n_train 6 "
    "--mini_n_dev 2 --mini_n_test 3"
)
TRAIN_ARGS = " ".join(TINY_MODEL + ["--batch_size", "2"])


def run(workdir, *args, stage=0, stop_stage=4, check=True):
    """Run ``workdir``'s copy of the recipe (data/ and exp/ land next to its run.sh)."""
    run_sh = os.path.join(workdir, "egs", "libri2mix", "run.sh")
    cmd = [
        run_sh,
        "--python",
        PYTHON,
        "--dataset",
        "mini",
        "--model",
        "tdanet",  # the mini default is blstmnet; TINY_MODEL holds TDANet's sizes
        "--mini_source",
        "espeak",
        "--mini_args",
        MINI_ARGS,
        "--train_args",
        TRAIN_ARGS,
        "--segment",
        "1.0",
        "--gpus",
        "0",
        "--max_minutes",
        "none",
        "--epochs",
        "1",
        "--n_save_ex",
        "2",
        "--storage_dir",
        os.path.join(workdir, "storage"),
        "--stage",
        str(stage),
        "--stop_stage",
        str(stop_stage),
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env(), cwd=workdir, timeout=600)
    if check:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """A copy of egs/ (run.sh cds to its own folder), run once through stages 0-4."""
    work = tmp_path_factory.mktemp("egs")
    recipe = copy_recipes(work)
    out = run(str(work))
    return work, recipe / "exp" / "tdanet_mini_sep_clean_8k", out


def test_stage0_dataset_is_split_by_speaker(recipe):
    work, _, _ = recipe
    info = json.loads((work / "storage" / "MiniLibri2Mix" / "dataset.json").read_text())
    assert info["sources_used"] == ["espeak"]
    spk = {s: set(info["speakers"][s]["espeak"]) for s in ("train", "dev", "test")}
    assert not spk["train"] & spk["test"] and not spk["train"] & spk["dev"]
    test_csv = pd.read_csv(
        work
        / "egs"
        / "libri2mix"
        / "data"
        / "mini"
        / "wav8k"
        / "min"
        / "test"
        / "mixture_test_mix_clean.csv"
    )
    assert len(test_csv) == info["mixtures"]["test"] == 3
    # Every test mixture's two utterances come from test speakers only.
    prefix = {s: {n.replace("+", "-") + "-" for n in names} for s, names in spk.items()}
    for mix_id in test_csv.mixture_ID:
        assert sum(mix_id.count(p) for p in prefix["test"]) == 2
        assert not any(p in mix_id for p in prefix["train"] | prefix["dev"])


def test_stages_2_to_4_outputs(recipe):
    _, exp, out = recipe
    assert (exp / "best_model.pth").exists() and (exp / "checkpoints" / "last.ckpt").exists()
    assert list((exp / "tb_logs").rglob("events.out.tfevents*"))
    # --epochs 1 and no time budget: the epoch limit ended the run.
    assert json.loads((exp / "train_done.json").read_text())["stopped_by"] == "max_epochs"
    final = json.loads((exp / "eval" / "final_metrics.json").read_text())
    metrics = pd.read_csv(exp / "eval" / "all_metrics.csv")
    assert len(metrics) == final["n_utterances"] == 3
    # The summary is the mean of the per-utterance rows, improvements are differences.
    assert final["si_snr_i"] == pytest.approx(metrics.si_sdr_imp.mean())
    np.testing.assert_allclose(metrics.si_sdr_imp, metrics.si_sdr - metrics.input_si_sdr)
    assert {"stoi", "pesq", "sdr_imp"} <= set(metrics.columns)
    assert (exp / "eval" / "metrics.png").stat().st_size > 10000
    examples = list((exp / "eval" / "examples").iterdir())
    assert len(examples) == 2
    assert {p.name for p in examples[0].iterdir()} == {
        "mixture.wav",
        "s1.wav",
        "s2.wav",
        "s1_estimate.wav",
        "s2_estimate.wav",
    }
    card = (exp / "publish_dir" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["tags"] == ["asteroid", "audio", "TDANet", "audio-to-audio"]
    assert "eSpeak" in card or "espeak" in card
    assert "skipping the upload" in out.stdout


def test_finished_stages_refuse_to_overwrite(recipe):
    work, exp, _ = recipe
    before = (exp / "best_model.pth").stat().st_mtime_ns
    evaluated = (exp / "eval" / "final_metrics.json").stat().st_mtime_ns
    for stage in (2, 4):
        out = run(str(work), stage=stage, stop_stage=stage, check=False)
        assert out.returncode != 0 and "Refusing to overwrite" in out.stderr
    # Stage 3 keeps each evaluation that is done (and says so) instead of stopping.
    out = run(str(work), stage=3, stop_stage=3)
    assert "keeping" in out.stdout and "SI-SNRi" not in out.stdout
    assert (exp / "eval" / "final_metrics.json").stat().st_mtime_ns == evaluated
    assert (exp / "best_model.pth").stat().st_mtime_ns == before
    out = run(str(work), "--force", "true", stage=3, stop_stage=3)
    assert "SI-SNRi" in out.stdout


def test_interrupted_training_resumes(recipe):
    work, exp, _ = recipe
    from asteroid_tdanet.recipes.train import load_lightning_state_dict  # noqa: F401

    steps = json.loads((exp / "train_done.json").read_text())["global_step"]
    # An interrupted run: checkpoints but no completion marker.
    (exp / "train_done.json").unlink()
    out = run(str(work), "--epochs", "2", stage=2, stop_stage=2)
    assert "Resuming the interrupted training" in out.stdout
    done = json.loads((exp / "train_done.json").read_text())
    assert done["global_step"] == 2 * steps and done["epochs"] == 2


def test_missing_corpus_says_what_to_put_where(tmp_path):
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "corpus.prepare_data",
            "--dataset",
            "libri2mix",
            "--storage_dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert out.returncode == 2
    assert f"{tmp_path}/LibriSpeech/" in out.stderr and "wham_noise" in out.stderr
    out = subprocess.run(
        [
            PYTHON,
            "-m",
            "corpus.prepare_data",
            "--dataset",
            "wham",
            "--storage_dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env(),
    )
    assert out.returncode == 2 and "wsj0" in out.stderr


S4M_TINY = "--bn_chan 16 --hid_chan 32 --n_blocks 2 --upsampling_depth 3 --d_state 4 --batch_size 2"


def test_s4m_trains_evaluates_and_publishes(recipe):
    """``--model s4m`` runs stages 2-4 on the same data into its own experiment."""
    work, tdanet_exp, _ = recipe
    run(str(work), "--model", "s4m", "--train_args", S4M_TINY, stage=2)
    exp = tdanet_exp.parent / "s4m_mini_sep_clean_8k"
    package = torch.load(exp / "best_model.pth", weights_only=True)
    assert package["model_name"] == "S4M"
    assert package["model_args"]["hid_chan"] == 32 and package["model_args"]["d_state"] == 4
    assert json.loads((exp / "eval" / "final_metrics.json").read_text())["n_utterances"] == 3
    card = (exp / "publish_dir" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["tags"] == ["asteroid", "audio", "S4M", "audio-to-audio"]
    assert front["arxiv"] == "2305.16932" and "parameters" in card
    assert isinstance(load_model(str(exp / "publish_dir" / "pytorch_model.bin")), S4M)


FLASEP_TINY = (
    "--model_args '{enc_channels: 16, feature_dim: 8, n_stages: 2, n_heads: 2, cla_kernel: 5}'"
    " --batch_size 2"
)


def test_flasepreformer_runs_through_run_sh_with_its_multi_stage_loss(recipe):
    """``--model FLASepReformer --preset mini``: the model's own objective, its own experiment."""
    work, tdanet_exp, _ = recipe
    run(
        str(work),
        "--model",
        "FLASepReformer",
        "--preset",
        "mini",
        "--train_args",
        FLASEP_TINY,
        stage=2,
    )
    exp = tdanet_exp.parent / "flasepreformer_mini_sep_clean_8k"
    package = torch.load(exp / "best_model.pth", weights_only=True)
    assert package["model_name"] == "FLASepReformer"
    assert package["model_args"]["feature_dim"] == 8 and package["model_args"]["aux_heads"]
    card = (exp / "publish_dir" / "README.md").read_text()
    assert "multistage" in card and "2508.19528" in card
    assert type(load_model(str(exp / "publish_dir" / "pytorch_model.bin"))).__name__ == (
        "FLASepReformer"
    )
