"""The browser headers the API sets on every answer, for the answers the proxy makes itself.

open-balena-api (``src/index.ts``, the middleware right after its https redirect, which balenaCloud's API
shares) adds ``X-Frame-Options``, ``X-Content-Type-Options`` and the CORS headers to whatever it answers,
except to a request without a ``User-Agent`` or from the supervisor or curl. A translated answer carries the
upstream's own; an answer the proxy makes in the API's place (a translation error, ``$metadata``, a resource
answered locally) must carry them too, or a browser-based v6 client cannot read it (the browser hides a
cross-origin answer without ``Access-Control-Allow-Origin``).
"""

from __future__ import annotations

import re

from aiohttp import web

_QUIET_AGENTS = re.compile(r"^Supervisor|^curl")


def api_browser_headers(request: web.BaseRequest) -> dict[str, str]:
    """The headers the API would set on its answer to ``request`` (none for the supervisor, curl or no
    ``User-Agent``: they ignore them, and the API leaves them out to save bandwidth)."""
    agent = request.headers.get("User-Agent")
    if not agent or _QUIET_AGENTS.search(agent):
        return {}
    return {
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": "Retry-After",
    }
