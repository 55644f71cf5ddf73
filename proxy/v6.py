"""The ``/v6/...`` routes: translate each request to v7, send it upstream, translate the answer back."""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from proxy import shadow
from proxy.appkeys import ENGINE, SETTINGS, UPSTREAM
from proxy.browser import api_browser_headers
from proxy.engine import Engine, WalkError, build_schema
from proxy.engine.apply import (
    LocalSortOverflow,
    UpstreamNotJSON,
    UpstreamValueUnreadable,
    client_body,
    client_location,
)
from proxy.engine.metadata import metadata_document
from proxy.engine.plan import ResponsePlan
from proxy.engine.walk import Translation
from proxy.errors import UpstreamError, UpstreamUnavailable, api_error, malformed_url_message, mask_secrets
from proxy.forward import forward
from proxy.headers import REQUEST_ID_HEADER, request_headers_for_upstream, response_headers_for_client
from proxy.logs import (
    LOG_EXTRA,
    REQUEST_ID,
    UPSTREAM_MS,
    UPSTREAM_STATUS,
    client_identity,
    credential_hash,
    get_logger,
    log_info,
)
from proxy.odata import ODataSyntaxError
from proxy.redirects import HTTPS_LOOP_MESSAGE, LOCATION_HEADERS, fix_locations
from proxy.rollout import v6_entry
from proxy.upstream import UpstreamReply
from translators import BodyError

log = get_logger("proxy.v6")

BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "MERGE"})
RAW_PLAN = ResponsePlan(kind="raw")  # answers to requests without a plan go out as they came
GZIP_MIN_BYTES = 1024
METADATA_TIMEOUT = 10.0  # start-up must not wait long for an optional document


def install(app: web.Application) -> None:
    """Add the ``/v6`` routes. The schema is built (and every translator validated) right here, so a
    broken translator stops the proxy before it serves anything."""
    settings = app[SETTINGS]
    schema = build_schema(settings.flavour)
    app[ENGINE] = Engine(
        schema,
        plan_cache_size=settings.plan_cache_size,
        unknown_names=settings.unknown_names,
        max_local_sort_rows=settings.max_local_sort_rows,
    )
    app.on_startup.append(_merge_upstream_metadata)
    if settings.shadow_share > 0:
        shadow.install(app, settings, app[ENGINE])
    app.on_cleanup.append(_stop_metadata_retry)
    entry = v6_entry(handle, settings)  # per-client rules, deprecation headers (proxy.rollout)
    app.router.add_route("*", "/v6", entry)
    app.router.add_route("*", "/v6/{tail:.*}", entry)


METADATA_RETRY: web.AppKey[asyncio.Task[None]] = web.AppKey("v6_metadata_retry", asyncio.Task)
METADATA_RETRY_FIRST = 2.0  # seconds before the first retry; doubled each time up to METADATA_RETRY_MAX
METADATA_RETRY_MAX = 300.0


async def _merge_upstream_metadata(app: web.Application) -> None:
    """Merge the upstream's own ``/v7/$metadata`` when it is readable (open-balena answers 401 to it).

    Without ``upstream_api_key`` one attempt is made (an ``info`` line when it fails: the bundled model serves).
    With a key the document is expected: a failure is a warning with the reason, and reading is retried in the
    background with back-off until it succeeds."""
    settings = app[SETTINGS]
    reason = await _read_upstream_metadata(app)
    if reason is None:
        return
    if not settings.upstream_api_key:
        log.info("upstream_metadata_unavailable", reason=reason)
        return
    log.warning("upstream_metadata_unavailable", reason=reason, retry_in_s=METADATA_RETRY_FIRST)
    app[METADATA_RETRY] = asyncio.create_task(_retry_metadata(app))


async def _retry_metadata(app: web.Application) -> None:
    delay = METADATA_RETRY_FIRST
    attempt = 1
    while True:
        await asyncio.sleep(delay)
        attempt += 1
        reason = await _read_upstream_metadata(app)
        if reason is None:
            return
        delay = min(delay * 2, METADATA_RETRY_MAX)
        log.warning("upstream_metadata_unavailable", reason=reason, attempt=attempt, retry_in_s=delay)


