"""Stage 1: Libri2Mix-layout csv files for each split of a prepared corpus.

For each split, writes ``<out_dir>/<split>/mixture_<split>_mix_clean.csv`` (and
``..._mix_both.csv`` for corpora with noise) with the columns ``mixture_ID, mixture_path,
source_1_path, source_2_path, [noise_path], length`` read by ``asteroid.data.LibriMix`` and
:class:`~asteroid_tdanet.recipes.dataset.CsvMixDataset`; for a split whose builder wrote its
whole utterances (the mini set's train split), also ``sources_<split>.csv`` (``source_ID,
speaker, path, length, join``), which dynamic mixing draws from. Paths are absolute.
Every folder of a split must hold the same .wav names (a partly copied corpus is refused);
data problems are one line, ``Data error: ...``, exit 2.

Usage: ``python -m corpus.metadata --dataset libri2mix --storage_dir /data
--sample_rate 8000 --out_dir data/wav8k/min``
"""

import argparse
import logging
import os
import sys
from typing import Dict, List

import pandas as pd
import soundfile as sf
from tqdm import tqdm

from asteroid_tdanet.utils.docs import doc_summary
from asteroid_tdanet.utils.errors import first_line

from .corpora import Corpus, get_corpus
from .generate import SOURCES_DIR, SOURCES_INDEX

logger = logging.getLogger(__name__)


def scan_split(split_dir: str, corpus: Corpus, n_src: int = 2) -> Dict[str, pd.DataFrame]:
    """csv tables ``{"mix_clean": df, ["mix_both": df]}`` of one split folder.

    Every folder of the split (mixtures, sources, noise: :meth:`Corpus.split_folders`) must
    hold the same .wav file names: a partly copied corpus is an error naming the first file
    one folder lacks, never a smaller set (see :func:`check_same_files`).
    """
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(f"No split folder {split_dir}: run stage 0 first.")
    check_same_files(split_dir, corpus.split_folders(n_src))
    src_dirs = [f"s{i + 1}" for i in range(n_src)]
    tables = {}
    for task, mix_dir in corpus.mix_dirs.items():
        mix_path = os.path.join(split_dir, mix_dir)
        names = sorted(f for f in os.listdir(mix_path) if f.endswith(".wav"))
        rows: List[dict] = []
        for name in tqdm(
            names, desc=f"{os.path.basename(split_dir)}/{mix_dir}", leave=False, mininterval=2
        ):
            row = dict(
                mixture_ID=os.path.splitext(name)[0],
                mixture_path=os.path.abspath(os.path.join(mix_path, name)),
            )
            extra = [(f"source_{i + 1}_path", d) for i, d in enumerate(src_dirs)]
            if task == "sep_noisy" and corpus.noise_dir:
                extra.append(("noise_path", corpus.noise_dir))
            for col, sub in extra:
                path = os.path.abspath(os.path.join(split_dir, sub, name))
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{row['mixture_path']} has no matching {path}.")
                row[col] = path
            row["length"] = sf.info(row["mixture_path"]).frames
            rows.append(row)
        tables[mix_dir if mix_dir != "mix" else "mix_clean"] = pd.DataFrame(rows)
    return tables


def check_same_files(split_dir: str, folders: List[str]) -> None:
    """Raise FileNotFoundError unless every folder of ``split_dir`` in ``folders`` exists and
    holds the same set of .wav names; the message names the first folder that lacks a name
    another one holds (a missing file there, or an extra one in the other), and that file."""
    listed = {}
    for sub in folders:
        path = os.path.join(split_dir, sub)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Missing folder {path}.")
        listed[sub] = {f for f in os.listdir(path) if f.endswith(".wav")}
        if not listed[sub]:
            raise FileNotFoundError(f"No .wav files in {path}.")
    every = set().union(*listed.values())
    for sub in folders:
        missing = sorted(every - listed[sub])
        if missing:
            other = next(o for o in folders if missing[0] in listed[o])
            raise FileNotFoundError(
                f"{os.path.join(split_dir, sub, missing[0])} is missing, but "
                f"{os.path.join(split_dir, other, missing[0])} exists: {len(missing)} of the "
                f"split's {len(every)} file names are not in {sub}/ (an incomplete copy?); "
                f"{', '.join(folders)} must hold the same files."
            )


def write_csv(df, path: str) -> bool:
    """Write ``df`` (no index) to ``path`` unless the file holds exactly that csv already;
    return whether it was written. A re-run of stage 1 over the same corpus then leaves the
    csvs, and their modification times, as they were: stage 3 keeps an evaluation only while
    it is newer than its test csv. A changed csv is replaced in one step (a temporary file,
    then a rename)."""
    text = df.to_csv(index=False)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            if f.read() == text:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def write_metadata(
    corpus: Corpus, storage_dir: str, sample_rate: int, out_dir: str, n_src: int = 2
) -> List[str]:
    """Write the csv files of every split; return their paths.

    Every split is scanned before any file is written: a split that fails leaves the csvs
    of an earlier run as they were, never half of them replaced by another corpus's.
    """
    corpus.check_sample_rate(sample_rate)
    root = corpus.root(storage_dir, sample_rate)
    scanned = {
        split: (
            scan_split(os.path.join(root, split), corpus, n_src),
            sources_table(os.path.join(root, split)),
        )
        for split in corpus.splits
    }
    written = []
    for split, (tables, sources) in scanned.items():
        split_out = os.path.join(out_dir, split)
        os.makedirs(split_out, exist_ok=True)
        for mix_dir, df in tables.items():
            path = os.path.join(split_out, f"mixture_{split}_{mix_dir}.csv")
            write_csv(df, path)
            written.append(path)
            logger.info("%s: %d mixtures", path, len(df))
        path = os.path.join(split_out, f"sources_{split}.csv")
        if sources is not None:
            write_csv(sources, path)
            written.append(path)
            logger.info("%s: %d whole sources", path, len(sources))
        elif os.path.exists(path):  # a list of an earlier build would point at deleted files
            os.remove(path)
            logger.info("%s removed: this build wrote no whole sources for %s", path, split)
    return written


def sources_table(split_dir: str):
    """The split's whole sources for dynamic mixing (``sources/index.csv``, written by the
    corpus builder, :func:`.generate.write_sources`) with absolute paths, or ``None``."""
    folder = os.path.join(split_dir, SOURCES_DIR)
    index = os.path.join(folder, SOURCES_INDEX)
    if not os.path.isfile(index):
        return None
    df = pd.read_csv(index)
    paths = [os.path.abspath(os.path.join(folder, f)) for f in df["file"]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{index} lists {len(missing)} missing files, e.g. {missing[0]}.")
    df.insert(2, "path", paths)
    return df.drop(columns="file")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--storage_dir", required=True)
    parser.add_argument("--sample_rate", type=int, default=8000)
    parser.add_argument("--out_dir", required=True, help="e.g. data/wav8k/min")
    parser.add_argument("--n_src", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        paths = write_metadata(
            get_corpus(args.dataset), args.storage_dir, args.sample_rate, args.out_dir, args.n_src
        )
    except (FileNotFoundError, ValueError) as err:  # data problems: one line, exit 2
        print(f"Data error: {first_line(err)}", file=sys.stderr)
        return 2
    print(f"Wrote {len(paths)} csv files under {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
