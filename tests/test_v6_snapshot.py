"""Each full /v6/ read of the open-balena snapshot through the proxy equals the recorded v6 body.

The upstream is the v7 simulator loaded with the snapshot's v7 rows (it answers every v7 query, including the
helper ``$expand`` the proxy adds for ``overall_status``, from those rows); the proxy must turn them into
exactly the v6 body the real server recorded for the same database (tests/fixtures/open-balena-pairs/snapshot.json),
apart from the decisions' deliberate differences (gateway_download: decision 5).
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from fixtures.engine.upstream import SNAPSHOT, V7Fixture

from balena_v7_simulator.app import create_simulator_app

TOKEN = "snapshot-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def snapshot_dataset() -> dict:
    tables = {k: v["body"]["d"] for k, v in SNAPSHOT["v7"].items() if v["status"] == 200}
    return {"auth": {"tokens": {TOKEN: 2}, "superusers": [2]}, "tables": tables}


DELIBERATE = {"gateway_download"}  # v6 answered 500; the proxy answers {"d": []} (decision 5)
READABLE = sorted(k for k, v in SNAPSHOT["v6"].items() if v["status"] == 200 and k not in DELIBERATE)


@pytest.fixture
async def proxy(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(snapshot_dataset(), flavour="open-balena"))
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="open-balena")
    return running, None


@pytest.fixture
async def proxy_fixture(serve_app, start_proxy):
    fixture = V7Fixture()
    upstream = await serve_app(fixture.app)
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="open-balena")
    return running, fixture


@pytest.mark.parametrize("resource", READABLE)
async def test_full_read_matches_recorded_v6(proxy, resource):
    running, _fixture = proxy
    async with aiohttp.ClientSession(headers=AUTH) as session:
        async with session.get(f"{running.url}/v6/{resource}?$orderby=id%20asc") as resp:
            assert resp.status == 200
            body = await resp.read()
    expected = SNAPSHOT["v6"][resource]["body"]
    assert json.loads(body) == expected
    # v6 key order (decision 11): byte-level order of every object's keys
    got = json.loads(body)
    for got_row, want_row in zip(got["d"], expected["d"], strict=True):
        assert list(got_row) == list(want_row)


async def test_gateway_download_is_empty_without_asking_upstream(proxy_fixture):
    running, fixture = proxy_fixture
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{running.url}/v6/gateway_download") as resp:
            assert resp.status == 200
            assert await resp.json() == {"d": []}
        async with session.get(f"{running.url}/v6/gateway_download/$count") as resp:
            assert await resp.json() == {"d": 0}
    assert fixture.v7 == []
