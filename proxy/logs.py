"""Structured logging: one JSON line per event (or console rendering for people), secrets masked.

Every module logs through :func:`get_logger`. aiohttp's own stdlib loggers are routed into the same
output so that nothing bypasses the masking step. Tokens (``Authorization``, ``apikey=``, cookies) must
never be logged: the access event logs a short hash of the credential instead (:func:`client_identity`),
and a last processor masks ``apikey=`` values and bearer tokens in every string field.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import orjson
import structlog
from aiohttp import web

from .errors import mask_secrets, may_hold_secret
from .logfile import RotatingSink, log_file_path, tee
from .settings import Settings

# Per-request values shared by the middleware, the handlers and the access event (typed request keys,
# as aiohttp >= 3.14 recommends). Handlers add access-log fields with ``request[LOG_EXTRA].update(...)``.
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
LOG_EXTRA: web.RequestKey[dict[str, Any]] = web.RequestKey("log_extra", dict)
UPSTREAM_STATUS: web.RequestKey[int] = web.RequestKey("upstream_status", int)
UPSTREAM_MS: web.RequestKey[float] = web.RequestKey("upstream_ms", float)
BODY_BYTES_OUT: web.RequestKey[int] = web.RequestKey("body_bytes_out", int)  # counted by streaming handlers

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; ``name`` becomes the ``component`` field."""
    # Lazy proxy: module-level loggers pick up the configuration made later by configure_logging().
    return structlog.get_logger() if name is None else structlog.get_logger(component=name)


def _mask_event(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Mask secrets in every string field; put timestamp, level and event first for readers of raw lines."""
    ordered: dict[str, Any] = {}
    for key in ("timestamp", "level", "event"):
        if key in event:
            ordered[key] = event.pop(key)
    ordered.update(event)
    for key, value in ordered.items():
        if isinstance(value, str):
            ordered[key] = mask_secrets(value)
    return ordered


def _pending_first(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Access lines kept for later are written before any other event, on stdout and in the log file."""
    if _json_lines is not None:
        _json_lines.write_pending()
    return event


def flush_pending() -> None:
    """Write the lines kept for later and flush the output (at the end of serving)."""
    if _OUT is not None:
        _OUT.flush_now()


def _orjson_dumps(value: Any, **_kw: Any) -> str:
    return orjson.dumps(value, default=str).decode()


class _JsonLines:
    """The per-request path of the JSON log: one dict, one ``orjson.dumps``, one write (per output).

    structlog's processor chain (a bound logger per call, five processors, a copy of the event at each
    step) cost about a tenth of a pass-through request; the access event needs none of it. The line is
    the one the chain renders: ``timestamp``, ``level``, ``event``, ``component``, then the fields in
    their order, string values masked like every other event's.

    Inside the event loop a line is rendered once its answer has gone out, as nginx writes its access log
    after the response: :meth:`info` keeps the event (its timestamp taken then) and the loop's next turn
    renders and writes it, so rendering and masking (a tenth of a small translated request) are not between
    a request and its answer. Any other output first writes what is kept (:meth:`write_pending`), so lines
    keep their order on stdout and in the log file.
    """

    def __init__(self, stream: _NeverRaises, sink: RotatingSink | None) -> None:
        self._stream = stream
        self._sink = sink
        self._second = -1
        self._second_text = ""
        self._pending: list[tuple[str, str, str, dict[str, Any]]] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop lines were last scheduled on
        self._loop_thread = 0
        stream.before_output = self.write_pending

    def timestamp(self) -> str:
        """``2026-12-07T01:28:11.367948Z``: the date and time are formatted once per second (a ``datetime``
        and its ``isoformat`` per line were a tenth of the event)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((now - second) * 1_000_000):06d}Z"

    def info(self, event: str, component: str, fields: dict[str, Any]) -> None:
        self._pending.append((self.timestamp(), event, component, fields))
        loop = self._loop
        if loop is None or not loop.is_running() or self._loop_thread != threading.get_ident():
            # asyncio.get_running_loop() makes a getpid system call on Python 3.11: asked only when the
            # loop this thread last wrote from is no longer running (a write scheduled there never ran)
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:  # start-up, tests: at once
                self._write_kept()
                return
            self._loop_thread = threading.get_ident()
            self._scheduled = False
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._write_kept)

    def _write_kept(self) -> None:
        self._scheduled = False
        self.write_pending()
        self._stream.flush()  # inside the loop: once per FLUSH_DELAY for every line written meanwhile

    def write_pending(self) -> None:
        """Render and write the events kept by :meth:`info`, in their order."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        for timestamp, event, component, fields in pending:
            self._stream.write_raw(self._render(timestamp, event, component, fields))

    def _render(self, timestamp: str, event: str, component: str, fields: dict[str, Any]) -> str:
        line: dict[str, Any] = {"timestamp": timestamp, "level": "info", "event": event, "component": component}
        line.update(fields)
        text = orjson.dumps(line, default=str)
        # Masking looks at the whole line once; only a line that may hold a secret is masked field by field.
        if may_hold_secret(text):
            for key, value in fields.items():
                if value.__class__ is str:
                    line[key] = mask_secrets(value)
            text = orjson.dumps(line, default=str)
        decoded = text.decode()
        if self._sink is not None:
            self._sink.write(decoded)
        return decoded + "\n"


# Set by configure_logging when events are JSON lines at level info or below; None otherwise.
_json_lines: _JsonLines | None = None


def log_info(component: str, event: str, fields: dict[str, Any]) -> None:
    """Log an info event of ``component`` with ``fields`` (the caller's dict, extended freely before).

    For events written on every request (the access event): rendered straight to the JSON output (and
    the log file) when that is the configured format, else through structlog like any other event.
    """
    if _json_lines is not None:
        _json_lines.info(event, component, fields)
    else:
        structlog.get_logger(component=component).info(event, **fields)


def use_console(settings: Settings, stream: TextIO) -> bool:
    """Console rendering when asked for, or when ``auto`` and the output is a terminal."""
    if settings.log_format == "auto":
        return hasattr(stream, "isatty") and stream.isatty()
    return settings.log_format == "console"


def configure_logging(settings: Settings, stream: TextIO | None = None, *, worker: int | None = None) -> None:
    """Configure structlog (and the stdlib loggers aiohttp uses) to write to ``stream`` (stdout), and to
    this process's ``log_file`` (see :mod:`proxy.logfile`; ``worker`` is its number among several).
    Raises :class:`proxy.logfile.LogFileError` when that file cannot be opened."""
    global _SINK, _OUT, _json_lines
    flush_pending()  # lines kept by an earlier configuration go to its outputs
    stream = sys.stdout if stream is None else stream
    level = _LEVELS[settings.log_level]
    json_renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    console = use_console(settings, stream)
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False) if console else json_renderer
    if _SINK is not None:
        _SINK.close()
        _SINK = None
    path = log_file_path(settings, worker)
    if path is not None:
        _SINK = RotatingSink(path, settings.log_file_max_bytes, settings.log_file_backups, _report_sink_error)
        renderer = tee(renderer, _SINK, json_renderer if console else None)
    out = _OUT = _NeverRaises(stream)
    _json_lines = _JsonLines(out, _SINK) if not console and level <= logging.INFO else None
    structlog.configure(
        processors=[
            _pending_first,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=out),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _ToStructlog):
            root.removeHandler(handler)
    root.addHandler(_ToStructlog())
    root.setLevel(level)
    # aiohttp's own access log is replaced by our "request" event.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


