"""Allocator modes (glibc): ``reuse`` reuses large freed maps without new page faults, where
the C library's default faults them in again at every allocation (the guard); ``release``
gives freed blocks back to the system, where ``reuse`` keeps them (the guard)."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

SCRIPT = """
import resource, sys, torch
from asteroid_tdanet.utils.allocator import set_allocator
torch.set_num_threads(1)
assert set_allocator(sys.argv[1])
def cycle():  # two 100 MB maps allocated, written and freed, as a forward pass does
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = torch.empty(25_000_000).fill_(1.0)
    b = torch.empty(25_000_000).fill_(2.0)
    del a, b
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start
print(min([cycle() for _ in range(8)][4:]))  # once the heap has grown
"""


def faults_in_steady_state(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1])


def test_freed_maps_are_reused_without_page_faults():
    pages = 2 * 100_000_000 // 4096  # 48,828 pages of 4 KB are written per cycle
    assert faults_in_steady_state("system") > pages // 2  # the default faults them again
    assert faults_in_steady_state("reuse") < pages // 50


RESIDENT = """
import sys, torch
from asteroid_tdanet.utils.allocator import set_allocator
assert set_allocator(sys.argv[1])
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base = rss_mb()
# 4,000 blocks of 1 MB written and freed, all but every 100th: in a heap, the survivors pin
# the freed blocks between them.
blocks = [torch.ones(262_144) for _ in range(4000)]
kept = blocks[::100]
del blocks
print(rss_mb() - base)
"""


def resident_after_frees(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", RESIDENT, mode], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def test_release_gives_freed_blocks_back():
    live = 40  # MB still referenced
    assert resident_after_frees("reuse") > 20 * live  # guard: a heap that keeps the 4 GB
    assert resident_after_frees("release") < 3 * live


def test_modes_and_restoring_the_defaults():
    from asteroid_tdanet.utils.allocator import ALLOCATOR_MODES, set_allocator

    assert ALLOCATOR_MODES == ("reuse", "release", "system")
    assert all(set_allocator(mode) for mode in ("release", "reuse", "system"))
    assert set_allocator("reuse") and set_allocator("system")  # and back to the default
    with pytest.raises(ValueError, match="allocator mode must be one of"):
        set_allocator("jemalloc")
