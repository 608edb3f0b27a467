"""Stage 0: make the corpus available under ``--storage_dir``.

* ``mini``: build the embedded mini dataset (no download but Debian/PyPI packages).
* ``libri2mix``: reuse ``<storage_dir>/Libri2Mix`` (a user's complete copy, or a finished
  generation), resume an interrupted generation, or mix it from LibriSpeech + WHAM! noise
  found in ``<storage_dir>`` (every ingredient is checked before the first mixture). A user's
  copy is never written into.
* ``wham``, ``lrs2mix``: check that the user-provided corpus is in place.

``--sample_rate`` must be one the corpus exists at (lrs2mix: 16000 only). When the data is
missing, prints exactly what to put where and exits with status 2; other data problems
(an incomplete copy, an empty or one-speaker split, an unknown ``--dataset``, a
``--storage_dir`` that cannot be written) are one line, exit 2. ``--storage_dir`` is created
only by what writes into it (the mini build, the Libri2Mix generation).

Usage: ``python -m corpus.prepare_data --dataset mini --storage_dir storage``
"""

import argparse
import logging
import os
import shutil
import sys

from asteroid_tdanet.utils.docs import doc_summary
from asteroid_tdanet.utils.errors import first_line

from .corpora import get_corpus

MISSING_DATA = 2


def _missing(folders) -> str:
    more = f" (and {len(folders) - 1} more)" if len(folders) > 1 else ""
    return f"{folders[0]}{more}"


def prepare_mini(storage_dir: str, force: bool, **mini_options) -> int:
    from .mini.build import build_mini

    root = os.path.join(storage_dir, "MiniLibri2Mix")
    done = os.path.join(root, "dataset.json")
    if os.path.exists(done) and not force:
        print(f"Mini dataset already built ({done}); keeping it (--force true rebuilds).")
        return 0
    for sub in ("wav8k", "wav16k"):  # generated data only; real_speech/ downloads are kept
        shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
    os.makedirs(root, exist_ok=True)
    info = build_mini(root, **mini_options)
    print(
        f"Built the mini dataset in {root}: sources {info['sources_used']}, "
        f"speakers {info['n_speakers']}, mixtures {info['mixtures']}."
    )
    return 0


def prepare_corpus(name: str, storage_dir: str, sample_rate: int) -> int:
    """Reuse a complete corpus at ``sample_rate``, or (Libri2Mix) mix it; else say what to
    put where (exit 2). Problems with the data raise FileNotFoundError / ValueError."""
    corpus = get_corpus(name)
    corpus.check_sample_rate(sample_rate)  # e.g. 22050 Hz: no generation could produce it
    if name == "libri2mix":
        return prepare_libri2mix(storage_dir, sample_rate)
    missing = corpus.missing_folders(storage_dir, sample_rate)
    if not missing:
        print(f"Found {name} at {corpus.root(storage_dir, sample_rate)}; reusing it.")
        return 0
    root = corpus.root(storage_dir, sample_rate)
    if os.path.isdir(root):  # a copy is there but not all of it: name what is missing
        print(f"{root} is incomplete: no .wav files in {_missing(missing)}.", file=sys.stderr)
    print(corpus.missing_data_message(storage_dir, sample_rate), file=sys.stderr)
    return MISSING_DATA


def prepare_libri2mix(storage_dir: str, sample_rate: int) -> int:
    """Reuse a finished generation or a user's complete copy, resume an interrupted
    generation, or mix one from LibriSpeech + WHAM! noise; never mix into a user's copy."""
    from . import librispeech

    corpus = get_corpus("libri2mix")
    out = librispeech.libri2mix_dir(storage_dir)
    root = corpus.root(storage_dir, sample_rate)
    state = librispeech.libri2mix_state(storage_dir)
    if state == "generated":
        problems = librispeech.generated_problems(storage_dir, sample_rate)
        if problems:
            raise FileNotFoundError(
                f"{out} was mixed by stage 0 ({librispeech.RECORD}) but files are gone: "
                f"{_missing(problems)}. Move {out} away (or delete it) to mix it anew."
            )
        print(f"Found libri2mix at {root} (mixed by stage 0); reusing it.")
        return 0
    if state == "user":
        missing = corpus.missing_folders(storage_dir, sample_rate)
        if missing:
            # Not ours: mixing into it would blend two corpora (and overwrite the user's).
            raise FileNotFoundError(
                f"{out} (not mixed by stage 0: no {librispeech.RECORD}) lacks the "
                f"{sample_rate} Hz data: no .wav files in {_missing(missing)}. Complete it, or "
                f"move it away to have stage 0 mix Libri2Mix from LibriSpeech + WHAM! noise."
            )
        print(f"Found libri2mix at {root}; reusing it.")
        return 0
    if state == "interrupted":
        print(
            f"Resuming the interrupted Libri2Mix generation in {out} "
            f"({librispeech.IN_PROGRESS}): finished splits are kept, the others mixed again."
        )
    elif librispeech.any_ingredients(storage_dir):
        print("Mixing Libri2Mix from LibriSpeech + WHAM! noise (this takes a few hours).")
    else:
        print(corpus.missing_data_message(storage_dir, sample_rate), file=sys.stderr)
        return MISSING_DATA
    counts = librispeech.generate_libri2mix(storage_dir)
    print(f"Mixed Libri2Mix in {out}: {counts}")
    return 0


