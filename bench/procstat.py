"""CPU time and memory of a server process (and its children) from ``/proc``.

CPU: ``utime + stime`` of ``/proc/<pid>/stat`` over the process tree, so nginx's workers and the proxy's
``--workers`` children are counted. Peak memory: ``VmHWM`` after resetting it with ``clear_refs`` (Linux
≥ 4.0, our own processes); where that is refused, a sampler thread keeps the highest ``VmRSS`` it sees.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def children(pid: int) -> list[int]:
    """``pid`` and every descendant (by scanning ``/proc/*/stat`` parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds consumed so far by ``pids`` (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(pids: list[int]) -> int:
    return sum(_status_kb(pid, "VmRSS") for pid in pids)


def hwm_kb(pids: list[int]) -> int:
    """Peak resident memory since the start (or the last ``clear_refs``) of each process, summed."""
    return sum(_status_kb(pid, "VmHWM") for pid in pids)


class PeakMemory:
    """Peak resident memory of ``pids`` during a measurement, over their resident memory at its start."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.idle_kb = rss_kb(pids)
        self.method = "VmHWM after clear_refs"
        self._stop = threading.Event()
        self._sampled = self.idle_kb
        self._thread: threading.Thread | None = None
        try:
            for pid in pids:
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        except OSError:
            self.method = "VmRSS sampled every 5 ms"
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._sampled = max(self._sampled, rss_kb(self.pids))

    def peak_over_idle_kb(self) -> int:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            peak = self._sampled
        else:
            peak = hwm_kb(self.pids)
        return max(0, peak - self.idle_kb)
