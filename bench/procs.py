"""Starting, pinning, waiting for and stopping the benchmark's processes (all on loopback)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.procstat import children

CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
# issue 8: load generator and upstream on one core, the proxies on the other
CAN_PIN = len(CPUS) >= 2
LOAD_CPUS = {CPUS[0]} if CAN_PIN else None
PROXY_CPUS = {CPUS[1]} if CAN_PIN else None


def pinner(cpus: set[int] | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child (and what it forks) to ``cpus``; None when pinning is off."""
    if cpus is None:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def set_affinity(pid: int, cpus: set[int] | None) -> None:
    """Re-pin a running process tree (``None``: every CPU this benchmark may use)."""
    if not CAN_PIN:
        return
    for child in children(pid):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(child, cpus or set(CPUS))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    """One server process of the benchmark, in its own session so it and its children stop together."""

    name: str
    argv: list[str]
    port: int
    log: Path
    cpus: set[int] | None = None
    env: dict[str, str] | None = None
    ready_path: str = "/ping"
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Proc:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
                preexec_fn=pinner(self.cpus),
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")
            try:
                with urllib.request.urlopen(self.base + self.ready_path, timeout=2) as reply:
                    if reply.status < 500:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer {self.ready_path} within {timeout:g} s: {self.tail()}")

    def tail(self, chars: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the process group this benchmark started, then SIGKILL if it lingers."""
        if self.popen is None or self.popen.poll() is not None:
            return
        group = self.popen.pid  # start_new_session: the group id is the child's pid
        try:
            os.killpg(group, signal.SIGTERM)
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.popen.wait(5)
        except ProcessLookupError:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)  # stragglers of our own group (none when the parent stopped them)
