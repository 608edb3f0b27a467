"""Separating many files: input discovery, output names, overwrite protection, summary.

A folder is searched recursively for audio files and its layout is mirrored under the output
folder: ``in/a/b.flac`` -> ``out/a/b_s1.wav``, ``out/a/b_s2.wav``, ... (a stem model's:
``out/a/b_vocals.wav``, ``out/a/b_accompaniment.wav``; see :mod:`.layout`). The output folder
may be an input folder, inside one or a parent of one: only this run's own outputs are skipped.
"""

import errno
import os
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .audio import AUDIO_EXTENSIONS, AudioError
from .interrupt import Interrupted
from .layout import speaker_names
from .outputs import folder_error, name_error, name_max

OUTPUT_EXT = ".wav"
OutputNames = Union[int, Sequence[str]]


def _names(names: OutputNames) -> List[str]:
    """Output suffixes: ``n_src`` -> ``s1 .. s<n_src>``; a sequence of names as it is."""
    return list(speaker_names(names) if isinstance(names, int) else names)


def output_name_pattern(names: OutputNames) -> "re.Pattern":
    """``<stem>_<name>.wav`` for an output name (speakers: any ``s<k>``): the name of an
    output of the input ``<stem>.*``."""
    if isinstance(names, int):
        suffix = r"s[1-9][0-9]*"
    else:
        suffix = "|".join(re.escape(n) for n in names)
    return re.compile(rf"^(?P<stem>.+)_(?:{suffix}){re.escape(OUTPUT_EXT)}$")


@dataclass
class Job:
    """One input file and the files it will produce."""

    input: Path
    outputs: List[Path]
    error: Optional[str] = None  # set when the job cannot run (e.g. outputs exist)


def format_duration(seconds: float) -> str:
    """``12.3 s``, ``4 min 05 s``, ``2 h 07 min``: the units a person reads a duration in."""
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class Summary:
    """Totals over a run."""

    done: int = 0
    failed: List[Tuple[str, str]] = field(default_factory=list)  # (input, one-line error)
    audio_seconds: float = 0.0  # of the files done
    separation_seconds: float = 0.0  # time spent on the files done
    wall_seconds: float = 0.0  # the whole run
    interrupted: Optional[Interrupted] = None  # the signal that stopped the run
    not_run: int = 0  # files not started (or cut short) because of the interruption

    @property
    def real_time_factor(self) -> Optional[float]:
        """Processing time of the files done divided by their duration (< 1: faster than
        real time); ``None`` when no file was done."""
        return self.separation_seconds / self.audio_seconds if self.audio_seconds else None

    def line(self) -> str:
        rtf = self.real_time_factor
        text = (
            f"Separated {self.done} file(s), {format_duration(self.audio_seconds)} of audio in "
            f"{format_duration(self.wall_seconds)} (real-time factor "
            f"{'n/a' if rtf is None else f'{rtf:.3f}'})"
        )
        if self.failed:
            text += f"; {len(self.failed)} file(s) FAILED"
        if self.interrupted is not None:
            text += (
                f"; INTERRUPTED by {self.interrupted}: {self.not_run} file(s) not separated, "
                "their partial outputs removed"
            )
        return text + "."


def output_paths(
    stem: Path, out_dir: Path, names: OutputNames, ext: str = OUTPUT_EXT
) -> List[Path]:
    """``out_dir / stem_<name>.wav`` per output name (``n_src``: ``stem_s1.wav`` ...
    ``stem_s{n_src}.wav``); ``stem`` may hold sub-folders."""
    return [out_dir / stem.parent / f"{stem.name}_{name}{ext}" for name in _names(names)]


# Systems whose usual file systems (APFS/HFS+, NTFS/FAT) take names that differ only in
# letter case (or, on macOS, in Unicode normalisation) for one file.
CASE_INSENSITIVE_PLATFORMS = ("darwin", "win32", "cygwin")


def path_key(path) -> str:
    """What identifies the file at ``path``: its resolved path, case-folded and NFC-normalised
    on :data:`CASE_INSENSITIVE_PLATFORMS` (where ``Talk_s1.wav`` and ``talk_s1.wav`` are one
    file, and ``Path.resolve`` keeps the case it was given)."""
    key = str(Path(path).resolve())
    if sys.platform in CASE_INSENSITIVE_PLATFORMS:
        key = unicodedata.normalize("NFC", key).casefold()
    return key


def file_identity(path):
    """What tells an existing file from every other: its device and inode (one file named
    twice, in any case or through links, whatever the file system's case rules), else its
    :func:`path_key`."""
    try:
        st = os.stat(path)
    except OSError:
        return path_key(path)
    return (st.st_dev, st.st_ino)