def main(argv=None) -> int:
    from asteroid_tdanet.recipes.config import str2bool
    from .mini.build import DEFAULTS

    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--dataset", required=True, help="mini, libri2mix, wham or lrs2mix")
    parser.add_argument("--storage_dir", required=True)
    parser.add_argument("--sample_rate", type=int, default=8000)
    parser.add_argument("--force", type=str2bool, default=False, help="rebuild the mini set")
    mini = parser.add_argument_group("mini dataset")
    mini.add_argument(
        "--mini_source",
        default=DEFAULTS["source"],
        help="auto (real recordings + eSpeak NG), real (Asterisk prompts, KDE words, Fish "
        "Fillets NG dialogue, Ur-Quan Masters voices), or espeak",
    )
    for key in (
        "n_espeak_speakers",
        "utts_per_speaker",
        "real_utts_per_speaker",
        "kde_utts_per_voice",
        "uqm_utts_per_voice",
        "fillets_utts_per_voice",
        "n_train",
        "n_dev",
        "n_test",
        "seed",
    ):
        mini.add_argument(f"--mini_{key}", type=int, default=DEFAULTS[key])
    for key in ("real_speed_factors", "kde_speed_factors"):
        mini.add_argument(
            f"--mini_{key}",
            type=lambda v: tuple(float(f) for f in v.split(",") if f),
            default=DEFAULTS[key],
            help="comma-separated speed factors, each a virtual speaker per real one ('' none)",
        )

    def fraction(text: str) -> float:
        value = float(text)
        if not 0.0 <= value < 1.0:
            raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
        return value

    for key in ("dev_fraction", "test_fraction"):
        mini.add_argument(
            f"--mini_{key}",
            type=fraction,
            default=DEFAULTS[key],
            help="share of each voice group's speakers held out for the "
            + key.split("_")[0]
            + " split (the rest train)",
        )
    mini.add_argument("--mini_noise", type=str2bool, default=DEFAULTS["noise"])
    mini.add_argument(
        "--mini_train_sources",
        type=str2bool,
        default=DEFAULTS["train_sources"],
        help="write the train split's whole utterances for dynamic mixing",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # No folder is made here: a corpus that is only checked (wham, lrs2mix, a user's
    # Libri2Mix) must not leave an empty --storage_dir behind a typo; the mini build and the
    # Libri2Mix generation make the folders they write.
    try:
        if args.dataset == "mini":
            options = {k[5:]: v for k, v in vars(args).items() if k.startswith("mini_")}
            return prepare_mini(
                args.storage_dir, args.force, sample_rate=args.sample_rate, **options
            )
        return prepare_corpus(args.dataset, args.storage_dir, args.sample_rate)
    except (OSError, ValueError) as err:  # data problems: one line, exit 2
        print(f"Data error: {describe(err, args.storage_dir)}", file=sys.stderr)
        return MISSING_DATA


def describe(err: Exception, storage_dir: str) -> str:
    """One line for a data problem; an OS error (a folder that cannot be made or written:
    no permission, a path under a file) names its path and ``--storage_dir``."""
    if isinstance(err, OSError) and err.filename and err.strerror:
        path, root = os.path.abspath(str(err.filename)), os.path.abspath(storage_dir)
        under = os.path.commonpath([path, root]) == root or root.startswith(path + os.sep)
        option = f" (--storage_dir {storage_dir})" if under else ""
        return f"{err.filename}: {err.strerror}{option}"
    return first_line(err)


if __name__ == "__main__":
    sys.exit(main())
