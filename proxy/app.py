"""The application factory and the runner that serves it.

``create_app(settings)`` registers the operations endpoints (:data:`HEALTHZ`: the process serves;
:data:`READYZ`: this process wants traffic, the Kubernetes readiness probe; :data:`UPSTREAM_READYZ`: the
upstream answers its ``/ping``, for operators: a probe on it would take every replica out of service at once
during an upstream blip), then (``v6_mode = "translate"``) lets the
engine install its ``/v6/...`` routes via ``proxy.v6.install(app)``, then the catch-all streaming forwarder.

:class:`ProxyRunner` replaces aiohttp's handling of requests it cannot parse: aiohttp's own 400 echoes the
raw request bytes (a bearer token included) in the response body and in its error log. Ours answers a
fixed API-style message and logs only the error class. A request line over ``max_request_line_bytes`` or a
header field over 16 KiB answers ``431`` (as the real API's Node server does) with a message naming the limit.

Shutdown (:meth:`ProxyRunner.withdraw`, then :meth:`ProxyRunner.shutdown_gracefully`) first answers ``/readyz``
503 while still serving for ``shutdown_delay``, then stops accepting, lets requests in flight finish for up to
``shutdown_timeout``, then cuts what is left within :data:`CUT_GRACE`; aiohttp's own cleanup would wait the
timeout twice (once for the handler, once more after cancelling only its request body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from . import metrics, v6
from .appkeys import SETTINGS, UPSTREAM
from .errors import UpstreamError, api_error
from .forward import forward
from .headers import APPEND_FORWARDED
from .lifecycle import LIFECYCLE, Lifecycle
from .logs import REQUEST_ID, get_logger
from .middlewares import QUIET_PATH, request_context
from .rollout import v6_entry
from .settings import Settings
from .upstream import Upstream

log = get_logger("proxy.app")

HEALTHZ = "/healthz"
READYZ = "/readyz"
UPSTREAM_READYZ = "/readyz/upstream"
READY_PATH = "/ping"
MAX_HEADER_FIELD = 16384
CUT_GRACE = 0.1  # seconds per phase aiohttp's cleanup gives handlers left after shutdown_timeout
READY_TIMEOUT = 5.0


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """This process's own readiness: started and not shutting down. The upstream is not asked, so an upstream
    blip leaves every replica in service (clients get the proxy's 502/504 in the API's style, not refusals)."""
    lifecycle = request.app[LIFECYCLE]
    if lifecycle.ready:
        return web.json_response({"status": "ready"})
    return api_error(503, "Not ready: shutting down" if lifecycle.started else "Not ready: starting")


async def upstream_readyz(request: web.Request) -> web.Response:
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


async def mark_started(app: web.Application) -> None:
    """The last on_startup handler: the upstream session is open and the model loaded, so ``/readyz`` says ready."""
    app[LIFECYCLE].started = True


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
    app[LIFECYCLE] = Lifecycle()
    app[UPSTREAM] = Upstream(settings)
    app.cleanup_ctx.append(upstream_ctx)
    app.router.add_get(HEALTHZ, healthz)
    app.router.add_get(READYZ, readyz)
    app.router.add_get(UPSTREAM_READYZ, upstream_readyz)
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
    app.on_startup.append(mark_started)  # after every other start-up handler (the upstream's $metadata, ...)
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
        if isinstance(exc, LineTooLong):
            status, text = 431, self._too_long_message(exc)
            log.info("request_too_long", status=status, error=text, client=_peer(request))
        elif isinstance(exc, HttpProcessingError):
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

    def _too_long_message(self, exc: LineTooLong) -> str:
        """Which limit was hit: the request line (a setting) or one header field (fixed)."""
        limit = exc.args[1] if len(exc.args) > 1 else None
        line = exc.args[0] if exc.args else b""
        looks_like_target = isinstance(line, (bytes, str)) and line[:1] in (b"/", "/", b"h", "h", b"*", "*")
        if limit == self.max_line_size and (limit != self.max_field_size or looks_like_target):
            return (
                f"Request line too long: the limit is {self.max_line_size} bytes "
                "(setting max_request_line_bytes, PROXY_MAX_REQUEST_LINE_BYTES)"
            )
        return f"Request header field too long: the limit is {self.max_field_size} bytes"


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
        settings = app[SETTINGS]
        kwargs.setdefault("max_line_size", settings.max_request_line_bytes)
        kwargs.setdefault("max_field_size", MAX_HEADER_FIELD)
        kwargs.setdefault("shutdown_timeout", CUT_GRACE)  # the graceful wait is shutdown_gracefully's
        super().__init__(app, **kwargs)

    async def withdraw(self, delay: float) -> None:
        """Answer ``/readyz`` 503 and keep serving for ``delay`` s: load balancers that probe it (or, with
        Kubernetes, the endpoint removal) stop sending traffic before :meth:`shutdown_gracefully` stops accepting."""
        self.app[LIFECYCLE].draining = True
        if delay > 0:
            await asyncio.sleep(delay)

    async def shutdown_gracefully(self, grace: float) -> bool:
        """Stop accepting, let requests in flight finish for up to ``grace`` s, cut the rest, clean up.

        Returns True when every request finished in time."""
        lifecycle = self.app[LIFECYCLE]
        lifecycle.draining = lifecycle.stopping = True
        for site in list(self.sites):
            await site.stop()
        if self.server is not None:
            self.server.pre_shutdown()  # idle keep-alive connections close now, busy ones after their request
        drained = await lifecycle.drained(grace)
        await self.cleanup()
        return drained

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        # aiohttp has no parameter for the connection handler class; the server it built is otherwise
        # exactly right (request factory, kwargs), so only its factory method is swapped.
        server.__class__ = _SafeServer
        return server
