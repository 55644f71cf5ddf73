"""Recorded open-balena v6 writes replayed through the proxy against the v7 simulator (loaded with the
recorded database snapshot): same status and body as the real v6 server answered."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
import yarl
from test_v6_snapshot import AUTH, snapshot_dataset

from balena_v7_simulator.app import create_simulator_app

PAIRS = Path(__file__).parent / "fixtures" / "open-balena-pairs"
WRITES = [
    "23_v6_post_release_bad_release_type",
    "24_v6_post_release_conflicting_is_final",
    "33_v6_patch_device_is_managed_by_device_rejected",
    "34_v6_patch_application_depends_on_rejected",
    "89_v6_device_type_slug_unknown",
    "91_v6_device_post_is_managed_by_rejected",
    "30_v6_patch_device_should_be_running_release",
    "85_v6_patch_device_unpin",
    "86_v6_delete_env_var",
]


@pytest.fixture
async def proxy(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(snapshot_dataset(), flavour="open-balena"))
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="open-balena")
    return running.url


@pytest.mark.parametrize("name", WRITES)
async def test_recorded_write(proxy, name):
    pair = json.loads((PAIRS / f"{name}.json").read_text())
    req, want = pair["request"], pair["response"]
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.request(req["method"], yarl.URL(proxy + req["path"], encoded=True), json=req["body"]) as resp:
            data = await resp.read()
            assert resp.status == want["status"]
    assert (json.loads(data) if data else None) == want["body"]


async def test_pinning_through_v6_is_pinning_in_v7(proxy):
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.patch(proxy + "/v6/device(2)", json={"should_be_running__release": 1}) as resp:
            assert (resp.status, await resp.json()) == (200, "OK")
        async with s.get(proxy + "/v6/device(2)?$select=id,should_be_running__release") as resp:
            assert await resp.json() == {"d": [{"id": 2, "should_be_running__release": {"__id": 1}}]}
        async with s.get(proxy + "/v6/release(1)?$select=id&$expand=should_be_running_on__device($select=id)") as resp:
            body = await resp.json()
    assert {"id": 2} in body["d"][0]["should_be_running_on__device"]
