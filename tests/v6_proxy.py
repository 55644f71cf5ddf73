"""Fixtures for end-to-end v6 tests, shared by every tests/test_v6_*.py (registered in conftest.py as a
plugin, so a test asks for them by name and imports nothing):

* ``env`` / ``cloud`` — the proxy (v6_mode=translate, open-balena / balena-cloud flavour) in front of a
  recording v7 upstream (:class:`fixtures.engine.upstream.V7Fixture`): queue replies, then check both sides.
* ``pair`` / ``cloud_pair`` — the proxy in front of the v7 simulator (open-balena / balena-cloud).

Module helpers: :class:`Env` (to build one by hand), :func:`call` (an admin request to a simulator pair).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
import yarl
from fixtures.engine.upstream import V7Fixture

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair

AUTH = {"Authorization": "Bearer user-token"}


class Env:
    """A running proxy (``url``, ``app``) and the recording upstream (``fixture``) behind it."""

    def __init__(self, url: str, fixture: V7Fixture, app: Any) -> None:
        self.url = url
        self.fixture = fixture
        self.app = app

    async def call(self, method: str, path: str, body=None, headers=None, raw_body: bytes | None = None):
        async with aiohttp.ClientSession(headers={**AUTH, **(headers or {})}, auto_decompress=False) as s:
            kwargs = {}
            if body is not None:
                kwargs["json"] = body
            if raw_body is not None:
                kwargs["data"] = raw_body
            url = yarl.URL(self.url + path.replace(" ", "%20"), encoded=True)
            async with s.request(method, url, **kwargs) as resp:
                data = await resp.read()
                if resp.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                return resp.status, dict(resp.headers), data

    async def json(self, method: str, path: str, body=None, **kw):
        status, _headers, data = await self.call(method, path, body, **kw)
        return status, (json.loads(data) if data else None)

    @property
    def last(self) -> str:
        """The last v7 target the upstream received, decoded for readable assertions."""
        return unquote(self.fixture.v7[-1].path_qs)


async def _env(serve_app, start_proxy, flavour: str) -> Env:
    fixture = V7Fixture()
    running = await start_proxy(await serve_app(fixture.app), v6_mode="translate", upstream_flavour=flavour)
    return Env(running.url, fixture, running.app)


@pytest.fixture
async def env(serve_app, start_proxy) -> Env:
    return await _env(serve_app, start_proxy, "open-balena")


@pytest.fixture
async def cloud(serve_app, start_proxy) -> Env:
    return await _env(serve_app, start_proxy, "balena-cloud")


@pytest.fixture
async def pair() -> AsyncIterator[Any]:
    async with running_pair(flavour="open-balena") as p:
        yield p


@pytest.fixture
async def cloud_pair() -> AsyncIterator[Any]:
    async with running_pair(flavour="balena-cloud") as p:
        yield p


async def call(base: str, method: str, path: str, body=None):
    """``(status, parsed JSON body or None)`` of an admin request to ``base`` (a simulator pair's proxy)."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
        async with s.request(method, yarl.URL(base + path.replace(" ", "%20"), encoded=True), json=body) as resp:
            data = await resp.read()
            return resp.status, (json.loads(data) if data else None)
