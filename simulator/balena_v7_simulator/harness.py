"""Runs the simulator and the proxy in front of it on loopback (for the demo and the end-to-end tests)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .app import SIM_CRASHES, SIM_LOG, SIMULATOR_RUNNER_OPTIONS, create_simulator_app
from .fixtures import ADMIN_TOKEN
from .store import SIM_STORE, Store


@dataclass
class Pair:
    """A running simulator and proxy: their base URLs (no trailing slash) and the simulator's store."""

    simulator_url: str
    proxy_url: str
    simulator: web.Application
    proxy: web.Application

    @property
    def store(self) -> Store:
        return self.simulator[SIM_STORE]

    @property
    def upstream_requests(self) -> list[tuple[str, str, int]]:
        """(method, raw path, status) of every request the simulator answered, in order."""
        return self.simulator[SIM_LOG]

    @property
    def simulator_crashes(self) -> list[tuple[str, str, str]]:
        """(method, raw path, exception) of every request a simulator bug answered with 500, in order."""
        return self.simulator[SIM_CRASHES]


async def _serve(
    app: web.Application, host: str, port: int, runner_cls: type = web.AppRunner, **runner_options: Any
) -> tuple[web.AppRunner, str]:
    """Start ``app``; a failure closes what was opened (no "Unclosed client session") and says which address."""
    runner = runner_cls(app, access_log=None, **runner_options)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
    except BaseException as exc:
        await runner.cleanup()
        if isinstance(exc, OSError) and exc.errno:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {os.strerror(exc.errno)}") from exc
        raise
    bound = runner.addresses[0][1]
    return runner, f"http://{host}:{bound}"


@asynccontextmanager
async def running_simulator(
    dataset: dict | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[tuple[web.Application, str]]:
    app = create_simulator_app(dataset, **options)
    runner, url = await _serve(app, host, port, **SIMULATOR_RUNNER_OPTIONS)
    try:
        yield app, url
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running_pair(
    dataset: dict | None = None,
    *,
    flavour: str = "balena-cloud",
    host: str = "127.0.0.1",
    simulator_port: int = 0,
    proxy_port: int = 0,
    proxy_overrides: dict | None = None,
    **sim_options: Any,
) -> AsyncIterator[Pair]:
    """Simulator on one loopback port, the proxy (``v6_mode="translate"``) on another, pointed at it."""
    from proxy.app import ProxyRunner, create_app
    from proxy.settings import load_settings

    async with running_simulator(dataset, host=host, port=simulator_port, flavour=flavour, **sim_options) as (
        sim_app,
        sim_url,
    ):
        overrides = {
            "upstream": sim_url,
            "v6_mode": "translate",
            "upstream_flavour": flavour,
            "upstream_api_key": ADMIN_TOKEN,
            "host": host,
            "port": proxy_port,
            "log_level": "warning",
        }
        overrides.update(proxy_overrides or {})
        settings = load_settings(env={}, overrides=overrides)
        proxy_app = create_app(settings)
        runner, proxy_url = await _serve(proxy_app, host, proxy_port, ProxyRunner)
        try:
            yield Pair(sim_url, proxy_url, sim_app, proxy_app)
        finally:
            await runner.cleanup()