def discover(
    inputs: Sequence[str],
    out_dir: Path,
    names: OutputNames = 2,
    note: Optional[Callable[[str], None]] = None,
) -> Iterable[Tuple[Path, Path]]:
    """Yield ``(input file, output stem relative to out_dir)`` for files and folders.

    A file given explicitly is used whatever its extension (a non-audio file then fails with
    a clear error); in folders, only files with an audio extension are taken, except hidden
    files and folders (temporaries among them). Links to folders are followed (each real
    folder is searched once, so a link to a parent is no loop).

    This run's own outputs are never inputs, whether found in a folder or named (e.g. by a
    shell glob ``g/*.wav -o g`` after an earlier run): see :meth:`RunOutputs.output_of`,
    ``<stem>_<name>.wav`` (of the output ``names``; an int: ``s<k>``) lying where the outputs
    of an input ``<stem>.*`` go. So ``out_dir`` may be an input folder, or inside or above
    one, without hiding inputs or separating outputs again. A named file left out so is
    reported through ``note``.
    """
    found: List[Tuple[Path, Path, bool]] = []  # (file, output stem, found in a folder)
    for item in map(Path, inputs):
        if item.is_dir():
            for path in _walk(item):
                if path.suffix.lower() in AUDIO_EXTENSIONS and path.is_file():
                    found.append((path, path.relative_to(item).with_suffix(""), True))
        else:
            found.append((item, Path(item.stem), False))
    outputs = RunOutputs(out_dir, names, [(path, stem) for path, stem, _ in found])
    for path, stem, in_folder in found:
        owner = outputs.output_of(path)
        if owner is None:
            yield path, stem
        elif not in_folder and note is not None:
            note(
                f"{path} skipped: this run writes it as an output of {owner} (outputs are "
                "never separated again)"
            )


class RunOutputs:
    """Where a run writes its outputs: the rule that keeps them from being taken as inputs.

    Args:
        out_dir: the output folder.
        names: output names (an int ``n_src``: ``s1 .. s<n_src>``, and any ``s<k>`` counts).
        inputs: ``(input file, output stem relative to out_dir)`` of every input of the run.
    """

    def __init__(self, out_dir: Path, names: OutputNames, inputs: Sequence[Tuple[Path, Path]]):
        self.pattern = output_name_pattern(names)
        self.stems: Dict[str, Path] = {}  # path_key(out_dir / stem) -> its input
        self.files: Dict[str, Path] = {}  # path_key(output path) -> its input
        for path, stem in inputs:
            base = (Path(out_dir) / stem).resolve()
            self.stems.setdefault(path_key(base), Path(path))
            for output in output_paths(Path(base.name), base.parent, names):
                self.files.setdefault(path_key(output), Path(path))

    def output_of(self, path: Path) -> Optional[Path]:
        """The input (another file) whose output ``path`` is in this run, or ``None``: a
        ``<stem>_<name>.wav`` lying where the outputs of an input ``<stem>.*`` go, or a path
        (links followed) that is one of the outputs."""
        path = Path(path)
        real = path_key(path)
        match = self.pattern.match(path.name)
        owner = self.stems.get(path_key(path.parent / match["stem"])) if match else None
        if owner is None:
            owner = self.files.get(real)
        return owner if owner is not None and path_key(owner) != real else None


