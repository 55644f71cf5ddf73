"""Two flows of the JavaScript SDK 19.x (the last v6 generation, npm ``balena-sdk@19``, run with the machine's
node) through the proxy against the simulator: the modern wire style (``%27``, unwrapped ``and``, ``in (..)``).
The SDK is installed on first use under the git-ignored ``.cache/sdk/js19`` (``tests/sdk/sdkenv.py``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from balena_v7_simulator.fixtures import ALICE_TOKEN, DEVICE_STATUS, RELEASES
from balena_v7_simulator.harness import running_pair

sys.path.insert(0, str(Path(__file__).parent))
from sdk.sdkenv import run_js_sdk

pytestmark = [
    pytest.mark.node,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None, reason="node/npm are not installed on this machine"
    ),
]


@pytest.fixture
async def pair():
    async with running_pair(proxy_overrides={"log_level": "warning"}) as running:
        yield running
        assert [r for r in running.upstream_requests if r[2] >= 500 or r[1].startswith("/v6/")] == []


def ok(result: dict):
    assert "error" not in result, result
    return result["ok"]


async def test_js19_devices_of_a_fleet_with_v6_statuses(log_output, pair, tmp_path):
    results = await run_js_sdk(
        pair.proxy_url,
        ALICE_TOKEN,
        [
            (
                "models.device.getAllByApplication",
                ["acme/myapp", {"$select": ["uuid", "overall_status", "should_be_running__release"]}],
            ),
            ("models.device.getWithServiceDetails", [DEVICE_STATUS["reduced-dl"][0]]),
        ],
        tmp_path,
    )
    devices = {d["uuid"]: d for d in ok(results[0])}
    assert {uuid: devices[uuid]["overall_status"] for uuid, _v7, _v6 in DEVICE_STATUS.values()} == {
        uuid: v6 for uuid, _v7, v6 in DEVICE_STATUS.values()
    }
    assert devices[DEVICE_STATUS["pinned"][0]]["should_be_running__release"] == {"__id": 1}
    detailed = ok(results[1])
    assert detailed["overall_status"] == "updating" and set(detailed["current_services"]) == {"main", "frontend"}
    paths = [e["path"] for e in log_output.events("request") if e["path"].startswith("/v6/")]
    assert any("%27" in p for p in paths)  # the modern wire style: quotes percent-encoded


async def test_js19_pin_and_track_a_release(pair, tmp_path):
    uuid = DEVICE_STATUS["timeout"][0]
    results = await run_js_sdk(
        pair.proxy_url,
        ALICE_TOKEN,
        [
            ("models.device.pinToRelease", [uuid, RELEASES["v1.0.0"]]),
            ("models.device.isTrackingApplicationRelease", [uuid]),
        ],
        tmp_path,
    )
    ok(results[0])
    assert ok(results[1]) is False
    assert pair.store.where("device", "uuid", uuid)[0]["is_pinned_on__release"] == 1
    results = await run_js_sdk(
        pair.proxy_url,
        ALICE_TOKEN,
        [
            ("models.device.trackApplicationRelease", [uuid]),
            ("models.device.get", [uuid, {"$select": ["should_be_running__release", "overall_status"]}]),
        ],
        tmp_path,
    )
    ok(results[0])
    assert ok(results[1]) == {"should_be_running__release": None, "overall_status": "idle"}
    assert pair.store.where("device", "uuid", uuid)[0]["is_pinned_on__release"] is None
