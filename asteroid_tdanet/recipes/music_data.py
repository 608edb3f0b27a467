"""Music separation data in the MUSDB18-HQ layout, for the ``egs/musdb18`` recipe.

A split folder (``train/``, ``test/``) holds one folder per song with ``mixture.wav``,
``vocals.wav``, ``drums.wav``, ``bass.wav`` and ``other.wav``: stereo, same rate and length.
:func:`scan_split` checks every file once (a missing, unreadable, mono, wrong-rate or
different-length stem is an error naming the file).

* :class:`RemixDataset` (training): random chunks with on-the-fly remixing, each stem from a
  random song at a random offset with a random gain and channel swap (the Demucs / RoFormer
  training augmentation), mixture = the sum; targets = the ``targets`` stems.
* :class:`ChunkDataset` (validation): fixed consecutive chunks of each song's real mixture.
* The official MUSDB18 validation songs (14 of ``train/``) are :data:`MUSDB_VALID`.
"""

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ..utils.docs import doc_summary
from .dataset import BadAudioFileError, draw, key_index

LAYOUT = "musdb"  # data.layout of a music recipe's conf
STEMS = ("vocals", "drums", "bass", "other")
MIXTURE = "mixture"
CHANNELS = 2
# musdb's validation subset of the training songs (musdb/configs/mus.yaml).
MUSDB_VALID = (
    "Actions - One Minute Smile",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave",
    "Triviul - Angelsaint",
    "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants",
    "Leaf - Summerghost",
    "Skelpolu - Human Mistakes",
    "Young Griffo - Pennies",
    "ANiMAL - Rockshow",
    "James May - On The Line",
    "Meaxic - Take A Step",
    "Traffic Experiment - Sirens",
)


@dataclass(frozen=True)
class Song:
    """One song folder: ``path / <stem>.wav`` for the mixture and every stem."""

    name: str
    path: str
    frames: int
    sample_rate: int

    def file(self, stem: str) -> str:
        return os.path.join(self.path, f"{stem}.wav")

    def read(self, stem: str, start: int = 0, stop: Optional[int] = None) -> np.ndarray:
        """``(channels, frames)`` float32 samples ``[start, stop)`` of one stem."""
        try:
            data, _ = sf.read(self.file(stem), start=start, stop=stop, dtype="float32")
        except Exception as err:
            raise BadAudioFileError(f"Cannot read {self.file(stem)}: {err}") from err
        return np.ascontiguousarray(data.T)


def scan_split(root: str, split: str, sample_rate: int) -> List[Song]:
    """The songs of ``root/split`` (sorted by name), every file checked.

    Raises:
        FileNotFoundError: no such folder, or no song in it.
        BadAudioFileError: a song folder misses a file, or a file is unreadable, not stereo,
            not at ``sample_rate``, or not as long as the song's mixture.
    """
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"No folder {folder!r}: expected the MUSDB18-HQ layout {root}/{split}/<song>/"
            "{mixture,vocals,drums,bass,other}.wav (run stage 0, or --storage_dir)."
        )
    songs = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not os.path.isdir(path) or name.startswith("."):
            continue
        frames = None
        for stem in (MIXTURE,) + STEMS:
            file = os.path.join(path, f"{stem}.wav")
            if not os.path.isfile(file):
                raise BadAudioFileError(f"Missing {file} (every song needs {MIXTURE} + {STEMS}).")
            try:
                info = sf.info(file)
            except Exception as err:
                raise BadAudioFileError(f"Unreadable audio file {file}: {err}") from err
            if info.samplerate != sample_rate:
                raise BadAudioFileError(
                    f"{file} is at {info.samplerate} Hz, expected {sample_rate} Hz."
                )
            if info.channels != CHANNELS:
                raise BadAudioFileError(f"{file} has {info.channels} channel(s), expected 2.")
            frames = info.frames if frames is None else frames
            if info.frames != frames:
                raise BadAudioFileError(
                    f"{file} has {info.frames} frames, the song's {MIXTURE}.wav {frames}."
                )
        songs.append(Song(name, path, int(frames), sample_rate))
    if not songs:
        compressed = sorted(f for f in os.listdir(folder) if f.endswith(".stem.mp4"))
        if compressed:  # the compressed MUSDB18, not MUSDB18-HQ
            raise FileNotFoundError(
                f"{folder!r} holds {len(compressed)} .stem.mp4 files (the compressed MUSDB18): "
                "these recipes read the MUSDB18-HQ layout, one folder of WAV files per song; "
                "decode them with musdb's `musdbconvert` (pip install musdb; needs ffmpeg) or "
                "use MUSDB18-HQ."
            )
        raise FileNotFoundError(
            f"No song folders in {folder!r}: expected {folder}/<song>/"
            "{mixture,vocals,drums,bass,other}.wav."
        )
    return songs


