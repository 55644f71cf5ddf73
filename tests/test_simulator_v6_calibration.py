"""The /v6/ half of the calibration: every recorded /v6/ GET replayed through the proxy, in front of the
simulator loaded with the snapshot's v7 rows (open-balena mode), matches the recording's status, envelope and
key order (values may differ: the database changed between recordings), apart from the product decisions'
deliberate differences (shared/reference/README.md). Every recorded /v6/ write, replayed with its unique values
changed, answers the recorded status and envelope (a string body, e.g. "OK" or an error message, exactly). The byte-exact /v6/ snapshot reads are
``tests/test_v6_snapshot.py`` (ENGINE), which runs the same simulator.

Fixtures: ``tests/fixtures/open-balena-pairs/`` (copied from shared/reference/open-balena-pairs/).
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from test_simulator_calibration import AUTH, envelope, fresh, key_orders, recorded_gets, snapshot_dataset

from balena_v7_simulator.harness import running_pair

# pair name -> (status, envelope) the proxy answers on purpose instead of the recording
DELIBERATE = {
    "53_device_v7_only_fields__v6": (200, "collection"),  # decision 1: v7-only names are dropped, not a 500
    "68_gateway_download__v6": (200, "collection"),  # decision 5: always empty
}


@pytest.fixture
async def proxy_url():
    async with running_pair(
        snapshot_dataset(),
        flavour="open-balena",
        proxy_overrides={"log_level": "warning", "upstream_api_key": "admin-jwt"},
    ) as pair:
        yield pair.proxy_url


@pytest.mark.parametrize("pair", recorded_gets("/v6/"), ids=lambda p: p["name"])
async def test_recorded_v6_gets_through_the_proxy(proxy_url, pair):
    async with aiohttp.ClientSession() as session:
        async with session.get(proxy_url + pair["request"]["path"], headers=AUTH) as response:
            raw = await response.read()
            status = response.status
    body = json.loads(raw) if raw else None
    recorded = pair["response"]
    if pair["name"] in DELIBERATE:
        assert (status, envelope(body)) == DELIBERATE[pair["name"]]
        return
    assert (status, envelope(body)) == (recorded["status"], envelope(recorded["body"]))
    got, want = key_orders(body), key_orders(recorded["body"])
    for position in set(got) & set(want):
        assert got[position] == want[position], position


@pytest.mark.parametrize("pair", recorded_gets("/v6/", reads=False), ids=lambda p: p["name"])
async def test_recorded_v6_writes_through_the_proxy(proxy_url, pair):
    request, recorded = pair["request"], pair["response"]
    body_out = fresh(request["body"]) if request["body"] is not None else None
    async with aiohttp.ClientSession() as session:
        async with session.request(
            request["method"], proxy_url + request["path"], headers=AUTH, json=body_out
        ) as response:
            raw = await response.read()
            status, location = response.status, response.headers.get("Location")
    body = json.loads(raw) if raw else None
    assert (status, envelope(body)) == (recorded["status"], envelope(recorded["body"])), body
    if isinstance(recorded["body"], str):
        assert body == recorded["body"]
    if isinstance(body, dict):
        assert list(body) == list(recorded["body"])
        assert location == f"{request['path']}(@id)?@id={body['id']}"
