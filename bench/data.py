"""The benchmark's upstream data: realistic balenaCloud v7 device lists and the requests that read them.

The rows are generated (seeded, so every run serves the same bytes) in the shape a v7 API answers
``/v7/device?$expand=belongs_to__application``: the 58 keys of a balenaCloud v7 device in the API's own
key order, references as ``{"__id": n}``, the expanded application as a one-element list holding the full
v7 application row, plus the ``image_install`` count the proxy's ``overall_status`` helper asks for.
Values vary the way a real fleet's do (online and offline devices, pinned and unpinned releases, every
``overall_status`` the translation maps), so no translation branch is skipped.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SIZES = (1, 100, 2000)
SEED = 20261206

# Every v6 device field that reads one of the row's v7 fields (the whole device, as a dashboard list asks).
V6_DEVICE_SELECT = (
    "created_at,modified_at,id,actor,api_heartbeat_state,uuid,local_id,device_name,note,is_of__device_type,"
    "is_online,last_connectivity_event,is_connected_to_vpn,last_vpn_event,is_locked_until__date,logs_channel,"
    "public_address,vpn_address,ip_address,mac_address,is_web_accessible,memory_usage,memory_total,"
    "storage_block_device,storage_usage,storage_total,cpu_usage,cpu_temp,is_undervolted,cpu_id,"
    "is_running__release,download_progress,status,os_version,os_variant,overall_status,overall_progress,"
    "supervisor_version,provisioning_progress,provisioning_state,api_port,api_secret,"
    "is_managed_by__service_instance,should_be_running__release,should_be_operated_by__release,"
    "is_managed_by__device,should_be_managed_by__supervisor_release,update_status,last_update_status_event,"
    "latitude,longitude,custom_latitude,custom_longitude,location,is_accessible_by_support_until__date,"
    "is_active,is_frozen,belongs_to__user"
)


def v6_list_target(rows: int) -> str:
    """The translated scenario's v6 request: the whole device with its application expanded, ``rows`` of them."""
    return f"/v6/device?$select={V6_DEVICE_SELECT}&$expand=belongs_to__application&$top={rows}"


PASSTHROUGH_TARGET = "/v7/device?$top=1"  # not /v6/: forwarded untouched by every system
PATCH_TARGET = "/v6/device(1001)"
PATCH_BODY = b'{"should_be_running__release": 4711}'

_ADJECTIVES = ("fried", "silent", "bold", "misty", "frosty", "lively", "proud", "quiet", "rapid", "shy", "brave")
_NOUNS = ("feather", "river", "sun", "hill", "moon", "forest", "meadow", "lake", "dust", "field", "breeze")
_STATUSES = (
    ("operational", 60),
    ("disconnected", 20),
    ("configuring", 5),
    ("updating", 5),
    ("reduced-functionality", 5),
    ("inactive", 3),
    ("post-provisioning", 2),
)
_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


def _stamp(rng: random.Random, after: datetime = _EPOCH, days: int = 1400) -> str:
    moment = after + timedelta(seconds=rng.randrange(days * 86400), milliseconds=rng.randrange(1000))
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def application_row(app_id: int, rng: random.Random) -> dict[str, Any]:
    """A full v7 application row (balenaCloud: 19 keys)."""
    name = f"{rng.choice(_ADJECTIVES)}-fleet-{app_id}"
    return {
        "created_at": _stamp(rng),
        "modified_at": _stamp(rng),
        "id": app_id,
        "actor": {"__id": 900 + app_id},
        "should_track_latest_release": True,
        "is_of__class": "fleet",
        "organization": {"__id": 7},
        "app_name": name,
        "slug": f"acme_industries/{name}",
        "is_for__device_type": {"__id": 58},
        "should_be_running__release": {"__id": 3000 + app_id},
        "application_type": {"__id": 4},
        "is_host": False,
        "is_archived": False,
        "uuid": _hex(rng, 32),
        "is_public": False,
        "is_accessible_by_support_until__date": None,
        "is_discoverable": False,
        "is_stored_at__repository_url": None,
    }


