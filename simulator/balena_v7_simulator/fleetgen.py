"""Generates the bundled ``data/fleet.json``: a small but realistic balenaCloud account.

Run ``python -m balena_v7_simulator.fleetgen`` after editing; the JSON is committed so the simulator needs no
generation step. Devices cover every v7 ``overall_status`` (and the v7 states whose v6 value differs).
"""

from __future__ import annotations

import json
from pathlib import Path

T0 = "2026-01-05T10:00:00.000Z"
T1 = "2026-02-01T12:00:00.000Z"
T2 = "2026-03-01T08:30:00.000Z"
HB = "2026-03-02T09:00:00.000Z"

TOKENS = {"alice-token": 1, "bob-token": 2, "admin-token": 3}


def _stamp(row: dict, created: str = T0, modified: str | None = None) -> dict:
    return {"created_at": created, "modified_at": modified or created, **row}


def _device(id_: int, uuid: str, name: str, app: int, dt: int, **cols) -> dict:
    row = {
        "id": id_,
        "actor": 100 + id_,
        "api_heartbeat_state": "online",
        "changed_api_heartbeat_state_on__date": HB,
        "uuid": uuid,
        "local_id": None,
        "device_name": name,
        "note": None,
        "is_of__device_type": dt,
        "belongs_to__application": app,
        "is_online": True,
        "last_connectivity_event": HB,
        "is_connected_to_vpn": True,
        "last_vpn_event": HB,
        "is_locked_until__date": None,
        "public_address": f"203.0.113.{id_}",
        "ip_address": f"192.168.1.{10 + id_}",
        "mac_address": f"02:42:ac:11:00:{id_:02x}",
        "is_web_accessible": False,
        "memory_usage": 512,
        "memory_total": 4096,
        "storage_block_device": "/dev/mmcblk0",
        "storage_usage": 1200,
        "storage_total": 29000,
        "cpu_usage": 12,
        "cpu_temp": 48,
        "is_undervolted": False,
        "cpu_id": None,
        "is_running__release": 2,
        "download_progress": None,
        "status": "Idle",
        "os_version": "balenaOS 5.1.20",
        "os_variant": "prod",
        "supervisor_version": "14.0.0",
        "provisioning_progress": None,
        "provisioning_state": None,
        "api_port": 48484,
        "api_secret": None,
        "is_managed_by__service_instance": None,
        "is_pinned_on__release": None,
        "should_be_operated_by__release": None,
        "should_be_managed_by__release": None,
        "update_status": None,
        "last_update_status_event": None,
        "latitude": None,
        "longitude": None,
        "custom_latitude": None,
        "custom_longitude": None,
        "location": None,
        "is_accessible_by_support_until__date": None,
        "is_active": True,
        "is_frozen": False,
    }
    row.update(cols)
    return _stamp(row, T1, HB)


def _release(
    id_: int,
    app: int,
    commit: str,
    semver: str,
    *,
    final: bool = True,
    status: str = "success",
    revision: int = 0,
    created: str = T1,
    note: str | None = None,
    contract: dict | None = None,
) -> dict:
    major, minor, patch = (int(p) for p in semver.split("."))
    raw = semver if final else f"{semver}-1767000000{id_:03d}"
    if final and revision:
        raw = f"{semver}+rev{revision}"
    version = {
        "raw": raw,
        "build": [f"rev{revision}"] if final and revision else [],
        "major": major,
        "minor": minor,
        "patch": patch,
        "version": semver if final else raw,
        "prerelease": [] if final else [int(raw.split("-")[1])],
    }
    return _stamp(
        {
            "id": id_,
            "belongs_to__application": app,
            "commit": commit,
            "composition": {"services": {"main": {}}},
            "status": status,
            "source": "cloud",
            "build_log": None,
            "is_invalidated": False,
            "start_timestamp": created,
            "end_timestamp": created,
            "update_timestamp": created,
            "release_version": None,
            "contract": contract,
            "is_passing_tests": True,
            "is_finalized_at__date": created if final else None,
            "phase": None,
            "is_final": final,
            "semver": semver,
            "semver_major": major,
            "semver_minor": minor,
            "semver_patch": patch,
            "semver_prerelease": "" if final else raw.split("-")[1],
            "semver_build": "",
            "variant": "",
            "revision": revision if final else None,
            "raw_version": raw,
            "version": version,
            "known_issue_list": None,
            "note": note,
            "invalidation_reason": None,
            "is_created_by__user": 1,
        },
        created,
    )


