"""Mixture datasets read from Libri2Mix-layout csv files, with input validation.

A csv directory holds ``mixture_<split>_mix_clean.csv`` (task ``sep_clean``) and/or
``mixture_<split>_mix_both.csv`` (``sep_noisy``) with the columns ``mixture_ID,
mixture_path, source_1_path, ..., source_<n>_path, [noise_path], length`` -- the layout of
``asteroid.data.LibriMix``. Unlike ``LibriMix`` every file is checked when the dataset is
built: a missing or unreadable file, or a sample rate other than the expected one, raises an
error naming the file; clips shorter than the training segment are skipped, logged and
counted in :attr:`CsvMixDataset.skipped`.
"""

import functools
import logging
import math
import os
from typing import Optional

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from scipy.signal import firwin, resample_poly
from torch.utils.data import Dataset, DistributedSampler
from tqdm import tqdm

from .pitch import median_f0

logger = logging.getLogger(__name__)

TASK_SUFFIX = {"sep_clean": "mix_clean", "sep_noisy": "mix_both"}


class BadAudioFileError(RuntimeError):
    """An audio file listed in a csv is missing, unreadable or has the wrong format."""


def find_csv(csv_dir: str, task: str) -> str:
    """Path of the csv for ``task`` in ``csv_dir`` (the one file ending in ``<mix>.csv``)."""
    if task not in TASK_SUFFIX:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(TASK_SUFFIX)}.")
    if not os.path.isdir(csv_dir):
        raise FileNotFoundError(f"No metadata directory {csv_dir!r}: run stage 1 first.")
    found = [f for f in sorted(os.listdir(csv_dir)) if f.endswith(f"{TASK_SUFFIX[task]}.csv")]
    if len(found) != 1:
        raise FileNotFoundError(
            f"Expected one *{TASK_SUFFIX[task]}.csv in {csv_dir!r} for task {task}, "
            f"found {found or 'none'}."
        )
    return os.path.join(csv_dir, found[0])


def check_audio(path: str, sample_rate: int, csv_path: str = "") -> int:
    """Number of frames of the mono file ``path``; raise :class:`BadAudioFileError` if it is
    missing, unreadable, multi-channel or not at ``sample_rate``."""
    where = f" (listed in {csv_path})" if csv_path else ""
    if not os.path.isfile(path):
        raise BadAudioFileError(f"Missing audio file {path}{where}.")
    try:
        info = sf.info(path)
    except Exception as err:  # libsndfile raises RuntimeError / LibsndfileError
        raise BadAudioFileError(f"Unreadable audio file {path}{where}: {err}") from err
    if info.samplerate != sample_rate:
        raise BadAudioFileError(
            f"{path}{where} is at {info.samplerate} Hz, expected {sample_rate} Hz "
            "(use the metadata of the matching wav8k/wav16k folder, or --sample_rate)."
        )
    if info.channels != 1:
        raise BadAudioFileError(f"{path}{where} has {info.channels} channels, expected 1.")
    return info.frames


@functools.lru_cache(maxsize=None)
def _speed_filter(up: int, down: int, dtype: str) -> np.ndarray:
    """The anti-aliasing filter ``scipy.signal.resample_poly`` designs for ``up / down`` (in
    lowest terms) by default (Kaiser window, beta 5), designed once instead of at every call:
    a firwin design cost about as much as the resampling of a 2 s source."""
    rate = max(up, down)
    return firwin(2 * 10 * rate + 1, 1.0 / rate, window=("kaiser", 5.0)).astype(dtype)


