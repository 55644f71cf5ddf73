"""Upstream faults: a misbehaving upstream (tests/faulty_upstream.py) behind the real proxy on loopback.

Each fault is checked for what a client sees (status and the API-style message, or a cut-off stream when the
status line was sent already) and for recovery: the very next normal request through the same proxy and the
same connection pool succeeds. Translated requests (``/v6/...``, read whole and rewritten) and pass-through
requests (streamed) fail differently, so both are covered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from conftest import RunningProxy, free_port
from faulty_upstream import NOT_JSON, TRUNCATED, FaultyUpstream

TIMEOUTS = {"first_byte_timeout": 1.0, "stream_idle_timeout": 1.0, "connect_timeout": 2.0}  # above load jitter
TRANSLATED = "/v6/device"
PASS_THROUGH = "/device/v2/abc/logs"


@pytest.fixture
async def faulty() -> AsyncIterator[FaultyUpstream]:
    upstream = await FaultyUpstream().start()
    yield upstream
    await upstream.close()


async def proxy_before(start_proxy, upstream_url: str) -> RunningProxy:
    return await start_proxy(upstream_url, upstream_flavour="open-balena", **TIMEOUTS)


async def get(client: aiohttp.ClientSession, url: str, *, method: str = "GET") -> tuple[int, object]:
    async with client.request(method, url, json={} if method == "POST" else None) as r:
        body = await r.read()
        return r.status, json.loads(body) if body else None


async def assert_next_request_succeeds(client: aiohttp.ClientSession, proxy: RunningProxy) -> None:
    assert await get(client, proxy.url + TRANSLATED) == (200, {"d": []})
    assert await get(client, proxy.url + PASS_THROUGH) == (200, {"ok": True})


async def test_refused_connection_is_502_and_the_proxy_recovers_when_the_upstream_comes_back(start_proxy):
    port = free_port()
    proxy = await proxy_before(start_proxy, f"http://127.0.0.1:{port}")
    expected = f"Upstream unavailable: cannot connect to 127.0.0.1:{port} (connection refused)"
    async with aiohttp.ClientSession() as client:
        for path in (TRANSLATED, PASS_THROUGH):
            assert await get(client, proxy.url + path) == (502, expected)
        assert await get(client, proxy.url + "/readyz/upstream") == (503, expected)
        assert await get(client, proxy.url + "/readyz") == (200, {"status": "ready"})  # its own: still ready
        upstream = await FaultyUpstream().start(port)
        try:
            await assert_next_request_succeeds(client, proxy)
        finally:
            await upstream.close()


async def test_dns_failure_is_502_naming_the_host_and_the_proxy_keeps_serving(start_proxy):
    # .invalid is reserved (RFC 6761): it never resolves, so nothing is sent anywhere.
    proxy = await proxy_before(start_proxy, "http://upstream.invalid:8080")
    async with aiohttp.ClientSession() as client:
        for path in (TRANSLATED, PASS_THROUGH, TRANSLATED):
            status, message = await get(client, proxy.url + path)
            assert status == 502
            assert isinstance(message, str) and message.startswith(
                "Upstream unavailable: cannot resolve upstream.invalid ("
            )
        assert await get(client, proxy.url + "/healthz") == (200, {"status": "ok"})


@pytest.mark.parametrize("path", [TRANSLATED, PASS_THROUGH])
async def test_reset_before_the_status_line_is_502(start_proxy, faulty, path):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = ["reset_before_status"]
    async with aiohttp.ClientSession() as client:
        # POST: never re-sent by the proxy, so the client sees the reset.
        assert await get(client, proxy.url + path, method="POST") == (
            502,
            "Upstream unavailable: connection reset by upstream",
        )
        await assert_next_request_succeeds(client, proxy)
    assert faulty.served == {"reset_before_status": 1, "ok": 2}


async def test_reset_mid_body_of_a_translated_answer_is_502_never_a_partial_document(start_proxy, faulty):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = ["reset_mid_body"]
    async with aiohttp.ClientSession() as client:
        assert await get(client, proxy.url + TRANSLATED) == (
            502,
            "Upstream unavailable: the connection closed before the response was complete",
        )
        await assert_next_request_succeeds(client, proxy)


async def test_reset_mid_body_of_a_pass_through_answer_cuts_the_client_off(start_proxy, faulty, log_output):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = ["reset_mid_body"]
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + PASS_THROUGH) as r:
            assert r.status == 200  # sent before the upstream failed
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()  # a truncated body, not a clean end the client could mistake for complete
        await assert_next_request_succeeds(client, proxy)
    [broken] = log_output.events("upstream_stream_broken")
    assert broken["error"] == "ClientPayloadError"
    assert log_output.events("request")[0]["stream_broken"] == "ClientPayloadError"


@pytest.mark.parametrize("fault", ["truncated_json", "invalid_json"])
async def test_a_translated_answer_that_is_not_json_is_502(start_proxy, faulty, fault):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = [fault]
    async with aiohttp.ClientSession() as client:
        status, message = await get(client, proxy.url + TRANSLATED)
        assert status == 502
        assert isinstance(message, str)
        assert message.startswith("Bad upstream answer: the upstream answer is not valid JSON (")
        await assert_next_request_succeeds(client, proxy)


@pytest.mark.parametrize(("fault", "body"), [("truncated_json", TRUNCATED), ("invalid_json", NOT_JSON)])
async def test_a_pass_through_answer_is_passed_as_it_came_even_when_not_json(start_proxy, faulty, fault, body):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = [fault]
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + PASS_THROUGH) as r:
            assert r.status == 200 and await r.read() == body  # the proxy does not judge bodies it does not change
        await assert_next_request_succeeds(client, proxy)


@pytest.mark.parametrize("path", [TRANSLATED, PASS_THROUGH])
async def test_slow_first_byte_is_504_after_first_byte_timeout(start_proxy, faulty, path):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = ["slow_first_byte"]
    async with aiohttp.ClientSession() as client:
        started = time.monotonic()
        assert await get(client, proxy.url + path) == (504, "Upstream timeout: no response within 1 s")
        assert time.monotonic() - started < 4
        await assert_next_request_succeeds(client, proxy)


async def test_stalled_translated_answer_is_504_after_stream_idle_timeout(start_proxy, faulty):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = ["stall"]
    async with aiohttp.ClientSession() as client:
        started = time.monotonic()
        assert await get(client, proxy.url + TRANSLATED) == (504, "Upstream timeout: the response stalled for 1 s")
        assert time.monotonic() - started < 4
        await assert_next_request_succeeds(client, proxy)


async def test_stalled_pass_through_stream_is_cut_after_stream_idle_timeout(start_proxy, faulty, log_output):
    proxy = await proxy_before(start_proxy, faulty.url)
    faulty.faults = ["stall"]
    async with aiohttp.ClientSession() as client:
        started = time.monotonic()
        async with client.get(proxy.url + PASS_THROUGH) as r:
            assert r.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await asyncio.wait_for(r.read(), 5)
        assert time.monotonic() - started < 4
        await assert_next_request_succeeds(client, proxy)
    assert log_output.events("request")[0]["stream_broken"] == "SocketTimeoutError"