async def _stop_metadata_retry(app: web.Application) -> None:
    task = app.get(METADATA_RETRY)
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _read_upstream_metadata(app: web.Application) -> str | None:
    """One attempt: None when merged (or usable no further), else the reason it could not be read."""
    settings = app[SETTINGS]
    headers = {"Authorization": f"Bearer {settings.upstream_api_key}"} if settings.upstream_api_key else {}
    try:
        async with asyncio.timeout(METADATA_TIMEOUT):
            reply = await app[UPSTREAM].fetch("GET", "/v7/$metadata", headers)
    except TimeoutError:
        return f"no answer within {METADATA_TIMEOUT:g} s"
    except UpstreamError as exc:
        return exc.client_message()
    except Exception as exc:  # the bundled graph still serves
        return exc.__class__.__name__
    if reply.status != 200:
        return f"status {reply.status}"
    try:
        text = orjson.loads(reply.body)
        if not isinstance(text, str):
            raise ValueError("not a JSON string")
        schema = build_schema(settings.flavour, metadata_xml=text)
    except Exception as exc:
        log.warning("upstream_metadata_unusable", error=exc.__class__.__name__)
        return None  # a document that does not fit will not fit better later
    app[ENGINE].replace_schema(schema)
    log.info("upstream_metadata_merged")
    return None


class _BodyContext:
    """What body hooks may use: look-ups upstream with the caller's own credentials."""

    def __init__(self, request: web.Request, method: str, resource: str, features: list[str]) -> None:
        self.request = request
        self._cache = request.app[ENGINE].lookup_cache
        self.method = method
        self.resource = resource
        self.settings = request.app[SETTINGS]
        self.features = features

    async def get_json(self, path_qs: str) -> Any:
        headers = request_headers_for_upstream(self.request)
        for name in ("Content-Length", "Content-Type", "Content-Encoding", "Accept-Encoding"):
            headers.popall(name, None)
        reply = await self.request.app[UPSTREAM].fetch("GET", path_qs, headers)
        what = path_qs.split("?", 1)[0]
        if reply.status >= 500:
            raise UpstreamUnavailable(f"the look-up of {what} answered {reply.status}")
        if reply.status >= 400:  # the caller may not read it (401/403): its own answer
            raise BodyError(reply.status, _string_body(reply.body))
        try:
            return orjson.loads(reply.body) if reply.body else None
        except orjson.JSONDecodeError:
            raise UpstreamUnavailable(f"the look-up of {what} answered a body that is not JSON") from None

    async def cached(self, key: str, compute: Callable[[], Awaitable[Any]]) -> Any:
        ttl = self.settings.device_type_cache_ttl
        full = (credential_hash(self.request), key)
        now = time.monotonic()
        hit = self._cache.get(full)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        value = await compute()
        if ttl > 0:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[full] = (now, value)
        return value

    def record(self, feature: str) -> None:
        if feature not in self.features:
            self.features.append(feature)


class _BodyTooLarge(Exception):
    """The request body went over ``max_body_bytes`` while it was being read."""


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, read until EOF (it may arrive in many segments or chunks), refusing it as soon as
    it exceeds ``limit`` bytes: a chunked body has no Content-Length to check up front."""
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.content.iter_any():
        received += len(chunk)
        if received > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _BodyEncodingError(Exception):
    """A translated request body whose Content-Encoding cannot be read: ``status`` and ``message`` for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _decoded_body(body: bytes, encoding: str, limit: int) -> bytes:
    """The body a translator must read, decoded per its Content-Encoding (the server passes bodies as they came),
    at most ``limit`` bytes so that a small compressed body cannot expand without end."""
    coding = encoding.strip().lower()
    if coding in ("", "identity"):
        return body
    if coding not in _WBITS:
        raise _BodyEncodingError(415, f"Unsupported Content-Encoding {coding!r}: use gzip, deflate or none")
    attempts = [_WBITS[coding]] + ([-zlib.MAX_WBITS] if coding == "deflate" else [])  # deflate: zlib or raw
    for wbits in attempts:
        decoder = zlib.decompressobj(wbits)
        try:
            plain = decoder.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(plain) > limit:
            raise _BodyTooLarge
        if decoder.eof:
            return plain
    raise _BodyEncodingError(400, f"Request body is not valid {coding} data")


def _too_large(limit: int) -> web.Response:
    response = api_error(413, f"Request body too large: the limit is {limit} bytes")
    response.force_close()  # the rest of the body is never read
    return response


def _json_content(request: web.Request) -> bool:
    """A body the proxy must parse: JSON, or no declared type (clients of the API send JSON)."""
    declared = request.headers.get("Content-Type")
    return declared is None or "json" in declared.lower()


def _string_body(body: bytes | bytearray) -> str | None:
    if not body:
        return None
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None


def _json_response(status: int, value: Any, request: web.Request) -> web.Response:
    return _finish(
        request, web.Response(status=status, body=orjson.dumps(value), content_type="application/json", charset="utf-8")
    )


