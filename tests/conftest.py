"""Shared test helpers: real servers on loopback ports, captured log output, raw HTTP.

Fixtures (all function-scoped, cleaned up after the test):

* ``serve_app``   — ``await serve_app(app)`` starts any aiohttp app (a fake upstream, the simulator) on
  127.0.0.1 and returns its base URL, e.g. ``"http://127.0.0.1:41234"`` (keyword arguments go to the
  ``AppRunner``, e.g. ``max_line_size=65536``).
* ``start_proxy`` — ``await start_proxy(upstream_url, v6_mode="translate", ...)`` builds settings with
  ``load_settings(env={}, overrides=...)`` (the real environment is ignored), starts ``create_app(settings)``
  with the production runner and returns a :class:`RunningProxy` (``.url``, ``.app``, ``.settings``).
* ``log_output``  — routes structlog (and aiohttp's stdlib loggers) to a buffer as JSON lines; use
  ``log_output.text`` for "never appears" checks and ``log_output.events("request")`` for parsed events.
* ``spawn_cli``   — ``await spawn_cli("serve", "--upstream", url, "--port", str(free_port()))`` runs
  ``python -m proxy`` as a subprocess (PROXY_* variables removed) and returns a :class:`CliProcess`
  (``await cli.wait_event("listening")``, ``await cli.stop()`` sends SIGTERM).

Module helpers (``from conftest import ...``): :func:`raw_request` sends bytes over a plain socket and
returns the raw answer (for byte-exact targets and malformed requests); :func:`free_port` picks a loopback
port for subprocesses; :func:`test_settings` builds isolated settings; :func:`clean_env` is the environment
without ``PROXY_*`` variables.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from proxy.app import ProxyRunner, create_app
from proxy.logs import configure_logging, flush_pending
from proxy.settings import Settings, load_settings

# Fixture modules every test can ask for by name: the real OData parser (node), the end-to-end v6 proxies.
pytest_plugins = ["odata_node", "v6_proxy"]


@dataclass
class RunningProxy:
    url: str
    app: web.Application
    settings: Settings


class LogOutput(io.StringIO):
    """A text buffer holding one JSON log line per event.

    Access lines are written after their answers, at the output's next flush (within 50 ms): reading here
    flushes first, as waiting that long would."""

    @property
    def text(self) -> str:
        flush_pending()
        return self.getvalue()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.text.splitlines() if line.strip()]
        return [event for event in lines if name is None or event.get("event") == name]


def test_settings(**overrides: Any) -> Settings:
    """Settings for tests: packaged defaults + ``overrides``, environment ignored, JSON logs, any port."""
    return load_settings(env={}, overrides={"port": 0, "log_format": "json", **overrides})


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a test despite the name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that asks for the real OData parser (``odata_oracle``) runs node: mark it ``node``, so
    ``-m "not node"`` leaves out exactly what needs node/npm."""
    for item in items:
        if "odata_oracle" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.node)


async def _start(runner: web.BaseRunner) -> str:
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, **runner_kwargs: Any) -> str:
        runner = web.AppRunner(app, **{"access_log": None, "shutdown_timeout": 0.5, **runner_kwargs})
        runners.append(runner)
        return await _start(runner)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def start_proxy() -> AsyncIterator[Callable[..., Awaitable[RunningProxy]]]:
    runners: list[web.AppRunner] = []

    async def start(upstream: str, **overrides: Any) -> RunningProxy:
        settings = test_settings(upstream=upstream, **overrides)
        app = create_app(settings)
        runner = ProxyRunner(app, shutdown_timeout=0.5)
        runners.append(runner)
        return RunningProxy(url=await _start(runner), app=app, settings=settings)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
def log_output() -> LogOutput:
    buffer = LogOutput()
    configure_logging(test_settings(log_level="debug"), stream=buffer)
    return buffer


async def raw_request(url: str, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send ``data`` as-is to the host:port of ``url`` and read until the server closes (or ``timeout``)."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for subprocesses that need a fixed port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without PROXY_* variables, plus ``extra`` (for CLI subprocesses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_")}
    env.update(extra)
    return env


class CliProcess:
    """``python -m proxy ...`` as a subprocess whose stdout JSON log lines can be awaited."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []

    async def wait_event(self, name: str, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Read log lines until ``count`` events called ``name`` were seen; returns them."""
        assert self.process.stdout is not None

        async def read() -> list[dict[str, Any]]:
            while len(found := [e for e in self.events if e.get("event") == name]) < count:
                line = await self.process.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    raise AssertionError(f"process ended before {count} {name!r} events: {self.events}")
                if line.startswith(b"{"):
                    self.events.append(json.loads(line))
            return found

        return await asyncio.wait_for(read(), timeout)

    async def stop(self, timeout: float = 8.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            raise


@pytest.fixture
async def spawn_cli() -> AsyncIterator[Callable[..., Awaitable[CliProcess]]]:
    """``await spawn_cli("serve", "--upstream", url, "--port", str(port))`` runs the CLI; killed at teardown."""
    processes: list[CliProcess] = []

    async def spawn(*args: str, env: dict[str, str] | None = None) -> CliProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=clean_env() if env is None else env,
        )
        processes.append(CliProcess(process))
        return processes[-1]

    yield spawn
    for cli in processes:
        if cli.process.returncode is None:
            cli.process.terminate()
            try:
                await asyncio.wait_for(cli.process.wait(), 10)
            except TimeoutError:
                cli.process.kill()
                await asyncio.wait_for(cli.process.wait(), 10)