def device_row(index: int, rng: random.Random, application: dict[str, Any]) -> dict[str, Any]:
    """One v7 device row as balenaCloud answers it, with its application expanded."""
    device_id = 1001 + index
    overall = rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES])[0]
    online = overall not in ("disconnected", "inactive")
    downloading = overall in ("updating", "reduced-functionality") and rng.random() < 0.5
    release = application["should_be_running__release"]["__id"]
    pinned = rng.random() < 0.2
    created = _stamp(rng)
    seen = _stamp(rng)
    return {
        "created_at": created,
        "modified_at": _stamp(rng),
        "id": device_id,
        "actor": {"__id": 20000 + index},
        "api_heartbeat_state": "online" if online else rng.choice(("offline", "timeout", "unknown")),
        "changed_api_heartbeat_state_on__date": seen,
        "uuid": _hex(rng, 32),
        "local_id": None,
        "device_name": f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}",
        "note": None if rng.random() < 0.8 else "rack 4, shelf 2 (spare PSU)",
        "is_of__device_type": {"__id": rng.choice((58, 58, 58, 31, 114))},
        "belongs_to__application": [application],
        "is_online": online,
        "last_connectivity_event": seen,
        "is_connected_to_vpn": online,
        "last_vpn_event": seen,
        "is_locked_until__date": None,
        "public_address": f"203.0.113.{rng.randrange(1, 255)}",
        "ip_address": f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)} 10.114.{rng.randrange(256)}.1",
        "mac_address": ":".join(_hex(rng, 2) for _ in range(6)) + " " + ":".join(_hex(rng, 2) for _ in range(6)),
        "is_web_accessible": rng.random() < 0.1,
        "memory_usage": rng.randrange(200, 3500),
        "memory_total": 3796,
        "storage_block_device": "/dev/mmcblk0p6",
        "storage_usage": rng.randrange(500, 25000),
        "storage_total": 29340,
        "cpu_usage": rng.randrange(0, 100),
        "cpu_temp": rng.randrange(35, 80),
        "is_undervolted": rng.random() < 0.05,
        "cpu_id": _hex(rng, 16),
        "is_running__release": {"__id": release - (0 if rng.random() < 0.9 else 1)},
        "download_progress": rng.randrange(0, 100) if downloading else None,
        "status": "Downloading" if downloading else "Idle",
        "os_version": rng.choice(("balenaOS 5.3.10", "balenaOS 6.0.13", "balenaOS 4.0.26")),
        "os_variant": "prod",
        "overall_status": overall,
        "overall_progress": rng.randrange(0, 100) if downloading else None,
        "supervisor_version": rng.choice(("16.1.0", "16.4.6", "14.11.14")),
        "provisioning_progress": None,
        "provisioning_state": "",
        "api_port": 48484,
        "api_secret": _hex(rng, 32),
        "is_managed_by__service_instance": {"__id": rng.randrange(1, 40)},
        "is_pinned_on__release": {"__id": release - 2} if pinned else None,
        "should_be_running__release": {"__id": release - 2 if pinned else release},
        "should_be_operated_by__release": {"__id": 77},
        "should_be_managed_by__release": {"__id": 88},
        "update_status": "done" if not downloading else "downloading",
        "last_update_status_event": _stamp(rng),
        "latitude": f"{rng.uniform(-60, 60):.4f}",
        "longitude": f"{rng.uniform(-180, 180):.4f}",
        "custom_latitude": "",
        "custom_longitude": "",
        "location": rng.choice(("London, England, United Kingdom", "Athens, Attica, Greece", "Seattle, WA, US")),
        "is_accessible_by_support_until__date": None,
        "is_active": True,
        "is_frozen": False,
        "belongs_to__user": None,
        "image_install": rng.randrange(0, 2) if downloading else 0,  # the overall_status helper's $count
    }


def device_list(rows: int, seed: int = SEED) -> dict[str, Any]:
    """``{"d": [...]}`` with ``rows`` devices spread over a few fleets."""
    rng = random.Random(seed)
    apps = [application_row(app_id, rng) for app_id in range(1, 6)]
    return {"d": [device_row(i, rng, apps[i % len(apps)]) for i in range(rows)]}


def body(rows: int) -> bytes:
    """The static upstream's answer for ``rows`` devices (compact JSON, as the API sends it)."""
    return orjson.dumps(device_list(rows))


def write_bodies(directory: Path) -> dict[int, int]:
    """Write ``devices-N.json`` for every size; the byte size of each."""
    sizes = {}
    for rows in SIZES:
        data = body(rows)
        (directory / f"devices-{rows}.json").write_bytes(data)
        sizes[rows] = len(data)
    return sizes
