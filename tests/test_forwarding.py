"""The pass-through path against real loopback servers: byte-exact targets, streaming, headers, errors."""

from __future__ import annotations

import asyncio
import gzip
import json

import aiohttp
import pytest
import yarl
from aiohttp import web
from conftest import free_port, raw_request

from proxy.appkeys import UPSTREAM

# Request targets as real clients send them (odata-dialect.md §5): every byte must arrive unchanged.
TARGETS = [
    "/v6/device?$filter=device_name%20eq%20%27a%2Fb%27",
    "/v6/device(uuid='abc')?$select=id,uuid",
    "/v6/application?$filter=app_name%20eq%20'O''Brien+x'&$top=1",
    "/v6/device?$filter=(name%20eq%20@a)&@a='x%20y'",
    "/v6/device?$expand=device_tag($select=tag_key;$filter=tag_key%20eq%20%27k%27)&$orderby=id%20desc",
    "/v6/device_tag?$filter=value%20eq%20'1+1%3D2'&apikey=k",
    "/device/v2/abc/logs?stream=1&count=100",
    "/v7/device?%24select=id&$filter=id%20in%20(1,2)",
    "/path%2Fwith%2Fslash?a=%E2%9C%93&b=c%26d",
]


def recording_upstream() -> tuple[web.Application, list[dict]]:
    """An upstream that answers every request with what it received (and keeps a list of them)."""
    seen: list[dict] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        record = {
            "method": request.method,
            "raw_path": request.raw_path,
            "headers": {k: v for k, v in request.headers.items()},
            "header_names": [k.lower() for k in request.headers],
            "body_len": len(body),
            "body_head": body[:16].decode("latin-1"),
        }
        seen.append(record)
        return web.json_response(record)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app, seen


@pytest.fixture
async def echo_proxy(serve_app, start_proxy):
    app, seen = recording_upstream()
    upstream = await serve_app(app, max_line_size=65536)
    proxy = await start_proxy(upstream, v6_mode="forward")  # these tests are about pass-through of /v6/ too
    return proxy, seen, upstream


