"""Option parsing: Kaldi-style parse_options.sh and conf.yml command-line overrides."""

import argparse
import functools
import importlib
import os
import subprocess
import sys

import pytest
import yaml

from asteroid_tdanet.recipes.config import apply_overrides, load_conf, parse_with_conf
from asteroid_tdanet.utils.docs import doc_summary
from _recipe_helpers import REPO

PARSE = os.path.join(REPO, "egs", "utils", "parse_options.sh")


def run_parse(*args):
    script = (
        'stage=0; tag=""; use_gpu=true; stop_stage=4\n'
        f'. {PARSE}\necho "$stage|$tag|$use_gpu|$stop_stage|$*"'
    )
    return subprocess.run(["bash", "-c", script, "prog", *args], capture_output=True, text=True)


def test_parse_options_sets_variables():
    out = run_parse("--stage", "3", "--tag=my exp", "--stop-stage", "5", "rest")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3|my exp|true|5|rest"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--nope", "1"], "invalid option --nope"),
        (["--use_gpu", "maybe"], "expects true or false"),
        (["--stage"], "needs a value"),
    ],
)
def test_parse_options_rejects_bad_options(args, message):
    out = run_parse(*args)
    assert out.returncode != 0
    assert message in out.stderr


def test_run_sh_help_and_unknown_option():
    run_sh = os.path.join(REPO, "egs", "libri2mix", "run.sh")
    assert subprocess.run([run_sh, "--help"], capture_output=True, text=True).returncode == 0
    out = subprocess.run([run_sh, "--bogus", "1"], capture_output=True, text=True)
    assert out.returncode != 0 and "invalid option --bogus" in out.stderr


def test_run_sh_refuses_a_free_form_option_it_cannot_split(tmp_path):
    """--train_args is split like a shell command line (quotes group words); an unbalanced
    quote stops before any stage, naming the option."""
    run_sh = os.path.join(REPO, "egs", "libri2mix", "run.sh")
    out = subprocess.run(
        [run_sh, "--dataset", "mini", "--train_args", "--model_args '{n_repeats: 2}"],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(run_sh),
    )
    assert out.returncode == 2 and "--train_args: cannot split" in out.stderr
    assert "Stage 0" not in out.stdout


def write(tmp_path, conf):
    path = tmp_path / "conf.yml"
    path.write_text(yaml.safe_dump(conf))
    return str(path)


def test_conf_overrides_are_typed(tmp_path):
    conf = {
        "optim": {"lr": 0.001, "optimizer": "adam"},
        "training": {"batch_size": 4, "early_stop": True, "max_minutes": None},
        "model": {"bn_chan": None},
    }
    path = write(tmp_path, conf)
    args, out = parse_with_conf(
        argparse.ArgumentParser(),
        [
            "--conf",
            path,
            "--lr",
            "5e-4",
            "--batch_size",
            "8",
            "--early_stop",
            "no",
            "--bn_chan",
            "64",
            "--max_minutes",
            "2.5",
        ],
    )
    assert out["optim"] == {"lr": 5e-4, "optimizer": "adam"}
    assert out["training"] == {"batch_size": 8, "early_stop": False, "max_minutes": 2.5}
    assert out["model"]["bn_chan"] == 64 and isinstance(out["model"]["bn_chan"], int)
    assert conf["optim"]["lr"] == 0.001  # the input conf is not modified
    _, same = parse_with_conf(argparse.ArgumentParser(), ["--conf", path])
    assert same == conf


def test_list_options_are_read_as_yaml(tmp_path):
    conf = {"data": {"pair_groups": ["espeak_"], "pair_semitones": [0.0, 2.0]}}
    path = write(tmp_path, conf)
    _, out = parse_with_conf(
        argparse.ArgumentParser(),
        ["--conf", path, "--pair_groups", "[]", "--pair_semitones", "[1, 3.5]"],
    )
    assert out["data"] == {"pair_groups": [], "pair_semitones": [1, 3.5]}