_SINK: RotatingSink | None = None
_OUT: _NeverRaises | None = None  # the output configure_logging set up last


def _report_sink_error(message: str) -> None:
    """A failing log file is reported once on stdout only (the sink is failing already)."""
    structlog.get_logger(component="proxy.logfile").error("log_file_error", error=message)


# Inside the event loop, log lines leave at most this long after they were written (see _NeverRaises),
# or as soon as this many characters are waiting.
FLUSH_DELAY = 0.05
KEPT_MAX_CHARS = 256 * 1024


class _NeverRaises:
    """A text stream wrapper whose writes never raise: a closed log pipe must not fail requests.

    Inside the event loop, lines are kept here and written at most :data:`FLUSH_DELAY` seconds later, as
    nginx buffers its access log: the lines of every request in that time go out in one write. A ``write``
    system call per access event (to a file or a pipe) cost more CPU under load than the whole event, and
    the stream's own buffer cannot be relied on: ``PYTHONUNBUFFERED=1`` (set in the Docker image) makes
    stdout write every line at once. The lines keep their order (one buffer); a graceful exit writes what
    is left, a killed process loses at most that much. Outside a loop (start-up, tests) it writes at once."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._kept: list[str] = []
        self._kept_chars = 0
        self._flush_loop: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on
        self.before_output: Callable[[], None] | None = None  # writes lines kept for later (_JsonLines)

    def write(self, text: str) -> None:
        if self.before_output is not None:
            self.before_output()
        self.write_raw(text)

    def write_raw(self, text: str) -> None:
        self._kept.append(text)
        self._kept_chars += len(text)
        if self._kept_chars >= KEPT_MAX_CHARS:
            self._write_kept()

    def _write_kept(self) -> None:
        text = "".join(self._kept)
        self._kept.clear()
        self._kept_chars = 0
        try:  # noqa: SIM105  (once per batch of lines: contextlib.suppress would cost a context manager)
            self._stream.write(text)
        except (OSError, ValueError):
            pass

    def flush(self) -> None:
        pending = self._flush_loop
        if pending is not None and pending.is_running():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_now()
            return
        self._flush_loop = loop
        loop.call_later(FLUSH_DELAY, self.flush_now)

    def flush_now(self) -> None:
        self._flush_loop = None
        if self.before_output is not None:
            self.before_output()
        if self._kept:
            self._write_kept()
        try:  # noqa: SIM105  (as in _write_kept)
            self._stream.flush()
        except (OSError, ValueError):
            pass


class _ToStructlog(logging.Handler):
    """Send stdlib records (aiohttp, asyncio) through structlog so they are rendered and masked alike."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"component": record.name}
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            structlog.get_logger().log(record.levelno, record.getMessage(), **fields)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def credential_hash(request: web.BaseRequest) -> str | None:
    """A short sha256 of the request's credential (bearer token, apikey, or session cookie)."""
    headers = request.headers
    # The query (decoded text) is parsed into fields only when it names an apikey at all.
    apikey = request.query.get("apikey") if "apikey" in request.query_string else None
    credential = headers.get("Authorization") or apikey or headers.get("Cookie")
    if not credential:
        return None
    return hashlib.sha256(credential.encode()).hexdigest()[:12]


def client_identity(request: web.BaseRequest) -> dict[str, Any]:
    """Who is calling, without the credential itself: user agent, X-Balena-Client and a credential hash."""
    return {
        "user_agent": request.headers.get("User-Agent"),
        "balena_client": request.headers.get("X-Balena-Client"),
        "credential": credential_hash(request),
    }
