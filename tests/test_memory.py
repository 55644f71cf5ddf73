"""The proxy fixes glibc's mmap threshold so freed answer-sized buffers leave the process (issue 8's memory
target: measured by ``bench/``, not here) and its trim threshold so smaller ones stay with the heap; an
operator's own ``MALLOC_MMAP_THRESHOLD_`` is left alone."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import clean_env

PROBE = """
import ctypes, sys
from proxy.memory import return_large_buffers
print(','.join(return_large_buffers()) or '-')
# freed 2 MiB blocks must be unmapped again: the heap (its top, sbrk(0)) does not grow to hold them
libc = ctypes.CDLL(None)
libc.sbrk.restype = ctypes.c_void_p
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
start = libc.sbrk(0)
for _ in range(3):
    libc.free(libc.malloc(2 * 1024 * 1024))
print(libc.sbrk(0) - start < 1024 * 1024)
# a freed 900 KB block (below the threshold, from the heap) stays with the heap: the next one is not faulted in
# afresh (glibc's trim threshold, 128 KiB unless set, would hand it back at once)
top = libc.sbrk(0)
libc.free(libc.malloc(900 * 1024))
print(libc.sbrk(0) - top >= 900 * 1024)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt is Linux-only")
def test_large_buffers_are_mapped_and_unmapped() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=clean_env(), check=True)
    assert done.stdout.split() == ["MALLOC_MMAP_THRESHOLD_,MALLOC_TRIM_THRESHOLD_", "True", "True"]


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt is Linux-only")
def test_the_operators_threshold_wins() -> None:
    env = clean_env(MALLOC_MMAP_THRESHOLD_=str(32 * 1024 * 1024))
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split()[0] == "MALLOC_TRIM_THRESHOLD_"  # the mmap threshold is the operator's
