"""The catch-all handler: send the request upstream as it came and pass the answer back.

Nothing is parsed or re-encoded: the raw request target goes upstream byte-exact, the request body is
streamed, and the response body goes to the client as the upstream sent it, still compressed if the
upstream compressed it. A small body of known length (most API answers) is read whole and answered in one
write; a large or open-ended one (log streams, downloads) is written chunk by chunk as it arrives. This is
the fast path and the rollback path (``v6_mode = "forward"``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from .appkeys import UPSTREAM
from .errors import api_error, mask_secrets
from .headers import REQUEST_ID_HEADER, request_headers_for_upstream, response_headers_for_client
from .logs import BODY_BYTES_OUT, LOG_EXTRA, REQUEST_ID, UPSTREAM_MS, UPSTREAM_STATUS, get_logger
from .redirects import HTTPS_LOOP_MESSAGE, fix_locations
from .upstream import StreamedReply

log = get_logger("proxy.forward")

# Bodies up to this declared length are buffered: one write instead of a header write, chunk writes and
# an end, which made streaming cost about a fifth of a small pass-through request more.
BUFFER_MAX_BYTES = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})


def request_body(request: web.BaseRequest) -> aiohttp.StreamReader | None:
    """The request body as a stream, or None when there is none (so no body framing is invented)."""
    return request.content if request.body_exists else None


async def forward(
    request: web.Request, target: str | None = None, keep: Callable[[bytes], None] | None = None
) -> web.StreamResponse:
    """Forward ``request`` to the upstream (to ``target`` instead of its own raw target where given) and stream
    the response back.

    ``keep`` (the shadow comparison's, :mod:`proxy.shadow`) is also handed each chunk of a streamed body; a
    buffered body is the returned ``web.Response``'s own. The pass-through route never sets it."""
    if target is None:
        target = request.raw_path
    if not target.startswith("/"):  # absolute-form or "*": not meant for a reverse proxy
        return api_error(400, "Bad request")
    upstream = request.app[UPSTREAM]
    started = time.perf_counter()
    headers = request_headers_for_upstream(request)
    async with upstream.open(request.method, target, headers, request_body(request)) as reply:
        request[UPSTREAM_STATUS] = reply.status
        request[UPSTREAM_MS] = round((time.perf_counter() - started) * 1000, 3)
        headers = response_headers_for_client(reply.headers)
        if not fix_locations(reply.status, headers, upstream.base_url, upstream.base_path, target):
            request[LOG_EXTRA]["upstream_https_redirect"] = True
            return api_error(502, HTTPS_LOOP_MESSAGE)
        headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
        length = reply.content_length
        if length is not None and length <= BUFFER_MAX_BYTES and reply.status not in _NO_BODY_STATUSES:
            return await _buffered(request, reply, headers)
        return await _streamed(request, reply, headers, upstream.settings.stream_idle_timeout, keep)


async def _buffered(request: web.Request, reply: StreamedReply, headers: CIMultiDict[str]) -> web.StreamResponse:
    """A small body, read whole and answered in one write."""
    try:
        body = await reply.read()
    except (TimeoutError, aiohttp.ClientError) as exc:
        # As when streaming: the client gets the status and then a cut, never a clean end.
        response = web.StreamResponse(status=reply.status, reason=reply.reason, headers=headers)
        await response.prepare(request)
        return _cut_off(request, response, exc)
    return web.Response(status=reply.status, reason=reply.reason, body=body, headers=headers)


async def _streamed(
    request: web.Request,
    reply: StreamedReply,
    headers: CIMultiDict[str],
    idle: float,
    keep: Callable[[bytes], None] | None,
) -> web.StreamResponse:
    """A large or open-ended body (log streams, downloads), written chunk by chunk as it arrives."""
    response = web.StreamResponse(status=reply.status, reason=reply.reason, headers=headers)
    await response.prepare(request)
    request[BODY_BYTES_OUT] = 0
    try:
        async for chunk in reply.chunks():
            try:
                # A client that stops reading must not hold the upstream connection for longer than an
                # upstream that stops sending would: the same stream_idle_timeout cuts it.
                async with asyncio.timeout(idle):
                    await response.write(chunk)
            except TimeoutError:
                log.warning("client_stalled", request_id=request[REQUEST_ID], path=mask_secrets(request.raw_path))
                request[LOG_EXTRA]["stream_broken"] = "client_stalled"
                if request.transport is not None:
                    request.transport.abort()
                return response
            request[BODY_BYTES_OUT] += len(chunk)
            if keep is not None:
                keep(chunk)
    except ConnectionResetError:
        raise  # the client left (the middleware logs 499); leaving the block frees the upstream connection
    except (TimeoutError, aiohttp.ClientError) as exc:
        return _cut_off(request, response, exc)
    await response.write_eof()
    return response


def _cut_off(request: web.Request, response: web.StreamResponse, exc: BaseException) -> web.StreamResponse:
    """The upstream body broke off after the status line went out: all we can do is cut the connection so
    the client sees a truncated response instead of a clean end."""
    log.warning(
        "upstream_stream_broken",
        request_id=request[REQUEST_ID],
        path=mask_secrets(request.raw_path),
        error=exc.__class__.__name__,
    )
    request[LOG_EXTRA]["stream_broken"] = exc.__class__.__name__
    if request.transport is not None:
        request.transport.close()
    return response