def _finish(request: web.Request, response: web.Response) -> web.Response:
    """gzip a translated body when the client accepts it."""
    body = response.body
    level = request.app[SETTINGS].gzip_level
    if (
        level > 0
        and isinstance(body, (bytes, bytearray))
        and len(body) >= GZIP_MIN_BYTES
        and accepts_gzip(request.headers.get("Accept-Encoding", ""))
        and "Content-Encoding" not in response.headers
    ):
        response.body = gzipped(body, level)
        response.headers["Content-Encoding"] = "gzip"
        response.headers.add("Vary", "Accept-Encoding")
    return response


def gzipped(body: bytes | bytearray, level: int) -> bytes:
    """``body`` as gzip, with a window no larger than the body: zlib's set-up of a full 32 KiB window and
    its hash table was a third of the compression of a small answer (2 KB: 31 -> 20 us); the output is the
    same stream, as any gzip reader takes it."""
    window = min(zlib.MAX_WBITS, max(9, (len(body) - 1).bit_length()))
    compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + window, min(8, window - 6))
    return compressor.compress(body) + compressor.flush()


def accepts_gzip(header: str) -> bool:
    """RFC 9110 §12.5.3: gzip (or x-gzip) listed with q > 0, or ``*`` with q > 0 when gzip is not listed;
    ``gzip;q=0`` refuses it."""
    star: float | None = None
    for item in header.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            return q > 0
        if coding == "*":
            star = q
    return star is not None and star > 0


def _invalid_upstream_json(request: web.Request, exc: UpstreamNotJSON) -> web.Response:
    """The plan would rewrite a body that is not JSON (truncated, garbled): a 502, never a partial v6 document."""
    cause = str(exc) if isinstance(exc, UpstreamValueUnreadable) else f"the upstream answer is not valid JSON ({exc})"
    log.warning("upstream_invalid_json", request_id=request.get(REQUEST_ID), error=str(exc))
    request[LOG_EXTRA]["upstream_invalid_json"] = True
    return api_error(502, f"Bad upstream answer: {cause}")


# the answer made from the upstream's own (its headers, the API's browser headers among them, kept)
_RELAYED: web.RequestKey[web.StreamResponse] = web.RequestKey("v6_relayed", web.StreamResponse)


async def handle(request: web.Request) -> web.StreamResponse:
    """One ``/v6`` request: translated (or answered here), sent upstream, and the answer translated back. An
    answer the proxy makes in the API's place gets the API's browser headers (``proxy.browser``)."""
    response = await _answer(request)
    if response is not request.get(_RELAYED) and not response.prepared:
        for name, value in api_browser_headers(request).items():
            response.headers.setdefault(name, value)
    return response