async def test_request_targets_arrive_byte_exact(echo_proxy):
    proxy, seen, _ = echo_proxy
    for target in TARGETS:
        raw = await raw_request(proxy.url, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
        assert seen[-1]["raw_path"] == target


async def test_yarl_encoded_client_targets_arrive_byte_exact(echo_proxy):
    proxy, _seen, _ = echo_proxy
    async with aiohttp.ClientSession() as client:
        for target in TARGETS:
            async with client.get(yarl.URL(proxy.url + target, encoded=True)) as response:
                assert response.status == 200
                assert (await response.json())["raw_path"] == target


async def test_methods_and_bodies_are_forwarded(echo_proxy):
    proxy, seen, _ = echo_proxy
    payload = bytes(range(256)) * 4096  # 1 MiB, larger than any buffer on the way

    async def chunks():
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    async with aiohttp.ClientSession() as client:
        async with client.post(
            proxy.url + "/v6/device", data=payload, headers={"Content-Type": "application/octet-stream"}
        ) as r:
            assert r.status == 200
        assert seen[-1]["body_len"] == len(payload) and seen[-1]["method"] == "POST"
        async with client.patch(proxy.url + "/v6/device(1)", data=chunks()) as r:  # chunked upload
            assert r.status == 200
        assert seen[-1]["body_len"] == len(payload) and seen[-1]["method"] == "PATCH"
        async with client.delete(proxy.url + "/v6/device(1)") as r:
            assert r.status == 200
        assert seen[-1]["method"] == "DELETE" and "transfer-encoding" not in seen[-1]["header_names"]
        async with client.head(proxy.url + "/v6/device") as r:
            assert r.status == 200 and r.headers["Content-Length"] != "0"
            assert await r.read() == b""


async def test_end_to_end_headers_kept_hop_by_hop_dropped(echo_proxy):
    proxy, seen, upstream = echo_proxy
    request = (
        "GET /v6/device HTTP/1.1\r\n"
        "Host: proxy.example\r\n"
        "Authorization: Bearer abc\r\n"
        "Connection: close, X-Hop\r\n"
        "X-Hop: 1\r\n"
        "Keep-Alive: timeout=5\r\n"
        "TE: trailers\r\n"
        "Proxy-Authorization: Basic eA==\r\n"
        "X-Balena-Client: balena-sdk/14.5.0\r\n"
        "X-Forwarded-For: 10.0.0.1\r\n"
        "\r\n"
    )
    raw = await raw_request(proxy.url, request.encode())
    assert raw.startswith(b"HTTP/1.1 200")
    got = {k.lower(): v for k, v in seen[-1]["headers"].items()}
    assert got["authorization"] == "Bearer abc"
    assert got["x-balena-client"] == "balena-sdk/14.5.0"
    for name in ("x-hop", "keep-alive", "te", "proxy-authorization"):
        assert name not in got
    assert got["host"] == upstream.split("//")[1]
    # forwarded_headers = "keep" (the default): the client's X-Forwarded-* untouched, none invented.
    assert got["x-forwarded-for"] == "10.0.0.1"
    assert "x-forwarded-proto" not in got and "x-forwarded-host" not in got
    # Nothing invented by the client library on the way.
    assert "accept-encoding" not in got and "user-agent" not in got and "content-type" not in got


async def test_request_id_is_passed_both_ways(echo_proxy):
    proxy, seen, _ = echo_proxy
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/x", headers={"X-Request-Id": "abc-123"}) as r:
            assert r.headers["X-Request-Id"] == "abc-123"
        assert {k.lower(): v for k, v in seen[-1]["headers"].items()}["x-request-id"] == "abc-123"
        async with client.get(proxy.url + "/x") as r:
            generated = r.headers["X-Request-Id"]
        assert (
            len(generated) >= 16 and {k.lower(): v for k, v in seen[-1]["headers"].items()}["x-request-id"] == generated
        )


async def raw_upstream(response: bytes, *, seen: list[bytes] | None = None):
    """A socket-level upstream that answers every request with the fixed bytes ``response``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if seen is not None:
            seen.append(head)
        writer.write(response)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_response_hop_by_hop_dropped_and_gzip_passed_unchanged(start_proxy):
    body = gzip.compress(b'{"d":[' + b'{"id":1},' * 200 + b'{"id":2}]}')
    response = (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Encoding: gzip\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close, X-Upstream-Hop\r\n"
        b"X-Upstream-Hop: 1\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"Proxy-Authenticate: Basic\r\n"
        b"Trailer: X-Checksum\r\n"
        b"Upgrade: h2c\r\n"
        b"X-End-To-End: kept\r\n"
        b"\r\n" + body
    )
    seen: list[bytes] = []
    server, upstream = await raw_upstream(response, seen=seen)
    async with server:
        proxy = await start_proxy(upstream, v6_mode="forward")
        async with aiohttp.ClientSession(auto_decompress=False) as client:
            async with client.get(proxy.url + "/v6/device", headers={"Accept-Encoding": "gzip"}) as r:
                assert r.status == 200
                assert await r.read() == body
                assert r.headers["Content-Encoding"] == "gzip"
                assert r.headers["X-End-To-End"] == "kept"
                for name in ("X-Upstream-Hop", "Keep-Alive", "Proxy-Authenticate", "Trailer", "Upgrade"):
                    assert name not in r.headers
        assert b"\r\nAccept-Encoding: gzip\r\n" in seen[-1]


async def test_streamed_response_reaches_client_before_upstream_finishes(serve_app, start_proxy):
    release = asyncio.Event()

    async def logs(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"message":"line 1"}\n')
        await asyncio.wait_for(release.wait(), 10)  # only the client can release the rest
        await response.write(b'{"message":"line 2"}\n')
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/device/v2/{uuid}/logs", logs)
    proxy = await start_proxy(await serve_app(app))
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/device/v2/abc/logs?stream=1") as r:
            assert r.status == 200 and r.headers.get("Transfer-Encoding") == "chunked"
            first = await asyncio.wait_for(r.content.readline(), 5)
            assert first == b'{"message":"line 1"}\n'
            release.set()
            assert await asyncio.wait_for(r.content.readline(), 5) == b'{"message":"line 2"}\n'
            assert await asyncio.wait_for(r.content.read(), 5) == b""


async def test_idle_stream_is_cut_after_stream_idle_timeout(serve_app, start_proxy):
    async def silent(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first\n")
        await asyncio.sleep(30)
        return response

    app = web.Application()
    app.router.add_get("/logs", silent)
    proxy = await start_proxy(await serve_app(app), stream_idle_timeout=0.3)
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/logs") as r:
            assert await asyncio.wait_for(r.content.readline(), 5) == b"first\n"
            with pytest.raises(aiohttp.ClientPayloadError):
                await asyncio.wait_for(r.content.read(), 5)
        async with client.get(proxy.url + "/healthz") as r:
            assert r.status == 200


async def test_dead_upstream_is_502_and_proxy_keeps_serving(start_proxy):
    proxy = await start_proxy(f"http://127.0.0.1:{free_port()}", v6_mode="forward")
    async with aiohttp.ClientSession() as client:
        for _ in range(2):
            async with client.get(proxy.url + "/v6/device") as r:
                assert r.status == 502
                assert r.headers["Content-Type"] == "application/json; charset=utf-8"
                message = json.loads(await r.text())
                assert isinstance(message, str) and message.startswith("Upstream unavailable: ")
        async with client.get(proxy.url + "/healthz") as r:
            assert r.status == 200


async def test_slow_upstream_is_504_and_next_request_is_served(serve_app, start_proxy):
    async def handler(request: web.Request) -> web.Response:
        if request.path == "/slow":
            await asyncio.sleep(5)
        return web.Response(text="fast")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    proxy = await start_proxy(await serve_app(app), first_byte_timeout=0.3)
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/slow") as r:
            assert r.status == 504
            assert json.loads(await r.text()).startswith("Upstream timeout: ")
        async with client.get(proxy.url + "/fast") as r:
            assert r.status == 200 and await r.text() == "fast"


async def test_upstream_base_path_is_prefixed(serve_app, start_proxy):
    app, seen = recording_upstream()
    upstream = await serve_app(app)
    proxy = await start_proxy(upstream + "/api/", v6_mode="forward")
    raw = await raw_request(
        proxy.url, b"GET /v6/device?$filter=a%20eq%20'b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert raw.startswith(b"HTTP/1.1 200")
    assert seen[-1]["raw_path"] == "/api/v6/device?$filter=a%20eq%20'b'"


async def test_expect_100_continue_upload(echo_proxy):
    proxy, seen, _ = echo_proxy
    payload = b"x" * 300_000
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/upload", data=payload, expect100=True) as r:
            assert r.status == 200
    assert seen[-1]["body_len"] == len(payload) and "expect" not in seen[-1]["header_names"]


async def test_access_event_counts_body_bytes(echo_proxy, log_output):
    proxy, _seen, _ = echo_proxy
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/v6/device", data=b"12345") as r:
            body = await r.read()
    [event] = log_output.events("request")
    assert event["bytes_in"] == 5 and event["bytes_out"] == len(body)


async def test_client_leaving_a_stream_frees_the_upstream_connection(serve_app, start_proxy, log_output):
    upstream_gone = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(400):
                await response.write(b"tick\n")
                await asyncio.sleep(0.025)
        except (ConnectionError, asyncio.CancelledError):
            upstream_gone.set()
            raise
        return response

    app = web.Application()
    app.router.add_get("/device/v2/{uuid}/logs", endless)
    proxy = await start_proxy(await serve_app(app))
    async with aiohttp.ClientSession() as client:
        response = await client.get(proxy.url + "/device/v2/abc/logs?stream=1")
        assert await asyncio.wait_for(response.content.readline(), 5) == b"tick\n"
        response.close()
    await asyncio.wait_for(upstream_gone.wait(), 5)
    [event] = log_output.events("request")
    assert event["status"] == 499 and event["bytes_out"] >= 5


async def test_fetch_decompresses_whatever_the_client_accepts(serve_app, start_proxy):
    asked: list[str | None] = []

    async def gz(request: web.Request) -> web.Response:
        asked.append(request.headers.get("Accept-Encoding"))
        return web.Response(body=gzip.compress(b'{"d":[]}'), headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/gz", gz)
    proxy = await start_proxy(await serve_app(app))
    reply = await proxy.app[UPSTREAM].fetch("GET", "/gz", {"Accept-Encoding": "br, zstd"})
    assert reply.status == 200 and reply.body == b'{"d":[]}'
    assert "Content-Encoding" not in reply.headers and "Content-Length" not in reply.headers
    assert asked == ["gzip, deflate"]


async def test_absolute_form_targets_are_refused(echo_proxy):
    proxy, seen, _ = echo_proxy
    raw = await raw_request(
        proxy.url, b"GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert raw.split(b" ")[1] == b"400" and not seen


async def test_request_body_is_streamed_to_the_upstream(serve_app, start_proxy):
    first_chunk_arrived = asyncio.Event()

    async def upload(request: web.Request) -> web.Response:
        first = await request.content.readexactly(5)
        first_chunk_arrived.set()  # the client has not sent the rest yet
        rest = await request.content.read()
        return web.Response(text=(first + rest).decode())

    async def body():
        yield b"first"
        await asyncio.wait_for(first_chunk_arrived.wait(), 5)  # only a streaming proxy gets past this
        yield b"+rest"

    app = web.Application()
    app.router.add_post("/upload", upload)
    proxy = await start_proxy(await serve_app(app))
    async with aiohttp.ClientSession() as client:
        async with client.post(proxy.url + "/upload", data=body()) as r:
            assert r.status == 200 and await r.text() == "first+rest"


async def test_long_odata_urls_pass(echo_proxy):
    proxy, seen, _ = echo_proxy
    target = "/v6/device?$filter=id%20in%20(" + ",".join(str(n) for n in range(100000, 104000)) + ")"
    assert len(target) > 20000
    raw = await raw_request(proxy.url, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200") and seen[-1]["raw_path"] == target