def split_validation(
    songs: Sequence[Song], valid: Union[str, int]
) -> Tuple[List[Song], List[Song]]:
    """``(train, valid)`` songs: ``valid="musdb"``: the official validation songs
    (:data:`MUSDB_VALID`; an error if none is present); an int ``n``: the last ``n`` songs."""
    if valid == "musdb":
        held = [s for s in songs if s.name in MUSDB_VALID]
        if not held:
            raise ValueError(
                "valid_songs=musdb: none of the MUSDB18 validation songs is in the training "
                "folder; give a number of songs to hold out instead (run.sh --train_args "
                "'--valid_songs 2', or data.valid_songs in the conf)."
            )
    else:
        n = int(valid)
        if not 0 < n < len(songs):
            raise ValueError(f"valid_songs={n}: need 1..{len(songs) - 1} of {len(songs)} songs.")
        held = list(songs[-n:])
    train = [s for s in songs if s not in held]
    return train, held


class RemixDataset(Dataset):
    """Random training chunks with on-the-fly remixing.

    Each item draws, for every stem of :data:`STEMS`, a song (any song: stems of different
    songs are mixed), a random ``segment`` of it (a few tries to avoid a silent one), a gain
    uniform in ``gain_range`` and a random channel swap; the mixture is the sum of the stems.

    Args:
        songs: training songs.
        segment (float): chunk length in seconds.
        targets: stems returned as targets (default vocals).
        items_per_epoch (int): length of an epoch.
        gain_range, swap_channels: augmentation.

    Items: ``mixture (2, time)``, ``targets (len(targets), 2, time)``.
    """

    def __init__(
        self,
        songs: Sequence[Song],
        segment: float,
        targets: Sequence[str] = ("vocals",),
        *,
        items_per_epoch: int = 1000,
        gain_range=(0.25, 1.25),
        swap_channels: bool = True,
    ):
        if not songs:
            raise ValueError("No training songs.")
        unknown = [t for t in targets if t not in STEMS]
        if unknown:
            raise ValueError(f"Unknown target stem(s) {unknown}; choose among {STEMS}.")
        self.songs, self.targets = list(songs), tuple(targets)
        self.sample_rate = songs[0].sample_rate
        self.seg_len = int(round(segment * self.sample_rate))
        short = [s.name for s in self.songs if s.frames < self.seg_len]
        if short:
            raise ValueError(f"Songs shorter than the {segment} s segment: {short}.")
        self.items_per_epoch = int(items_per_epoch)
        self.gain_range, self.swap_channels = tuple(gain_range), swap_channels

    def __len__(self) -> int:
        return self.items_per_epoch

    def _chunk(self, stem: str, rng: np.random.Generator) -> np.ndarray:
        song = self.songs[int(rng.integers(len(self.songs)))]
        for _ in range(5):
            start = int(rng.integers(0, song.frames - self.seg_len + 1))
            audio = song.read(stem, start, start + self.seg_len)
            if np.abs(audio).max() > 1e-4:
                break
        audio = audio * np.float32(rng.uniform(*self.gain_range))
        if self.swap_channels and rng.random() < 0.5:
            audio = audio[::-1]
        return np.ascontiguousarray(audio)

    def __getitem__(self, key):
        _, rng = draw(key)  # an ItemKey of the recipe's loader, or a plain index
        stems = {stem: self._chunk(stem, rng) for stem in STEMS}
        mixture = np.sum(list(stems.values()), axis=0)
        targets = np.stack([stems[t] for t in self.targets])
        return torch.from_numpy(mixture), torch.from_numpy(targets)

    def get_infos(self) -> dict:
        return dict(
            dataset="RemixDataset",
            songs=[s.name for s in self.songs],
            seconds=round(sum(s.frames for s in self.songs) / self.sample_rate, 1),
            segment_samples=self.seg_len,
            items_per_epoch=self.items_per_epoch,
            targets=list(self.targets),
        )


