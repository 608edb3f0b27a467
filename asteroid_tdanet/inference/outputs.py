"""Writing output files safely: unique temporaries, atomic publication, stale leftovers.

Each output is streamed to a hidden temporary in its destination folder whose name is unique
and says which run wrote it: ``.<name>.<host>-<pid>-<random>.partial`` (a ``<name>`` over 100
bytes is cut, and a hash of it added). When every source is written the temporaries are
published under their final names at once; on any failure, or an interruption (see
:mod:`.interrupt`), they are removed. Publication never replaces a file that appeared
meanwhile (another run writing the same output) unless overwriting was asked for: it
hard-links the temporary to the final name, which fails if that name exists.
A temporary left by a run that was killed (SIGKILL, power loss) is recognised by the dead
process id in its name and removed by the next run writing to that folder (on POSIX systems;
on Windows, where a process cannot be probed without side effects, it is reported instead).
Overwriting keeps a second name for each existing output (:func:`back_up`) until every output
is published, so a failure midway puts the old files back; a backup a killed run left behind
is removed by the next run when it is only a second name of a file still in place, and
reported otherwise.
"""

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch

from ..utils.errors import first_line
from .audio import sf_path
from .interrupt import signals_deferred

_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"
TEMP_SUFFIX = ".partial"
# Longest final name (bytes) a temporary's name holds whole; longer ones are cut and hashed.
TEMP_NAME_BYTES = 100
# .<name>.<host>-<pid>-<random>.partial (<name>: temporary_stem(final name)); .replaced:
# the backup of an output being overwritten (BACKUP_SUFFIX).
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>\w+)-(?P<pid>\d+)-\w+\.partial$")
BACKUP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<host>\w+)-(?P<pid>\d+)-\w+\.replaced$")
# Fixed names written by release 0.2.0 and earlier (.<stem>.partial<ext>): their writer
# cannot be told, so they are only reported.
OLD_TEMP_NAME = re.compile(r"^\..+\.partial\.\w+$")
# Windows: names limited in UTF-16 units, and no side-effect-free probe of a process.
ON_WINDOWS = os.name == "nt"
# Suffix of the second name an existing output gets while it is overwritten (back_up); the
# stale-temporary cleaner removes a killed run's only where it is not the last name of the
# user's old output.
BACKUP_SUFFIX = ".replaced"


# Block codecs pad the last block, so their files are longer than the samples written: they
# are refused (and libsndfile cannot encode MPEG in WAV). OUTPUT_SUBTYPES, the CLI's choices:
# the WAV sample formats that hold exactly the samples written.
BLOCK_SUBTYPES = ("IMA_ADPCM", "MS_ADPCM", "GSM610", "G721_32", "G723_24", "G723_40", "VOX_ADPCM")
BLOCK_SUBTYPES += ("NMS_ADPCM_16", "NMS_ADPCM_24", "NMS_ADPCM_32")
EXACT_SUBTYPES = ("FLOAT", "DOUBLE", "PCM_16", "PCM_24", "PCM_32", "PCM_U8", "PCM_S8", "ULAW")
EXACT_SUBTYPES += ("ALAW",)
OUTPUT_SUBTYPES = tuple(s for s in EXACT_SUBTYPES if s in sf.available_subtypes("WAV"))

# A RIFF WAV file stores its sizes in 32 bits: past 4 GiB the header saturates and readers
# lose the end. Outputs whose samples would not fit under this bound (the 32-bit limit less
# room for the header chunks) are written as RF64 (libsndfile; EBU Tech 3306), the 64-bit
# WAV that libsndfile, ffmpeg and sox read, still under their .wav name.
RIFF_MAX_DATA_BYTES = 0xFFFFFFFF - (1 << 16)
BYTES_PER_SAMPLE = dict(PCM_S8=1, PCM_U8=1, ULAW=1, ALAW=1, PCM_16=2, PCM_24=3, PCM_32=4)
BYTES_PER_SAMPLE.update(FLOAT=4, DOUBLE=8)


class OutputError(OSError):
    """An output cannot be written; ``str()`` is the one-line message (no ``[Errno N]``)."""

    def __str__(self) -> str:
        return str(self.strerror)


class OutputExistsError(OutputError):
    """An output appeared while this run was writing it (another run), and is kept."""


def folder_error(folder, err: OSError) -> OutputError:
    """``err`` (e.g. a permission error) as one line naming the output folder and errno."""
    code = errno.errorcode.get(err.errno, "")
    return OutputError(
        err.errno,
        f"cannot write to the output folder {os.fspath(folder)}: {err.strerror} "
        f"(errno {err.errno}{' ' + code if code else ''})",
    )


