"""Benchmark (not a test): parse + scoped rename + serialize of every captured SDK URL, in µs and as a
ratio to one minimal pass-through request measured in the same run, with and without an LRU cache of
translated URLs keyed by the raw target.

    .venv/bin/python bench/bench_odata.py [--repeat 7] [--requests 2000]

The pass-through reference: a tiny aiohttp upstream answering a 1.5 KB JSON body and a minimal aiohttp
pass-through (one pooled ClientSession, body read and returned) on loopback, driven sequentially (c=1) by
an aiohttp client, all in this process — the cheapest request the proxy can serve.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path

from aiohttp import ClientSession, TCPConnector, web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the generic scoped name walker (tests/odata_scope.py)
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "odata"))

from odata_scope import Site, walk_names  # type: ignore[import-not-found]  # noqa: E402
from sdk_requests import load_sdk_requests  # type: ignore[import-not-found]  # noqa: E402

from proxy.odata import Name, ODataSyntaxError, parse_target  # noqa: E402

# a few real v6 -> v7 renames by (resource, name), enough to make the walk do work at every name
RENAMES = {
    ("device", "should_be_running__release"): "is_pinned_on__release",
    ("device", "is_on__commit"): "is_running__release",
    ("application", "should_be_running__release"): "should_be_running__release",
    ("release", "release_version"): "semver",
}


class GraphSchema:
    def __init__(self) -> None:
        graph = json.loads(resources.files("proxy.data").joinpath("resource-graph.json").read_text())
        self.resources = graph["open_balena_v6"]

    def navigation_target(self, resource: str, name: str) -> str | None:
        info = self.resources.get(resource)
        return info["navigation"].get(name) if info else None


SCHEMA = GraphSchema()


def _rename(resource: str | None, name: Name, role: str, site: Site) -> None:
    new = RENAMES.get((resource, name.text))  # type: ignore[arg-type]
    if new is not None:
        name.rename(new)


def translate(target: str) -> str:
    """The parser's share of a translation: parse, scoped rename walk, serialize."""
    url = parse_target(target)
    walk_names(url, SCHEMA, _rename)
    return url.serialize()


cached_translate = lru_cache(maxsize=1024)(translate)


def _seconds(fn: Callable[[str], object], arg: str, number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn(arg)
    return time.perf_counter() - start


def per_call_us(fn: Callable[[str], object], arg: str, repeat: int, min_time: float = 0.02) -> float:
    """Median over `repeat` runs of the mean time per call (µs), each run at least `min_time` long."""
    number = 1
    while _seconds(fn, arg, number) < min_time:
        number *= 2
    return statistics.median(_seconds(fn, arg, number) / number * 1e6 for _ in range(repeat))


async def _serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> tuple[web.AppRunner, int]:
    """Run a one-route aiohttp app on a free loopback port."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


async def passthrough_us(requests: int) -> float:
    """Median latency (µs) of one request through a minimal aiohttp pass-through to a loopback upstream."""
    body = json.dumps(
        {"d": [{"id": 1, "uuid": "a" * 32, "device_name": "x" * 40, **{f"field_{i}": i for i in range(50)}}]}
    ).encode()

    async def upstream_handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    upstream_runner, upstream_port = await _serve(upstream_handler)
    session = ClientSession(connector=TCPConnector(limit=100))

    async def proxy_handler(request: web.Request) -> web.Response:
        async with session.get(f"http://127.0.0.1:{upstream_port}{request.raw_path}") as reply:
            data = await reply.read()
            return web.Response(body=data, status=reply.status, content_type=reply.content_type)

    proxy_runner, proxy_port = await _serve(proxy_handler)
    client = ClientSession(connector=TCPConnector(limit=1))
    url = f"http://127.0.0.1:{proxy_port}/v7/device?$select=id"
    timings = []
    try:
        for i in range(requests + 200):
            start = time.perf_counter()
            async with client.get(url) as reply:
                await reply.read()
            if i >= 200:  # warm-up
                timings.append((time.perf_counter() - start) * 1e6)
    finally:
        await client.close()
        await session.close()
        await proxy_runner.cleanup()
        await upstream_runner.cleanup()
    return statistics.median(timings)


ADVERSARIAL = {
    "150 unclosed parentheses": "/x?$filter=" + "(" * 150 + "a",
    "150 unclosed '(a eq '": "/x?$filter=" + "(a eq " * 150 + "a",
    "3,000 chained 'eq'": "/x?$filter=a" + "%20eq%20a" * 3000,
    "20,000 doubled quotes": "/x?$filter='" + "''" * 20000,
    "3,000 unclosed 'contains('": "/x?$filter=" + "contains(" * 3000 + "a",
}


def adversarial_ms(target: str) -> float:
    """Parse time (ms) of a hostile target, rejected or not (catastrophic backtracking would show here)."""
    start = time.perf_counter()
    with contextlib.suppress(ODataSyntaxError):
        parse_target(target)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    targets = sorted({r.target for r in load_sdk_requests()})
    request_us = asyncio.run(passthrough_us(args.requests))

    uncached = {t: per_call_us(translate, t, args.repeat) for t in targets}
    cached_translate.cache_clear()
    for t in targets:
        cached_translate(t)  # fill the cache; then measure hits
    cached = {t: per_call_us(cached_translate, t, args.repeat) for t in targets}

    print(f"pass-through request (median of {args.requests}, c=1): {request_us:8.1f} µs")
    print(f"{'len':>5} {'uncached µs':>12} {'ratio':>7} {'cached µs':>10} {'ratio':>7}  target")
    for t in sorted(targets, key=len):
        print(
            f"{len(t):5d} {uncached[t]:12.1f} {uncached[t] / request_us:7.1%} {cached[t]:10.3f} "
            f"{cached[t] / request_us:7.2%}  {t[:70]}"
        )
    med_u = statistics.median(uncached.values())
    med_c = statistics.median(cached.values())
    print(f"\nSDK URLs: {len(targets)} unique targets")
    print(f"median uncached: {med_u:7.1f} µs = {med_u / request_us:6.1%} of a pass-through request (target <= 25 %)")
    print(f"max    uncached: {max(uncached.values()):7.1f} µs = {max(uncached.values()) / request_us:6.1%}")
    print(f"median cached:   {med_c:7.3f} µs = {med_c / request_us:6.2%} of a pass-through request (target <= 1 %)")
    print("\nhostile targets (one parse each):")
    for label, target in ADVERSARIAL.items():
        print(f"  {label:28} {len(target):6d} chars {adversarial_ms(target):7.2f} ms")


if __name__ == "__main__":
    main()