def build() -> dict:
    t: dict[str, list[dict]] = {}
    t["user"] = [
        _stamp(
            {
                "id": 1,
                "actor": 1,
                "username": "alice",
                "password": "x",
                "jwt_secret": None,
                "email": "alice@example.com",
                "has_legacy_link_to__organization": None,
            }
        ),
        _stamp(
            {
                "id": 2,
                "actor": 2,
                "username": "bob",
                "password": "x",
                "jwt_secret": None,
                "email": "bob@example.com",
                "has_legacy_link_to__organization": None,
            }
        ),
        _stamp(
            {
                "id": 3,
                "actor": 3,
                "username": "admin",
                "password": "x",
                "jwt_secret": None,
                "email": "admin@example.com",
                "has_legacy_link_to__organization": None,
            }
        ),
    ]
    org_cols = {
        "company_name": None,
        "billing_account_code": None,
        "has_past_due_invoice_since__date": None,
        "is_frozen": False,
        "industry": None,
        "website": None,
        "logo_image": None,
        "is_using__billing_version": None,
        "is_enforcing_saml_login": False,
    }
    t["organization"] = [
        _stamp({"id": 1, "name": "alice", "handle": "alice", **org_cols}),
        _stamp({"id": 2, "name": "Acme Corp", "handle": "acme", **org_cols}),
        _stamp({"id": 3, "name": "bob", "handle": "bob", **org_cols}),
        _stamp({"id": 4, "name": "balena_os", "handle": "balena_os", **org_cols}),
    ]
    t["organization_membership"] = [
        _stamp(
            {
                "user": u,
                "is_member_of__organization": o,
                "id": i,
                "organization_membership_role": 1,
                "effective_seat_role": "member",
            }
        )
        for i, (u, o) in enumerate([(1, 1), (1, 2), (2, 3), (3, 4)], start=1)
    ]
    t["cpu_architecture"] = [
        _stamp({"id": i, "slug": s}) for i, s in enumerate(["rpi", "armv7hf", "aarch64", "amd64", "i386"], start=1)
    ]
    t["device_manufacturer"] = [
        _stamp({"id": 1, "slug": "raspberry-pi", "name": "Raspberry Pi"}),
        _stamp({"id": 2, "slug": "intel", "name": "Intel"}),
    ]
    t["device_family"] = [
        _stamp({"id": 1, "slug": "raspberrypi", "name": "Raspberry Pi", "is_manufactured_by__device_manufacturer": 1})
    ]
    dts = [
        (1, "raspberrypi4-64", "Raspberry Pi 4 (using 64bit OS)", 3, 1),
        (2, "raspberrypi3", "Raspberry Pi 3", 2, 1),
        (3, "intel-nuc", "Intel NUC", 4, None),
        (4, "fincm3", "Balena Fin (CM3)", 2, None),
        (5, "generic-aarch64", "Generic AARCH64", 3, None),
        (6, "raspberry-pi", "Raspberry Pi (v1 / Zero / Zero W)", 1, 1),
    ]
    t["device_type"] = [
        _stamp(
            {
                "id": i,
                "slug": s,
                "name": n,
                "is_of__cpu_architecture": a,
                "logo": None,
                "contract": {"slug": s, "name": n, "type": "sw.device-type"},
                "belongs_to__device_family": f,
                "is_private": False,
            }
        )
        for i, s, n, a, f in dts
    ]
    aliases = [
        (1, "raspberrypi4-64"),
        (2, "raspberrypi3"),
        (3, "intel-nuc"),
        (3, "nuc"),
        (4, "fincm3"),
        (5, "generic-aarch64"),
        (6, "raspberry-pi"),
        (6, "raspberrypi"),
    ]
    t["device_type_alias"] = [
        _stamp({"device_type": d, "is_referenced_by__alias": a, "id": i}) for i, (d, a) in enumerate(aliases, start=1)
    ]
    t["application_type"] = [
        _stamp(
            {
                "id": 1,
                "name": "Default",
                "supports_web_url": True,
                "supports_multicontainer": True,
                "supports_gateway_mode": True,
                "needs__os_version_range": ">=2.11.0",
                "requires_payment": False,
                "is_legacy": False,
                "slug": "default",
                "description": "Default application type",
                "maximum_device_count": None,
            }
        )
    ]
    app_cols = {
        "application_type": 1,
        "is_archived": False,
        "is_accessible_by_support_until__date": None,
        "is_discoverable": False,
        "is_stored_at__repository_url": None,
        "is_of__class": "fleet",
    }
    apps = [
        (1, 11, "myapp", "acme/myapp", 2, 1, 2, False, False, True),
        (2, 12, "alice-fleet", "alice/alice-fleet", 1, 3, 7, False, False, True),
        (3, 13, "bobs-app", "bob/bobs-app", 3, 2, None, False, False, True),
        (4, 14, "aarch64-supervisor", "balena_os/aarch64-supervisor", 4, 5, 11, False, True, True),
        (5, 15, "armv7hf-supervisor", "balena_os/armv7hf-supervisor", 4, 2, 13, False, True, True),
        (6, 16, "amd64-supervisor", "balena_os/amd64-supervisor", 4, 3, 14, False, True, True),
        (7, 17, "raspberrypi4-64", "balena_os/raspberrypi4-64", 4, 1, None, True, True, True),
        (8, 18, "intel-nuc", "balena_os/intel-nuc", 4, 3, None, True, True, True),
    ]
    t["application"] = [
        _stamp(
            {
                "id": i,
                "actor": actor,
                "should_track_latest_release": track,
                "is_of__class": "fleet",
                "organization": org,
                "app_name": name,
                "slug": slug,
                "is_for__device_type": dt,
                "should_be_running__release": target,
                "application_type": 1,
                "is_host": host,
                "is_archived": False,
                "uuid": f"{i:02d}" + "a" * 30,
                "is_public": public,
                **{k: v for k, v in app_cols.items() if k not in ("application_type", "is_archived", "is_of__class")},
            }
        )
        for i, actor, name, slug, org, dt, target, host, public, track in apps
    ]
    t["release"] = [
        _release(1, 1, "a" * 31 + "1", "1.0.0", created="2026-01-10T10:00:00.000Z", note="first"),
        _release(
            2,
            1,
            "b" * 32,
            "1.1.0",
            created="2026-01-20T10:00:00.000Z",
            contract={"type": "sw.application", "name": "myapp", "version": "1.1.0"},
        ),
        _release(3, 1, "c" * 31 + "3", "1.2.0", final=False, created="2026-02-10T10:00:00.000Z"),
        _release(4, 1, "d" * 31 + "4", "1.3.0", status="failed", created="2026-02-20T10:00:00.000Z"),
        _release(5, 1, "e" * 31 + "5", "1.0.0", revision=1, created="2026-01-15T10:00:00.000Z"),
        _release(6, 2, "f" * 31 + "6", "0.1.0", created="2026-01-11T10:00:00.000Z"),
        _release(7, 2, "f" * 31 + "7", "0.2.0", created="2026-01-12T10:00:00.000Z"),
        _release(10, 4, "5" * 31 + "a", "14.0.0", created="2025-06-01T10:00:00.000Z"),
        _release(11, 4, "5" * 31 + "b", "14.11.1", created="2025-09-01T10:00:00.000Z"),
        _release(12, 4, "5" * 31 + "c", "15.0.0", final=False, created="2025-10-01T10:00:00.000Z"),
        _release(13, 5, "5" * 31 + "d", "14.0.0", created="2025-06-01T10:00:00.000Z"),
        _release(14, 6, "5" * 31 + "e", "14.0.0", created="2025-06-01T10:00:00.000Z"),
    ]
    t["service"] = [
        _stamp({"application": 1, "service_name": "main", "id": 1}),
        _stamp({"application": 1, "service_name": "frontend", "id": 2}),
        _stamp({"application": 2, "service_name": "main", "id": 3}),
        _stamp({"application": 4, "service_name": "balena-supervisor", "id": 4}),
    ]
    images, release_images = [], []
    for rel, services in [
        (1, (1, 2)),
        (2, (1, 2)),
        (3, (1, 2)),
        (5, (1, 2)),
        (6, (3,)),
        (7, (3,)),
        (10, (4,)),
        (11, (4,)),
    ]:
        for svc in services:
            img = len(images) + 1
            images.append(
                _stamp(
                    {
                        "id": img,
                        "start_timestamp": T1,
                        "end_timestamp": T1,
                        "dockerfile": None,
                        "is_a_build_of__service": svc,
                        "image_size": str(100000000 + img * 1000),
                        "is_stored_at__image_location": f"registry.example.com/v2/{img:032x}",
                        "project_type": "Dockerfile",
                        "error_message": None,
                        "build_log": None,
                        "push_timestamp": T1,
                        "status": "success",
                        "content_hash": f"sha256:{img:064x}",
                        "contract": None,
                    }
                )
            )
            release_images.append(_stamp({"image": img, "is_part_of__release": rel, "id": len(release_images) + 1}))
    t["image"], t["release_image"] = images, release_images
    image_of = {
        (r["is_part_of__release"], images[r["image"] - 1]["is_a_build_of__service"]): r["image"] for r in release_images
    }

    fleet = [  # (uuid, name, columns): app 1 (acme/myapp), raspberrypi4-64
        ("operational", {}),
        ("reduced", {"is_connected_to_vpn": False}),  # online, VPN enabled
        (
            "offline",
            {"api_heartbeat_state": "offline", "is_online": False, "is_connected_to_vpn": False, "status": None},
        ),
        (
            "configuring",
            {
                "api_heartbeat_state": "unknown",
                "is_online": False,
                "is_connected_to_vpn": False,
                "last_connectivity_event": None,
                "last_vpn_event": None,
                "status": None,
                "os_version": None,
                "supervisor_version": None,
                "is_running__release": None,
            },
        ),
        ("updating", {"download_progress": 45, "status": "Downloading"}),
        ("updating-installs", {"api_heartbeat_state": "timeout"}),  # an image install downloads
        ("post-provisioning", {"provisioning_state": "Post-Provisioning"}),
        (
            "inactive",
            {"is_active": False, "api_heartbeat_state": "offline", "is_online": False, "is_connected_to_vpn": False},
        ),
        (
            "configuring-dl",
            {
                "api_heartbeat_state": "offline",
                "provisioning_progress": 10,
                "download_progress": 30,
                "status": "Downloading",
            },
        ),  # v6: updating
        ("reduced-dl", {"api_heartbeat_state": "offline"}),  # v6: updating (installs)
        ("timeout", {"api_heartbeat_state": "timeout"}),  # v6: idle
        ("pinned", {"is_pinned_on__release": 1, "is_running__release": 1}),
        ("novpn-control", {"is_connected_to_vpn": False}),  # VPN control off: operational
    ]
    devices = []
    for n, (label, cols) in enumerate(fleet, start=1):
        uuid = f"{n:02x}" + "d" * 30
        devices.append(_device(n, uuid, f"dev-{label}", 1, 1, **cols))
    devices.append(
        _device(
            20,
            "a1" + "e" * 30,
            "alice-nuc",
            2,
            3,
            is_running__release=7,
            os_version="balenaOS 5.1.20",
            supervisor_version="14.0.0",
        )
    )
    devices.append(_device(30, "b0" + "f" * 30, "bobs-pi", 3, 2, is_running__release=None, supervisor_version="12.0.0"))
    t["device"] = devices

    installs, service_installs = [], []
    downloading = {"updating-installs": 60, "reduced-dl": 70}
    for dev in devices:
        label = dev["device_name"].removeprefix("dev-")
        rel = dev["is_running__release"]
        services = (
            [1, 2] if dev["belongs_to__application"] == 1 else ([3] if dev["belongs_to__application"] == 2 else [])
        )
        for svc in services:
            service_installs.append(
                _stamp({"device": dev["id"], "installs__service": svc, "id": len(service_installs) + 1}, T1)
            )
            if rel is None:
                continue
            installs.append(
                _stamp(
                    {
                        "device": dev["id"],
                        "installs__image": image_of[(rel, svc)],
                        "id": len(installs) + 1,
                        "install_date": T1,
                        "download_progress": None,
                        "status": "Running",
                        "is_provided_by__release": rel,
                    },
                    T1,
                )
            )
            if label in downloading:
                installs.append(
                    _stamp(
                        {
                            "device": dev["id"],
                            "installs__image": image_of[(5, svc)],
                            "id": len(installs) + 1,
                            "install_date": T2,
                            "download_progress": downloading[label],
                            "status": "Downloading",
                            "is_provided_by__release": 5,
                        },
                        T2,
                    )
                )
        if label == "operational":
            installs.append(
                _stamp(
                    {
                        "device": dev["id"],
                        "installs__image": image_of[(1, 1)],
                        "id": len(installs) + 1,
                        "install_date": T0,
                        "download_progress": None,
                        "status": "deleted",
                        "is_provided_by__release": 1,
                    },
                    T0,
                )
            )
    t["image_install"], t["service_install"] = installs, service_installs

    t["device_environment_variable"] = [_stamp({"device": 1, "name": "LOG_LEVEL", "id": 1, "value": "debug"})]
    t["device_config_variable"] = [
        _stamp({"device": 13, "name": "BALENA_SUPERVISOR_VPN_CONTROL", "id": 1, "value": "false"}),
        _stamp({"device": 1, "name": "BALENA_HOST_CONFIG_gpu_mem", "id": 2, "value": "64"}),
    ]
    t["application_environment_variable"] = [
        _stamp({"application": 1, "name": "API_URL", "id": 1, "value": "https://example.com"})
    ]
    t["application_config_variable"] = [
        _stamp({"application": 1, "name": "BALENA_SUPERVISOR_POLL_INTERVAL", "id": 1, "value": "900000"})
    ]
    t["service_environment_variable"] = [_stamp({"service": 1, "name": "PORT", "id": 1, "value": "8080"})]
    t["device_service_environment_variable"] = [_stamp({"service_install": 1, "name": "DEBUG", "id": 1, "value": "1"})]
    t["device_tag"] = [
        _stamp({"device": 1, "tag_key": "location", "id": 1, "value": "lab"}),
        _stamp({"device": 2, "tag_key": "location", "id": 2, "value": "field"}),
    ]
    t["application_tag"] = [_stamp({"application": 1, "tag_key": "team", "id": 1, "value": "platform"})]
    t["release_tag"] = [_stamp({"release": 2, "tag_key": "version", "id": 1, "value": "v1.1"})]
    t["device_history"] = [
        _stamp(
            {
                "id": 1,
                "end_timestamp": None,
                "uuid": d["uuid"],
                "is_active": True,
                "os_version": d["os_version"],
                "os_variant": "prod",
                "supervisor_version": d["supervisor_version"],
                "cpu_id": None,
                "is_created_by__actor": 1,
                "is_ended_by__actor": None,
                "tracks__device": d["id"],
                "tracks__actor": d["actor"],
                "belongs_to__application": d["belongs_to__application"],
                "is_running__release": d["is_running__release"],
                "is_pinned_on__release": None,
                "is_managed_by__service_instance": None,
                "is_of__device_type": d["is_of__device_type"],
                "should_be_managed_by__release": None,
            },
            T1,
        )
        for d in devices[:2]
    ]
    for n, row in enumerate(t["device_history"], start=1):
        row["id"] = n
    logs = {
        d["uuid"]: [
            {
                "message": f"[{d['device_name']}] line {i}",
                "timestamp": 1767607200000 + i * 1000,
                "createdAt": 1767607200000 + i * 1000,
                "isStdErr": False,
                "isSystem": i == 0,
                "serviceId": None if i == 0 else 1,
            }
            for i in range(3)
        ]
        for d in devices
    }
    return {
        "description": "bundled balenaCloud-like fleet for the v7 simulator (generated by fleetgen.py)",
        "auth": {"tokens": TOKENS, "superusers": [3]},
        "next_actor": 200,
        "tables": t,
        "logs": logs,
    }


def main() -> None:
    path = Path(__file__).with_name("data") / "fleet.json"
    path.write_text(json.dumps(build(), indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main()
