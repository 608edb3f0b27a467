"""Stage 3 of the speech recipes (run.sh) on a tiny made-up experiment: the evaluation of the
recipe's test set and, with --real_speech_dir, of real read speech (no training: the
experiment folder is written here, a tiny TDANet's best_model.pth and a conf)."""

import itertools
import json
import logging
import os
import subprocess

import numpy as np
import pandas as pd
import pytest
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


def made_up_experiment(work, recipe="wham", task="sep_noisy", n_test=2):
    """``egs/<recipe>/exp/tdanet_<recipe>_<task>_8k`` as stage 2 leaves it (conf, best model)
    over the csvs of a tiny corpus with noise (mix_clean and mix_both; ``n_test`` test
    mixtures); returns (the recipe folder, the experiment folder)."""
    recipe_dir = copy_recipes(work).parent / recipe
    make_tiny_corpus(str(work / "storage"), n_mix=(2, 2, n_test))
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


# Independent scores for stage 3's numbers: SI-SDR from its definition (zero mean, optimal
# scaling of the reference), the estimates' order by PIT over that, STOI from pystoi itself.


def naive_si_sdr(reference, estimate):
    reference = reference - reference.mean()
    estimate = estimate - estimate.mean()
    target = np.dot(estimate, reference) / np.dot(reference, reference) * reference
    return 10 * np.log10(np.sum(target**2) / np.sum((estimate - target) ** 2))


def naive_scores(exp, mixture_path, source_paths):
    """(SI-SDRi, STOI) of ``best_model.pth`` on one test mixture, averaged over the sources,
    estimates in the order of the best mean SI-SDR."""
    from pystoi import stoi

    from asteroid_tdanet import load_model

    mix = sf.read(mixture_path, dtype="float32")[0]
    refs = [sf.read(p, dtype="float32")[0].astype(np.float64) for p in source_paths]
    with torch.no_grad():
        est = load_model(str(exp / xp.BEST_MODEL)).eval()(torch.from_numpy(mix)[None])[0]
    est = est.numpy().astype(np.float64)
    order = max(
        itertools.permutations(range(len(refs))),
        key=lambda p: np.mean([naive_si_sdr(r, est[j]) for r, j in zip(refs, p)]),
    )
    si_sdr = np.mean([naive_si_sdr(r, est[j]) for r, j in zip(refs, order)])
    si_sdr_mix = np.mean([naive_si_sdr(r, mix.astype(np.float64)) for r in refs])
    return si_sdr - si_sdr_mix, np.mean([stoi(r, est[j], 8000) for r, j in zip(refs, order)])


def test_evaluate_with_metrics_without_si_sdr_writes_every_result(tmp_path, monkeypatch, capsys):
    """--metrics stoi (any list without si_sdr) crashed with KeyError 'si_sdr_imp' after every
    utterance was scored (metrics.png's typical utterance, the headline): all_metrics.csv was
    written, final_metrics.json never. The figure's example is then the utterance with the
    median STOI improvement, the headline the STOI."""
    from asteroid_tdanet.recipes import evaluate, plots

    figures = []
    draw = plots.plot_evaluation
    monkeypatch.setattr(
        plots, "plot_evaluation", lambda *a, **k: figures.append(k) or draw(*a, **k)
    )
    _, exp = made_up_experiment(tmp_path, recipe="libri2mix", task="sep_clean", n_test=3)
    args = ["--exp_dir", str(exp), "--metrics", "stoi", "--device", "cpu", "--n_save_ex", "0"]
    assert evaluate.main(args) == 0
    out = exp / xp.EVAL_DIR
    assert (out / "metrics.png").is_file()
    final, table = metrics(exp, xp.EVAL_DIR), pd.read_csv(out / "all_metrics.csv")
    csv = pd.read_csv(final["test_csv"]).set_index("mixture_ID")
    stoi = [
        naive_scores(exp, csv.mixture_path[i], [csv.source_1_path[i], csv.source_2_path[i]])[1]
        for i in table.mixture_ID
    ]
    assert final["n_utterances"] == 3 and final["n_undefined"] == {}
    assert final["stoi"] == pytest.approx(np.mean(stoi), abs=1e-4)
    assert final["si_snr_i"] is None and final["sdr_i"] is None
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith(f"STOI {final['stoi']:.3f} on 3 utterances -> ")
    assert "SI-SNRi" not in said and "SDRi" not in said
    gain = table.set_index("mixture_ID").stoi_imp
    (figure,) = figures
    assert figure["example_name"] == (gain - gain.median()).abs().idxmin()
    assert figure["title"].endswith("example: the utterance with the median STOI improvement")


def test_typical_utterance_falls_back_to_another_improvement(tmp_path):
    """metrics.png's example: the utterance closest to the median SI-SNRi, else that of the
    first other improvement defined somewhere; none defined: no example, histograms only."""
    from asteroid_tdanet.recipes.evaluate import typical_utterance
    from asteroid_tdanet.recipes.plots import plot_evaluation

    nan = float("nan")
    both = pd.DataFrame({"si_sdr_imp": [3.0, 1.0, 2.0, 9.0, 0.0], "sdr_imp": [0.0] * 5})
    assert typical_utterance(both) == (2, "SI-SNRi")
    sdr = pd.DataFrame(
        {"si_sdr_imp": [nan] * 3, "sdr_imp": [5.0, nan, -1.0], "stoi_imp": [0.0] * 3}
    )
    assert typical_utterance(sdr) in ((0, "SDRi"), (2, "SDRi"))  # a tie: either one
    assert typical_utterance(pd.DataFrame({"sdr_imp": [4.0, nan, 1.0, 2.0]})) == (3, "SDRi")
    pesq = pd.DataFrame({"stoi_imp": [nan, nan], "pesq_imp": [0.1, nan]})
    assert typical_utterance(pesq) == (0, "PESQ improvement")
    none = pd.DataFrame({"pesq": [nan, nan], "pesq_imp": [nan, nan]})
    assert typical_utterance(none) == (None, "")
    path = tmp_path / "metrics.png"
    plot_evaluation(none, ["pesq"], None, None, None, 8000, str(path), title="no example")
    assert path.stat().st_size > 0


