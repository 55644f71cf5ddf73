"""Long request lines: the proxy's limit (max_request_line_bytes, 431), the real API's 16 KiB (the simulator's
431 with an empty body) and access events that cut long paths."""

from __future__ import annotations

import aiohttp
from conftest import raw_request

from balena_v7_simulator import create_simulator_app
from balena_v7_simulator.app import SIMULATOR_RUNNER_OPTIONS
from balena_v7_simulator.fixtures import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def filter_url(size: int) -> str:
    """A v7 read whose URL is about ``size`` bytes: ``$filter=id in (1,2,...)`` as SDKs build them."""
    ids: list[str] = []
    path = "/v7/device?$select=id&$filter=id%20in%20("
    n = 1
    while len(path) + len(",".join(ids)) < size - 1:
        ids.append(str(n))
        n += 1
    return path + ",".join(ids) + ")"


async def test_the_simulator_answers_431_above_16_kib_like_the_real_api(serve_app):
    url = await serve_app(create_simulator_app(), **SIMULATOR_RUNNER_OPTIONS)
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.get(url + filter_url(13_900)) as response:
            assert response.status == 200
        async with client.get(url + filter_url(18_900)) as response:
            assert response.status == 431 and await response.read() == b""


async def test_through_the_proxy_the_api_limit_reaches_the_client_unchanged(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(), **SIMULATOR_RUNNER_OPTIONS)
    proxy = await start_proxy(upstream)
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.get(proxy.url + filter_url(13_900)) as response:
            assert response.status == 200
        async with client.get(proxy.url + filter_url(18_900)) as response:
            assert response.status == 431 and await response.read() == b""


async def test_over_the_proxy_limit_is_431_naming_the_setting(serve_app, start_proxy, log_output):
    proxy = await start_proxy(
        await serve_app(create_simulator_app(), **SIMULATOR_RUNNER_OPTIONS), max_request_line_bytes=20_000
    )
    target = filter_url(25_000)
    raw = await raw_request(
        proxy.url, f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n\r\n".encode()
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 431 ", b"HTTP/1.0 431 "))
    assert body == (
        b'"Request line too long: the limit is 20000 bytes '
        b'(setting max_request_line_bytes, PROXY_MAX_REQUEST_LINE_BYTES)"'
    )
    assert b"secret" not in raw and b"id%20in" not in body
    [event] = log_output.events("request_too_long")
    assert event["status"] == 431
    # Under the limit it is served as before (the simulator's own 16 KiB rule answers this one).
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.get(proxy.url + filter_url(19_000)) as response:
            assert response.status == 431 and await response.read() == b""


async def test_a_header_field_over_16_kib_is_431_too(start_proxy):
    proxy = await start_proxy("http://127.0.0.1:9")
    raw = await raw_request(proxy.url, b"GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17_000 + b"\r\n\r\n")
    assert raw.startswith((b"HTTP/1.1 431 ", b"HTTP/1.0 431 "))
    assert raw.endswith(b'"Request header field too long: the limit is 16384 bytes"')


async def test_access_events_cut_long_paths_and_say_so(serve_app, start_proxy, log_output):
    proxy = await start_proxy(await serve_app(create_simulator_app(), **SIMULATOR_RUNNER_OPTIONS))
    async with aiohttp.ClientSession(headers=AUTH) as client:
        async with client.get(proxy.url + filter_url(6_000)) as response:
            assert response.status == 200
        async with client.get(proxy.url + "/v7/device?$select=id") as response:
            assert response.status == 200
    long, short = log_output.events("request")
    assert len(long["path"]) == 2048 and long["path"] == filter_url(6_000)[:2048] and long["path_truncated"] is True
    assert short["path"] == "/v7/device?$select=id" and "path_truncated" not in short
    assert long["pid"] == short["pid"] and isinstance(long["pid"], int)