def resample_ratio(audio: np.ndarray, up: int, down: int) -> np.ndarray:
    """``resample_poly(audio, up, down)`` (scipy's default filter, the same samples)."""
    if up == down:
        return audio.copy()  # as resample_poly: no filter for a ratio of 1
    g = math.gcd(up, down)
    return resample_poly(audio, up, down, window=_speed_filter(up // g, down // g, audio.dtype.str))


def read_audio(path: str, start: int = 0, stop: Optional[int] = None) -> np.ndarray:
    """float32 samples ``[start, stop)`` of ``path``; errors name the file."""
    try:
        data, _ = sf.read(path, start=start, stop=stop, dtype="float32")
    except Exception as err:
        raise BadAudioFileError(f"Cannot read audio file {path}: {err}") from err
    return data


class CsvMixDataset(Dataset):
    """Mixtures and sources of one split.

    Args:
        csv_dir (str): directory of the split's csv files.
        task (str): ``sep_clean`` or ``sep_noisy``.
        sample_rate (int): expected sample rate of every file.
        n_src (int): number of sources (``source_1_path`` ... columns).
        segment (float, optional): training segment in seconds; random crops of that length.
            ``None`` returns whole utterances (evaluation).
        validate (bool): check every file (existence, readability, sample rate) now.
        return_id (bool): also return the ``mixture_ID``.

    Items: ``mixture (time,)``, ``sources (n_src, time)`` float tensors [, ``mixture_ID``].
    An item is asked for by its index or by an :class:`ItemKey` ``(index, seed, epoch)``
    (the recipe's loaders, :class:`EpochSampler`): the random crop is then a function of the
    key (:func:`draw`), so a resumed training crops as the uninterrupted one did.
    """

    def __init__(
        self,
        csv_dir: str,
        task: str = "sep_clean",
        sample_rate: int = 8000,
        n_src: int = 2,
        segment: Optional[float] = None,
        validate: bool = True,
        return_id: bool = False,
    ):
        self.csv_path = find_csv(csv_dir, task)
        self.sample_rate, self.n_src, self.return_id = int(sample_rate), n_src, return_id
        self.validate = validate
        self.seg_len = None if segment is None else int(round(segment * sample_rate))
        df = pd.read_csv(self.csv_path)
        self.src_cols = [f"source_{i + 1}_path" for i in range(n_src)]
        missing = [c for c in ["mixture_ID", "mixture_path", *self.src_cols] if c not in df]
        if missing:
            raise ValueError(f"{self.csv_path} lacks columns {missing} (n_src={n_src}).")
        if len(df) == 0:
            raise ValueError(f"{self.csv_path} lists no mixtures.")
        if validate or "length" not in df:
            df["length"] = self._validate(df)
        self.skipped = 0
        if self.seg_len is not None:
            short = df["length"] < self.seg_len
            self.skipped = int(short.sum())
            if self.skipped:
                logger.warning(
                    "%s: skipped %d of %d mixtures shorter than the %.2f s segment " "(e.g. %s).",
                    self.csv_path,
                    self.skipped,
                    len(df),
                    segment,
                    df.loc[short, "mixture_path"].iloc[0],
                )
            if self.skipped == len(df):
                longest = int(df["length"].max())
                raise ValueError(
                    f"{self.csv_path}: every mixture is shorter than the {segment} s segment "
                    f"(the longest is {longest / self.sample_rate:.2f} s, {longest} samples: "
                    "a segment up to that length fits)."
                )
            df = df[~short]
        self.df = df.reset_index(drop=True)

    def _validate(self, df: pd.DataFrame) -> np.ndarray:
        """Check all files; return each mixture's length in samples."""
        lengths = np.zeros(len(df), dtype=np.int64)
        name = os.path.basename(self.csv_path)
        for i, row in enumerate(
            tqdm(
                df.itertuples(index=False),
                total=len(df),
                desc=f"checking {name}",
                leave=False,
                mininterval=2,
            )
        ):
            row = row._asdict()
            n_mix = check_audio(row["mixture_path"], self.sample_rate, self.csv_path)
            for col in self.src_cols:
                n_src = check_audio(row[col], self.sample_rate, self.csv_path)
                if n_src != n_mix:
                    raise BadAudioFileError(
                        f"{row[col]} has {n_src} samples but its mixture "
                        f"{row['mixture_path']} has {n_mix} (listed in {self.csv_path})."
                    )
            lengths[i] = n_mix
        return lengths

    def __len__(self) -> int:
        return len(self.df)

    def __getitem__(self, key):
        idx = key_index(key)
        row = self.df.iloc[idx]
        start, stop = 0, None
        if self.seg_len is not None:
            # Random crop: the same window for the mixture and its sources, drawn as every
            # item's draws are (draw: for an ItemKey a function of (seed, epoch, index)).
            high = int(row["length"]) - self.seg_len + 1
            start = int(draw(key)[1].integers(0, high))
            stop = start + self.seg_len
        mixture = read_audio(row["mixture_path"], start, stop)
        sources = np.stack([read_audio(row[c], start, stop) for c in self.src_cols])
        out = (torch.from_numpy(mixture), torch.from_numpy(sources))
        return (*out, row["mixture_ID"]) if self.return_id else out

    def get_infos(self) -> dict:
        return dict(
            dataset="CsvMixDataset",
            csv=self.csv_path,
            n_mixtures=len(self),
            skipped_short=self.skipped,
        )


def item_rng(idx: int) -> np.random.Generator:
    """A fresh generator for one randomly drawn item asked for by a plain index (outside the
    recipe's loaders, e.g. ``dataset[3]``): from ``np.random``'s global state and the item's
    index, so every call draws afresh. The recipe's loaders ask for :class:`ItemKey` s
    instead (:func:`draw`): generators that depend on the seed, the epoch and the index
    only."""
    return np.random.default_rng([np.random.randint(2**31), idx])


class ItemKey(tuple):
    """``(index, seed, epoch)``: what :class:`EpochSampler` yields and the datasets' items
    accept in place of an index. An item drawn for a key is a function of the key alone
    (:func:`draw`), whatever the process, worker or session that draws it."""

    __slots__ = ()

    def __new__(cls, index: int, seed: int, epoch: int):
        return super().__new__(cls, (int(index), int(seed), int(epoch)))

    def __getnewargs__(self):  # pickled to the loader's worker processes
        return tuple(self)


def draw(key) -> tuple:
    """``(index, generator)`` for an item asked for by ``key``: an :class:`ItemKey` gives
    ``np.random.default_rng([seed, epoch, index])``, the same numbers in every session (a
    resumed training draws what the uninterrupted one drew in that epoch) and in every
    process (under DDP the ranks get other indices, so other items); a plain index gives
    :func:`item_rng`'s."""
    if isinstance(key, ItemKey):
        index, seed, epoch = key
        return index, np.random.default_rng([seed, epoch, index])
    return int(key), item_rng(int(key))


def key_index(key) -> int:
    """The dataset index of an :class:`ItemKey` or a plain index."""
    return key[0] if isinstance(key, ItemKey) else int(key)


class EpochSampler(DistributedSampler):
    """The indices ``0 .. n - 1`` of a dataset as :class:`ItemKey` s ``(index, seed,
    epoch)``: in a random order drawn from ``(seed, epoch)`` alone (``shuffle``), or in
    order. Epoch ``k`` thus gets the same order and the same items in every session, where
    ``torch.utils.data.RandomSampler`` drew from torch's global generator, which
    ``seed_everything`` resets at every session start (a training resumed every ``N`` epochs
    replayed the same ``N`` epochs of data).

    The epoch: :meth:`set_epoch`, which Lightning calls at every epoch start (on the
    validation loader with the training epoch), and which
    :class:`~.system.SeparationSystem` calls when it hands the loader over (Lightning starts
    the first epoch's iterator, whose workers prefetch, before its ``set_epoch``).

    Under DDP (a ``torch.distributed`` process group) each of the ``R`` processes takes the
    keys at positions ``rank, rank + R, ...`` of the order, padded as
    ``DistributedSampler``'s (it is one, so Lightning does not wrap it in one): the ranks
    share one order and draw different items."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        # DistributedSampler's __init__ asks for a process group: the replicas are looked up
        # at each iteration instead (the group exists once Lightning set up the strategy).
        self.n, self.seed, self.shuffle = int(n), int(seed) % 2**32, shuffle
        self.epoch = 0

    @staticmethod
    def _replicas() -> tuple:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    # DistributedSampler's attributes, for code that reads them.
    drop_last = False
    rank = property(lambda self: self._replicas()[0])
    num_replicas = property(lambda self: self._replicas()[1])
    num_samples = property(lambda self: len(self))
    total_size = property(lambda self: len(self) * self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        _, replicas = self._replicas()
        return -(-self.n // replicas)

    def __iter__(self):
        order = list(range(self.n))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist()
        rank, replicas = self._replicas()
        if replicas > 1:
            total = len(self) * replicas
            order = (order * -(-total // self.n))[:total][rank::replicas]
        return iter([ItemKey(i, self.seed, self.epoch) for i in order])


def find_sources_csv(csv_dir: str) -> Optional[str]:
    """Path of the split's whole-sources list ``sources_<split>.csv`` in ``csv_dir`` (written
    by stage 1 for corpora whose builder keeps whole utterances, e.g. the mini set's train
    split), or ``None``."""
    found = sorted(
        f for f in os.listdir(csv_dir) if f.startswith("sources_") and f.endswith(".csv")
    )
    if len(found) > 1:
        raise FileNotFoundError(
            f"Expected at most one sources_*.csv in {csv_dir!r}, found {found}."
        )
    return os.path.join(csv_dir, found[0]) if found else None


def _voiced(draw, tries: int = 5) -> np.ndarray:
    """The first of up to ``tries`` calls of ``draw()`` that is not silent (RMS above 1e-4),
    or the last one."""
    for _ in range(tries):
        audio = draw()
        if np.sqrt(np.mean(audio**2)) > 1e-4:
            break
    return audio


class DynamicMixDataset(CsvMixDataset):
    """Training mixtures drawn afresh at every item from the sources of a split.

    Dynamic mixing (as in the SepFormer / SpeechBrain recipes): each item takes ``n_src``
    sources, a random ``segment`` of each, sets each to unit RMS times a random gain of
    ``±gain_db / 2`` dB, and sums them; the mixture is then scaled to a random peak in
    ``peak_range``. So every epoch shows new pairs, offsets and level ratios, which is what
    makes a small corpus generalise. With ``speed_range`` ``s`` each source is also played at
    a random speed in ``[1 - s, 1 + s]`` (a crop of ``segment * speed`` samples resampled to
    ``segment``: tempo, pitch and formants scale together, so a few recorded voices become
    many; SpeechBrain's speed perturbation does the same). Only ``sep_clean``.

    Where the sources come from (``sources``):

    * ``"list"``: the split's whole utterances, ``sources_<split>.csv`` (columns ``source_ID,
      speaker, path, length, join``): ``n_src`` *different speakers*, each drawn uniformly,
      then one of their utterances; an utterance shorter than the segment is placed at a
      random offset in silence, and ``join`` clips (single words) are strung, each at unit
      RMS, with 30-250 ms pauses into fresh continuous talk of that speaker.
    * ``"rows"``: the source files of the csv's rows (two different rows; LibriMix's min-mode
      cuts, so each source is cut to its partner's length and rows under the segment are
      never drawn).
    * ``"auto"`` (default): ``list`` when the split has one, else ``rows``.

    With a sources list, ``pair_share`` ``p`` draws that share of the pairs by pitch: the
    first speaker and its speed at random, the second among the speakers and speeds that put
    its median F0 (:func:`~.pitch.median_f0`, once per speaker) ``pair_semitones`` ``(lo,
    hi)`` semitones from the first's (a first speaker without such a partner: a random pair).

    With a sources list, ``pair_groups`` (speaker-ID prefixes, e.g. ``["espeak_"]``) draws
    both speakers of every pair from one group: one group per prefix, one of the speakers
    matching none, the group drawn uniformly. The mini set pairs synthetic voices with
    synthetic ones and recorded with recorded: a pair of one of each can be told apart by
    how synthetic speech sounds, a cue read speech does not have (README, the mini dataset).

    Either way the mixture files are never read and the epoch length stays the number of
    (long enough) csv rows. Same arguments as :class:`CsvMixDataset` (``segment`` required)
    plus ``gain_db``, ``peak_range``, ``speed_range``, ``sources``, ``pair_share``,
    ``pair_semitones`` and ``pair_groups``. Items: ``mixture
    (time,)``, ``sources (n_src, time)``; the sources sum to the mixture exactly.
    """

    # Speeds are multiples of 1 / SPEED_STEPS (exact rational resampling ratios).
    SPEED_STEPS = 40
    SOURCES = ("auto", "list", "rows")
    # Pauses between the words of joined talk, in seconds (KDE's word recordings).
    JOIN_GAP = (0.03, 0.25)

    def __init__(
        self,
        csv_dir: str,
        task: str = "sep_clean",
        *args,
        gain_db: float = 10.0,
        peak_range=(0.3, 0.9),
        speed_range: float = 0.0,
        sources: str = "auto",
        pair_share: float = 0.0,
        pair_semitones=(0.0, 2.0),
        pair_groups=(),
        **kwargs,
    ):
        if task != "sep_clean":
            raise ValueError(f"Dynamic mixing makes clean mixtures only, not task {task!r}.")
        if sources not in self.SOURCES:
            raise ValueError(f"sources must be one of {self.SOURCES}, got {sources!r}.")
        super().__init__(csv_dir, task, *args, **kwargs)
        if self.seg_len is None:
            raise ValueError("Dynamic mixing needs a training segment (data.segment).")
        self.gain_db, self.peak_range = float(gain_db), tuple(peak_range)
        if not 0.0 <= speed_range < 0.5:
            raise ValueError(f"speed_range must be in [0, 0.5), got {speed_range}.")
        self.speed_range = float(speed_range)
        self.sources_csv = None if sources == "rows" else find_sources_csv(csv_dir)
        if sources == "list" and self.sources_csv is None:
            raise FileNotFoundError(
                f"No sources_<split>.csv in {csv_dir!r} (sources='list'): the corpus builder "
                "wrote no whole sources for this split; use sources='rows' or 'auto'."
            )
        self.speakers, self.speaker_names, self._words = None, None, {}
        if self.sources_csv is not None:
            self.speaker_names, self.speakers = self._read_sources(self.sources_csv)
        elif len(self.df) < self.n_src:
            raise ValueError(f"{self.csv_path}: dynamic mixing needs {self.n_src} rows or more.")
        if not 0.0 <= pair_share <= 1.0:
            raise ValueError(f"pair_share must be in [0, 1], got {pair_share}.")
        low, high = (float(v) for v in pair_semitones)
        if not 0.0 <= low <= high:
            raise ValueError(
                f"pair_semitones must be (min, max), 0 <= min <= max: {pair_semitones}"
            )
        if pair_share and (self.speakers is None or self.n_src != 2):
            raise ValueError(
                "pair_share pairs the speakers of a sources list (sources='list' or 'auto' "
                f"with a sources_<split>.csv) by pitch, for n_src=2; {self.csv_path} has "
                + ("n_src=%d." % self.n_src if self.speakers is not None else "no such list.")
            )
        self.pair_share, self.pair_semitones = float(pair_share), (low, high)
        self.speaker_f0 = self._speaker_pitches() if pair_share else None
        if isinstance(pair_groups, str):
            raise ValueError(
                f"pair_groups must be a list of speaker-ID prefixes, got {pair_groups!r}."
            )
        self.pair_groups = tuple(str(prefix) for prefix in pair_groups or ())
        self.speaker_groups = self._group_speakers() if self.pair_groups else None

    def _group_speakers(self) -> Optional[list]:
        """Speaker indices of each ``pair_groups`` group: one per prefix (the speakers whose
        ID starts with it and with no earlier prefix), then one of the speakers matching none.
        Empty groups are left out with a warning (e.g. the mini conf's ``espeak_`` on a build
        without eSpeak NG voices), as is the whole option without a sources list (csv rows:
        no speakers to group)."""
        if self.pair_share:
            raise ValueError(
                "pair_share (pitch pairs) and pair_groups exclude each other: set one of them "
                "off (pair_share 0 or pair_groups [], e.g. --pair_groups '[]')."
            )
        if self.speakers is None:
            logger.warning(
                "%s: pair_groups %s ignored: no sources list (sources='rows' or no "
                "sources_<split>.csv), so pairs are two csv rows.",
                self.csv_path,
                list(self.pair_groups),
            )
            return None
        groups, taken = [], set()
        for prefix in self.pair_groups + (None,):
            members = [
                i
                for i, name in enumerate(self.speaker_names)
                if i not in taken and (prefix is None or name.startswith(prefix))
            ]
            what = f"prefix {prefix!r}" if prefix else f"no prefix of {list(self.pair_groups)}"
            if not members:
                if prefix is not None:
                    logger.warning("pair_groups: no speaker of %s has %s.", self.sources_csv, what)
                continue
            if len(members) < self.n_src:
                raise ValueError(
                    f"pair_groups: {len(members)} speaker(s) of {self.sources_csv} match "
                    f"{what}; a group needs n_src={self.n_src} or more."
                )
            taken.update(members)
            groups.append((prefix, np.array(members)))
        return groups

    def _pick_speakers(self, rng: np.random.Generator) -> np.ndarray:
        """``n_src`` different speakers (indices): uniformly, or with ``pair_groups`` from one
        group, the group drawn uniformly."""
        if self.speaker_groups is None:
            return rng.choice(len(self.speakers), size=self.n_src, replace=False)
        _, group = self.speaker_groups[int(rng.integers(len(self.speaker_groups)))]
        return rng.choice(group, size=self.n_src, replace=False)

    def _read_sources(self, path: str) -> tuple:
        """``(names, speakers)`` of a sources csv: the speaker IDs (sorted) and per speaker
        ``(clips, words)``: every ``(path, length, join)`` and the paths of its ``join``
        clips."""
        df = pd.read_csv(path)
        missing = [c for c in ("source_ID", "speaker", "path", "length", "join") if c not in df]
        if missing:
            raise ValueError(f"{path} lacks columns {missing}.")
        if self.validate:
            for row in tqdm(
                df.itertuples(index=False),
                total=len(df),
                desc="checking sources",
                leave=False,
                mininterval=2,
            ):
                if check_audio(row.path, self.sample_rate, path) != row.length:
                    raise BadAudioFileError(f"{row.path}: length differs from {path}.")
        groups = list(df.groupby("speaker", sort=True))
        speakers = [
            (
                list(zip(g["path"], g["length"].astype(int), g["join"].astype(bool))),
                list(g.loc[g["join"].astype(bool), "path"]),
            )
            for _, g in groups
        ]
        if len(speakers) < self.n_src:
            raise ValueError(
                f"{path}: dynamic mixing needs {self.n_src} speakers, found {len(speakers)}."
            )
        return [str(name) for name, _ in groups], speakers

    def _speaker_pitches(self, clips_per_speaker: int = 6) -> np.ndarray:
        """Median F0 (Hz) of each speaker of the sources list, from up to
        ``clips_per_speaker`` of its clips (``nan`` where none is voiced)."""
        rng = np.random.default_rng(0)
        f0 = []
        for clips, _ in self.speakers:
            picks = rng.choice(len(clips), min(clips_per_speaker, len(clips)), replace=False)
            audio = np.concatenate([read_audio(clips[int(i)][0]) for i in picks])
            f0.append(median_f0(audio, self.sample_rate))
        return np.array(f0)

    def _pitch_pair(self, rng: np.random.Generator) -> Optional[list]:
        """Two ``(speaker, speed steps)`` whose pitches after the speed change lie
        ``pair_semitones`` apart (``(min, max)``), or ``None`` if the first speaker drawn has
        no such partner at any speed."""
        first = int(rng.integers(len(self.speakers)))
        steps = self._speed_steps(None, rng)
        pitch = self.speaker_f0[first] * steps / self.SPEED_STEPS
        if not np.isfinite(pitch):
            return None
        lo, hi = self._speed_bounds()
        speeds = np.arange(lo, hi + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            apart = np.abs(
                12 * np.log2(np.outer(self.speaker_f0, speeds / self.SPEED_STEPS) / pitch)
            )
        low, high = self.pair_semitones
        ok = (apart >= low) & (apart <= high)  # nan (unvoiced speakers) compares False
        ok[first] = False
        cells = np.flatnonzero(ok)
        if not len(cells):
            return None
        second, k = np.unravel_index(int(rng.choice(cells)), ok.shape)
        return [(first, steps), (int(second), int(speeds[k]))]

    def _speed_bounds(self) -> tuple:
        """Lowest and highest speed, in steps."""
        lo = int(np.ceil((1 - self.speed_range) * self.SPEED_STEPS))
        hi = int(np.floor((1 + self.speed_range) * self.SPEED_STEPS))
        return lo, hi

    def _speed_steps(self, length: Optional[int], rng: np.random.Generator) -> int:
        """A random speed (in 1 / SPEED_STEPS) within ``speed_range``; for a source of
        ``length`` samples, only speeds for which it still holds a whole resampled segment."""
        if not self.speed_range:
            return self.SPEED_STEPS
        lo, hi = self._speed_bounds()
        if length is not None:
            hi = min(hi, length * self.SPEED_STEPS // self.seg_len)  # >= SPEED_STEPS (rows >= seg)
        return int(rng.integers(lo, max(hi, lo) + 1))

    def _needed(self, steps: int) -> int:
        """Samples that played ``steps / SPEED_STEPS`` times faster fill a segment."""
        return -(-self.seg_len * steps // self.SPEED_STEPS)  # ceil

    def _at_speed(self, audio: np.ndarray, steps: int) -> np.ndarray:
        if steps == self.SPEED_STEPS:
            return audio
        audio = resample_ratio(audio, self.SPEED_STEPS, steps)[: self.seg_len]
        return np.pad(audio, (0, self.seg_len - len(audio))).astype(np.float32)

    def _crop(self, row: int, col: str, rng: np.random.Generator) -> np.ndarray:
        """A random non-silent ``segment`` of one csv row's source (a few tries, then the
        last), at a random speed when ``speed_range`` is set."""
        length, path = int(self.df.at[row, "length"]), self.df.at[row, col]
        steps = self._speed_steps(length, rng)
        need = min(length, self._needed(steps))

        def draw():
            start = int(rng.integers(0, length - need + 1))
            return read_audio(path, start, start + need)

        return self._at_speed(_voiced(draw), steps)

    def _speaker_segment(
        self, speaker: tuple, rng: np.random.Generator, steps: Optional[int] = None
    ) -> np.ndarray:
        """A random non-silent ``segment`` of one speaker ``(clips, words)`` of the sources
        list (a few tries, then the last), at ``steps`` or a random speed when
        ``speed_range`` is set."""
        clips, words = speaker
        steps = self._speed_steps(None, rng) if steps is None else steps
        need = self._needed(steps)

        def draw():
            path, length, join = clips[rng.integers(len(clips))]
            if join:
                return self._talk(words, need, rng)
            if length >= need:
                start = int(rng.integers(0, length - need + 1))
                return read_audio(path, start, start + need)
            audio = np.zeros(need, np.float32)
            start = int(rng.integers(0, need - length + 1))
            audio[start : start + length] = read_audio(path)
            return audio

        return self._at_speed(_voiced(draw), steps)

    def _word(self, path: str) -> np.ndarray:
        """A ``join`` clip, read once: a joined segment strings some ten single words, each
        file opened at every draw before (the clips are short: the mini set's 2,178 KDE words
        are 45 minutes, 86 MB as float32)."""
        audio = self._words.get(path)
        if audio is None:
            audio = self._words[path] = read_audio(path)
        return audio

    def _talk(self, words: list, need: int, rng: np.random.Generator) -> np.ndarray:
        """``need`` samples of one speaker's words (paths), each at unit RMS, joined by
        pauses."""
        parts, total = [], 0
        while total < need + self.sample_rate:  # a second to spare: a random start
            audio = self._word(words[rng.integers(len(words))])
            gap = np.zeros(int(rng.uniform(*self.JOIN_GAP) * self.sample_rate), np.float32)
            parts += [audio / (np.sqrt(np.mean(audio**2)) + 1e-6), gap]
            total += len(audio) + len(gap)
        talk = np.concatenate(parts).astype(np.float32)
        start = int(rng.integers(0, len(talk) - need + 1))
        return talk[start : start + need]

    def __getitem__(self, key):
        idx, rng = draw(key)
        pair = None
        if self.pair_share and rng.uniform() < self.pair_share:
            pair = self._pitch_pair(rng)
        if pair is not None:
            raw = [self._speaker_segment(self.speakers[k], rng, steps) for k, steps in pair]
        elif self.speakers is not None:
            picks = self._pick_speakers(rng)
            raw = [self._speaker_segment(self.speakers[int(k)], rng) for k in picks]
        else:
            rows = rng.choice(len(self.df), size=self.n_src, replace=False)
            raw = [self._crop(int(r), self.src_cols[rng.integers(self.n_src)], rng) for r in rows]
        sources = []
        for audio in raw:
            rms = max(float(np.sqrt(np.mean(audio**2))), 1e-4)
            gain = 10 ** (rng.uniform(-self.gain_db, self.gain_db) / 40)  # ±gain_db/2 in dB
            sources.append(audio * (gain / rms))
        sources = np.stack(sources).astype(np.float32)
        peak = np.abs(sources.sum(0)).max() + 1e-9
        sources *= np.float32(rng.uniform(*self.peak_range) / peak)
        mixture = sources.sum(0)
        out = (torch.from_numpy(mixture), torch.from_numpy(sources))
        return (*out, f"dm{idx}") if self.return_id else out

    def get_infos(self) -> dict:
        return {
            **super().get_infos(),
            "dataset": "DynamicMixDataset",
            "gain_db": self.gain_db,
            "speed_range": self.speed_range,
            "pair_share": self.pair_share,
            "pair_semitones": list(self.pair_semitones),
            "pair_groups": (
                {prefix or "other": len(g) for prefix, g in self.speaker_groups}
                if self.speaker_groups is not None
                else None
            ),
            "sources": (
                dict(
                    csv=self.sources_csv,
                    speakers=len(self.speakers),
                    utterances=sum(len(clips) for clips, _ in self.speakers),
                )
                if self.speakers is not None
                else "csv rows"
            ),
        }
