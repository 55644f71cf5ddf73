"""Downstream faults: clients that leave, clients that stop reading, and more connections than a process keeps.

The upstream here is a real aiohttp server on loopback run with ``handler_cancellation=True``, so its handler
sees the proxy dropping the upstream call (a cancellation or a reset) exactly as a real API server would. A
client leaving mid-stream of a pass-through answer is covered in test_forwarding.py
(``test_client_leaving_a_stream_frees_the_upstream_connection``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from conftest import free_port, test_settings

from proxy.app import ProxyRunner, create_app
from proxy.listen import LimitedTCPSite


class Upstream:
    """Records when a handler started and how it ended."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.gone = asyncio.Event()
        self.ended_by: str | None = None
        self.gone_at = 0.0

    def left(self, how: str) -> None:
        self.ended_by = how
        self.gone_at = time.monotonic()
        self.gone.set()

    async def slow_answer(self, request: web.Request) -> web.Response:
        if request.path == "/v7/$metadata":  # read at start-up; open-balena answers 401 too
            return web.json_response("Unauthorized", status=401)
        self.started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.left("cancelled")
            raise
        return web.json_response({"d": []})

    async def upload(self, request: web.Request) -> web.Response:
        self.started.set()
        try:
            await request.read()
        except asyncio.CancelledError:
            self.left("cancelled")
            raise
        except (ConnectionError, aiohttp.ClientPayloadError) as exc:
            self.left(exc.__class__.__name__)
            raise
        return web.json_response({"ok": True})

    async def firehose(self, request: web.Request) -> web.StreamResponse:
        """An endless fast stream: only a reader that keeps up can drain it."""
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        self.started.set()
        chunk = b"x" * 65536
        try:
            while True:
                await response.write(chunk)
        except asyncio.CancelledError:
            self.left("cancelled")
            raise
        except ConnectionError as exc:
            self.left(exc.__class__.__name__)
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v7/{tail:.*}", self.slow_answer)
        app.router.add_post("/upload", self.upload)
        app.router.add_get("/firehose", self.firehose)
        return app


@pytest.fixture
async def upstream(serve_app) -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    yield fake, await serve_app(fake.app(), handler_cancellation=True)


async def open_raw(url: str, data: bytes, *, rcvbuf: int | None = None) -> tuple[socket.socket, int]:
    """A blocking client socket that sent ``data`` (optionally with a tiny receive buffer)."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((host, int(port)))
    sock.sendall(data)
    return sock, int(port)


def reset(sock: socket.socket) -> None:
    """Leave abruptly (RST), as a killed client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


async def test_client_leaving_a_translated_request_cancels_the_upstream_call(upstream, start_proxy, log_output):
    fake, url = upstream
    proxy = await start_proxy(url, upstream_flavour="open-balena")
    sock, _ = await open_raw(proxy.url, b"GET /v6/device HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(fake.started.wait(), 5)
    sock.close()
    await asyncio.wait_for(fake.gone.wait(), 5)
    assert fake.ended_by == "cancelled"
    await asyncio.sleep(0.05)
    [event] = [e for e in log_output.events("request") if e["path"] == "/v6/device"]
    assert event["status"] == 499


async def test_client_leaving_mid_upload_cancels_the_upstream_call(upstream, start_proxy):
    fake, url = upstream
    proxy = await start_proxy(url)
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
    sock, _ = await open_raw(proxy.url, head + b"y" * 20000)
    await asyncio.wait_for(fake.started.wait(), 5)
    reset(sock)
    await asyncio.wait_for(fake.gone.wait(), 5)
    assert fake.ended_by is not None  # cancelled, or its body read failed: either way the call ended


async def test_a_client_that_stops_reading_holds_the_upstream_no_longer_than_stream_idle_timeout(
    upstream, start_proxy, log_output
):
    fake, url = upstream
    proxy = await start_proxy(url, v6_mode="forward", stream_idle_timeout=0.5)
    sock, _ = await open_raw(proxy.url, b"GET /firehose HTTP/1.1\r\nHost: x\r\n\r\n", rcvbuf=4096)
    try:
        await asyncio.wait_for(fake.started.wait(), 5)
        started = time.monotonic()
        await asyncio.wait_for(fake.gone.wait(), 10)  # the buffers fill within moments, then 0.5 s of no progress
        assert fake.gone_at - started < 5
    finally:
        sock.close()
    await asyncio.sleep(0.05)
    [event] = [e for e in log_output.events("request") if e["path"] == "/firehose"]
    assert event["stream_broken"] == "client_stalled"
    assert log_output.events("client_stalled")
    async with aiohttp.ClientSession() as client, client.get(proxy.url + "/metrics") as scraped:
        text = await scraped.text()
    errors = [line for line in text.splitlines() if line.startswith("balena_v6_proxy_upstream_errors_total{")]
    assert errors and all(line.endswith(" 0.0") for line in errors)  # the client's stall is not the upstream's


async def healthz_over(sock: socket.socket) -> bytes:
    """Send a keep-alive health check on ``sock`` and return the answer's status line (blocking I/O in a thread)."""

    def exchange() -> bytes:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock.recv(65536).split(b"\r\n", 1)[0]

    return await asyncio.to_thread(exchange)


async def test_max_connections_makes_new_connections_wait_in_the_backlog(spawn_cli):
    port = free_port()
    cli = await spawn_cli(
        "serve",
        "--upstream",
        "http://127.0.0.1:9",
        "--port",
        str(port),
        "--log-format",
        "json",
        "--max-connections",
        "2",
    )
    await cli.wait_event("listening")
    url = f"http://127.0.0.1:{port}"
    first, _ = await open_raw(url, b"")
    second, _ = await open_raw(url, b"")
    assert await healthz_over(first) == b"HTTP/1.1 200 OK"
    assert await healthz_over(second) == b"HTTP/1.1 200 OK"
    third, _ = await open_raw(url, b"")  # the kernel completes the handshake: it waits in the backlog
    third.settimeout(0.7)
    with pytest.raises(TimeoutError):
        await healthz_over(third)  # not accepted, so not answered
    first.close()  # a slot frees: the waiting connection is accepted and its request answered
    third.settimeout(5)
    answer = await asyncio.to_thread(third.recv, 65536)
    assert answer.startswith(b"HTTP/1.1 200 OK")
    for sock in (second, third):
        sock.close()
    assert await cli.stop() == 0


async def test_a_connection_flood_is_served_without_exceeding_the_limit(serve_app):
    settings = test_settings(upstream="http://127.0.0.1:9", max_connections=8)
    runner = ProxyRunner(create_app(settings), shutdown_timeout=0.5)
    await runner.setup()
    site = LimitedTCPSite(runner, "127.0.0.1", 0, max_connections=8)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, site.open_connections)
            await asyncio.sleep(0.001)

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        status = await reader.readline()
        await asyncio.sleep(0.02)  # hold the connection a moment, like a keep-alive client
        writer.close()
        return int(status.split()[1])

    watcher = asyncio.create_task(watch())
    try:
        statuses = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(150))), 30)
    finally:
        watcher.cancel()
        await runner.cleanup()
    assert statuses == [200] * 150
    assert 1 <= peak <= 8