def test_conf_rejects_fractional_int_and_duplicates(tmp_path):
    path = write(tmp_path, {"training": {"batch_size": 4}})
    with pytest.raises(SystemExit):
        parse_with_conf(argparse.ArgumentParser(), ["--conf", path, "--batch_size", "2.5"])
    dup = write(tmp_path, {"a": {"lr": 1}, "b": {"lr": 2}})
    with pytest.raises(ValueError, match="lr"):
        load_conf(dup)


def _banner(recipe, *args):
    """The first line ``egs/<recipe>/run.sh`` prints (its settings), running no stage."""
    run_sh = os.path.join(REPO, "egs", recipe, "run.sh")
    cmd = [run_sh, "--python", sys.executable, "--stage", "9", "--stop_stage", "0", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[0]


def test_mini_default_model_is_blstmnet(tmp_path):
    """``--dataset mini`` trains BLSTMNet unless ``--model`` says otherwise; the corpus
    recipes train TDANet (the banner run.sh prints before any stage)."""
    banner = functools.partial(_banner, "libri2mix")
    assert "model=blstmnet" in banner("--dataset", "mini")
    assert "exp_dir=exp/blstmnet_mini_sep_clean_8k" in banner("--dataset", "mini")
    assert "exp_dir=exp/tdanet_mini_sep_clean_8k" in banner(
        "--dataset", "mini", "--model", "TDANet"
    )
    assert "model=tdanet dataset=libri2mix" in banner()


def test_wham_task_is_noisy_except_on_the_mini_set():
    """WHAM!'s default task is the paper's sep_noisy; the mini set (dynamic mixing: clean
    mixtures only) takes sep_clean unless --task says otherwise."""
    banner = functools.partial(_banner, "wham")
    assert "dataset=wham task=sep_noisy" in banner()
    assert "dataset=mini task=sep_clean" in banner("--dataset", "mini")
    assert "dataset=mini task=sep_noisy" in banner("--dataset", "mini", "--task", "sep_noisy")
    assert "dataset=wham task=sep_clean" in banner("--task", "sep_clean")


def test_recipe_confs_load_and_build(tmp_path):
    from asteroid_tdanet.recipes.model_factory import build_model

    for recipe in ("libri2mix", "wham", "lrs2mix"):
        conf = load_conf(os.path.join(REPO, "egs", recipe, "local", "conf.yml"))
        assert conf["optim"]["lr"] == 0.001 and conf["training"]["gradient_clipping"] == 5.0
        assert conf["scheduler"]["lr_patience"] == 15 and conf["training"]["stop_patience"] == 30
        assert conf["training"]["epochs"] == 500 and conf["training"]["loss"] is None  # model's own
    mini = apply_overrides(load_conf(os.path.join(REPO, "egs", "utils", "conf_mini.yml")), {})
    model = build_model(mini["model"], 8000, 2)  # the demo's default: blstm-mini
    assert type(model).__name__ == "BLSTMNet" and model.sample_rate == 8000
    assert (model.get_model_args()["hidden"], model.get_model_args()["n_layers"]) == (128, 1)
    assert (model.encoder.filterbank.kernel_size, model.encoder.filterbank.stride) == (512, 256)
    tdanet = build_model({**mini["model"], "model_name": "tdanet"}, 8000, 2)
    assert tdanet.get_model_args()["n_blocks"] == 4  # tdanet-mini


def test_model_section_picks_the_model_and_its_presets():
    from asteroid_tdanet import S4M, TDANet
    from asteroid_tdanet.recipes.model_factory import build_model

    mini = load_conf(os.path.join(REPO, "egs", "utils", "conf_mini.yml"))["model"]
    s4m = build_model({**mini, "model_name": "s4m"}, 8000, 2)
    assert isinstance(s4m, S4M) and s4m.get_model_args()["hid_chan"] == 128  # s4m-mini
    full = load_conf(os.path.join(REPO, "egs", "libri2mix", "local", "conf.yml"))["model"]
    tdanet = build_model(
        {**full, "n_blocks": 1, "ga_mixer": "wsa", "ga_mixer_args": {"sinks": 2}}, 8000, 2
    )
    assert isinstance(tdanet, TDANet) and tdanet.get_model_args()["ga_mixer_args"] == {"sinks": 2}
    tiny = build_model({"model_name": "S4M", "preset": "s4m-tiny", "n_blocks": 1}, 8000, 2)
    assert tiny.encoder.filterbank.kernel_size == 32  # 4 ms at 8 kHz
    with pytest.raises(ValueError, match="builds a TDANet, not a S4M"):
        build_model({"model_name": "s4m", "preset": "tdanet-large"}, 8000, 2)
    with pytest.raises(ValueError, match="S4M does not take \\['n_heads'\\]"):
        build_model({"model_name": "s4m", "n_heads": 4}, 8000, 2)
    # Asteroid's models through the same section: presets, and model_args for the rest.
    ctn = build_model({**mini, "model_name": "convtasnet", "model_args": {"n_repeats": 1}}, 8000, 2)
    assert type(ctn).__name__ == "ConvTasNet" and ctn.get_model_args()["n_repeats"] == 1
    assert ctn.get_model_args()["n_blocks"] == 4 and ctn.sample_rate == 8000  # convtasnet-mini
    with pytest.raises(ValueError, match="ConvTasNet does not take \\['bn_chn'\\]"):
        build_model({"model_name": "ConvTasNet", "model_args": {"bn_chn": 3}}, 8000, 2)
    with pytest.raises(ValueError, match="model_args must be a mapping"):
        build_model({"model_name": "ConvTasNet", "model_args": [1]}, 8000, 2)


def test_conf_lists_of_text_reach_tensorboard_as_text():
    """Asteroid turns every conf list into a tensor for TensorBoard's hparams; a list of
    prefixes (``data.pair_groups``) cannot be one."""
    import torch

    from asteroid_tdanet.recipes.system import SeparationSystem

    conf = {"data": {"pair_groups": ["espeak_"], "pair_semitones": [0.0, 2.0], "x": None}}
    hparams = SeparationSystem.config_to_hparams(conf)
    assert hparams["data_pair_groups"] == "['espeak_']" and hparams["data_x"] == "None"
    torch.testing.assert_close(hparams["data_pair_semitones"], torch.tensor([0.0, 2.0]))
    assert conf["data"]["pair_groups"] == ["espeak_"]  # the conf itself is left as it was
    # pair_groups: [] (any two speakers, as documented) is no tensor TensorBoard can log.
    from torch.utils.tensorboard.summary import hparams as tensorboard_hparams

    hparams = SeparationSystem.config_to_hparams({"data": {"pair_groups": []}})
    assert hparams["data_pair_groups"] == "[]"
    tensorboard_hparams(hparams, {"val_loss": 0.0})


def test_help_without_conf_shows_the_options(tmp_path, capsys):
    def parser():
        p = argparse.ArgumentParser(description="stage")
        p.add_argument("--exp_dir", required=True)
        return p

    with pytest.raises(SystemExit) as stop:
        parse_with_conf(parser(), ["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "--exp_dir" in text and "--conf" in text
    # With a conf, its keys are options too.
    path = write(tmp_path, {"optim": {"lr": 0.001}})
    with pytest.raises(SystemExit) as stop:
        parse_with_conf(parser(), ["--conf", path, "--help"])
    assert stop.value.code == 0 and "--lr" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        parse_with_conf(parser(), ["--exp_dir", "x"])
    assert stop.value.code == 2 and "--conf" in capsys.readouterr().err


@pytest.mark.parametrize(
    "module", ["asteroid_tdanet.recipes.train", "asteroid_tdanet.recipes.music_data"]
)
def test_stage_help_is_the_first_docstring_paragraph(module):
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    mod = importlib.import_module(module)
    doc = mod.__doc__ if module.endswith("train") else mod.main.__doc__
    first = " ".join(doc.split("\n\n")[0].split())
    assert " ".join(out.stdout.split()).find(first) > 0


def test_doc_summary_joins_the_first_paragraph():
    doc = """First sentence wrapped
    over two lines.

    Details."""
    assert doc_summary(doc) == "First sentence wrapped over two lines."
    assert doc_summary("\n  One line.\n") == "One line."
    assert doc_summary(None) == ""


def test_free_form_options_are_split_never_run(tmp_path):
    """--train_args / --eval_args / --mini_args are split into words with shell quoting;
    command substitutions, variables and globs inside them stay text."""
    marker = tmp_path / "ran"
    for text in (f"--x $(touch {marker})", f"--x `touch {marker}`", f"--x '); touch {marker}; ('"):
        for option in ("--train_args", "--eval_args", "--mini_args"):
            _banner("libri2mix", option, text)
            assert not marker.exists(), (option, text)
    run_sh = os.path.join(REPO, "egs", "libri2mix", "run.sh")
    out = subprocess.run(
        [run_sh, "--python", sys.executable, "--train_args", "--x 'unbalanced"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "--train_args: cannot split" in out.stderr


@pytest.mark.parametrize("value", ["abc", "", "1.5", "--stop_stage"])
def test_stages_must_be_numbers(value):
    run_sh = os.path.join(REPO, "egs", "libri2mix", "run.sh")
    out = subprocess.run(
        [run_sh, "--python", sys.executable, "--stage", value, "--stop_stage", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "expected a stage number" in out.stderr, out.stderr
    assert "Done" not in out.stdout


@pytest.mark.parametrize(
    "recipe, option, value",
    [
        ("libri2mix", "sample_rate", "16k"),
        ("wham", "sample_rate", "8000.0"),
        ("lrs2mix", "sample_rate", ""),
        ("libri2mix", "num_nodes", "two"),
        ("libri2mix", "num_nodes", "0"),
        ("musdb18", "sample_rate", "44.1k"),
        ("musdb18", "num_nodes", "-1"),
    ],
)
def test_numeric_options_must_be_whole_numbers(recipe, option, value):
    """--sample_rate 16k was 'value too great for base' then 'sr_k: unbound variable';
    --num_nodes two made 'num_nodes -gt 1' silently false. Both stop before any stage."""
    run_sh = os.path.join(REPO, "egs", recipe, "run.sh")
    out = subprocess.run(
        [run_sh, "--python", sys.executable, f"--{option}", value, "--stage", "9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"--{option}: expected a positive whole number, got '{value}'"
    ]
    assert "Recipe:" not in out.stdout and "Done" not in out.stdout


def test_free_form_options_split_like_the_documented_examples():
    """The README's quoting (YAML mappings in single quotes, an empty value '') splits into
    the intended words."""
    lib = os.path.join(REPO, "egs", "utils", "recipe_lib.sh")
    script = (
        f"python={sys.executable}; utils={os.path.dirname(lib)}; stage=0; stop_stage=4\n"
        "sample_rate=8000\n"
        'model=x; gpus=""; strategy=""; num_nodes=1; eval_args=""; mini_args=""\n'
        "for n in preset init_from batch_size lr epochs max_minutes checkpoint_minutes "
        "num_workers loss segment; do printf -v $n ''; done\n"
        "train_args=\"--init_from '' --model_args '{n_repeats: 2}' "
        "--ga_mixer_args '{window: 16, sinks: 4}' --y \\\"it's\\\"\"\n"
        f". {lib}\n"
        'printf "%s|" "${train_args_words[@]}"'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("|")[:-1] == [
        "--init_from",
        "",
        "--model_args",
        "{n_repeats: 2}",
        "--ga_mixer_args",
        "{window: 16, sinks: 4}",
        "--y",
        "it's",
    ]


@pytest.mark.parametrize(
    "recipe, task, message",
    [
        ("wham", "enh_single", "--task enh_single: wham supports sep_clean or sep_noisy only."),
        ("lrs2mix", "sep_noisy", "--task sep_noisy: lrs2mix supports sep_clean only (it has no"),
    ],
)
def test_task_is_checked_against_the_corpus_before_stage_0(tmp_path, recipe, task, message):
    """A task the corpus has no mixtures for stops before stage 0 scans anything (it was only
    found in stage 2, as a missing *mix_both.csv for LRS2-2Mix), naming the corpus's tasks."""
    run_sh = os.path.join(REPO, "egs", recipe, "run.sh")
    storage = tmp_path / "storage"
    out = subprocess.run(
        [run_sh, "--python", sys.executable, "--task", task, "--storage_dir", str(storage)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith(message)
    assert "Stage 0" not in out.stdout and not storage.exists()
    from corpus.corpora import get_corpus

    assert get_corpus("mini").tasks == ("sep_clean", "sep_noisy")  # --dataset mini: both
