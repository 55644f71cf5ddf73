"""The browser headers open-balena-api sets on every answer, and its CORS preflight (``src/index.ts``).

Installed after the https redirect and before ``/ping`` and everything else: a request without a
``User-Agent``, or one from the supervisor (``Supervisor…``) or curl (``curl…``), gets nothing added; any other
gets ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Access-Control-Allow-Origin`` (its
``Origin``, or ``*``), ``Access-Control-Allow-Credentials: true`` and ``Access-Control-Expose-Headers:
Retry-After`` on whatever it is answered, and an ``OPTIONS`` request is answered here, 200 with an empty body
and the preflight headers, whatever its path.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

QUIET_AGENTS = re.compile(r"^Supervisor|^curl")
PREFLIGHT = {
    "Access-Control-Allow-Methods": "GET, PUT, POST, PATCH, DELETE, OPTIONS, HEAD",
    "Access-Control-Allow-Headers": (
        "Content-Type, Authorization, Application-Record-Count, MaxDataServiceVersion, X-Requested-With, "
        "X-Balena-Client"
    ),
    "Access-Control-Max-Age": "86400",
}


def browser_headers(request: web.Request) -> dict[str, str]:
    """The headers the middleware sets for this request (none for the supervisor, curl or no user agent)."""
    agent = request.headers.get("User-Agent")
    if not agent or QUIET_AGENTS.search(agent):
        return {}
    return {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "Retry-After",
    }


@web.middleware
async def cors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    headers = browser_headers(request)
    if not headers:
        return await handler(request)
    if request.method == "OPTIONS":
        return web.Response(status=200, headers={**headers, **PREFLIGHT})
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # aiohttp's own answers (no route, method not allowed) carry them too
        for name, value in headers.items():
            exc.headers.setdefault(name, value)
        raise
    if not response.prepared:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
    return response
