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
# What the proxy sets, each unless the operator set it in the environment (glibc reads these at start-up).
THRESHOLDS = (
    ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, LARGE_BUFFER_BYTES),
    ("MALLOC_TRIM_THRESHOLD_", M_TRIM_THRESHOLD, KEPT_FREE_BYTES),
)


def return_large_buffers() -> list[str]:
    """Fix glibc's mmap threshold at :data:`LARGE_BUFFER_BYTES` and its trim threshold at
    :data:`KEPT_FREE_BYTES`, each unless the operator set it; the environment names of those set (none where
    there is nothing to do: not Linux/glibc)."""
    if sys.platform != "linux":
        return []
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return []
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return [name for name, param, value in THRESHOLDS if name not in os.environ and mallopt(param, value) == 1]
