"""Where each corpus lives under ``--storage_dir`` and how its splits and folders are named.

Stage 0 checks (or generates) these layouts, stage 1 turns them into csv files.
"""

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Corpus:
    """Layout of a mixture corpus.

    ``layout`` is the folder (relative to the storage dir, ``{k}`` = sample rate in kHz)
    holding one folder per split, each with ``mix_dirs`` (task -> folder) and source folders
    ``s1``, ``s2`` (and ``noise`` when ``noise_dir``). ``instructions`` (what to put where)
    is formatted with ``storage_dir`` and ``k``.
    """

    name: str
    layout: str
    splits: Tuple[str, str, str]  # train, valid, test
    mix_dirs: Dict[str, str]
    noise_dir: Optional[str]
    sample_rates: Tuple[int, ...]
    instructions: str = field(default="", compare=False)

    def root(self, storage_dir: str, sample_rate: int) -> str:
        return os.path.join(storage_dir, self.layout.format(k=sample_rate // 1000))

    def split_folders(self, n_src: int = 2) -> List[str]:
        """The folders every split holds: mixtures, sources and, for corpora with noise, the
        noise (stage 1 lists it for ``sep_noisy``, whatever the recipe's task, so stage 0
        asks for it too)."""
        folders = [*self.mix_dirs.values(), *[f"s{i + 1}" for i in range(n_src)]]
        return folders + ([self.noise_dir] if self.noise_dir else [])

    def missing_folders(self, storage_dir: str, sample_rate: int) -> List[str]:
        """Split folders of the layout at ``sample_rate`` that are absent or hold no .wav."""
        root = self.root(storage_dir, sample_rate)
        missing = []
        for split in self.splits:
            for sub in self.split_folders():
                folder = os.path.join(root, split, sub)
                if not os.path.isdir(folder) or not any(
                    f.endswith(".wav") for f in os.listdir(folder)
                ):
                    missing.append(folder)
        return missing

    @property
    def tasks(self) -> Tuple[str, ...]:
        """The separation tasks the corpus has mixtures for (keys of ``mix_dirs``)."""
        return tuple(self.mix_dirs)

    def check_task(self, task: str) -> None:
        """Refuse a task the corpus has no mixtures for, naming those it has."""
        if task not in self.tasks:
            why = " (it has no noise)" if task == "sep_noisy" and not self.noise_dir else ""
            raise ValueError(
                f"--task {task}: {self.name} supports {' or '.join(self.tasks)} only{why}."
            )

    def check_sample_rate(self, sample_rate: int) -> None:
        """Refuse a rate the corpus does not exist at (before anything is read or written)."""
        if sample_rate not in self.sample_rates:
            allowed = " or ".join(str(sr) for sr in self.sample_rates)
            raise ValueError(
                f"--sample_rate {sample_rate}: {self.name} exists at {allowed} Hz only."
            )

    def missing_data_message(self, storage_dir: str, sample_rate: int) -> str:
        """What to put where, with the paths of the requested rate."""
        return self.instructions.format(
            storage_dir=os.path.abspath(storage_dir), k=sample_rate // 1000
        )


# Folder names the LibriMix and WHAM! generators write (and the mini set copies).
LIBRIMIX_MIX_DIRS = {"sep_clean": "mix_clean", "sep_noisy": "mix_both"}

LIBRI2MIX = Corpus(
    name="libri2mix",
    layout="Libri2Mix/wav{k}k/min",
    splits=("train-100", "dev", "test"),
    mix_dirs=LIBRIMIX_MIX_DIRS,
    noise_dir="noise",
    sample_rates=(8000, 16000),
    instructions="""\
Libri2Mix was not found under {storage_dir}. Either
  (a) put an existing Libri2Mix there:   {storage_dir}/Libri2Mix/wav{k}k/min/
      {{train-100,dev,test}}/{{mix_clean,mix_both,s1,s2,noise}}/*.wav
      (as written by github.com/JorisCos/LibriMix), or
  (b) put its ingredients there and re-run stage 0, which then mixes them the LibriMix way:
      {storage_dir}/LibriSpeech/{{train-clean-100,dev-clean,test-clean}}/<spk>/<chapter>/*.flac
          (openslr.org/12: train-clean-100.tar.gz, dev-clean.tar.gz, test-clean.tar.gz)
      {storage_dir}/wham_noise/{{tr,cv,tt}}/*.wav
          (wham.whisper.ai: wham_noise.zip)""",
)
WHAM = Corpus(
    name="wham",
    layout="wham/wav{k}k/min",
    splits=("tr", "cv", "tt"),
    mix_dirs=LIBRIMIX_MIX_DIRS,
    noise_dir="noise",
    sample_rates=(8000, 16000),
    instructions="""\
WHAM! was not found under {storage_dir}. WSJ0 is licensed (LDC93S6A), so bring it yourself:
  1. get wsj0 (LDC) and the WHAM! noise + scripts (wham.whisper.ai: wham_noise.zip,
     wham_scripts.tar.gz);
  2. run  python create_wham_from_scratch.py --wsj0-root <wsj0> --wham-noise-root <wham_noise>
          --output-dir {storage_dir}/wham
     so that {storage_dir}/wham/wav{k}k/min/{{tr,cv,tt}}/{{mix_clean,mix_both,s1,s2,noise}}/*.wav
     exist; then re-run stage 0.""",
)
LRS2MIX = Corpus(
    name="lrs2mix",
    layout="LRS2-2Mix",
    splits=("tr", "cv", "tt"),
    mix_dirs={"sep_clean": "mix"},
    noise_dir=None,
    sample_rates=(16000,),
    instructions="""\
LRS2-2Mix was not found under {storage_dir}. It cannot be downloaded from here: get the
published LRS2-2Mix mixture set (linked from the TDANet authors' repository,
github.com/JusperLee/TDANet) and unpack it so that
  {storage_dir}/LRS2-2Mix/{{tr,cv,tt}}/{{mix,s1,s2}}/*.wav   (16 kHz)
exist; then re-run stage 0.""",
)
MINI = Corpus(
    name="mini",
    layout="MiniLibri2Mix/wav{k}k/min",
    splits=("train", "dev", "test"),
    mix_dirs=LIBRIMIX_MIX_DIRS,
    noise_dir="noise",
    sample_rates=(8000,),
)
CORPORA = {c.name: c for c in (LIBRI2MIX, WHAM, LRS2MIX, MINI)}


def get_corpus(name: str) -> Corpus:
    if name not in CORPORA:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {sorted(CORPORA)}.")
    return CORPORA[name]


def main(argv=None) -> int:
    """Check ``--dataset`` and ``--task`` before any stage runs (run.sh): one line, exit 2."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Check a recipe's --dataset and --task.")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--task", required=True)
    args = parser.parse_args(argv)
    if args.dataset not in CORPORA:
        print(f"--dataset {args.dataset}: choose one of {', '.join(CORPORA)}.", file=sys.stderr)
        return 2
    try:
        CORPORA[args.dataset].check_task(args.task)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
