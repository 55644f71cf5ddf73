"""A browser-based v6 client through the proxy: its CORS preflight reaches the API, and the answers the proxy
makes itself carry the browser headers the API sets (``proxy/browser.py``, open-balena-api ``src/index.ts``),
while a translated answer keeps exactly the upstream's. The simulator's side of the same rule, and the proxy in
front of it, are ``tests/test_simulator_cors.py``."""

from __future__ import annotations

import aiohttp
import pytest
from fixtures.engine.upstream import Reply, V7Fixture
from test_simulator_cors import ADDED
from test_simulator_cors import added as browser_headers_in

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "Origin": "https://dash.example"}
API_HEADERS = ADDED  # what the API sets for that client (open-balena-api src/index.ts)


@pytest.fixture
async def proxied(serve_app, start_proxy):
    fixture = V7Fixture()
    running = await start_proxy(await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena")
    return running.url, fixture


async def test_a_preflight_goes_to_the_api_under_v7(proxied):
    """The API answers preflights (its middleware, whatever the path; pinejs's own route under ``/v7/*`` for
    the supervisor and curl): the proxy forwards them with ``/v6`` made ``/v7``, the rest as given."""
    url, fixture = proxied
    preflight = {"Access-Control-Allow-Methods": "GET, PUT", "Access-Control-Max-Age": "86400", **API_HEADERS}
    fixture.queue(Reply(200, None, preflight))
    headers = {**BROWSER, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization"}
    async with aiohttp.ClientSession() as s:
        async with s.options(url + "/v6/my_application(5)?$select=app_name", headers=headers) as r:
            assert r.status == 200
            assert await r.read() == b""
            assert {name: r.headers.get(name) for name in preflight} == preflight
    [sent] = [r for r in fixture.received if r.method == "OPTIONS"]
    assert (sent.method, sent.path_qs) == ("OPTIONS", "/v7/my_application(5)?$select=app_name")
    assert sent.headers["Access-Control-Request-Method"] == "PATCH"
    assert sent.headers["Origin"] == "https://dash.example"


@pytest.mark.parametrize(
    "target",
    [
        "/v6/device?$filter=nope eq 1",  # a translation error
        "/v6/gateway_download",  # a resource answered by the proxy
        "/v6/$metadata",
        "/v6/device?$filter=(",  # malformed
    ],
)
async def test_answers_the_proxy_makes_carry_the_apis_browser_headers(proxied, target):
    url, fixture = proxied
    async with aiohttp.ClientSession() as s:
        async with s.get(url + target, headers=BROWSER) as r:
            assert browser_headers_in(r.headers) == API_HEADERS
        without_origin = {"User-Agent": BROWSER["User-Agent"]}
        async with s.get(url + target, headers=without_origin) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert fixture.v7 == []


@pytest.mark.parametrize("agent", [None, "Supervisor/14.11.2 (Linux; balenaOS 5.1.0; prod)", "curl/8.5.0"])
async def test_the_supervisor_curl_and_no_agent_get_none(proxied, agent):
    url, _ = proxied
    headers = {"Origin": "https://dash.example"} | ({"User-Agent": agent} if agent else {})
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v6/device?$filter=nope eq 1", headers=headers, skip_auto_headers=["User-Agent"]) as r:
            assert r.status == 400
            assert browser_headers_in(r.headers) == {}


async def test_a_translated_answer_keeps_the_upstreams_headers_only(proxied):
    """An upstream that sets none (an API behind its own gateway policy) is not second-guessed: the proxy adds
    them only where it answers in the API's place."""
    url, fixture = proxied
    fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v6/device?$select=id", headers=BROWSER) as r:
            assert (r.status, await r.json()) == (200, {"d": [{"id": 1}]})
            assert browser_headers_in(r.headers) == {}
    fixture.queue(Reply(200, {"d": [{"id": 1}]}, {"Access-Control-Allow-Origin": "https://other.example"}))
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v6/device?$select=id", headers=BROWSER) as r:
            assert browser_headers_in(r.headers) == {"Access-Control-Allow-Origin": "https://other.example"}
