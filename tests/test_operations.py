"""Operations: health endpoints, graceful SIGTERM shutdown, several worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time

import aiohttp
from aiohttp import web
from conftest import CliProcess, free_port


def ping_app(status: int = 200, seen: list[str] | None = None) -> web.Application:
    async def ping(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append(request.path)
        return web.Response(status=status, text="OK")

    app = web.Application()
    app.router.add_get("/ping", ping)
    return app


async def get(url: str) -> tuple[int, object]:
    async with aiohttp.ClientSession() as client:
        async with client.get(url) as response:
            return response.status, await response.json(content_type=None)


async def test_healthz_answers_without_upstream(start_proxy):
    proxy = await start_proxy(f"http://127.0.0.1:{free_port()}")
    assert await get(proxy.url + "/healthz") == (200, {"status": "ok"})


async def test_readyz_is_the_proxys_own_readiness_even_with_the_upstream_down(start_proxy):
    """An upstream blip must not take every replica out of the Service: /readyz does not follow the upstream,
    /readyz/upstream (for operators) does."""
    dead = await start_proxy(f"http://127.0.0.1:{free_port()}")
    assert await get(dead.url + "/readyz") == (200, {"status": "ready"})
    status, body = await get(dead.url + "/readyz/upstream")
    assert status == 503 and isinstance(body, str) and body.startswith("Upstream unavailable: cannot connect")


async def test_readyz_asks_nothing_upstream_and_readyz_upstream_follows_it(serve_app, start_proxy):
    pings: list[str] = []
    ready = await start_proxy(await serve_app(ping_app(seen=pings)))
    assert await get(ready.url + "/readyz") == (200, {"status": "ready"})
    assert pings == []
    assert await get(ready.url + "/readyz/upstream") == (200, {"status": "ready", "upstream_status": 200})
    assert pings == ["/ping"]
    failing = await start_proxy(await serve_app(ping_app(status=500)))
    assert await get(failing.url + "/readyz") == (200, {"status": "ready"})
    assert await get(failing.url + "/readyz/upstream") == (503, "Upstream unhealthy: status 500")


async def test_successful_health_checks_are_not_access_logged(serve_app, start_proxy, log_output):
    proxy = await start_proxy(await serve_app(ping_app()))
    async with aiohttp.ClientSession() as client:
        for path in ("/healthz", "/readyz", "/readyz/upstream", "/ping"):
            async with client.get(proxy.url + path) as response:
                assert response.status == 200, path
    assert [e["path"] for e in log_output.events("request")] == ["/ping"]  # traffic is logged, probes are not


def slow_and_stream_app(started: asyncio.Event) -> web.Application:
    async def slow(_request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(1.0)
        return web.Response(text="finished")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        started.set()
        for _ in range(600):
            await response.write(b"tick\n")
            await asyncio.sleep(0.05)
        return response

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/endless", endless)
    return app


async def proxy_before_slow_upstream(serve_app, spawn_cli, *args: str) -> tuple[CliProcess, str, asyncio.Event]:
    """A CLI proxy (extra ``args``) in front of :func:`slow_and_stream_app`; (process, base URL, started)."""
    started = asyncio.Event()
    upstream = await serve_app(slow_and_stream_app(started))
    port = free_port()
    cli = await spawn_cli("serve", "--upstream", upstream, "--port", str(port), *args)
    await cli.wait_event("listening")
    return cli, f"http://127.0.0.1:{port}", started


async def test_sigterm_lets_requests_in_flight_finish(serve_app, spawn_cli):
    cli, url, started = await proxy_before_slow_upstream(serve_app, spawn_cli)
    async with aiohttp.ClientSession() as client:
        request = asyncio.ensure_future(client.get(url + "/slow"))
        await asyncio.wait_for(started.wait(), 5)
        cli.process.send_signal(signal.SIGTERM)
        response = await asyncio.wait_for(request, 10)
        assert response.status == 200 and await response.text() == "finished"
    assert await cli.stop() == 0
    await cli.wait_event("stopped")


async def test_sigterm_closes_open_streams_at_the_deadline(serve_app, spawn_cli):
    cli, url, _ = await proxy_before_slow_upstream(serve_app, spawn_cli, "--shutdown-timeout", "1")
    async with aiohttp.ClientSession() as client:
        async with client.get(url + "/endless") as response:
            assert await asyncio.wait_for(response.content.readline(), 5) == b"tick\n"
            began = time.monotonic()
            cli.process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(cli.process.wait(), 10) == 0
            elapsed = time.monotonic() - began
            # cut mid-stream: exactly what a client of a closed stream sees
            with contextlib.suppress(aiohttp.ClientPayloadError):
                await asyncio.wait_for(response.content.read(), 5)
    assert 0.9 <= elapsed < 8


async def test_two_workers_share_the_port(serve_app, spawn_cli):
    upstream = await serve_app(ping_app())
    port = free_port()
    cli = await spawn_cli("serve", "--upstream", upstream, "--port", str(port), "--workers", "2")
    listening = await cli.wait_event("listening", count=2)
    assert len({event["pid"] for event in listening}) == 2
    assert {event["port"] for event in listening} == {port}
    async with aiohttp.ClientSession() as client:
        for _ in range(6):
            async with client.get(f"http://127.0.0.1:{port}/ping") as response:
                assert response.status == 200 and await response.text() == "OK"
    assert await cli.stop() == 0


async def test_workers_exit_when_the_parent_is_killed(serve_app, spawn_cli):
    upstream = await serve_app(ping_app())
    cli = await spawn_cli("serve", "--upstream", upstream, "--port", str(free_port()), "--workers", "2")
    pids = [event["pid"] for event in await cli.wait_event("listening", count=2)]
    cli.process.kill()
    await asyncio.wait_for(cli.process.wait(), 10)
    for _ in range(100):
        if not [pid for pid in pids if alive(pid)]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"workers outlived their parent: {[pid for pid in pids if alive(pid)]}")


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper that is not ours)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