class ChunkDataset(Dataset):
    """Consecutive ``segment`` chunks of each song's mixture and target stems (validation;
    at most ``max_chunks_per_song`` per song, from the start; the last partial chunk is
    dropped). Items as :class:`RemixDataset`'s."""

    def __init__(
        self,
        songs: Sequence[Song],
        segment: float,
        targets: Sequence[str] = ("vocals",),
        *,
        max_chunks_per_song: int = 10,
    ):
        self.songs, self.targets = list(songs), tuple(targets)
        self.sample_rate = songs[0].sample_rate
        self.seg_len = int(round(segment * self.sample_rate))
        self.index = [
            (song, k * self.seg_len)
            for song in self.songs
            for k in range(min(song.frames // self.seg_len, max_chunks_per_song))
        ]
        if not self.index:
            raise ValueError(f"No song is as long as the {segment} s segment.")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key):
        song, start = self.index[key_index(key)]
        stop = start + self.seg_len
        mixture = song.read(MIXTURE, start, stop)
        targets = np.stack([song.read(t, start, stop) for t in self.targets])
        return torch.from_numpy(mixture), torch.from_numpy(targets)

    def get_infos(self) -> dict:
        return dict(
            dataset="ChunkDataset",
            songs=[s.name for s in self.songs],
            chunks=len(self.index),
            segment_samples=self.seg_len,
        )


def is_music_data(data: dict) -> bool:
    """Whether a recipe's ``data`` section is a MUSDB18-HQ-layout music corpus."""
    return data.get("layout") == LAYOUT


def targets_of(data: dict) -> Tuple[str, ...]:
    """The target stems of a recipe's ``data`` section (``targets: vocals`` or a list)."""
    targets = data.get("targets") or ("vocals",)
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return tuple(targets)


def make_music_sets(data: dict) -> Tuple[RemixDataset, ChunkDataset]:
    """Training and validation sets of a music recipe's ``data`` section: ``root``,
    ``train_split``, ``valid_songs``, ``sample_rate``, ``segment``, ``targets``,
    ``items_per_epoch`` (see ``egs/musdb18/local/conf.yml``)."""
    targets = targets_of(data)
    if int(data.get("n_src", len(targets))) != len(targets):
        raise ValueError(f"data.n_src ({data['n_src']}) != number of targets {targets}.")
    songs = scan_split(data["root"], data.get("train_split", "train"), int(data["sample_rate"]))
    train, valid = split_validation(songs, data.get("valid_songs", "musdb"))
    train_set = RemixDataset(
        train,
        data["segment"],
        targets,
        items_per_epoch=int(data.get("items_per_epoch", 1000)),
    )
    return train_set, ChunkDataset(valid, data["segment"], targets)


def main(argv=None) -> int:
    """Stage 1 of the music recipe: check every song of ``--root`` (``train`` and ``test``)
    and write the song list with durations to ``--out`` (JSON)."""
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description=doc_summary(main.__doc__))
    parser.add_argument("--root", required=True, help="folder holding train/ and test/")
    parser.add_argument("--sample_rate", type=int, default=44100)
    parser.add_argument("--splits", default="train,test")
    parser.add_argument("--out", required=True, help="JSON file written")
    args = parser.parse_args(argv)
    listing = {}
    try:
        for split in args.splits.split(","):
            songs = scan_split(args.root, split, args.sample_rate)
            listing[split] = {s.name: round(s.frames / s.sample_rate, 2) for s in songs}
    except (FileNotFoundError, BadAudioFileError) as err:
        print(f"Data error: {err}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(dict(root=os.path.abspath(args.root), songs=listing), f, indent=1)
    counts = ", ".join(
        f"{split}: {len(songs)} songs, {sum(songs.values()) / 60:.1f} min"
        for split, songs in listing.items()
    )
    print(f"{counts} -> {args.out}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
