"""How glibc ``malloc`` treats freed memory: three modes, chosen for the job at hand.

``reuse`` (inference; the CLI's default): keep freed memory for reuse, which makes the cost of
a second of audio the same at any input length. A long input allocates and frees feature maps
of hundreds of MB (TDANet, 60 s at 16 kHz: 512 x 60,000 floats = 123 MB each, many per
U-block). glibc serves every allocation above 32 MB with its own ``mmap`` and returns it with
``munmap`` when freed, so the next map faults in fresh pages that the kernel zeroes: measured
on one thread here, 19.6 s of the 43.1 s of a 60 s forward pass were system time (11 million
page faults), and the cost per second of audio grew from 0.43 s (1 s input) to 0.72 s (60 s).
Keeping freed maps (``mallopt``: no ``mmap`` for allocations, no trimming of the heap) reuses
them without faults: 0.34, 0.35 and 0.40 s per second of audio at 1, 10 and 60 s, 1.8x faster
at 60 s, for a higher peak RSS (2.72 GB instead of 1.87 GB at 60 s: the heap keeps its
high-water mark).

``release`` (memory-bound training, e.g. with gradient checkpointing): return every freed
block of 64 KB or more to the system at once (``mmap`` above 64 KB, heap trimmed at every
free), so the resident memory follows the live tensors. Otherwise the blocks freed between
forward and backward stay in the heap. Measured (``benchmarks/performance.py``, TDANet, one
Adam step, one thread): with U-block checkpointing and ``release``, 1.09 GB instead of
11.5 GB (1 x 12 s at 8 kHz), for 1.6x the step time; with ``reuse``, 5.1 GB instead of
12.1 GB (4 x 3 s).

``system``: glibc's defaults.

The same from the environment, before Python starts: :data:`ALLOCATOR_ENV`. Other C libraries
(macOS, Windows, musl) are left as they are.
"""

import ctypes
import ctypes.util
import functools
import platform

# mallopt parameters (glibc malloc.h) and glibc's defaults.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 128 * 1024, 65536
NEVER_TRIM = 2**31 - 1  # mallopt takes a C int: trimming only above 2 GB of free heap top
RELEASE_MMAP_THRESHOLD = 64 * 1024

# mallopt settings of each mode. Setting M_MMAP_THRESHOLD (even to its default value) turns
# off glibc's dynamic threshold, which otherwise rises to 32 MB after the first large free.
MODES = {
    "reuse": {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: NEVER_TRIM},
    "release": {
        M_MMAP_MAX: DEFAULT_MMAP_MAX,
        M_MMAP_THRESHOLD: RELEASE_MMAP_THRESHOLD,
        M_TRIM_THRESHOLD: 0,
    },
    "system": {M_MMAP_MAX: DEFAULT_MMAP_MAX, M_TRIM_THRESHOLD: DEFAULT_TRIM_THRESHOLD},
}
ALLOCATOR_MODES = tuple(MODES)

# Environment equivalents (read by glibc when a process starts), e.g. for subprocesses.
ALLOCATOR_ENV = {
    "reuse": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(NEVER_TRIM)},
    "release": {
        "MALLOC_MMAP_THRESHOLD_": str(RELEASE_MMAP_THRESHOLD),
        "MALLOC_TRIM_THRESHOLD_": "0",
    },
    "system": {},
}


@functools.lru_cache(maxsize=1)
def _glibc():
    """The process's glibc (``None`` elsewhere)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


_state = {"threshold_set": False}


def set_allocator(mode: str) -> bool:
    """Apply one of :data:`ALLOCATOR_MODES` (``reuse``, ``release``, ``system``) to malloc.

    Affects allocations made afterwards, in the whole process. Returns whether it was
    applied (``False`` when the C library is not glibc).
    """
    if mode not in MODES:
        raise ValueError(f"allocator mode must be one of {ALLOCATOR_MODES}, got {mode!r}")
    libc = _glibc()
    if libc is None:
        return False
    settings = dict(MODES[mode])
    if mode == "system" and _state["threshold_set"]:
        # glibc cannot go back to its dynamic threshold: the default value, fixed.
        settings[M_MMAP_THRESHOLD] = DEFAULT_MMAP_THRESHOLD
    _state["threshold_set"] |= M_MMAP_THRESHOLD in settings
    return all(libc.mallopt(param, value) for param, value in settings.items())
