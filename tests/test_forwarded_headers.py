"""X-Forwarded-* (setting ``forwarded_headers``) against the real API's https rule, as the simulator plays it.

The real API (open-balena-api ``fixProtocolMiddleware``) answers 301 to ``https://<API host>/...`` every request
that carries ``X-Forwarded-For`` unless ``X-Forwarded-Proto`` says https. A proxy reached over plain HTTP that
invented those headers broke every call; by default the proxy adds none.
"""

from __future__ import annotations

import aiohttp
from conftest import raw_request
from test_forwarding import recording_upstream

from balena_v7_simulator import create_simulator_app
from balena_v7_simulator.fixtures import ALICE_TOKEN

AUTH = {"Authorization": f"Bearer {ALICE_TOKEN}"}


async def test_append_adds_the_client_and_keeps_what_a_terminator_set(serve_app, start_proxy):
    app, seen = recording_upstream()
    proxy = await start_proxy(await serve_app(app), forwarded_headers="append", v6_mode="forward")
    plain = b"GET /whoami HTTP/1.1\r\nHost: proxy.example\r\nConnection: close\r\n\r\n"
    assert (await raw_request(proxy.url, plain)).startswith(b"HTTP/1.1 200")
    got = {k.lower(): v for k, v in seen[-1]["headers"].items()}
    assert (got["x-forwarded-for"], got["x-forwarded-proto"], got["x-forwarded-host"]) == (
        "127.0.0.1",
        "http",
        "proxy.example",
    )
    terminated = (
        b"GET /whoami HTTP/1.1\r\nHost: proxy.example\r\nConnection: close\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: api.example\r\n\r\n"
    )
    assert (await raw_request(proxy.url, terminated)).startswith(b"HTTP/1.1 200")
    got = {k.lower(): v for k, v in seen[-1]["headers"].items()}
    assert (got["x-forwarded-for"], got["x-forwarded-proto"], got["x-forwarded-host"]) == (
        "10.0.0.1, 127.0.0.1",
        "https",
        "api.example",
    )


async def test_the_simulator_redirects_like_the_real_api(serve_app):
    url = await serve_app(create_simulator_app())
    async with aiohttp.ClientSession(headers=AUTH) as client:
        for headers, redirected in [
            ({}, False),  # no X-Forwarded-For: a trusted peer may use http
            ({"X-Forwarded-For": "10.0.0.1"}, True),
            ({"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "http"}, True),
            ({"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https"}, False),
            ({"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https, http"}, False),  # express: first value
        ]:
            async with client.get(url + "/v7/device?$select=id", headers=headers, allow_redirects=False) as r:
                assert (r.status == 301) is redirected, headers
                if redirected:
                    host = url.split("//")[1]
                    assert r.headers["Location"] == f"https://{host}/v7/device?$select=id"
        async with client.get(url + "/ping", headers={"X-Forwarded-For": "1.2.3.4"}, allow_redirects=False) as r:
            assert r.status == 200  # the API's /ping is exempt
    sim = create_simulator_app(trust_proxy=False)
    url = await serve_app(sim)
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.get(url + "/v7/device?$select=id", headers={"X-Forwarded-For": "10.0.0.1"}) as r:
            assert r.status == 200  # the switch off: the forgiving simulator of old


async def test_default_proxy_over_plain_http_works_in_front_of_the_real_rule(serve_app, start_proxy):
    proxy = await start_proxy(await serve_app(create_simulator_app()))
    async with aiohttp.ClientSession(headers=AUTH) as client:
        for path in ("/v6/device?$select=id", "/v7/device?$select=id", "/whoami", "/user/v1/whoami"):
            async with client.get(proxy.url + path, allow_redirects=False) as r:
                assert r.status == 200, path
        # A TLS terminator in front of the proxy: its headers pass, and the API accepts them.
        terminated = {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Proto": "https"}
        async with client.get(proxy.url + "/v6/device?$select=id", headers=terminated, allow_redirects=False) as r:
            assert r.status == 200
