"""Response compression as open-balena-api serves it: expressjs ``compression`` 1.8.1 (``src/index.ts``).

The middleware (installed after ``/ping`` and the https redirect) compresses a response when its type is
compressible (JSON, text, or NDJSON: OBA's own filter), adds ``Vary: Accept-Encoding`` to every such response,
and leaves alone one under the 1 KiB ``threshold``, a ``HEAD``, a ``Cache-Control: no-transform`` and a response
without an ``Accept-Encoding`` on its request. The coding is negotiated (negotiator) among ``br``, ``gzip``,
``deflate`` and ``identity``, highest q first, ties going to ``br`` then ``gzip``; a compressed answer drops
its ``Content-Length`` and is sent chunked. zstd is not one of its codings.

``br`` needs the ``brotli`` module, which the simulator does not require: without it the simulator negotiates
as Node does without brotli support (``gzip``, ``deflate``, ``identity``). ``$metadata`` (``Content-Type: xml``)
is not compressible, as ``compressible('xml')`` is false. Streamed responses (device logs) are not compressed
here.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

THRESHOLD = 1024  # compression's default `threshold: '1kb'`
_COMPRESSIBLE = re.compile(r"^(?:text/.+|application/(?:json|x-ndjson)|[^/]+/.+\+(?:json|text|xml))$", re.IGNORECASE)
_NO_TRANSFORM = re.compile(r"(?:^|,)\s*?no-transform\s*?(?:,|$)")

try:  # optional: body-parser and compression use Node's own brotli
    import brotli as _brotli  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

SUPPORTED = ("br", "gzip", "deflate", "identity") if _brotli is not None else ("gzip", "deflate", "identity")
PREFERRED = ("br", "gzip") if _brotli is not None else ("gzip",)


def _accepted(header: str) -> list[tuple[str, float, int]]:
    """``Accept-Encoding`` as (coding, q, position); an unparsable q makes the entry unacceptable."""
    out = []
    for position, part in enumerate(header.split(",")):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        out.append((coding, q, position))
    return out


def negotiate(header: str) -> str | None:
    """The coding negotiator picks from :data:`SUPPORTED` (None: identity)."""
    accepts = _accepted(header)
    if not any(coding in ("identity", "*") for coding, _, _ in accepts):  # negotiator: identity at the lowest q
        accepts.append(("identity", min((q or 1.0 for _, q, _ in accepts), default=1.0), len(accepts)))
    ranked = []
    for index, coding in enumerate(SUPPORTED):
        exact = [(q, pos) for c, q, pos in accepts if c == coding]
        star = [(q, pos) for c, q, pos in accepts if c == "*"]
        found = exact or star
        if not found:
            continue
        q, pos = found[0]
        if q <= 0:
            continue
        preferred = PREFERRED.index(coding) if coding in PREFERRED else len(PREFERRED)
        ranked.append((-q, preferred, 0 if exact else 1, pos, index, coding))
    if not ranked:
        return None
    best = min(ranked)[-1]
    return None if best == "identity" else best


def compressed(body: bytes, coding: str) -> bytes:
    if coding == "gzip":
        compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return compressor.compress(body) + compressor.flush()
    if coding == "deflate":  # Node's createDeflate: the zlib format
        return zlib.compress(body)
    assert _brotli is not None
    return bytes(_brotli.compress(body))


@web.middleware
async def compress(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if request.raw_path == "/ping" or not isinstance(response, web.Response) or response.prepared:
        return response
    body: Any = response.body
    content_type = response.headers.get("Content-Type", "")
    if not isinstance(body, bytes) or not body or not _COMPRESSIBLE.match(content_type.split(";")[0].strip()):
        return response
    if _NO_TRANSFORM.search(response.headers.get("Cache-Control", "")):
        return response
    if "Accept-Encoding" not in response.headers.get("Vary", ""):
        response.headers.add("Vary", "Accept-Encoding")
    if len(body) < THRESHOLD or request.method == "HEAD" or "Content-Encoding" in response.headers:
        return response
    header = request.headers.get("Accept-Encoding")
    coding = negotiate(header) if header else None
    if coding is None:
        return response
    response.body = compressed(body, coding)
    response.headers["Content-Encoding"] = coding
    response.enable_chunked_encoding()
    return response
