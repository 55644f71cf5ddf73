"""The process as an operator runs it: shutdown deadlines, SIGHUP, dead workers (subprocesses of the real CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import aiohttp
from aiohttp import web
from conftest import CliProcess, clean_env, free_port


def slow_upstream() -> web.Application:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="too late")

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(600):
            await response.write(b"tick\n")
            await asyncio.sleep(0.05)
        return response

    async def ping(_request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/slow", slow)
    app.router.add_get("/endless", endless)
    app.router.add_get("/ping", ping)
    return app


async def start(serve_app, spawn_cli, *args: str) -> tuple[CliProcess, str]:
    upstream = await serve_app(slow_upstream())
    port = free_port()
    cli = await spawn_cli("serve", "--upstream", upstream, "--port", str(port), "--log-format", "json", *args)
    await cli.wait_event("listening", count=(args.count("--workers") and int(args[args.index("--workers") + 1])) or 1)
    return cli, f"http://127.0.0.1:{port}"


async def drain_events(cli: CliProcess) -> None:
    """Read the rest of the log once the process has ended."""
    assert cli.process.stdout is not None
    for line in (await cli.process.stdout.read()).splitlines():
        if line.startswith(b"{"):
            cli.events.append(json.loads(line))


async def test_shutdown_ends_within_shutdown_timeout_and_logs_the_cut_requests(serve_app, spawn_cli):
    cli, url = await start(serve_app, spawn_cli, "--shutdown-timeout", "2")
    async with aiohttp.ClientSession() as client:
        slow = asyncio.ensure_future(client.get(url + "/slow"))
        stream = await client.get(url + "/endless")
        assert await asyncio.wait_for(stream.content.readline(), 5) == b"tick\n"
        await asyncio.sleep(0.3)  # the slow request is in flight upstream
        began = time.monotonic()
        cli.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(cli.process.wait(), 10) == 0
        elapsed = time.monotonic() - began
        with contextlib.suppress(aiohttp.ClientError):  # cut: the connection closed without an answer
            await asyncio.wait_for(slow, 5)
        stream.close()
    assert 1.9 <= elapsed < 3.0, elapsed  # shutdown_timeout (2 s) + less than 1 s, not twice the timeout
    await drain_events(cli)
    cut = [e for e in cli.events if e.get("event") == "request"]
    assert sorted(e["path"] for e in cut) == ["/endless", "/slow"]
    assert all(e["status"] == 503 and e["cut"] == "shutdown" for e in cut), cut
    [stopped] = [e for e in cli.events if e.get("event") == "stopped"]
    assert stopped["drained"] is False


async def test_default_shutdown_fits_docker_stop(serve_app, spawn_cli):
    cli, url = await start(serve_app, spawn_cli)
    async with aiohttp.ClientSession() as client:
        stream = await client.get(url + "/endless")
        await asyncio.wait_for(stream.content.readline(), 5)
        began = time.monotonic()
        cli.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(cli.process.wait(), 15) == 0
        stream.close()
    assert time.monotonic() - began < 9.0  # default 8 s + < 1 s: inside docker stop's 10 s


async def test_several_workers_end_within_shutdown_timeout_too(serve_app, spawn_cli):
    cli, url = await start(serve_app, spawn_cli, "--shutdown-timeout", "2", "--workers", "2")
    async with aiohttp.ClientSession() as client:
        stream = await client.get(url + "/endless")
        assert await asyncio.wait_for(stream.content.readline(), 5) == b"tick\n"
        began = time.monotonic()
        cli.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(cli.process.wait(), 10) == 0
        elapsed = time.monotonic() - began
        stream.close()
    assert elapsed < 3.0, elapsed
    await drain_events(cli)
    [cut] = [e for e in cli.events if e.get("event") == "request"]
    assert (cut["status"], cut["cut"]) == (503, "shutdown")


async def answer(client: aiohttp.ClientSession, url: str) -> tuple[int, object]:
    async with client.get(url) as response:
        return response.status, await response.json(content_type=None)


async def test_sigterm_withdraws_readiness_while_the_proxy_still_serves_for_shutdown_delay(serve_app, spawn_cli):
    """SIGTERM first turns /readyz to 503 (the API's error style) while the proxy still accepts and serves,
    the request in flight included, so load balancers stop sending traffic before the listener closes; then the
    usual graceful shutdown follows: the whole takes shutdown_delay + shutdown_timeout (+ < 1 s)."""
    cli, url = await start(serve_app, spawn_cli, "--shutdown-delay", "2", "--shutdown-timeout", "1")
    async with aiohttp.ClientSession() as client:
        assert await answer(client, url + "/readyz") == (200, {"status": "ready"})
        stream = await client.get(url + "/endless")
        assert await asyncio.wait_for(stream.content.readline(), 5) == b"tick\n"
        began = time.monotonic()
        cli.process.send_signal(signal.SIGTERM)
        [event] = await cli.wait_event("shutting_down")
        assert (event["delay_s"], event["timeout_s"]) == (2.0, 1.0)
        # new connections (not a kept-alive one) are still accepted and served
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as fresh:
            assert await answer(fresh, url + "/readyz") == (503, "Not ready: shutting down")
            assert await answer(fresh, url + "/healthz") == (200, {"status": "ok"})
            async with fresh.get(url + "/ping") as response:
                assert (response.status, await response.text()) == (200, "OK")
        assert time.monotonic() - began < 2.0, "the checks above ran after the delay: the test proves nothing"
        assert await asyncio.wait_for(stream.content.readline(), 5) == b"tick\n"  # still flowing
        assert await asyncio.wait_for(cli.process.wait(), 10) == 0
        elapsed = time.monotonic() - began
        stream.close()
    assert 2.9 <= elapsed < 4.0, elapsed
    await drain_events(cli)
    requests = [e for e in cli.events if e.get("event") == "request"]
    assert [(e["path"], e["status"]) for e in requests] == [("/readyz", 503), ("/ping", 200), ("/endless", 503)]
    assert requests[-1]["cut"] == "shutdown"


async def test_sighup_is_ignored_and_logged(serve_app, spawn_cli):
    cli, url = await start(serve_app, spawn_cli)
    cli.process.send_signal(signal.SIGHUP)
    [event] = await cli.wait_event("sighup_ignored")
    assert "restart" in event["message"]
    async with aiohttp.ClientSession() as client:
        async with client.get(url + "/ping") as response:
            assert response.status == 200
    assert cli.process.returncode is None
    assert await cli.stop() == 0


async def test_a_killed_worker_is_restarted_and_access_events_name_the_worker(serve_app, spawn_cli):
    cli, url = await start(serve_app, spawn_cli, "--workers", "2")
    pids = {e["pid"] for e in cli.events if e.get("event") == "listening"}
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    [exited] = await cli.wait_event("worker_exited")
    assert exited["pid"] == victim and exited["reason"] == "killed by SIGKILL" and exited["restart_in_s"] > 0
    [restarted] = await cli.wait_event("worker_restarted")
    await cli.wait_event("listening", count=3)
    pids = (pids - {victim}) | {restarted["pid"]}
    async with aiohttp.ClientSession() as client:
        for _ in range(8):
            async with client.get(url + "/ping", headers={"Connection": "close"}) as response:
                assert response.status == 200
    events = await cli.wait_event("request", count=8)
    assert {e["pid"] for e in events} <= pids
    cli.process.send_signal(signal.SIGHUP)  # the parent and both workers ignore it
    await cli.wait_event("sighup_ignored")
    assert await cli.stop() == 0


async def test_workers_dying_five_times_in_a_minute_give_up_with_a_clear_error(serve_app, spawn_cli):
    cli, _url = await start(serve_app, spawn_cli, "--workers", "2")
    alive = {e["pid"] for e in cli.events if e.get("event") == "listening"}
    for death in range(1, 5):
        os.kill(min(alive), signal.SIGKILL)
        alive.discard(min(alive))
        [*_, restarted] = await cli.wait_event("worker_restarted", count=death, timeout=20)
        alive.add(restarted["pid"])
    os.kill(min(alive), signal.SIGKILL)
    assert await asyncio.wait_for(cli.process.wait(), 20) == 1
    assert cli.process.stderr is not None
    stderr = (await cli.process.stderr.read()).decode()
    assert stderr.startswith("balena-v6-proxy: error: workers died 5 times within 60 s of starting (last: worker ")
    assert stderr.rstrip().endswith("killed by SIGKILL); giving up") and "Traceback" not in stderr


async def test_deaths_of_workers_that_served_a_while_do_not_make_the_proxy_give_up(serve_app):
    """Only deaths within the give-up window of the worker's own start count (a crash loop): five workers that
    served longer than the window, killed at once (an OOM killer's sweep), are all restarted, without back-off.
    The window is shortened to 1.5 s here (the code reads the module constant)."""
    upstream = await serve_app(slow_upstream())
    port = free_port()
    code = (
        "import sys, proxy.cli as c; c.GIVE_UP_WINDOW = 1.5; "
        f"sys.exit(c.main(['serve', '--upstream', {upstream!r}, '--port', '{port}', '--log-format', 'json', "
        "'--workers', '5']))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    )
    cli = CliProcess(process)
    try:
        victims = {e["pid"] for e in await cli.wait_event("listening", count=5, timeout=60)}
        await asyncio.sleep(1.7)  # every worker has served longer than the window
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        await cli.wait_event("worker_restarted", count=5, timeout=30)
        await cli.wait_event("listening", count=10, timeout=60)
        exits = [e for e in cli.events if e.get("event") == "worker_exited"]
        assert {e["pid"] for e in exits} == victims and {e["restart_in_s"] for e in exits} == {0.5}
        assert not [e for e in cli.events if e.get("event") == "workers_failing"]
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{port}/ping") as response:
                assert response.status == 200
        assert await cli.stop() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_worker_failing_at_startup_is_not_restarted(serve_app):
    """A failure a restart cannot fix (here the app factory raises in every worker, after the parent's checks
    passed) stops the proxy with status 1 and the reason, instead of a restart loop."""
    upstream = await serve_app(slow_upstream())
    code = (
        "import sys, proxy.cli as c\n"
        "def broken(settings): raise RuntimeError('no app today')\n"
        "c.create_app = broken\n"
        f"sys.exit(c.main(['serve', '--upstream', {upstream!r}, '--port', '{free_port()}', '--log-format', 'json', "
        "'--workers', '2']))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env()
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith(b"{")]
    assert process.returncode == 1
    worker_events = [e["event"] for e in events if e["event"].startswith("worker")]
    assert worker_events[:2] == ["workers_started", "worker_failed_to_start"]
    assert not [e for e in events if e["event"] == "worker_restarted"]
    lines = stderr.decode().splitlines()
    assert lines and set(lines) == {"balena-v6-proxy: error: start-up failed: RuntimeError: no app today"}


def test_demo_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-W", "default", "-m", "proxy", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(),
        )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"balena-v6-proxy demo: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