async def _answer(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    engine = request.app[ENGINE]
    method = request.method
    log_extra = request.get(LOG_EXTRA)
    if log_extra is None:
        log_extra = request[LOG_EXTRA] = {}
    if method == "OPTIONS":  # a CORS preflight: the API's own answer (its path after /v7 as the client gave it)
        request[_RELAYED] = response = await forward(request, "/v7" + request.raw_path[3:])
        return response
    raw = request.raw_path
    target = raw[3:] or "/"
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        return _too_large(settings.max_body_bytes)
    try:
        tr = engine.translate(method, target)
    except ODataSyntaxError:
        return api_error(400, malformed_url_message(raw))
    except WalkError as exc:
        log_extra.update(translated=True, v6_error=exc.status)
        return api_error(exc.status, exc.message)
    features = list(tr.features)
    log_extra.update(translated=True, v6_features=features)
    if tr.unknown:
        _log_unknown_names(request, tr, log_extra)
    if tr.local_kind == "metadata":
        text = metadata_document(engine.schema)
        return _finish(request, web.Response(status=200, body=orjson.dumps(text), headers={"Content-Type": "xml"}))
    if tr.local_status is not None:
        return _json_response(tr.local_status, tr.local_body, request)
    body: bytes | None = None
    if method in BODY_METHODS or request.body_exists:
        try:
            data = await _read_body(request, settings.max_body_bytes)
        except _BodyTooLarge:
            return _too_large(settings.max_body_bytes)
        body = data if data else None
    sent = await _v7_body(request, tr, body, features)
    if isinstance(sent, web.Response):
        return sent
    assert tr.v7_target is not None  # None only for the answers made locally above
    v7_path = "/v7" + tr.v7_target
    log_extra["v7_target"] = "/v7" + tr.v7_target  # masked when the access line is written
    reply = await _send_upstream(request, tr, v7_path, *sent)
    return _client_response(request, tr, v7_path, reply, log_extra)


async def _send_upstream(
    request: web.Request, tr: Translation, v7_path: str, body: bytes | None, rewritten: bool
) -> UpstreamReply:
    """The v7 request: the client's headers as the upstream should see them, timed for the access event."""
    headers = request_headers_for_upstream(request)
    headers.popall("Content-Length", None)
    if rewritten:
        headers.popall("Content-Encoding", None)  # the translated body is sent as plain JSON
    if tr.plan is not None and tr.plan.kind in ("rows", "entity"):
        headers.popall("Accept-Encoding", None)  # fetch decompresses anyway; ask for what we re-encode
    started = time.perf_counter()
    reply = await request.app[UPSTREAM].fetch(request.method, v7_path, headers, body)
    request[UPSTREAM_STATUS] = reply.status
    request[UPSTREAM_MS] = round((time.perf_counter() - started) * 1000, 3)
    return reply


def _log_unknown_names(request: web.Request, tr: Translation, log_extra: dict[str, Any]) -> None:
    """Every name the walk dropped, logged on every such request (the fast path of the JSON log, like the
    access event) and counted on the access event."""
    who = client_identity(request)
    path = request.raw_path  # masked when the line is written
    for u in tr.unknown:
        fields = {"name": u.name, "resource": u.resource, "option": u.option, "path": path, **who}
        log_info("proxy.v6", "unknown_field", fields)
    log_extra["unknown_fields"] = [f"{u.resource}.{u.name}" for u in tr.unknown]


async def _v7_body(
    request: web.Request, tr: Translation, body: bytes | None, features: list[str]
) -> tuple[bytes | None, bool] | web.Response:
    """The body sent upstream and whether it was rewritten (a JSON object written to a translated resource is
    decoded and translated by the body rules; anything else passes as it came), or the error answer."""
    method = request.method
    if body is None or tr.resource is None or method not in BODY_METHODS or not _json_content(request):
        return body, False
    settings = request.app[SETTINGS]
    try:
        plain = _decoded_body(body, request.headers.get("Content-Encoding", ""), settings.max_body_bytes)
    except _BodyTooLarge:
        return _too_large(settings.max_body_bytes)
    except _BodyEncodingError as exc:
        return api_error(exc.status, exc.message)
    try:
        parsed = orjson.loads(plain)
    except orjson.JSONDecodeError as exc:
        return api_error(400, f"Request body is not valid JSON: {exc}")
    if not isinstance(parsed, dict):
        return body, False
    ctx = _BodyContext(request, method, tr.resource.name, features)
    try:
        translated = await request.app[ENGINE].translate_body(tr.resource, parsed, ctx)
    except BodyError as exc:
        if exc.status >= 500:
            log.warning("body_hook_error", status=exc.status, error=exc.message, path=mask_secrets(request.raw_path))
        return api_error(exc.status, exc.message)
    return orjson.dumps(translated), True


def _client_response(
    request: web.Request, tr: Translation, v7_path: str, reply: UpstreamReply, log_extra: dict[str, Any]
) -> web.Response:
    """The upstream's answer as the v6 client gets it: its locations made the proxy's, then every change to
    headers and body made by the response plan (``proxy.engine.apply``)."""
    out_headers = response_headers_for_client(reply.headers)
    out_headers.popall("Content-Length", None)
    out_headers.popall("Content-Encoding", None)
    plan = tr.plan if tr.plan is not None else RAW_PLAN
    upstream = request.app[UPSTREAM]
    # Locations naming the upstream itself become paths on the proxy (or the https loop a 502), then the
    # response plan turns their /v7/ path into the client's /v6/ one.
    if not fix_locations(reply.status, out_headers, upstream.base_url, upstream.base_path, v7_path):
        log_extra["upstream_https_redirect"] = True
        return api_error(502, HTTPS_LOOP_MESSAGE)
    for name in LOCATION_HEADERS:
        location = out_headers.get(name)
        if location:
            out_headers[name] = client_location(plan, location)
    status = reply.status
    try:
        payload, content_type = client_body(plan, request.method, status, reply.body)
    except LocalSortOverflow as exc:
        return api_error(
            400,
            f"Ordering by {plan.local_sort_label} is done by the proxy and is limited to {exc.args[0]} rows: "
            "narrow the $filter",
        )
    except UpstreamNotJSON as exc:
        return _invalid_upstream_json(request, exc)
    if content_type is not None:
        out_headers["Content-Type"] = content_type
    request[_RELAYED] = response = web.Response(status=status, body=payload, headers=out_headers)
    response.headers[REQUEST_ID_HEADER] = request.get(REQUEST_ID, "")
    return _finish(request, response)
