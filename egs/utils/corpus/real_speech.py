"""Two-speaker mixtures of real read speech, to check a model trained on other data.

The mini recipe trains on Debian voice prompts and eSpeak NG voices; what matters is how the
result separates real speakers it never heard. This module mixes utterances of a
LibriSpeech-layout folder (``<speaker>/[<chapter>/]*.flac``; any read-speech corpus in that
layout) exactly as the recipes mix (:func:`corpus.generate.write_split`: loudness-normalised,
min mode), writes the Libri2Mix layout plus its csv, and the recipes' evaluation scores a
trained model on it::

    PYTHONPATH=egs/utils python -m corpus.real_speech \\
        --librispeech_dir /data/LibriSpeech/test-clean --out_dir data/real_speech
    python -m asteroid_tdanet.recipes.evaluate --exp_dir exp/<model>_<tag> \\
        --test_dir data/real_speech/csv --out_name eval_real_speech

(``run.sh --real_speech_dir DIR`` does both in stage 3.) The recipes never need such a folder;
the tests use the LibriSpeech excerpts of the shared fixtures when present.
"""

import argparse
import json
import logging
import os
import shutil
import sys

import numpy as np

from asteroid_tdanet.utils.docs import doc_summary

from .corpora import Corpus, LIBRIMIX_MIX_DIRS
from .generate import write_split
from .librispeech import librispeech_utterances, read_json
from .metadata import write_metadata

logger = logging.getLogger(__name__)
SPLIT = "test"
CSV_DIR = "csv"
SUMMARY = "real_speech.json"  # written last: the set is complete


def real_speech_corpus(sample_rate: int) -> Corpus:
    """Layout of what :func:`build_real_speech_set` writes (one ``test`` split, no noise)."""
    return Corpus(
        name="real_speech",
        layout="wav{k}k/min",
        splits=(SPLIT,),
        mix_dirs={"sep_clean": LIBRIMIX_MIX_DIRS["sep_clean"]},
        noise_dir=None,
        sample_rates=(sample_rate,),
    )


def build_real_speech_set(
    librispeech_dir: str,
    out_dir: str,
    n_mixtures: int = 100,
    sample_rate: int = 8000,
    seed: int = 0,
    max_seconds: float = 0.0,
) -> dict:
    """Write ``n_mixtures`` two-speaker mixtures to ``out_dir`` and their csv to
    ``out_dir/csv/test``; return a summary (also written to ``out_dir/real_speech.json``).

    ``max_seconds`` > 0 crops each utterance (from its start) before mixing, to bound the
    evaluation time; 0 keeps whole utterances (min mode: the shorter one sets the length).
    What an earlier build left in ``out_dir`` (its mixtures, csv and summary) is removed
    first: stage 1's scan would list old mixtures with the new ones.
    """
    utterances = librispeech_utterances(librispeech_dir)
    corpus = real_speech_corpus(sample_rate)
    for path in (
        os.path.join(out_dir, SUMMARY),  # first: an interrupted rebuild is not read as done
        os.path.join(corpus.root(out_dir, sample_rate), SPLIT),
        os.path.join(out_dir, CSV_DIR, SPLIT),
    ):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
    if max_seconds > 0:
        for utt in utterances:
            utt.load = _cropped(utt.load, max_seconds)
    rng = np.random.default_rng(seed)
    counts = write_split(out_dir, SPLIT, utterances, n_mixtures, [sample_rate], rng)
    csv = write_metadata(corpus, out_dir, sample_rate, os.path.join(out_dir, CSV_DIR))
    summary = dict(
        **request(librispeech_dir, n_mixtures, sample_rate, seed, max_seconds),
        n_speakers=len({u.speaker for u in utterances}),
        n_utterances=len(utterances),
        counts=counts,
        test_dir=os.path.abspath(os.path.join(out_dir, CSV_DIR, SPLIT)),
        csv=[os.path.abspath(p) for p in csv],
    )
    with open(os.path.join(out_dir, SUMMARY), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


def request(librispeech_dir, n_mixtures, sample_rate, seed, max_seconds) -> dict:
    """What a build is made from; a stored set is reused only for the same request."""
    return dict(
        source=os.path.abspath(librispeech_dir),
        n_mixtures=int(n_mixtures),
        sample_rate=int(sample_rate),
        seed=int(seed),
        max_seconds=float(max_seconds),
    )


def changed_settings(summary: dict, wanted: dict) -> dict:
    """``{key: (stored, wanted)}`` for each setting of ``wanted`` the stored summary differs
    in (a summary of an older release, without ``n_mixtures``, differs in that one)."""
    return {k: (summary.get(k), v) for k, v in wanted.items() if summary.get(k) != v}


def _cropped(load, seconds):
    def crop():
        audio, sr = load()
        return audio[: int(seconds * sr)], sr

    return crop


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--librispeech_dir", required=True, help="<speaker>/[<chapter>/]*.flac")
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--n_mixtures", type=int, default=100)
    parser.add_argument("--sample_rate", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max_seconds", type=float, default=0.0, help="crop; 0 = whole")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    done = os.path.join(args.out_dir, SUMMARY)
    wanted = request(
        args.librispeech_dir, args.n_mixtures, args.sample_rate, args.seed, args.max_seconds
    )
    try:
        if os.path.exists(done):
            changed = changed_settings(read_json(done), wanted)
            if not changed:
                print(f"Real-speech set already built ({done}); keeping it.")
                return 0
            # The folder is named by rate and size only: another source must not be scored
            # under this name.
            print(
                f"Real-speech set in {args.out_dir} was built with other settings ("
                + ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
                + "); rebuilding it."
            )
        summary = build_real_speech_set(
            args.librispeech_dir,
            args.out_dir,
            n_mixtures=args.n_mixtures,
            sample_rate=args.sample_rate,
            seed=args.seed,
            max_seconds=args.max_seconds,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"Real-speech set: {err}", file=sys.stderr)
        return 2
    print(
        f"{summary['counts']['written']} mixtures of {summary['n_speakers']} speakers -> "
        f"{summary['test_dir']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
