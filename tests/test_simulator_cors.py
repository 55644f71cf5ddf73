"""The browser headers and CORS preflight open-balena-api adds (``src/index.ts``, the middleware after the https
redirect): for any user agent but none, the supervisor's (``Supervisor…``) and curl's, every answer carries
``X-Frame-Options``, ``X-Content-Type-Options``, ``Access-Control-Allow-Origin`` (the ``Origin`` or ``*``),
``-Allow-Credentials`` and ``-Expose-Headers``, and ``OPTIONS`` is answered 200 with the preflight headers. The
simulator sent none of them, so a proxy answer lacking them looked like the API's.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.cors import PREFLIGHT
from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

BROWSER = {"Authorization": f"Bearer {ADMIN_TOKEN}", "User-Agent": "Mozilla/5.0", "Origin": "https://dash.example"}
ADDED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Access-Control-Allow-Origin": "https://dash.example",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Expose-Headers": "Retry-After",
}


def added(headers: object) -> dict[str, str]:
    return {name: headers.get(name) for name in ADDED if headers.get(name) is not None}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/v7/device?$select=id&$top=1", 200),
        ("GET", "/v7/no_such_resource", 401),
        ("PATCH", "/v7/device(1)", 400),  # body-parser's page: the middleware ran first
        ("GET", "/ping", 200),
    ],
)
async def test_a_browser_gets_the_headers_on_every_answer(method: str, target: str, status: int) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        body_headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"} if method == "PATCH" else {}
        headers = {**BROWSER, **body_headers}
        async with session.request(
            method, url + target, headers=headers, data=b"x" if method == "PATCH" else None
        ) as r:
            assert r.status == status
            assert added(r.headers) == ADDED


@pytest.mark.parametrize("agent", [None, "Supervisor/14.0.0 (Linux; balenaOS 5.0; prod)", "curl/8.5.0"])
async def test_the_supervisor_curl_and_no_agent_get_none(agent: str | None) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if agent is not None:
            headers["User-Agent"] = agent
        async with session.get(
            url + "/v7/device?$select=id&$top=1", headers=headers, skip_auto_headers=["User-Agent"]
        ) as r:
            assert r.status == 200
            assert added(r.headers) == {}
        async with session.options(url + "/v7/device", headers=headers, skip_auto_headers=["User-Agent"]) as r:
            assert (r.status, await r.read()) == (200, b"")  # pinejs's own OPTIONS route
            assert "Access-Control-Allow-Methods" not in r.headers


async def test_a_preflight_is_answered_on_any_path() -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        for target in ("/v7/device", "/whatever/else"):
            async with session.options(url + target, headers=BROWSER) as r:
                assert (r.status, await r.read()) == (200, b"")
                assert added(r.headers) == ADDED
                assert {name: r.headers.get(name) for name in PREFLIGHT} == PREFLIGHT


async def test_a_translated_v6_answer_through_the_proxy_keeps_the_apis_headers() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        async with session.get(pair.proxy_url + "/v6/device?$select=id&$top=1", headers=BROWSER) as r:
            assert r.status == 200
            assert added(r.headers) == ADDED


@pytest.mark.parametrize(
    ("method", "target"),
    [("OPTIONS", "/v6/device"), ("GET", "/v6/gateway_download"), ("GET", "/v6/device?$filter=nope eq 1")],
)
async def test_answers_the_proxy_makes_itself_carry_the_apis_browser_headers(method: str, target: str) -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        async with session.request(method, pair.proxy_url + target, headers=BROWSER) as r:
            assert added(r.headers) == ADDED
            if method == "OPTIONS":
                assert {name: r.headers.get(name) for name in PREFLIGHT} == PREFLIGHT