def test_a_test_mixture_with_a_silent_reference_is_skipped_and_counted(tmp_path, caplog, capsys):
    """A reference source of digital silence made its utterance's SI-SDR an eps-driven -80 dB
    or so (its SDR NaN): such a mixture is skipped before it is separated, counted and named;
    the headline and final_metrics.json are over the others. Every one silent: Data error."""
    from asteroid_tdanet.recipes import evaluate

    _, exp = made_up_experiment(tmp_path, recipe="libri2mix", task="sep_clean", n_test=3)
    csv_path = next((tmp_path / "data" / "test").glob("*mix_clean.csv"))
    csv = pd.read_csv(csv_path)
    silent = csv.iloc[1]
    speaker_1, sr = sf.read(silent.source_1_path)
    sf.write(silent.source_2_path, np.zeros_like(speaker_1), sr)  # a silent second speaker
    sf.write(silent.mixture_path, speaker_1, sr)  # the mixture is then the first one alone
    args = ["--exp_dir", str(exp), "--metrics", "si_sdr", "--device", "cpu", "--n_save_ex", "3"]
    with caplog.at_level(logging.WARNING, logger="asteroid_tdanet.recipes.evaluate"):
        assert evaluate.main(args) == 0
    final = metrics(exp, xp.EVAL_DIR)
    scored = [r for _, r in csv.iterrows() if r.mixture_ID != silent.mixture_ID]
    gains = [
        naive_scores(exp, r.mixture_path, [r.source_1_path, r.source_2_path])[0] for r in scored
    ]
    assert final["n_utterances"] == 2 and final["n_skipped"] == 1
    assert final["n_skipped_silent_reference"] == 1
    assert final["skipped_silent_reference"] == [silent.mixture_ID]
    assert final["si_snr_i"] == pytest.approx(np.mean(gains), abs=1e-3)
    table = pd.read_csv(exp / xp.EVAL_DIR / "all_metrics.csv")
    assert list(table.mixture_ID) == [r.mixture_ID for r in scored]
    examples = sorted(p.name for p in (exp / xp.EVAL_DIR / "examples").iterdir())
    assert examples == sorted(r.mixture_ID for r in scored)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "skipped 1 of 3 test mixtures" in warning and silent.source_2_path in warning
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith(
        f"SI-SNRi {final['si_snr_i']:.2f} dB on 2 utterances; 1 skipped (a silent reference "
        "source) -> "
    )
    # Every test mixture with a silent source: nothing to score, nothing written.
    for _, row in csv.iterrows():
        sf.write(row.source_2_path, np.zeros(int(row.length)), sr)
    assert evaluate.main([*args, "--out_name", "eval_silent"]) == 2
    assert "Data error" in capsys.readouterr().err
    assert not (exp / "eval_silent" / xp.FINAL_METRICS).exists()


def test_each_headline_number_states_the_utterances_it_averages():
    """SDR is NaN where an estimate is digital silence and left out of the SDRi mean, SI-SDR
    is not: the headline said "on 2 utterances" for both. Each number now has its own count
    when they differ."""
    from asteroid_tdanet.recipes.evaluate import headline, summarize, utterance_metrics

    rng = np.random.default_rng(0)
    sources = 0.1 * rng.standard_normal((2, 2, 4000))
    mixtures = sources.sum(1)
    estimates = sources + 0.05 * rng.standard_normal(sources.shape)
    estimates[1, 1] = 0.0  # the second utterance's second estimate: digital silence
    rows = [
        dict(mixture_ID=f"u{i}", **utterance_metrics(m, s, e, 8000, ["si_sdr", "sdr"]))
        for i, (m, s, e) in enumerate(zip(mixtures, sources, estimates))
    ]
    final = summarize(pd.DataFrame(rows), 0, {})
    assert np.isnan(rows[1]["sdr_imp"]) and np.isfinite(rows[0]["sdr_imp"])
    # SI-SNRi over both utterances (the first one checked against the definition), SDRi over
    # the first one only.
    first = np.mean(
        [
            naive_si_sdr(s, e) - naive_si_sdr(s, mixtures[0])
            for s, e in zip(sources[0], estimates[0])
        ]
    )
    assert rows[0]["si_sdr_imp"] == pytest.approx(first, abs=1e-4)
    assert final["si_snr_i"] == pytest.approx((rows[0]["si_sdr_imp"] + rows[1]["si_sdr_imp"]) / 2)
    assert final["sdr_i"] == pytest.approx(rows[0]["sdr_imp"])
    assert final["n_utterances"] == 2 and final["n_undefined"]["sdr_imp"] == 1
    assert headline(final) == (
        f"SI-SNRi {final['si_snr_i']:.2f} dB on 2 utterances, "
        f"SDRi {final['sdr_i']:.2f} dB on 1 of 2 utterances (1 undefined)"
    )
    # Same counts: one count for all the numbers.
    final = summarize(pd.DataFrame(rows[:1]), 0, {})
    assert headline(final) == (
        f"SI-SNRi {rows[0]['si_sdr_imp']:.2f} dB, SDRi {rows[0]['sdr_imp']:.2f} dB on 1 utterance"
    )
