"""v6 requests no SDK can send, made raw through the proxy against the simulator (decision 3 and friends)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ALICE_TOKEN, BOB_TOKEN
from balena_v7_simulator.harness import running_pair

pytestmark = pytest.mark.slow  # the SDKs' raw HTTP traffic against the proxy


@pytest.fixture
async def pair():
    async with running_pair(proxy_overrides={"log_level": "warning"}) as running:
        yield running


async def call(pair, method: str, target: str, token: str = ALICE_TOKEN, json_body=None):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        async with session.request(method, pair.proxy_url + target, json=json_body) as response:
            raw = await response.read()
            return response.status, (await response.json(content_type=None) if raw else None), response.headers


async def test_post_application_without_organization_uses_the_personal_organization(pair):
    status, body, headers = await call(
        pair, "POST", "/v6/application", json_body={"app_name": "NoOrg", "device_type": "raspberrypi4-64"}
    )
    assert status == 201, body
    assert body["app_name"] == "NoOrg" and body["slug"] == "alice/noorg"
    assert body["organization"] == {"__id": 1} and isinstance(body["actor"], int)  # v6: actor is an integer
    assert body["depends_on__application"] is None
    assert headers["Location"].startswith("/v6/application(@id)?@id=")
    row = pair.store.where("application", "slug", "alice/noorg")[0]
    assert row["organization"] == 1 and row["is_for__device_type"] == 1


async def test_post_application_without_organization_for_a_user_with_one_organization(pair):
    status, body, _ = await call(
        pair, "POST", "/v6/application", token=BOB_TOKEN, json_body={"app_name": "bobs-second", "device_type": "nuc"}
    )
    assert status == 201, body
    row = pair.store.where("application", "slug", "bob/bobs-second")[0]
    assert row["organization"] == 3 and row["is_for__device_type"] == 3  # 'nuc' is an alias of intel-nuc


async def test_v6_patch_answers_ok_and_changes_v7_state(pair):
    status, body, _ = await call(
        pair, "PATCH", "/v6/device?$filter=id%20eq%20'1'", json_body={"should_be_running__release": 2}
    )
    assert (status, body) == (200, "OK")
    assert pair.store.get("device", 1)["is_pinned_on__release"] == 2
    status, body, _ = await call(pair, "PATCH", "/v6/device(4242)", json_body={"device_name": "nobody"})
    assert (status, body) == (200, "OK")  # a PATCH that matched nothing also answers "OK"


async def test_device_log_stream_flows_through_the_proxy_line_by_line():
    """The stream never ends on its own; lines must arrive while it is open (the proxy must not buffer)."""
    from balena_v7_simulator.fixtures import DEVICE_STATUS

    uuid = DEVICE_STATUS["operational"][0]
    async with running_pair(proxy_overrides={"log_level": "warning"}, log_interval=0.05) as running:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ALICE_TOKEN}"}) as session:
            async with session.get(f"{running.proxy_url}/device/v2/{uuid}/logs?stream=1") as response:
                assert response.status == 200
                lines = []
                async with asyncio.timeout(10):
                    while len(lines) < 5:
                        line = await response.content.readline()
                        lines.append(json.loads(line))
    assert [line["message"] for line in lines[:3]] == [f"[dev-operational] line {i}" for i in range(3)]
    assert lines[3]["message"] == "heartbeat 1" and lines[4]["message"] == "heartbeat 2"


async def test_full_metadata_format_through_the_proxy(pair):
    status, body, _ = await call(
        pair, "GET", "/v6/device__has__name?$select=id,device&$filter=id%20eq%202&$format=json;odata.metadata=full"
    )
    assert status == 200
    assert body == {
        "d": [
            {
                "__metadata": {"uri": "/v6/device__has__name(@id)?@id=2"},
                "id": 2,
                "device": {"__deferred": {"uri": "/v6/device(@id)?@id=1"}, "__id": 1},
            }
        ]
    }
    # placed as pinejs writes them (odata-response.ts): each row's __metadata after its fields, an FK's
    # __id before its __deferred
    row = body["d"][0]
    assert (list(row), list(row["device"])) == (["id", "device", "__metadata"], ["__id", "__deferred"])
    status, body, _ = await call(
        pair,
        "GET",
        "/v6/device?$select=id&$filter=id%20eq%201&$expand=device__has__name($select=id)"
        "&$format=json;odata.metadata=full",
    )
    assert status == 200
    assert list(body["d"][0]) == ["device__has__name", "id", "__metadata"]
    names = body["d"][0]["device__has__name"]
    assert names and all(list(r) == ["id", "__metadata"] for r in names)


async def test_device_lifecycle_through_the_proxy(pair):
    """Provision, register, report state: the non-OData calls pass through, the v6 view follows the device."""
    status, key, _ = await call(pair, "POST", "/api-key/application/1/provisioning", json_body={})
    assert status == 200
    uuid = "fe" * 16
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        async with session.post(
            pair.proxy_url + "/device/register",
            json={
                "user": 1,
                "application": 1,
                "device_type": "raspberrypi4-64",
                "uuid": uuid,
                "api_key": "device-key-1",
            },
        ) as response:
            assert response.status == 201
    target = f"/v6/device(uuid='{uuid}')?$select=device_name,overall_status,is_of__device_type"
    status, body, _ = await call(pair, "GET", target)
    assert body["d"][0]["overall_status"] == "configuring" and body["d"][0]["is_of__device_type"] == {"__id": 1}
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer device-key-1"}) as session:
        async with session.patch(
            pair.proxy_url + "/device/v3/state",
            json={uuid: {"status": "Idle", "is_online": True, "os_version": "balenaOS 5.1.20"}},
        ) as response:
            assert response.status == 200
        async with session.get(pair.proxy_url + f"/device/v3/{uuid}/state") as response:
            state = await response.json()
    assert state[uuid]["apps"]["01" + "a" * 30]["releases"] == {"b" * 32: {"id": 2}}
    assert (await call(pair, "GET", target))[1]["d"][0]["overall_status"] == "idle"  # v7 reduced-functionality
