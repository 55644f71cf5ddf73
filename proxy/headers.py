"""Which headers cross the proxy, in each direction.

Hop-by-hop headers describe one connection, not the message, so they are dropped both ways (RFC 9110
§7.6.1): ``Connection`` and every header it names, ``Keep-Alive``, ``TE``, ``Trailer``,
``Transfer-Encoding``, ``Upgrade`` and all ``Proxy-*``. Everything else (``Authorization``,
``Content-Encoding``, ``Accept-Encoding``, cookies, ...) passes untouched. ``Host`` is dropped so the
client session sets the upstream's own host.

``X-Forwarded-*`` (setting ``forwarded_headers``): by default the proxy is a transparent hop and invents none,
because the balena API redirects (301 to ``https://<API host>/...``) every request that carries
``X-Forwarded-For`` unless ``X-Forwarded-Proto`` says ``https``: a proxy reached over plain HTTP that added them
would break every call. The client's own ``X-Forwarded-*`` (from a TLS terminator) pass untouched.
``append`` adds the client to ``X-Forwarded-For`` and sets ``X-Forwarded-Proto``/``-Host`` when absent.
"""

from __future__ import annotations

import random

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from .logs import REQUEST_ID

HOP_BY_HOP = frozenset({"connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
REQUEST_ID_HEADER = "X-Request-Id"
# True when ``forwarded_headers = "append"`` (set by ``proxy.app.create_app``).
APPEND_FORWARDED: web.AppKey[bool] = web.AppKey("append_forwarded", bool)
_MAX_REQUEST_ID = 200
# Dropped from a request besides the hop-by-hop headers (see request_headers_for_upstream).
_REQUEST_DROP = HOP_BY_HOP | {"host", "expect"}


def connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> set[str] | tuple[str, ...]:
    """The lower-case names ``Connection`` lists (``keep-alive``, ``close``, or headers to drop)."""
    values = headers.getall("Connection", ())
    if len(values) == 1 and "," not in values[0]:  # the usual one token, without a generator and a set
        token = values[0].strip().lower()
        return (token,) if token else ()
    tokens: set[str] = set()
    for value in values:
        tokens.update(token.strip().lower() for token in value.split(",") if token.strip())
    return tokens


def end_to_end(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], *, drop: frozenset[str] = HOP_BY_HOP
) -> CIMultiDict[str]:
    """A copy of ``headers`` without the lower-case names in ``drop`` (hop-by-hop headers, when not given).

    Copied whole, then the few names to drop are removed: multidict does both in C (the names present are
    found by one case-insensitive set intersection), where a loop over every header in Python cost a tenth
    of a pass-through request. Order and repeated names are kept."""
    kept = CIMultiDict(headers)
    for name in headers.keys() & drop:
        kept.popall(name, None)
    if "Connection" in headers:
        for name in connection_tokens(headers):
            kept.popall(name, None)
    if "proxy-" in "\n".join(headers.keys()).lower():  # rare: look at each name only then
        for name in {name for name in headers if name.lower().startswith("proxy-")}:
            kept.popall(name, None)
    return kept


def request_id(request: web.BaseRequest) -> str:
    """The client's X-Request-Id when it is a sane token, otherwise a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if given and len(given) <= _MAX_REQUEST_ID and given.isprintable() and given.isascii():
        return given
    # 128 random bits as 32 hex digits (uuid4().hex's shape) without a getrandom call and a UUID object per
    # request: an id only needs to be unique, not unguessable (random reseeds itself in forked workers).
    return f"{random.getrandbits(128):032x}"


def request_headers_for_upstream(request: web.Request) -> CIMultiDict[str]:
    """The client's end-to-end headers plus X-Request-Id (and X-Forwarded-* with ``forwarded_headers = append``).

    With ``append``, existing X-Forwarded-Proto/-Host (set by a TLS terminator in front of the proxy) are
    kept and the client address is appended to X-Forwarded-For.
    """
    # Expect: 100-continue was already answered by this server; the upstream gets the body right away.
    headers = end_to_end(request.headers, drop=_REQUEST_DROP)
    if request.app.get(APPEND_FORWARDED, False):
        _append_forwarded(request, headers)
    headers[REQUEST_ID_HEADER] = request.get(REQUEST_ID) or request_id(request)
    return headers


def _append_forwarded(request: web.Request, headers: CIMultiDict[str]) -> None:
    peer = request.remote
    if peer:
        previous = headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{previous}, {peer}" if previous else peer
    if "X-Forwarded-Proto" not in headers:
        headers["X-Forwarded-Proto"] = request.scheme
    if "X-Forwarded-Host" not in headers and request.host:
        headers["X-Forwarded-Host"] = request.host


def response_headers_for_client(upstream_headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """The upstream's end-to-end response headers (Content-Encoding and Content-Length kept as they are)."""
    return end_to_end(upstream_headers)
