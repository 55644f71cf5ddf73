"""Request bodies read as open-balena-api reads them: body-parser 2 (``json`` then ``urlencoded``) before any route.

The real API (``src/index.ts`` ``setupMiddleware``) parses a body only when its ``Content-Type`` matches
``^application/(([\\w!//$%&*`\\-.^~]*\\+)?json|csp-report)`` (limit 512 KiB, strict) or is a form; any other body is
never read and the request sees ``{}``. body-parser (``lib/read.js``) decodes ``Content-Encoding`` itself:
``gzip``, ``deflate`` (zlib), ``br``; an unknown coding is ``415 unsupported content encoding``, and so is a
charset other than ``utf-*`` for JSON (``utf-8``/``iso-8859-1`` for forms): ``415 unsupported charset``; a body that does
not decode or parse is ``400``, one over the limit ``413``. open-balena-api has no error handler of its own, so
express's ``finalhandler`` answers, in production, with a small HTML page naming the status.

The simulator is served with ``auto_decompress=False`` (``SIMULATOR_RUNNER_OPTIONS``) so aiohttp hands over the
body as sent, and a body that does not inflate gets that 400 instead of an aiohttp parser error. (Served without
those options, e.g. by ``aiohttp_client``, aiohttp inflates first and a gzip-labelled body is then refused.)
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

BODY: web.RequestKey[Any] = web.RequestKey("sim_body", object)
LIMIT = 512 * 1024  # bodyParser.json({ limit: '512kb' })
JSON_TYPE = re.compile(r"^application/(([\w!//$%&*`\-.^~]*\+)?json|csp-report)", re.IGNORECASE)
FORM_TYPE = "application/x-www-form-urlencoded"
REASONS = {400: "Bad Request", 413: "Payload Too Large", 415: "Unsupported Media Type"}


class BodyError(Exception):
    """A body-parser failure: finalhandler's status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def error_page(status: int) -> web.Response:
    """finalhandler 1.x in production: the status message in a minimal HTML document, with its two headers."""
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
        f"<body>\n<pre>{escape(REASONS[status])}</pre>\n</body>\n</html>\n"
    )
    return web.Response(
        status=status,
        body=page.encode(),
        headers={
            "Content-Security-Policy": "default-src 'none'",
            "X-Content-Type-Options": "nosniff",
            "Content-Type": "text/html; charset=utf-8",
        },
    )


def _decoder(coding: str) -> Callable[[bytes], bytes]:
    if coding == "gzip":
        return lambda raw: _inflate(raw, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return lambda raw: _inflate(raw, zlib.MAX_WBITS)
    if coding == "br":
        try:
            import brotli  # type: ignore[import-not-found,unused-ignore]
        except ImportError:  # not a dependency: the simulator says it cannot decode (body-parser could)
            raise BodyError(415) from None
        return lambda raw: bytes(brotli.decompress(raw))
    raise BodyError(415)  # 'unsupported content encoding "<coding>"': zstd too (body-parser 2.3.0 has none)


def _inflate(raw: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(raw, LIMIT + 1)
    if len(out) > LIMIT:
        raise BodyError(413)
    if not inflater.eof:  # Node's zlib: "unexpected end of file"
        raise zlib.error("truncated")
    return out


def _charset(content_type: str) -> str | None:
    """The ``charset`` parameter, lower-cased (body-parser ``getCharset``)."""
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def decode(raw: bytes, content_type: str, content_encoding: str) -> Any:
    """The body a route sees, or :class:`BodyError`."""
    mime = content_type.split(";")[0].strip().lower()
    is_json = JSON_TYPE.match(content_type) is not None
    if not is_json and mime != FORM_TYPE:
        return {}
    charset = _charset(content_type) or "utf-8"
    if not (charset.startswith("utf-") if is_json else charset in ("utf-8", "iso-8859-1")):
        raise BodyError(415)  # read.js: 'unsupported charset "<CHARSET>"' (json: RFC 7159's utf-*; forms: two)
    try:
        codecs.lookup(charset)
    except LookupError:
        raise BodyError(415) from None  # iconv.encodingExists
    coding = (content_encoding or "identity").lower()
    if coding != "identity":
        try:
            raw = _decoder(coding)(raw)
        except zlib.error:
            raise BodyError(400) from None
        except BodyError:
            raise
        except Exception:  # brotli's own error type
            raise BodyError(400) from None
    elif len(raw) > LIMIT:
        raise BodyError(413)
    text = raw.decode(charset, "replace").removeprefix("\ufeff")  # iconv-lite: lenient, strips a BOM
    if not is_json:
        return dict(parse_qsl(text, keep_blank_values=True))
    if not text:
        return {}  # body-parser: an empty JSON body is {}
    stripped = text.lstrip(" \t\n\r")
    if stripped[:1] not in ("{", "["):
        raise BodyError(400)  # strict: only an object or an array
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BodyError(400) from None


@web.middleware
async def body_parser(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Parse the body before any route, as express's middleware stack does (``/ping`` and preflights come first)."""
    if request.raw_path == "/ping" or request.method == "OPTIONS":
        return await handler(request)
    has_body = "Transfer-Encoding" in request.headers or "Content-Length" in request.headers  # type-is hasBody
    try:
        raw = await request.read() if has_body else b""
        content_type = request.headers.get("Content-Type", "")
        body = decode(raw, content_type, request.headers.get("Content-Encoding", "")) if has_body else {}
    except BodyError as err:
        return error_page(err.status)
    request[BODY] = body
    return await handler(request)


def body_of(request: web.Request) -> Any:
    """The parsed body (``{}`` when there was none or it was not JSON or a form)."""
    return request.get(BODY, {})
