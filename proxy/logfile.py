"""The ``log_file`` sink: every log event also appended to a file as one JSON line, rotated by size.

Why a file as well as stdout: the usage report (``balena-v6-proxy report``) reads it, and operators keep
weeks of it without a log pipeline. Each process writes its own file (``log_file`` with one worker,
``log_file.N`` with several), so no two processes ever rotate the same file. Rotation renames
``FILE`` -> ``FILE.1`` -> ... -> ``FILE.<backups>`` (the oldest is dropped), like ``logging``'s
RotatingFileHandler. A write that fails later (a full disk) never fails a request: it is reported once on
stdout, and the sink keeps trying, so it recovers when space comes back.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, TextIO

from .settings import Settings


class LogFileError(Exception):
    """The log file cannot be opened at start-up; ``str()`` is the one line shown to the operator."""


SUPERVISOR_SUFFIX = "supervisor"


def log_file_path(settings: Settings, worker: int | None) -> str | None:
    """This process's file: ``log_file`` with one worker, ``log_file.N`` for worker N of several, and
    ``log_file.supervisor`` for their parent (its start, restart and stop events; no two processes
    share, and so rotate, one file)."""
    if settings.log_file is None:
        return None
    if settings.workers == 1:
        return settings.log_file
    return f"{settings.log_file}.{SUPERVISOR_SUFFIX if worker is None else worker}"


def check_log_files(settings: Settings) -> None:
    """Open (creating) every file the processes will write, so a bad path stops start-up in the parent."""
    if settings.log_file is None:
        return
    suffixes = [SUPERVISOR_SUFFIX, *map(str, range(settings.workers))] if settings.workers > 1 else []
    for path in [f"{settings.log_file}.{suffix}" for suffix in suffixes] or [settings.log_file]:
        _open(path).close()


def _open(path: str) -> TextIO:
    try:
        return open(path, "a", encoding="utf-8", buffering=1)  # line-buffered: one write per event
    except OSError as exc:
        raise LogFileError(f"setting 'log_file': cannot open {path}: {exc.strerror or exc}") from None


class RotatingSink:
    """Appends lines to ``path``, rotating at ``max_bytes`` and keeping ``backups`` old files."""

    def __init__(self, path: str, max_bytes: int, backups: int, on_error: Callable[[str], None]) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._on_error = on_error
        self._file: TextIO | None = _open(path)
        self._size = self._current_size()
        self._failing = False

    def _current_size(self) -> int:
        try:
            return os.fstat(self._file.fileno()).st_size if self._file is not None else 0
        except OSError:
            return 0

    def write(self, line: str) -> None:
        """Append ``line`` (without its newline); never raises."""
        data = line + "\n"
        size = len(data.encode()) if not data.isascii() else len(data)
        try:
            if self._size and self._size + size > self.max_bytes:
                self._rotate()
            if self._file is None:
                self._file = _open_raw(self.path)
                self._size = self._current_size()
            self._file.write(data)
            self._size += size
            self._failing = False
        except (OSError, ValueError, LogFileError) as exc:
            self._fail(exc)

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups > 0:
            for n in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{n}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        else:
            os.truncate(self.path, 0)
        self._file = _open_raw(self.path)
        self._size = 0

    def _fail(self, exc: BaseException) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._file.close()  # drop what is buffered: the next write starts clean
            self._file = None
        if not self._failing:
            self._failing = True  # set first: the report below goes through this sink again
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            self._on_error(f"cannot write the log file {self.path}: {reason}")

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError, ValueError):
                self._file.close()
            self._file = None


def _open_raw(path: str) -> TextIO:
    return open(path, "a", encoding="utf-8", buffering=1)


def tee(renderer: Callable[..., Any], sink: RotatingSink, json_renderer: Callable[..., Any] | None) -> Any:
    """A structlog renderer that also writes the event's JSON line to ``sink``: the line stdout got when
    stdout is JSON too (serialized once), else ``json_renderer``'s."""

    def render(logger: Any, method: str, event: dict[str, Any]) -> Any:
        if json_renderer is None:
            line = renderer(logger, method, event)
            sink.write(line)
            return line
        sink.write(json_renderer(logger, method, dict(event)))
        return renderer(logger, method, event)

    return render
