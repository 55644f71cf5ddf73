"""The middleware around every request: request id, error mapping and the one access-log event.

Handlers (the forwarder, the v6 engine) add fields to the access event by updating ``request[LOG_EXTRA]``
(a dict) and record upstream facts in
``request[UPSTREAM_STATUS]`` / ``request[UPSTREAM_MS]`` (keys in :mod:`proxy.logs`). Upstream failures
raised as :class:`UpstreamError` become the API-style 502/504; any other exception becomes a 500 with a
fixed message, logged without credentials.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .errors import UpstreamError, api_error, mask_secrets
from .headers import REQUEST_ID_HEADER, request_id
from .lifecycle import LIFECYCLE
from .logs import (
    BODY_BYTES_OUT,
    LOG_EXTRA,
    REQUEST_ID,
    UPSTREAM_MS,
    UPSTREAM_STATUS,
    client_identity,
    get_logger,
    log_info,
)
from .metrics import METRICS, error_kind

ACCESS = "proxy.access"
log = get_logger(ACCESS)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Requests that would flood the access log from health checks (and the metrics path, set per app).
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/readyz/upstream"})
QUIET_PATH: web.AppKey[str] = web.AppKey("quiet_path", str)
# Longest path written to an access event (a $filter=id in (...) URL may be 64 KiB); longer ones are cut and
# the event says so (``path_truncated: true``).
MAX_LOGGED_PATH = 2048
# This process's id, read once (a system call per request otherwise) and again in a forked child.
_pid = os.getpid()


def _read_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_read_pid)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set ``request[REQUEST_ID]``/``[LOG_EXTRA]``, map errors, write the access event."""
    started = time.perf_counter()
    request[REQUEST_ID] = rid = request_id(request)
    request[LOG_EXTRA] = {}
    status: int | None = None
    response: web.StreamResponse | None = None
    lifecycle = request.app.get(LIFECYCLE)
    if lifecycle is not None:
        lifecycle.request_started()
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc  # raised again below: aiohttp answers with it (returning one is deprecated)
        except UpstreamError as exc:
            request[LOG_EXTRA]["upstream_error"] = error_kind(exc)
            log.warning("upstream_error", request_id=rid, status=exc.status, error=exc.client_message())
            response = api_error(exc.status, exc.client_message())
        except web.RequestPayloadError:  # the client's body is malformed (framing, encoding)
            response = api_error(400, "Bad request: the request body could not be read")
        except (asyncio.CancelledError, ConnectionResetError):
            if lifecycle is not None and lifecycle.stopping:
                status = 503  # cut at the end of shutdown_timeout, not the client's doing
                request[LOG_EXTRA]["cut"] = "shutdown"
            else:
                status = 499  # the client went away (nginx's convention)
            raise
        except Exception:
            log.exception("unhandled_error", request_id=rid, path=mask_secrets(request.raw_path))
            response = api_error(500, "Internal proxy error")
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = rid
        status = response.status
        if isinstance(response, web.HTTPException):
            raise response
        return response
    finally:
        if lifecycle is not None:
            lifecycle.request_finished()
        if (request.path not in QUIET_PATHS and request.path != request.app.get(QUIET_PATH)) or (status or 500) >= 400:
            _access_event(request, response, status, started)


def _access_event(
    request: web.Request, response: web.StreamResponse | None, status: int | None, started: float
) -> None:
    fields: dict[str, Any] = {
        "request_id": request[REQUEST_ID],
        "method": request.method,
        "path": request.raw_path,  # masked with the line's other strings when it is written (proxy.logs)
        "pid": _pid,  # which worker served it (--workers N)
        "status": status,
        "upstream_status": request.get(UPSTREAM_STATUS),
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "upstream_ms": request.get(UPSTREAM_MS),
        "bytes_in": request.content.total_bytes,
        "bytes_out": request.get(BODY_BYTES_OUT, _bytes_out(response)),
        "client": request.remote,
        **client_identity(request),
    }
    if len(fields["path"]) > MAX_LOGGED_PATH:
        fields["path"] = fields["path"][:MAX_LOGGED_PATH]
        fields["path_truncated"] = True
    extra: dict[str, Any] = request[LOG_EXTRA]
    fields.update(extra)
    log_info(ACCESS, "request", fields)
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.observe(fields)


def _bytes_out(response: web.StreamResponse | None) -> int | None:
    """Body bytes of a buffered response (streaming handlers count theirs in ``request[BODY_BYTES_OUT]``)."""
    if response is None:
        return None
    body = getattr(response, "body", None)
    return len(body) if isinstance(body, (bytes, bytearray)) else None