def file_format(path, subtype: str, channels: int, frames: Optional[int] = None) -> str:
    """soundfile's major format for an output ``path`` (its extension; none: WAV), RF64 for
    a WAV file whose ``frames`` x ``channels`` samples exceed :data:`RIFF_MAX_DATA_BYTES`."""
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").upper() or "WAV"
    if fmt == "WAV" and frames is not None:
        size = frames * channels * BYTES_PER_SAMPLE.get(subtype.upper(), 8)
        if size > RIFF_MAX_DATA_BYTES:
            return "RF64"
    return fmt


# Free space (bytes) under which a failed write is put down to a full disk: libsndfile
# reports it as "System error." only.
LOW_SPACE_BYTES = 1 << 20
# What soundfile raises when writing or closing fails (libsndfile's errors; an assertion on
# the count of frames written; the OS's).
WRITE_ERRORS = (sf.SoundFileError, AssertionError, OSError)


def write_error(path, err: BaseException) -> OutputError:
    """A failed write or close of the output ``path`` as one line: a full disk (its folder
    with less than :data:`LOW_SPACE_BYTES` free, or ENOSPC) names the folder, anything else
    the file and the reason."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    code = getattr(err, "errno", None)
    try:
        full = code == errno.ENOSPC or shutil.disk_usage(folder).free < LOW_SPACE_BYTES
    except OSError:
        full = False
    if full:
        return OutputError(
            errno.ENOSPC,
            f"cannot write to the output folder {folder}: no space left on device "
            f"(errno {errno.ENOSPC} ENOSPC)",
        )
    if isinstance(err, OSError) and err.strerror:
        name = errno.errorcode.get(code, "")
        reason = f"{err.strerror} (errno {code}{' ' + name if name else ''})"
    else:
        reason = getattr(err, "error_string", None) or first_line(err)
    return OutputError(code or errno.EIO, f"cannot write {path}: {reason}")


def name_length(name: str) -> Tuple[int, str]:
    """Length of a file ``name`` in the units its file system limits: UTF-16 code units on
    Windows (NTFS, exFAT: 255 of them), bytes of the file system encoding elsewhere."""
    if ON_WINDOWS:
        return len(name.encode("utf-16-le", "surrogatepass")) // 2, "characters"
    return len(os.fsencode(name)), "bytes"


def name_error(path, limit: Optional[int] = None) -> OutputError:
    """A file name too long for the file system (ENAMETOOLONG), as one line naming ``path``."""
    size, unit = name_length(os.path.basename(os.fspath(path)))
    allowed = f"; this file system allows {limit}" if limit else ""
    return OutputError(
        errno.ENAMETOOLONG,
        f"cannot write {os.fspath(path)}: its file name is too long ({size} {unit}{allowed}; "
        f"errno {errno.ENAMETOOLONG} ENAMETOOLONG)",
    )


def name_max(folder: str) -> int:
    """Longest file name ``folder``'s file system takes, in :func:`name_length`'s units (255
    if it cannot tell)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # not POSIX, or not reported
        return 255


def temporary_stem(name: str) -> str:
    """The part of a temporary's name that shows its final ``name``: the name itself, or, past
    :data:`TEMP_NAME_BYTES` bytes, its first characters and 8 hex digits of its hash, so that
    the temporary's name (about 60 bytes longer) is not refused where the final name fits."""
    raw = os.fsencode(name)
    if len(raw) <= TEMP_NAME_BYTES:
        return name
    kept, size = [], 0
    for char in name:  # whole characters: a multibyte one is never cut
        size += len(os.fsencode(char))
        if size > TEMP_NAME_BYTES - 9:
            break
        kept.append(char)
    return f"{''.join(kept)}~{hashlib.sha1(raw).hexdigest()[:8]}"


def make_temporary(path: str) -> str:
    """Create a new empty temporary for ``path`` in its folder (created if needed).

    Made with ``O_EXCL`` and a random part, so concurrent runs never share one; mode 0666
    minus the umask, like any new file (``tempfile.mkstemp`` would give 0600).

    Raises:
        OutputError: the folder cannot be written (one line naming it and the errno), or
            ``path``'s file name is too long for its file system (naming ``path``), checked
            here so that a file is not separated for an output that cannot be published.
    """
    folder, name = os.path.split(path)
    folder = folder or "."
    try:
        os.makedirs(folder, exist_ok=True)
        limit = name_max(folder)
        if name_length(name)[0] > limit:
            raise name_error(path, limit=limit)
        stem = temporary_stem(name)
        while True:
            tmp = os.path.join(
                folder, f".{stem}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"
            )
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                return tmp
            except FileExistsError:
                continue
    except OutputError:
        raise
    except OSError as err:
        if err.errno == errno.ENAMETOOLONG:  # e.g. the whole path is over PATH_MAX
            raise name_error(path) from err
        raise folder_error(folder, err) from err


