"""The simulator's in-memory database: raw rows per resource, indexes, ids, and the server-computed values.

Rows hold raw columns only: a foreign key is a plain id (or None), never ``{"__id": n}``. Values the real
server computes (``device.overall_status``, ``device.should_be_running__release``, ``release.is_final``, ...)
are computed here on read, from the same raw columns and with the same rules as open-balena-api's
``device-additions.ts`` (spec §2.4, v7 side), so that a write changes them the way it would upstream.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from aiohttp import web

from .model import DERIVED_ON_READ, Model, Resource

Row = dict[str, Any]


def now_iso() -> str:
    """A Date Time as the API writes it (``Date#toISOString()``)."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def load_dataset(name: str = "fleet") -> dict:
    """A deep copy of a bundled dataset (``simulator/balena_v7_simulator/data/<name>.json``)."""
    text = resources.files("balena_v7_simulator.data").joinpath(f"{name}.json").read_text()
    return json.loads(text)


def unwrap(value: Any) -> Any:
    """``{"__id": n}`` (as v7 responses carry FKs) -> n; anything else unchanged."""
    if isinstance(value, dict) and set(value) == {"__id"}:
        return value["__id"]
    return value


class Store:
    """Tables of raw rows with lazily built indexes that any write invalidates."""

    def __init__(self, model: Model, dataset: dict) -> None:
        self.model = model
        dataset = copy.deepcopy(dataset)
        self.auth: dict = dataset.get("auth", {})
        self.logs: dict[str, list[dict]] = dataset.get("logs", {})
        self.tables: dict[str, list[Row]] = {name: [] for name in model.resources}
        self._next_id: dict[str, int] = {}
        self._index: dict[tuple[str, str], dict[Any, list[Row]]] = {}
        self.next_actor = 1
        for name, rows in dataset.get("tables", {}).items():
            res = model.resolve(name)
            if res is None:
                continue
            for row in rows:
                self.tables[res.name].append(self._normalise(res, row))
        for name, rows in self.tables.items():
            ids = [r["id"] for r in rows if isinstance(r.get("id"), int)]
            self._next_id[name] = max(ids, default=0) + 1
            for r in rows:
                actor = r.get("actor")
                if isinstance(actor, int):
                    self.next_actor = max(self.next_actor, actor + 1)
        self.next_actor = max(self.next_actor, int(dataset.get("next_actor", 1)))

    # -- loading -------------------------------------------------------------------------------------------
    def _normalise(self, res: Resource, row: Row) -> Row:
        out = {k: unwrap(v) for k, v in row.items()}
        if res.name == "release":
            if out.get("is_final") and out.get("revision") is None:
                out["revision"] = 0
            if out.get("is_final") is False:
                out["revision"] = None
        for col in DERIVED_ON_READ.get(res.name, ()):
            if col != "is_final":  # a release's is_final is read from its revision, kept consistent above
                out.pop(col, None)
        for col in res.key_order:
            out.setdefault(col, None)
        return out

    # -- reading -------------------------------------------------------------------------------------------
    def rows(self, resource: str) -> list[Row]:
        if resource == "user__has_direct_access_to__application":
            return self._direct_access_rows()
        return self.tables.get(resource, [])

    def get(self, resource: str, id_: Any) -> Row | None:
        found = self.where(resource, "id", id_)
        return found[0] if found else None

    def where(self, resource: str, column: str, value: Any) -> list[Row]:
        """Rows whose raw ``column`` equals ``value`` (indexed)."""
        key = (resource, column)
        index = self._index.get(key)
        if index is None:
            index = {}
            for row in self.rows(resource):
                v = self.value(resource, row, column)
                if v is not None and not isinstance(v, (dict, list)):
                    index.setdefault(v, []).append(row)
            self._index[key] = index
        return index.get(value, [])

    def value(self, resource: str, row: Row, column: str) -> Any:
        """A column's value as the API reports it, computing the server-computed ones."""
        if resource == "device":
            if column == "overall_status":
                return self.overall_status(row)
            if column == "overall_progress":
                return self.overall_progress(row)
            if column == "should_be_running__release":
                return self.device_target_release(row)
        elif resource == "release" and column == "is_final":
            return row.get("revision") is not None
        return row.get(column)

    def _direct_access_rows(self) -> list[Row]:
        """``user__has_direct_access_to__application``: recorded rows, plus one per (member, fleet of the org)."""
        key = ("user__has_direct_access_to__application", "*")
        cached = self._index.get(key)
        if cached is not None:
            return cached[None]
        rows = list(self.tables.get("user__has_direct_access_to__application", []))
        seen = {(r["user"], r["has_direct_access_to__application"]) for r in rows}
        for membership in self.tables.get("organization_membership", []):
            for app in self.where("application", "organization", membership["is_member_of__organization"]):
                pair = (membership["user"], app["id"])
                if pair not in seen:
                    seen.add(pair)
                    rows.append({"id": None, "user": pair[0], "has_direct_access_to__application": pair[1]})
        self._index[key] = {None: rows}
        return rows

    # -- computed fields (open-balena-api device-additions.ts, v7) ------------------------------------------
    def device_target_release(self, device: Row) -> Any:
        """v7 ``should_be_running__release``: the pinned release, else the fleet's target release."""
        pinned = device.get("is_pinned_on__release")
        if pinned is not None:
            return pinned
        app = self.get("application", device.get("belongs_to__application"))
        return app.get("should_be_running__release") if app else None

    def _downloading_installs(self, device: Row) -> list[Row]:
        return [
            ii
            for ii in self.where("image_install", "device", device["id"])
            if ii.get("download_progress") is not None and ii.get("status") == "Downloading"
        ]

    def vpn_enabled(self, device: Row) -> bool:
        """BALENA_/RESIN_SUPERVISOR_VPN_CONTROL on the device, else on its fleet, else 'not set'; <> 'false'."""

        def lookup(resource: str, column: str, owner: Any) -> str | None:
            values = {r["name"]: r["value"] for r in self.where(resource, column, owner)}
            for name in ("BALENA_SUPERVISOR_VPN_CONTROL", "RESIN_SUPERVISOR_VPN_CONTROL"):
                if name in values:
                    return values[name]
            return None

        value = lookup("device_config_variable", "device", device["id"])
        if value is None:
            value = lookup("application_config_variable", "application", device.get("belongs_to__application"))
        return (value if value is not None else "not set") != "false"

    def overall_status(self, d: Row) -> str:
        hb = d.get("api_heartbeat_state")
        vpn = bool(d.get("is_connected_to_vpn"))
        if self.model.flavour == "balena-cloud" and d.get("is_active") is False:
            return "inactive"
        if d.get("provisioning_state") == "Post-Provisioning":
            return "post-provisioning"
        if not vpn and d.get("last_connectivity_event") is None and hb == "unknown":
            return "configuring"
        if not vpn and hb in ("offline", "unknown"):
            return "disconnected"
        live = hb in ("online", "timeout")
        if live and d.get("download_progress") is not None and d.get("status") == "Downloading":
            return "updating"
        if d.get("provisioning_progress") is not None:
            return "configuring"
        if live and self._downloading_installs(d):
            return "updating"
        if hb == "timeout" or (vpn and hb != "online") or (not vpn and hb == "online" and self.vpn_enabled(d)):
            return "reduced-functionality"
        return "operational"

    def overall_progress(self, d: Row) -> int | None:
        if d.get("download_progress") is not None and d.get("status") == "Downloading":
            return d["download_progress"]
        if d.get("provisioning_progress") is not None:
            return d["provisioning_progress"]
        installs = self._downloading_installs(d)
        if installs:
            return round(sum(ii["download_progress"] for ii in installs) / len(installs))
        return None

    # -- writing -------------------------------------------------------------------------------------------
    def invalidate(self) -> None:
        self._index.clear()

    def new_id(self, resource: str) -> int:
        value = self._next_id.get(resource, 1)
        self._next_id[resource] = value + 1
        return value

    def new_actor(self) -> int:
        value = self.next_actor
        self.next_actor += 1
        return value

    def insert(self, resource: str, row: Row) -> Row:
        self.tables.setdefault(resource, []).append(row)
        self.invalidate()
        return row

    def delete(self, resource: str, victims: Iterable[Row]) -> None:
        ids = {id(r) for r in victims}
        self.tables[resource] = [r for r in self.tables.get(resource, []) if id(r) not in ids]
        self.invalidate()


SIM_STORE: web.AppKey[Store] = web.AppKey("sim_store", Store)


def new_uuid() -> str:
    return secrets.token_hex(16)
