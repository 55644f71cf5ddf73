"""The application factory and the runner that serves it.

``create_app(settings)`` registers the operations endpoints, then (``v6_mode = "translate"``) lets the
engine install its ``/v6/...`` routes via ``proxy.v6.install(app)``, then the catch-all streaming forwarder.

:class:`ProxyRunner` replaces aiohttp's handling of requests it cannot parse: aiohttp's own 400 echoes the
raw request bytes (a bearer token included) in the response body and in its error log. Ours answers a
fixed API-style message and logs only the error class.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import HttpProcessingError

from . import metrics, v6
from .appkeys import SETTINGS, UPSTREAM
from .errors import UpstreamError, api_error
from .forward import forward
from .headers import APPEND_FORWARDED
from .logs import REQUEST_ID, get_logger
from .middlewares import QUIET_PATH, request_context
from .rollout import v6_entry
from .settings import Settings
from .upstream import Upstream

log = get_logger("proxy.app")

READY_PATH = "/ping"
MAX_REQUEST_LINE = 65536
MAX_HEADER_FIELD = 16384
READY_TIMEOUT = 5.0


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """The upstream answers its ``/ping`` (any non-5xx status counts as an answer)."""
    upstream = request.app[UPSTREAM]
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            reply = await upstream.fetch("GET", READY_PATH, {"X-Request-Id": request[REQUEST_ID]})
    except (UpstreamError, TimeoutError) as exc:
        message = exc.client_message() if isinstance(exc, UpstreamError) else "Upstream timeout"
        return api_error(503, message)
    if reply.status >= 500:
        return api_error(503, f"Upstream unhealthy: status {reply.status}")
    return web.json_response({"status": "ready", "upstream_status": reply.status})


async def upstream_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: open the pooled upstream session at start-up, close it at shutdown."""
    upstream = app[UPSTREAM]
    await upstream.start()
    yield
    await upstream.close()


def create_app(settings: Settings) -> web.Application:
    """The proxy application for ``settings`` (call once per worker process)."""
    app = web.Application(middlewares=[request_context], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[APPEND_FORWARDED] = settings.forwarded_headers == "append"
    app[UPSTREAM] = Upstream(settings)
    app.cleanup_ctx.append(upstream_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if settings.metrics_path:
        metrics.install(app, settings.metrics_path, settings.workers)
        app[QUIET_PATH] = settings.metrics_path  # scrapes are not traffic: not access-logged either
    if settings.v6_mode == "translate" or settings.shadow_share > 0:
        v6.install(app)  # with shadowing, forward mode needs the translation too (to compare with)
    else:
        entry = v6_entry(None, settings)  # forwarded, but the access event still says v6_mode/resource
        app.router.add_route("*", "/v6", entry)
        app.router.add_route("*", "/v6/{tail:.*}", entry)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


class SafeRequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler with error responses that never echo the request."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if isinstance(exc, HttpProcessingError):
            log.info("bad_http_request", status=status, error=exc.__class__.__name__, client=_peer(request))
            text = "Bad request"
        else:
            log.error("request_failed", status=status, error=exc.__class__.__name__ if exc else None)
            text = "Internal proxy error" if status >= 500 else "Bad request"
        if request.writer.output_size > 0:
            raise ConnectionError("Response is sent already, cannot send another response")
        response = api_error(status, text if status != 504 else "Gateway timeout")
        response.force_close()
        return response


def _peer(request: web.BaseRequest) -> str | None:
    try:
        remote = request.remote
    except Exception:  # pragma: no cover - a half-parsed request may lack a transport
        return None
    return remote if isinstance(remote, str) else None


class _SafeServer(web_server.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return SafeRequestHandler(self, loop=self._loop, **self._kwargs)


class ProxyRunner(web.AppRunner):
    """An AppRunner whose connections use :class:`SafeRequestHandler` and cancel handlers on disconnect."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("access_log", None)  # replaced by the "request" event of the middleware
        kwargs.setdefault("handler_cancellation", True)
        # Request bodies pass as they came: aiohttp would inflate a gzip body and the forwarder would send it on
        # still labelled gzip (found by tests/test_fuzz.py). v6.py decodes what it must read itself.
        kwargs.setdefault("auto_decompress", False)  # a client that leaves frees its upstream stream
        # OData URLs get long ($filter=id in (...) with hundreds of ids): allow more than aiohttp's 8 KiB.
        kwargs.setdefault("max_line_size", MAX_REQUEST_LINE)
        kwargs.setdefault("max_field_size", MAX_HEADER_FIELD)
        settings = app[SETTINGS]
        kwargs.setdefault("shutdown_timeout", settings.shutdown_timeout)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        # aiohttp has no parameter for the connection handler class; the server it built is otherwise
        # exactly right (request factory, kwargs), so only its factory method is swapped.
        server.__class__ = _SafeServer
        return server
