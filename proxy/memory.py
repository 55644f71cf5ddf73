"""Freed answer-sized buffers go back to the operating system.

glibc's malloc serves a block above its mmap threshold (128 KiB at start) with a mapping of its own, unmapped
when freed; but the first time it frees such a block it raises the threshold to that block's size (up to
32 MiB), so from then on every answer-sized buffer (a 4.6 MB device list, the rewritten answer) comes from the
heap, which returns little and fragments. Serving 2,000-device lists, the proxy (and a minimal aiohttp
forwarder alike) held 5 x the answer resident; with the threshold fixed at 1 MiB, 3.4 x (bench/PROFILES.md).

Fixing it also fixes the heap's trim threshold, at 128 KiB unless set: every request that freed more than
that at the heap's top gave it back and faulted it in again (64-130 page faults per 100-device answer, a
quarter of its rewrite). It is set to 2 MiB, above what one request of the proxy frees there (0 faults), low
enough that the heap does not keep growing with every large answer (32 MiB: 4.3 x the body instead of 4.0 x).
Below 1 MiB the heap serves (faster to reuse than a fresh mapping); the response applier keeps its parser's
working memory below it (``proxy.engine.apply`` parses answers over 128 KiB in slices), and the upstream
client reads a large answer into one buffer of its size (``proxy.upstream``).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
LARGE_BUFFER_BYTES = 1024 * 1024
KEPT_FREE_BYTES = 2 * 1024 * 1024
# glibc reads these at start-up; an operator's choice of either wins (the proxy then sets neither)
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
OPERATOR_SETTING = OPERATOR_SETTINGS[0]


def return_large_buffers() -> bool:
    """Fix glibc's mmap threshold at :data:`LARGE_BUFFER_BYTES` and its trim threshold at
    :data:`KEPT_FREE_BYTES`; False where there is nothing to do (not Linux/glibc, or the operator set either
    in the environment)."""
    if sys.platform != "linux" or any(name in os.environ for name in OPERATOR_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEPT_FREE_BYTES))
