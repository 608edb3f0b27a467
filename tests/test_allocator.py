"""reuse_freed_memory: large freed maps are reused without new page faults (glibc); the
C library's default faults them in again at every allocation (the guard)."""

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

SCRIPT = """
import resource, sys, torch
from asteroid_tdanet.utils.allocator import reuse_freed_memory
torch.set_num_threads(1)
if sys.argv[1] == "reuse":
    assert reuse_freed_memory()
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


def test_restoring_the_defaults():
    from asteroid_tdanet.utils.allocator import reuse_freed_memory

    assert reuse_freed_memory(True) and reuse_freed_memory(False)