def publish(tmp: str, path: str, overwrite: bool) -> None:
    """Give ``tmp`` the name ``path``; without ``overwrite``, never replace an existing file."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if ``path`` exists
    except FileExistsError:
        raise
    except OSError as err:
        # No hard links here (FAT/exFAT, some network file systems; the errno varies by
        # system: EPERM, ENOTSUP, EXDEV, EINVAL from Windows' "Incorrect function"): check,
        # then rename (a short window). A cause that is not the link, e.g. a full disk or a
        # read-only folder, fails the rename too and is raised from there.
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path) from err
        os.rename(tmp, path)
    else:
        os.remove(tmp)


def back_up(path: str) -> Optional[str]:
    """Give an existing file ``path`` a second, hidden name beside it (returned), so that it
    can be restored if the publication fails; ``None`` if there is no such file. A folder is
    left alone (the publication onto it then fails).

    A hard link: ``path`` keeps the old file until the new one replaces it atomically, so a
    run killed meanwhile never leaves the name empty. Where hard links fail the file is
    renamed instead (the name is then missing until the new file is published).
    """
    if not os.path.lexists(path) or (os.path.isdir(path) and not os.path.islink(path)):
        return None
    folder, name = os.path.split(path)
    backup = os.path.join(
        folder or ".",
        f".{temporary_stem(name)}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{BACKUP_SUFFIX}",
    )
    try:
        os.link(path, backup, follow_symlinks=False)  # a link output: the link itself
    except (OSError, NotImplementedError):
        os.replace(path, backup)
    return backup


def restore(backup: str, path: str) -> None:
    """Undo :func:`back_up`: the old file under ``path`` again, the backup name gone."""
    try:
        same = os.path.samestat(os.lstat(backup), os.lstat(path))
    except FileNotFoundError:
        same = False
    if same:  # still in place (a second name): renaming one link onto the other is a no-op
        os.remove(backup)
    else:
        os.replace(backup, path)


class OutputFiles:
    """One streaming writer per output, to unique temporaries until :meth:`commit`.

    Use as a context manager: leaving the block without :meth:`commit` (an error, an
    interruption) removes the temporaries.

    Args:
        paths: final output paths (their extension gives the format).
        sample_rate (int): rate of the files.
        subtype (str): soundfile subtype; integer subtypes clip (counted in ``clipped``).
        overwrite (bool): replace existing files; otherwise a file that exists at
            :meth:`commit` is kept and :class:`OutputExistsError` raised.
        channels (int): audio channels of every file (1: speakers; 2: stereo stems).
        frames (int, optional): samples per channel each file will hold, when known: a WAV
            output too large for RIFF's 32-bit sizes (over 4 GiB) is then written as RF64
            (:func:`file_format`).
    """

    def __init__(
        self,
        paths: Sequence,
        sample_rate: int,
        subtype: str,
        overwrite: bool = True,
        channels: int = 1,
        frames: Optional[int] = None,
    ):
        wav = any(os.fspath(p).lower().endswith(".wav") for p in paths)
        if subtype.upper() in BLOCK_SUBTYPES or (wav and subtype.upper().startswith("MPEG")):
            raise ValueError(
                f"Output subtype {subtype!r} does not keep the number of samples or cannot be "
                f"written to WAV; for WAV choose one of {', '.join(OUTPUT_SUBTYPES)}."
            )
        self.paths = [os.fspath(p) for p in paths]
        self.channels, self.frames = channels, frames
        self.sample_rate, self.subtype, self.overwrite = sample_rate, subtype, overwrite
        self.clip = not subtype.upper().startswith(("FLOAT", "DOUBLE"))
        self.clipped = 0
        self.tmp_paths: List[str] = []
        self.files: List[sf.SoundFile] = []
        self.committed = False  # every output published under its final name

    def __enter__(self) -> "OutputFiles":
        # A signal that arrives while the temporaries are opened is raised when the deferred
        # block ends, which is still inside __enter__: __exit__ will not run, so discard here.
        try:
            with signals_deferred():  # never a temporary created but not yet listed
                for path in self.paths:
                    self.tmp_paths.append(make_temporary(path))
                    fmt = file_format(path, self.subtype, self.channels, self.frames)
                    self.files.append(
                        sf.SoundFile(
                            sf_path(self.tmp_paths[-1]),  # any file name (not only UTF-8)
                            "w",
                            self.sample_rate,
                            self.channels,
                            self.subtype,
                            format=fmt,
                        )
                    )
        except BaseException:
            with signals_deferred():
                self.discard()
            raise
        return self

    def __exit__(self, *exc) -> None:
        with signals_deferred():
            self.discard()

    def write(self, sources: torch.Tensor) -> None:
        """Append ``(n_files * channels, time)`` samples (the channels of each file
        consecutive)."""
        if len(sources) != len(self.files) * self.channels:
            raise RuntimeError(
                f"The model gave {len(sources)} channels of output for {len(self.files)} "
                f"files of {self.channels} channel(s)."
            )
        data = sources.cpu().numpy().reshape(len(self.files), self.channels, -1)
        if not np.isfinite(data).all():  # never written silently (the chunking checks first)
            raise RuntimeError("the model produced NaN/Inf samples")
        if self.clip:
            self.clipped += int(np.count_nonzero(np.abs(data) > 1.0))
            data = np.clip(data, -1.0, 1.0)
        for f, path, source in zip(self.files, self.paths, data):
            try:
                f.write(source.T)  # (time, channels)
            except WRITE_ERRORS as err:  # a full disk: libsndfile's "System error."
                raise write_error(path, err) from err

    def commit(self) -> None:
        """Publish every output under its final name, all or none.

        Raises:
            OutputExistsError: without ``overwrite``, a final name exists (another run
                created it meanwhile); it is kept, and none of this run's outputs is published.
            OutputError: a file cannot be completed (a full disk when its header is written)
                or published; none of this run's outputs is published.
            Interrupted: a signal arrived meanwhile; raised once the outputs are published
                (:attr:`committed` is then true) or taken back.
        """
        with signals_deferred():
            for f, path in zip(self.files, self.paths):
                try:
                    f.close()  # writes what libsndfile buffered and the header
                except WRITE_ERRORS as err:
                    raise write_error(path, err) from err
            self.files = []
            # (temporary, final name, what was there before: moved aside, or None)
            published: List[Tuple[str, str, Optional[str]]] = []
            for tmp, path in zip(self.tmp_paths, self.paths):
                backup = None
                try:
                    backup = back_up(path) if self.overwrite else None
                    publish(tmp, path, self.overwrite)
                except OSError as err:
                    # All or none: take ours back and put every replaced file back.
                    if backup is not None:
                        restore(backup, path)
                    for done_tmp, done_path, done_backup in reversed(published):
                        os.replace(done_path, done_tmp)
                        if done_backup is not None:
                            restore(done_backup, done_path)
                    if not isinstance(err, FileExistsError):
                        raise write_error(path, err) from err
                    raise OutputExistsError(
                        errno.EEXIST,
                        f"{path} was created by another run while this one was writing it; "
                        "kept it (pass --force to overwrite)",
                    ) from err
                published.append((tmp, path, backup))
            for _, _, backup in published:
                if backup is not None:
                    os.remove(backup)
            self.tmp_paths = [t for t in self.tmp_paths if os.path.lexists(t)]
            # Set before a signal held back meanwhile is raised (at the end of this block):
            # the caller can tell that the outputs are complete.
            self.committed = True

    def discard(self) -> None:
        """Close and delete whatever :meth:`commit` did not publish."""
        for f in self.files:
            try:
                f.close()
            except WRITE_ERRORS:  # e.g. a full disk: the file is removed anyway
                pass
        for tmp in self.tmp_paths:
            if os.path.lexists(tmp):
                os.remove(tmp)
        self.files, self.tmp_paths = [], []


def _alive(pid: int) -> Optional[bool]:
    """Whether process ``pid`` of this host runs; ``None`` when that cannot be told. On
    Windows ``os.kill(pid, 0)`` is not a probe (it sends CTRL_C_EVENT), so it is not asked."""
    if pid == os.getpid():
        return True
    if ON_WINDOWS:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return None
    return True


def clean_stale_temporaries(folders: Iterable) -> Tuple[List[Path], List[Path]]:
    """Remove the temporaries that killed runs left in ``folders`` (not recursive).

    Returns ``(removed, kept)``: ``kept`` are temporaries whose writer cannot be checked
    (written on another host, under the fixed names of older releases, or on a system where
    a process cannot be probed: Windows), and backups of overwritten outputs (:func:`back_up`)
    that may be the only copy of an old output (a killed run's backup made by renaming),
    left in place for the caller to report; those of live runs on this host are left alone
    silently. A killed run's backup that is a second name of a file still in place (a hard
    link) is removed.
    """
    removed, kept = [], []
    for folder in {Path(f) for f in folders}:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            match = TEMP_NAME.match(path.name) or BACKUP_NAME.match(path.name)
            alive = _alive(int(match["pid"])) if match and match["host"] == _HOST else None
            backup = match is not None and path.name.endswith(BACKUP_SUFFIX)
            if alive is False and (not backup or _second_name(path)):
                try:
                    path.unlink()
                    removed.append(path)
                except FileNotFoundError:  # another run cleaned it first
                    pass
            elif (match and not alive) or OLD_TEMP_NAME.match(path.name):
                kept.append(path)  # the writer cannot be checked (live ones are not reported)
    return removed, kept


def _second_name(path: Path) -> bool:
    try:
        return os.lstat(path).st_nlink > 1
    except FileNotFoundError:
        return False
