"""Freed answer-sized buffers go back to the operating system.

glibc's malloc serves a block above its mmap threshold (128 KiB at start) with a mapping of its own, unmapped
when freed; but the first time it frees such a block it raises the threshold to that block's size (up to
32 MiB), so from then on every answer-sized buffer (a 4.6 MB device list, the rewritten answer) comes from the
heap, which returns little and fragments. Serving 2,000-device lists, the proxy (and a minimal aiohttp
forwarder alike) held 5 x the answer resident; with the threshold fixed, 3 x (bench/PROFILES.md). 1 MiB
keeps most answers' buffers on the heap, which is faster to reuse than a fresh mapping.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
LARGE_BUFFER_BYTES = 1024 * 1024
OPERATOR_SETTING = "MALLOC_MMAP_THRESHOLD_"  # glibc reads this at start-up; an operator's choice wins


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at :data:`LARGE_BUFFER_BYTES`; False where there is nothing to do (not
    Linux/glibc, or the operator set the threshold in the environment)."""
    if sys.platform != "linux" or OPERATOR_SETTING in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES))
