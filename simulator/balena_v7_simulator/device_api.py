"""The non-OData device endpoints of the recorded flows: provisioning keys, device registration, state v3.

They are what a device (or balena-cli's ``device register``) calls around the OData API and what the proxy
must pass through untouched; shapes follow the recorded pairs 10, 11, 40 and 41 of open-balena-api.
"""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from aiohttp import web

from . import writes
from .bodies import body_of
from .evaluator import Evaluator, ODataError
from .identity import WRITE, Caller, authenticate, token_of
from .store import SIM_STORE, Row, Store, now_iso

STATE_FIELDS = (
    "status",
    "os_version",
    "os_variant",
    "supervisor_version",
    "ip_address",
    "mac_address",
    "is_online",
    "api_port",
    "cpu_usage",
    "cpu_temp",
    "memory_usage",
    "memory_total",
    "storage_usage",
    "storage_total",
    "storage_block_device",
    "download_progress",
    "provisioning_progress",
    "provisioning_state",
    "is_undervolted",
    "cpu_id",
    "local_id",
    "update_status",
)


def _store(request: web.Request) -> Store:
    return request.app[SIM_STORE]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", charset="utf-8")


def _keys(store: Store, kind: str) -> dict[str, int]:
    return store.auth.setdefault(kind, {})


def _device_of_key(store: Store, request: web.Request) -> Row | None:
    device_id = _keys(store, "device_keys").get(token_of(request) or "")
    return store.get("device", device_id) if device_id is not None else None


async def provisioning_key(request: web.Request) -> web.Response:
    """``POST /api-key/application/<id>/provisioning`` -> the new key as a JSON string."""
    store = _store(request)
    caller = authenticate(store, request)
    app = store.get("application", int(request.match_info["app_id"]))
    if caller is None or app is None or caller.access(store, "application", app) < WRITE:
        return web.Response(status=401)
    key = secrets.token_urlsafe(24)[:32]
    _keys(store, "provisioning_keys")[key] = app["id"]
    return _json(key)


async def register_device(request: web.Request) -> web.Response:
    """``POST /device/register`` with a provisioning key (or a user token) -> 201 ``{id, uuid, api_key}``."""
    store = _store(request)
    body = body_of(request)
    app_id = _keys(store, "provisioning_keys").get(token_of(request) or "")
    caller = authenticate(store, request)
    if app_id is None and caller is not None:
        app_id = body.get("application")
    app = store.get("application", app_id) if app_id is not None else None
    if app is None or app_id != body.get("application"):
        return web.Response(status=401)
    owner = caller or Caller(user_id=body.get("user"), superuser=True)
    ev = Evaluator(store, owner)
    alias = store.where("device_type_alias", "is_referenced_by__alias", body.get("device_type"))
    if not alias:
        return _json(f"Unknown device type {body.get('device_type')}", status=404)
    try:
        device = writes.post(
            ev,
            store.model["device"],
            {
                "belongs_to__application": app["id"],
                "is_of__device_type": alias[0]["device_type"],
                "uuid": body.get("uuid"),
                "belongs_to__user": body.get("user"),
            },
        )
    except ODataError as err:
        return web.Response(status=err.status) if err.message is None else _json(err.message, err.status)
    api_key = body.get("api_key") or secrets.token_hex(16)
    _keys(store, "device_keys")[api_key] = device["id"]
    return _json({"id": device["id"], "uuid": device["uuid"], "api_key": api_key}, status=201)


async def get_state(request: web.Request) -> web.Response:
    """``GET /device/v3/<uuid>/state``: the device's target state (fleet, target release, config)."""
    store = _store(request)
    uuid = request.match_info["uuid"]
    device = _device_of_key(store, request)
    caller = authenticate(store, request)
    if device is None and caller is not None:
        found = [d for d in store.where("device", "uuid", uuid) if caller.access(store, "device", d)]
        device = found[0] if found else None
    if device is None or device["uuid"] != uuid:
        return web.Response(status=401)
    app = store.get("application", device["belongs_to__application"])
    target = store.get("release", store.device_target_release(device))
    releases = {target["commit"]: {"id": target["id"]}} if target else {}
    config = {r["name"]: r["value"] for r in store.where("application_config_variable", "application", app["id"])}
    config.update({r["name"]: r["value"] for r in store.where("device_config_variable", "device", device["id"])})
    return _json(
        {
            uuid: {
                "name": device["device_name"],
                "apps": {
                    app["uuid"]: {
                        "id": app["id"],
                        "name": app["app_name"],
                        "is_host": app["is_host"],
                        "class": app["is_of__class"],
                        "releases": releases,
                    }
                },
                "config": config,
            }
        }
    )


async def patch_state(request: web.Request) -> web.Response:
    """``PATCH /device/v3/state``: ``{uuid: {field: value}}`` reported by the device; empty 200."""
    store = _store(request)
    body = body_of(request)
    own = _device_of_key(store, request)
    caller = authenticate(store, request)
    for uuid, values in body.items():
        for device in store.where("device", "uuid", uuid):
            allowed = device is own or (caller is not None and caller.access(store, "device", device) >= WRITE)
            if not allowed:
                return web.Response(status=401)
            device.update({k: v for k, v in values.items() if k in STATE_FIELDS})
            if device["api_heartbeat_state"] != "online":  # a report is a heartbeat
                device["api_heartbeat_state"] = "online"
                device["changed_api_heartbeat_state_on__date"] = now_iso()
            device["last_connectivity_event"] = device["modified_at"] = now_iso()
    store.invalidate()
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api-key/application/{app_id:\\d+}/provisioning", provisioning_key)
    app.router.add_post("/device/register", register_device)
    app.router.add_get("/device/v3/{uuid}/state", get_state)
    app.router.add_patch("/device/v3/state", patch_state)
