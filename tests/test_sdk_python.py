"""The real published v6 Python SDKs (balena-sdk 14.5.0 and 12.7.0) driven through the proxy against the v7
simulator, both on loopback. Each SDK runs in its own cached virtual environment (``tests/sdk/sdkenv.py``; the
first run installs them); each call is a subprocess running ``tests/sdk/py_driver.py``.

Every test asserts what a v6 user sees (v6 names and values) and, after a write, the simulator's state.
The operations are those of ``shared/reference/sdk-14.5.0-v6-requests.txt`` and ``sdk-12.7.0-v6-requests.txt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from balena_v7_simulator.fixtures import ALICE_TOKEN, BOB_TOKEN, DEVICE_STATUS, RELEASES
from balena_v7_simulator.harness import running_pair

sys.path.insert(0, str(Path(__file__).parent))
from sdk.sdkenv import run_python_sdk

pytestmark = pytest.mark.slow  # the real balena-sdk (two versions) against the proxy

V6_DEVICE_STATUSES = {"inactive", "post-provisioning", "configuring", "offline", "updating", "idle"}
V7_ONLY_DEVICE_FIELDS = {
    "is_pinned_on__release",
    "should_be_managed_by__release",
    "changed_api_heartbeat_state_on__date",
}
UUID = {label: uuid for label, (uuid, _v7, _v6) in DEVICE_STATUS.items()}


@pytest.fixture
async def pair():
    async with running_pair(proxy_overrides={"log_level": "warning"}) as running:
        yield running
        # every request reached the simulator translated (no /v6/), and each v7 one was answerable
        assert [r for r in running.upstream_requests if r[2] >= 500 or r[1].startswith("/v6/")] == []


@pytest.fixture
def sdk(pair, tmp_path):
    """``await sdk(version, (path, args), ...)`` -> the results, one per call (raises on a driver crash)."""

    async def run(version: str, *calls: tuple[str, list], token: str = ALICE_TOKEN) -> list:
        return await run_python_sdk(version, pair.proxy_url, token, list(calls), tmp_path / version)

    return run


def ok(result: dict):
    assert "error" not in result, result
    return result["ok"]


def store_device(pair, uuid: str) -> dict:
    return pair.store.where("device", "uuid", uuid)[0]


def assert_v6_device(device: dict) -> None:
    assert device["overall_status"] in V6_DEVICE_STATUSES
    assert not V7_ONLY_DEVICE_FIELDS & set(device), device
    assert isinstance(device["actor"], int)
    assert device["logs_channel"] is None and device["vpn_address"] is None
    assert device["is_managed_by__device"] is None


# -- both generations -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "version, pin", [("14.5.0", "models.device.pin_to_release"), ("12.7.0", "models.device.set_to_release")]
)
async def test_pin_to_release_then_track_application_release(sdk, pair, version, pin):
    uuid = UUID["operational"]
    results = await sdk(
        version,
        (pin, [uuid, RELEASES["v1.0.0"]]),
        ("models.device.is_tracking_application_release", [uuid]),
        ("models.device.get", [uuid]),
    )
    ok(results[0])
    assert ok(results[1]) is False
    assert ok(results[2])["should_be_running__release"] == {"__id": 1}  # v6: the pinned release
    assert store_device(pair, uuid)["is_pinned_on__release"] == 1
    results = await sdk(
        version,
        ("models.device.track_application_release", [uuid]),
        ("models.device.is_tracking_application_release", [uuid]),
    )
    ok(results[0])
    assert ok(results[1]) is True
    assert store_device(pair, uuid)["is_pinned_on__release"] is None
    assert pair.store.device_target_release(store_device(pair, uuid)) == 2  # back on the fleet's target


@pytest.mark.parametrize(
    "version, label, supervisor, release",
    [("14.5.0", "operational", "14.11.1", 11), ("12.7.0", "reduced", "14.0.0", 10)],
)
async def test_set_supervisor_release(sdk, pair, version, label, supervisor, release):
    ok((await sdk(version, ("models.device.set_supervisor_release", [UUID[label], supervisor])))[0])
    # raspberrypi4-64 is aarch64: a release of the balena_os/aarch64-supervisor fleet
    assert store_device(pair, UUID[label])["should_be_managed_by__release"] == release


@pytest.mark.parametrize(
    "version, fleet, label", [("14.5.0", "acme/myapp", "reduced-dl"), ("12.7.0", "myapp", "updating-installs")]
)
async def test_get_all_by_application_and_service_details(sdk, version, fleet, label):
    results = await sdk(
        version,
        ("models.device.get_all_by_application", [fleet]),
        ("models.device.get_with_service_details", [UUID[label]]),
    )
    devices = ok(results[0])
    assert len(devices) == 13 and all(d["belongs_to__application"] == {"__id": 1} for d in devices)
    for device in devices:
        assert_v6_device(device)
    detailed = ok(results[1])
    assert detailed["overall_status"] == "updating"
    assert set(detailed["current_services"]) == {"main", "frontend"}
    assert {s["status"] for s in detailed["current_services"]["main"]} == {"Running", "Downloading"}


# -- balena-sdk 14.5.0 ---------------------------------------------------------------------------------------------
async def test_sdk14_device_get_all_sees_v6_devices(sdk):
    devices = ok((await sdk("14.5.0", ("models.device.get_all", [])))[0])
    assert [d["device_name"] for d in devices] == sorted(d["device_name"] for d in devices)
    assert len(devices) == 14
    for device in devices:
        assert_v6_device(device)
    pinned = next(d for d in devices if d["uuid"] == UUID["pinned"])
    assert pinned["should_be_running__release"] == {"__id": 1}
    tracking = next(d for d in devices if d["uuid"] == UUID["operational"])
    assert tracking["should_be_running__release"] is None  # v6: null = tracks the fleet


async def test_sdk14_device_get_and_status_in_every_v7_state(sdk):
    labels = list(DEVICE_STATUS)
    results = await sdk(
        "14.5.0",
        *[("models.device.get_status", [UUID[label]]) for label in labels],
        ("models.device.get", [UUID["updating"]]),
    )
    statuses = {label: ok(result) for label, result in zip(labels, results[:-1], strict=True)}
    assert statuses == {label: v6 for label, (_uuid, _v7, v6) in DEVICE_STATUS.items()}
    device = ok(results[-1])
    assert_v6_device(device)
    assert device["overall_status"] == "updating" and device["overall_progress"] == 45


async def test_sdk14_application_get_all_get_and_create(sdk, pair):
    results = await sdk(
        "14.5.0",
        ("models.application.get_all", []),
        ("models.application.get", ["acme/myapp"]),
        ("models.application.create", ["newfleet", "raspberrypi4-64", "alice"]),
    )
    apps = ok(results[0])
    assert [a["slug"] for a in apps] == ["alice/alice-fleet", "acme/myapp"]  # app_name asc, directly accessible
    app = ok(results[1])
    assert app["id"] == 1 and isinstance(app["actor"], int) and app["depends_on__application"] is None
    created = ok(results[2])
    assert created["slug"] == "alice/newfleet" and isinstance(created["actor"], int)
    row = pair.store.where("application", "slug", "alice/newfleet")[0]
    assert row["organization"] == 1 and row["is_for__device_type"] == 1


async def test_sdk14_release_get_and_latest(sdk, pair):
    results = await sdk(
        "14.5.0",
        ("models.release.get", [RELEASES["v1.1.0"]]),
        ("models.release.get", [RELEASES["draft"]]),
        ("models.release.get_latest_by_application", ["acme/myapp"]),
    )
    final = ok(results[0])
    assert final["id"] == 2 and final["release_type"] == "final" and final["is_final"] is True
    assert "is_pinned_to__device" not in final
    # v6 contract is the JSON text (PostgreSQL jsonb::text rendering), v7 an object
    assert final["contract"] == '{"name": "myapp", "type": "sw.application", "version": "1.1.0"}'
    assert pair.store.get("release", 2)["contract"] == {"type": "sw.application", "name": "myapp", "version": "1.1.0"}
    assert ok(results[1])["release_type"] == "draft"
    latest = ok(results[2])
    assert latest["id"] == 3 and latest["status"] == "success"  # newest successful, as the v6 query asks


async def test_sdk14_env_var_set_creates_then_updates(sdk, pair):
    uuid = UUID["operational"]
    ok((await sdk("14.5.0", ("models.device.env_var.set", [uuid, "FOO", "bar"])))[0])
    rows = [r for r in pair.store.where("device_environment_variable", "device", 1) if r["name"] == "FOO"]
    assert [r["value"] for r in rows] == ["bar"]
    results = await sdk(
        "14.5.0", ("models.device.env_var.set", [uuid, "FOO", "baz"]), ("models.device.env_var.get", [uuid, "FOO"])
    )
    ok(results[0])
    assert ok(results[1]) == "baz"
    rows = [r for r in pair.store.where("device_environment_variable", "device", 1) if r["name"] == "FOO"]
    assert [r["value"] for r in rows] == ["baz"]


async def test_sdk14_rename(sdk, pair):
    uuid = UUID["timeout"]
    results = await sdk("14.5.0", ("models.device.rename", [uuid, "renamed"]), ("models.device.get_name", [uuid]))
    ok(results[0])
    assert ok(results[1]) == "renamed"
    assert store_device(pair, uuid)["device_name"] == "renamed"


# -- balena-sdk 12.7.0 (hand-built URLs: quoted ids, PATCH by $filter, '&' inside $expand) --------------------
# 12.7.0 derives its own status names client-side from the v6 fields of get_with_service_details
V12_STATUS = {
    "operational": "Idle",
    "reduced": "Idle",
    "offline": "Offline",
    "configuring": "Configuring",
    "updating": "Updating",
    "updating-installs": "Updating",
    "post-provisioning": "Post Provisioning",
    "inactive": "Inactive",
    "configuring-dl": "Updating",
    "reduced-dl": "Updating",
    "timeout": "Idle",
    "pinned": "Idle",
    "novpn-control": "Idle",
}


async def test_sdk12_device_get_all_get_and_status(sdk):
    labels = list(V12_STATUS)
    results = await sdk(
        "12.7.0",
        ("models.device.get_all", []),
        ("models.device.get", [UUID["pinned"]]),
        *[("models.device.get_status", [UUID[label]]) for label in labels],
    )
    devices = ok(results[0])
    assert len(devices) == 14
    for device in devices:
        assert_v6_device(device)
    pinned = ok(results[1])
    assert pinned["uuid"] == UUID["pinned"] and pinned["should_be_running__release"] == {"__id": 1}
    assert {label: ok(r) for label, r in zip(labels, results[2:], strict=True)} == V12_STATUS


async def test_sdk12_application_get_all_get_and_create(sdk, pair):
    results = await sdk(
        "12.7.0",
        ("models.application.get_all", []),
        ("models.application.get", ["myapp"]),
        ("models.application.create", ["fleet12", "Raspberry Pi 4 (using 64bit OS)", "alice"]),
    )
    slugs = {a["slug"] for a in ok(results[0])}
    assert {"acme/myapp", "alice/alice-fleet"} <= slugs
    app = ok(results[1])
    assert app["slug"] == "acme/myapp" and isinstance(app["actor"], int)
    created = ok(results[2])
    assert created["app_name"] == "fleet12" and created["depends_on__application"] is None
    assert pair.store.where("application", "slug", "alice/fleet12")[0]["organization"] == 1


async def test_sdk12_release_get_and_latest(sdk):
    results = await sdk(
        "12.7.0", ("models.release.get", [RELEASES["v1.0.0"]]), ("models.release.get_latest_by_application", [1])
    )
    assert ok(results[0])["id"] == 1 and ok(results[0])["release_type"] == "final"
    latest = ok(results[1])
    assert latest["id"] == 3 and latest["release_type"] == "draft"


async def test_sdk12_env_var_create_and_rename(sdk, pair):
    uuid = UUID["offline"]
    results = await sdk(
        "12.7.0",
        ("models.environment_variables.device.create", [uuid, "FOO12", "bar"]),
        ("models.device.rename", [uuid, "renamed12"]),
    )
    created = ok(results[0])
    assert created["name"] == "FOO12" and created["value"] == "bar"
    ok(results[1])
    device = store_device(pair, uuid)
    assert device["device_name"] == "renamed12"
    assert [
        r["value"]
        for r in pair.store.where("device_environment_variable", "device", device["id"])
        if r["name"] == "FOO12"
    ] == ["bar"]


# -- the remaining operations of sdk-14.5.0-v6-requests.txt ----------------------------------------------------------
async def test_sdk14_fleet_release_pinning_and_tracking(sdk, pair):
    results = await sdk(
        "14.5.0",
        ("models.application.is_tracking_latest_release", ["acme/myapp"]),
        ("models.application.pin_to_release", ["acme/myapp", RELEASES["v1.0.0"]]),
        ("models.application.is_tracking_latest_release", ["acme/myapp"]),
    )
    assert ok(results[0]) is True
    ok(results[1])
    assert ok(results[2]) is False
    app = pair.store.get("application", 1)
    assert (app["should_be_running__release"], app["should_track_latest_release"]) == (1, False)
    # devices that are not pinned follow the fleet's new target
    assert pair.store.device_target_release(store_device(pair, UUID["operational"])) == 1


async def test_sdk14_releases_of_a_fleet_and_release_type_filter(sdk):
    results = await sdk(
        "14.5.0",
        ("models.release.get_all_by_application", ["acme/myapp"]),
        (
            "models.release.get_all_by_application",
            ["acme/myapp", {"$filter": {"release_type": "draft"}, "$select": ["id", "release_type"]}],
        ),
    )
    releases = ok(results[0])
    assert [r["id"] for r in releases] == [4, 3, 2, 5, 1]  # created_at desc
    assert {r["id"]: r["release_type"] for r in releases} == {
        4: "final",
        3: "draft",
        5: "final",
        2: "final",
        1: "final",
    }
    assert all("contract" in r and "is_pinned_to__device" not in r for r in releases)
    assert ok(results[1]) == [{"id": 3, "release_type": "draft"}]


async def test_sdk14_device_types_and_organizations(sdk):
    results = await sdk("14.5.0", ("models.device_type.get_all", []), ("models.organization.get_all", []))
    names = [dt["name"] for dt in ok(results[0])]
    assert names == sorted(names) and "Intel NUC" in names
    assert [o["handle"] for o in ok(results[1])] == ["acme", "alice"]  # name asc: "Acme Corp" < "alice"


async def test_sdk14_other_users_fleets_are_invisible(sdk, pair):
    results = await sdk(
        "14.5.0",
        ("models.device.get", [UUID["operational"]]),
        ("models.device.rename", [UUID["operational"], "hijacked"]),
        ("models.application.get_all", []),
        token=BOB_TOKEN,
    )
    assert results[0]["error"] == "DeviceNotFound"
    assert ok(results[1]) is None  # a PATCH matching no row the caller may write answers "OK", as on the API
    assert [a["slug"] for a in ok(results[2])] == ["bob/bobs-app"]
    assert store_device(pair, UUID["operational"])["device_name"] == "dev-operational"


async def test_sdk14_image_size_is_a_number_in_v6(sdk, pair):
    image = ok((await sdk("14.5.0", ("models.image.get", [1])))[0])
    assert image["image_size"] == 100001000 and isinstance(image["image_size"], int)
    assert pair.store.get("image", 1)["image_size"] == "100001000"  # v7 Big Integer: a string
