"""Express's ETags and conditional GETs, which every answer sent with ``res.send``/``res.json`` gets.

open-balena-api leaves express 4's ``etag`` setting at its default (``weak``): ``res.send`` tags the body with
``W/"<byte length, hex>-<base64 SHA-1, 27 characters>"`` (the ``etag`` module) and, for a ``GET``/``HEAD`` answered
2xx whose request is fresh (``fresh``: an ``If-None-Match`` listing that tag, weakly compared, or ``*``, and no
``Cache-Control: no-cache``), answers ``304`` without a body, ``Content-Type`` or ``Content-Length``. pinejs
sends every OData body with ``res.json`` (empty answers with ``res.end()``: no tag); ``/ping`` uses
``res.sendStatus``. finalhandler's error pages and the https redirect are written with ``res.end``: no tag.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

_NO_CACHE = re.compile(r"(?:^|,)\s*?no-cache\s*?(?:,|$)")
SENT_TYPES = ("application/json", "xml", "text/plain")  # what res.json / res.send set in the simulator's routes


def weak_etag(body: bytes) -> str:
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]  # the etag module: SHA-1, base64, 27 chars
    return f'W/"{len(body):x}-{digest}"'


def is_fresh(request: web.Request, etag: str) -> bool:
    """The ``fresh`` module's verdict on ``If-None-Match`` (``If-Modified-Since`` has no ``Last-Modified`` here)."""
    none_match = request.headers.get("If-None-Match")
    if not none_match:
        return False
    if _NO_CACHE.search(request.headers.get("Cache-Control", "")):
        return False
    if none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in none_match.split(","))


@web.middleware
async def etags(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if not isinstance(response, web.Response) or response.prepared or "ETag" in response.headers:
        return response
    body = response.body
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if not isinstance(body, bytes) or not body or content_type not in SENT_TYPES:
        return response
    etag = weak_etag(body)
    response.headers["ETag"] = etag
    if request.method in ("GET", "HEAD") and 200 <= response.status < 300 and is_fresh(request, etag):
        not_modified = web.Response(status=304, headers=response.headers)
        for name in ("Content-Type", "Content-Length", "Transfer-Encoding"):
            not_modified.headers.popall(name, None)
        return not_modified
    return response
