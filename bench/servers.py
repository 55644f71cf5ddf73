"""The benchmark's own servers, each run as a separate process (``python -m bench.servers KIND ...``).

- ``minimal``: the minimal aiohttp pass-through exactly as issue 8 defines it: one ``ClientSession``
  (keep-alive, ``auto_decompress=False``) that forwards ``request.raw_path`` encoded, buffers the upstream body
  with ``read()`` and answers it with its Content-Type, no logging, asyncio's default event loop.
- ``rewrite``: the same plus, on ``/v6/`` JSON answers, ``orjson.loads``, three renames on the top-level rows
  (the pinned release key, two ``overall_status`` values, ``actor`` unwrapped) and ``orjson.dumps``: a tenth of
  the translation's work, the yardstick of issue 8.
- ``static``: the fallback upstream when nginx is absent: the device lists in memory, chosen by ``$top``, as the
  nginx static upstream does (``PATCH`` answers 200 with no body, like the v7 API).

The request body (PATCH) is read and sent on; request headers other than Content-Type are not forwarded
(the benchmark sends none that matter).
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientSession, TCPConnector, web
from yarl import URL

CLIENT: web.AppKey[ClientSession] = web.AppKey("client", ClientSession)
TOP = re.compile(r"(?:^|&)(?:\$|%24)top=(\d+)")
V6_STATUS = {"disconnected": "offline", "operational": "idle"}


def rewrite_rows(body: bytes) -> bytes:
    """The hand-made v6 rewrite: pinned release key, two overall_status values, actor unwrapped."""
    data = orjson.loads(body)
    rows = data.get("d") if isinstance(data, dict) else None
    if isinstance(rows, list):
        for row in rows:
            if not isinstance(row, dict):
                continue
            if "is_pinned_on__release" in row:
                row["should_be_running__release"] = row.pop("is_pinned_on__release")
            status = row.get("overall_status")
            if status in V6_STATUS:
                row["overall_status"] = V6_STATUS[status]
            actor = row.get("actor")
            if isinstance(actor, dict) and "__id" in actor:
                row["actor"] = actor["__id"]
    return orjson.dumps(data)


def passthrough_app(upstream: str, rewrite: bool) -> web.Application:
    """The minimal pass-through (``rewrite=False``) or the hand-made orjson rewrite."""
    base = upstream.rstrip("/")

    async def handle(request: web.Request) -> web.Response:
        data = await request.read() if request.body_exists else None
        headers = (
            {"Content-Type": request.headers["Content-Type"]} if data and "Content-Type" in request.headers else None
        )
        url = URL(base + request.raw_path, encoded=True)
        async with request.app[CLIENT].request(request.method, url, data=data, headers=headers) as reply:
            payload = await reply.read()
            content_type = reply.headers.get("Content-Type")
            status = reply.status
        if rewrite and payload and status == 200 and request.path.startswith("/v6/") and "json" in (content_type or ""):
            payload = rewrite_rows(payload)
        return web.Response(
            body=payload, status=status, headers={"Content-Type": content_type} if content_type else None
        )

    async def client_ctx(app: web.Application) -> Any:
        app[CLIENT] = ClientSession(connector=TCPConnector(limit=0), auto_decompress=False)
        yield
        await app[CLIENT].close()

    app = web.Application()
    app.cleanup_ctx.append(client_ctx)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def static_app(directory: Path) -> web.Application:
    """The fallback upstream: ``devices-N.json`` by ``$top`` (default 1); 401 to ``$metadata``; PATCH → 200."""
    bodies = {int(p.stem.split("-")[1]): p.read_bytes() for p in directory.glob("devices-*.json")}

    async def handle(request: web.Request) -> web.Response:
        if request.method == "PATCH":
            return web.Response(status=200)
        if "$metadata" in request.raw_path:
            return web.Response(status=401)
        if request.path == "/ping":
            return web.Response(text="OK")
        match = TOP.search(request.query_string)
        found = bodies.get(int(match.group(1)) if match else 1)
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="one of the benchmark's servers")
    parser.add_argument("kind", choices=("minimal", "rewrite", "static"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="")
    parser.add_argument("--dir", type=Path, default=Path("."))
    args = parser.parse_args()
    if args.kind == "static":
        app = static_app(args.dir)
    else:
        app = passthrough_app(args.upstream, rewrite=args.kind == "rewrite")
    # asyncio's default event loop and no access log, as issue 8's baselines are defined
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=asyncio.new_event_loop())


if __name__ == "__main__":
    main()
