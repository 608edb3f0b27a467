"""Separating many files: input discovery, output names, overwrite protection, summary.

A folder is searched recursively for audio files and its layout is mirrored under the output
folder: ``in/a/b.flac`` -> ``out/a/b_s1.wav``, ``out/a/b_s2.wav``, ...
"""

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .audio import AUDIO_EXTENSIONS, AudioError


@dataclass
class Job:
    """One input file and the files it will produce."""

    input: Path
    outputs: List[Path]
    error: Optional[str] = None  # set when the job cannot run (e.g. outputs exist)


@dataclass
class Summary:
    """Totals over a run."""

    done: int = 0
    failed: List[Tuple[str, str]] = field(default_factory=list)  # (input, one-line error)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """Processing time divided by audio duration (< 1: faster than real time)."""
        return self.wall_seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def line(self) -> str:
        text = (
            f"Separated {self.done} file(s), {self.audio_seconds / 3600:.3f} h of audio in "
            f"{self.wall_seconds:.1f} s (real-time factor {self.real_time_factor:.3f})"
        )
        if self.failed:
            text += f"; {len(self.failed)} file(s) FAILED"
        return text + "."


def output_paths(stem: Path, out_dir: Path, n_src: int, ext: str = ".wav") -> List[Path]:
    """``out_dir / stem_s1.wav`` ... ``stem_s{n_src}.wav`` (``stem`` may hold sub-folders)."""
    return [out_dir / stem.parent / f"{stem.name}_s{i}{ext}" for i in range(1, n_src + 1)]


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def discover(inputs: Sequence[str], out_dir: Path) -> Iterable[Tuple[Path, Path]]:
    """Yield ``(input file, output stem relative to out_dir)`` for files and folders.

    A file given explicitly is used whatever its extension (a non-audio file then fails with
    a clear error); in folders, only files with an audio extension are taken (hidden files
    and anything under ``out_dir`` are skipped, so outputs are never re-separated).
    """
    for item in map(Path, inputs):
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                rel = path.relative_to(item)
                if (
                    path.is_file()
                    and path.suffix.lower() in AUDIO_EXTENSIONS
                    and not any(part.startswith(".") for part in rel.parts)
                    and not _is_within(path, out_dir)
                ):
                    yield path, rel.with_suffix("")
        else:
            yield item, Path(item.stem)


def plan(inputs: Sequence[str], out_dir, n_src: int, force: bool = False) -> List[Job]:
    """Jobs for ``inputs``; a job whose outputs exist (without ``force``) or collide with
    another job's gets an ``error`` and will not run."""
    out_dir = Path(out_dir)
    jobs: List[Job] = []
    claimed: Dict[Path, Path] = {}
    for path, stem in discover(inputs, out_dir):
        job = Job(path, output_paths(stem, out_dir, n_src))
        keys = [p.resolve() for p in job.outputs]
        other = next((claimed[k] for k in keys if k in claimed), None)
        existing = [p for p in job.outputs if p.exists()]
        if other is not None:
            job.error = f"{path}: its outputs would overwrite those of {other}; rename one"
        elif existing and not force:
            job.error = f"{path}: output {existing[0]} exists (pass --force to overwrite)"
        else:
            claimed.update({k: path for k in keys})
        jobs.append(job)
    return jobs


def run_jobs(
    jobs: Sequence[Job],
    separate: Callable[[Job, Callable[[float, float], None]], float],
    progress: bool = True,
) -> Summary:
    """Run ``separate(job, advance)`` for each job; it returns the audio seconds processed
    and calls ``advance(seconds_done, seconds_total)`` as it goes.

    A failing job is reported on one line (stderr) and the others continue. Progress bars
    (tqdm, on stderr): one over the files, one over the current file's audio seconds.
    """
    from tqdm.auto import tqdm

    def report(message: str) -> None:
        tqdm.write(f"error: {message}", file=sys.stderr)

    summary = Summary()
    start = time.perf_counter()
    files_bar = tqdm(total=len(jobs), unit="file", disable=not progress, position=0)
    for job in jobs:
        if job.error:
            summary.failed.append((str(job.input), job.error))
            report(job.error)
            files_bar.update(1)
            continue
        file_bar = tqdm(
            desc=job.input.name, unit="s", disable=not progress, position=1, leave=False
        )

        def advance(seconds: float, total: float, bar=file_bar) -> None:
            if bar.total is None:
                bar.total = round(total, 1)
            bar.update(seconds)

        try:
            summary.audio_seconds += separate(job, advance)
            summary.done += 1
        except Exception as err:  # one bad file must not stop a folder
            message = _one_line(err)
            if str(job.input) not in message:
                message = f"{job.input}: {message}"
            summary.failed.append((str(job.input), message))
            report(message)
        finally:
            file_bar.close()
        files_bar.update(1)
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