def _walk(folder: Path) -> List[Path]:
    """The files under ``folder``, sorted, outside hidden folders and not hidden themselves.

    Links to folders are followed (``Path.rglob`` skips them silently before Python 3.13),
    after the real folders: every real folder is searched once, under its own path when it
    is inside ``folder``; a link to a parent (a loop) or to a folder already searched adds
    nothing.
    """
    files: List[Path] = []
    visited = set()  # real paths of the folders searched
    tops = [Path(folder)]  # the folder, then the links to folders found in it, in order
    while tops:
        top = tops.pop(0)
        if os.path.realpath(top) in visited:
            continue
        for root, dirs, names in os.walk(top):  # links to folders: searched as tops later
            visited.add(os.path.realpath(root))
            search = []
            for name in sorted(dirs):
                path = os.path.join(root, name)
                if name.startswith("."):
                    continue
                if os.path.islink(path):
                    tops.append(Path(path))
                elif os.path.realpath(path) not in visited:
                    search.append(name)
            dirs[:] = search
            files.extend(Path(root) / name for name in names if not name.startswith("."))
    return sorted(files)


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; what keeps it from being checked raises the
    :class:`~.outputs.OutputError` that writing it would raise (one line naming it)."""
    try:
        return path.exists()
    except OSError as err:
        if err.errno == errno.ENAMETOOLONG:
            folder = next((p for p in path.parents if p.is_dir()), Path("."))  # to be made
            raise name_error(path, name_max(str(folder))) from err
        raise folder_error(path.parent, err) from err


def plan(
    inputs: Sequence[str],
    out_dir,
    names: OutputNames,
    force: bool = False,
    note: Optional[Callable[[str], None]] = None,
) -> List[Job]:
    """Jobs for ``inputs`` with one output per name of ``names`` (an int ``n_src``:
    ``s1 .. s<n_src>``); a job whose outputs exist (without ``force``) or collide with
    another job's gets an ``error`` and will not run. A file reached twice (named twice, or
    named and inside a named folder, e.g. by overlapping shell globs) is one job. A named
    file that is an output of another input of the run is left out, with a ``note``
    (:func:`discover`)."""
    out_dir = Path(out_dir)
    jobs: List[Job] = []
    claimed: Dict[str, Path] = {}
    seen = set()
    for path, stem in discover(inputs, out_dir, names, note):
        source = file_identity(path)
        if source in seen:
            continue
        seen.add(source)
        job = Job(path, output_paths(stem, out_dir, names))
        keys = [path_key(p) for p in job.outputs]
        other = next((claimed[k] for k in keys if k in claimed), None)
        try:
            existing, unusable = [p for p in job.outputs if _exists(p)], None
        except OSError as err:  # a name too long, a folder that cannot be searched
            existing, unusable = [], err
        if unusable is not None:
            job.error = f"{path}: {unusable}"
        elif other is not None:
            job.error = f"{path}: its outputs would overwrite those of {other}; rename one"
        elif existing and not force:
            job.error = f"{path}: output {existing[0]} exists (pass --force to overwrite)"
        else:
            claimed.update({k: path for k in keys})
        jobs.append(job)
    return jobs


def _audio_bar_class():
    """tqdm whose rate is always shown as "<speed>x real time" (audio seconds per second).

    tqdm's own rate flips between ``s/s`` and its inverse around 1, so a file separated at
    half real time and one at twice real time both read "2.00s/s".
    """
    from tqdm.auto import tqdm

    class AudioBar(tqdm):
        @property
        def format_dict(self):
            values = super().format_dict
            rate = values["rate"]
            if rate is None and values["elapsed"]:
                rate = values["n"] / values["elapsed"]
            values["speed"] = f"{rate:.2f}x real time" if rate else "?x real time"
            total = values["total"]
            values["audio"] = f"{values['n']:.1f}/{'?' if total is None else f'{total:.1f}'} s"
            return values

    return AudioBar


FILES_BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} file(s) [{elapsed}<{remaining}]"
AUDIO_BAR = "{desc}: {percentage:3.0f}%|{bar}| {audio} [{elapsed}<{remaining}, {speed}]"


def run_jobs(
    jobs: Sequence[Job],
    separate: Callable[[Job, Callable[[float, float], None]], float],
    progress: bool = True,
) -> Summary:
    """Run ``separate(job, advance)`` for each job; it returns the audio seconds processed
    and calls ``advance(seconds_done, seconds_total)`` as it goes.

    A failing job is reported on one line (stderr) and the others continue. Progress bars
    (tqdm, on stderr): one over the files, one over the current file's audio seconds with
    the speed in "x real time". An :class:`~.interrupt.Interrupted` (SIGINT/SIGTERM under
    :func:`~.interrupt.signals_raise`) stops the run: the summary records it and the jobs
    left. A job interrupted once its outputs were published (``separate`` raises it with
    ``completed`` set to the audio seconds it would have returned) counts as done.
    """
    from tqdm.auto import tqdm

    def report(message: str) -> None:
        tqdm.write(f"error: {message}", file=sys.stderr)

    summary = Summary()
    start = time.perf_counter()
    files_bar = tqdm(total=len(jobs), disable=not progress, position=0, bar_format=FILES_BAR)
    audio_bar = _audio_bar_class()
    try:
        for index, job in enumerate(jobs):
            summary.not_run = len(jobs) - index  # this one and those after it, until done
            if job.error:
                summary.failed.append((str(job.input), job.error))
                report(job.error)
                files_bar.update(1)
                continue
            file_bar = audio_bar(
                desc=job.input.name,
                disable=not progress,
                position=1,
                leave=False,
                bar_format=AUDIO_BAR,
            )

            def advance(seconds: float, total: float, bar=file_bar) -> None:
                if bar.total is None:
                    bar.total = round(total, 1)
                bar.update(seconds)

            job_start = time.perf_counter()

            def done(seconds: float) -> None:
                summary.audio_seconds += seconds
                summary.separation_seconds += time.perf_counter() - job_start
                summary.done += 1

            try:
                done(separate(job, advance))
            except Interrupted as err:
                if err.completed is not None:  # the signal came as its outputs were published
                    done(err.completed)
                    summary.not_run -= 1
                    files_bar.update(1)
                raise
            except Exception as err:  # one bad file must not stop a folder
                message = _one_line(err)
                if str(job.input) not in message:
                    message = f"{job.input}: {message}"
                summary.failed.append((str(job.input), message))
                report(message)
            finally:
                file_bar.close()
            files_bar.update(1)
        summary.not_run = 0
    except Interrupted as err:
        summary.interrupted = err
    finally:
        files_bar.close()
        summary.wall_seconds = time.perf_counter() - start
    return summary


def _one_line(err: Exception) -> str:
    text = str(err).strip()
    first = text.splitlines()[0] if text else ""
    return (
        first
        if isinstance(err, (AudioError, ValueError, OSError))
        else (f"{type(err).__name__}: {first}" if first else type(err).__name__)
    )
