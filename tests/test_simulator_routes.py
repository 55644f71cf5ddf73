"""What open-balena-api answers where no route takes a request (``src/index.ts`` ``startServer``: the last
middleware is ``response.status(404).end()``), and ``/ping``, mounted with ``app.use`` (every method). The
simulator answered aiohttp's own ``404: Not Found`` and ``405: Method Not Allowed`` texts.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize(
    ("method", "target"),
    [("GET", "/nope"), ("POST", "/user/v1/whoami"), ("DELETE", "/device/v2/x/logs"), ("GET", "/v6/device")],
)
async def test_no_route_is_an_empty_404(method: str, target: str) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        async with session.request(method, url + target, headers=ADMIN) as r:
            assert (r.status, await r.read()) == (404, b"")
            assert "Content-Type" not in r.headers


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
async def test_ping_answers_every_method(method: str) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        async with session.request(method, url + "/ping") as r:
            assert (r.status, await r.read()) == (200, b"OK")


async def test_an_unknown_path_through_the_proxy_gets_the_apis_empty_404() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        async with session.get(pair.proxy_url + "/no/such/endpoint", headers=ADMIN) as r:
            assert (r.status, await r.read()) == (404, b"")
