"""POST / PATCH / PUT / DELETE against the store, with the server hooks v6 clients notice.

Only what the real API does on these paths is modelled: defaults and generated values on POST (uuid, slug,
actor, release versioning), the rules that turn into 400/409 answers, pinning rules on PATCH device, and
fleets that track their latest release. Writes to rows the caller may not write match nothing (200), and a
POST whose parent the caller may not write is a 401, as on pinejs.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from .evaluator import Evaluator, ODataError
from .identity import PARENT, WRITE
from .keys import UNIQUE_FIELDS, UNIQUE_INDEXES, unique_violation
from .model import COMPUTED, Resource
from .rules import check_lengths
from .store import Row, new_uuid, now_iso, unwrap
from .validation import coerced, js_number

# Unique columns and indexes (keys.py): the same constraints named keys may use.
UNIQUE: dict[str, list[tuple[str, ...]]] = {
    name: [(column,) for column in sorted(UNIQUE_FIELDS.get(name, ()))]
    + ([UNIQUE_INDEXES[name]] if name in UNIQUE_INDEXES else [])
    for name in {*UNIQUE_FIELDS, *UNIQUE_INDEXES}
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "application": ("app_name", "organization", "is_for__device_type"),
    "device": ("belongs_to__application", "is_of__device_type"),
    "release": ("belongs_to__application", "commit", "composition", "status", "source", "start_timestamp"),
    "device_environment_variable": ("device", "name", "value"),
    "device_config_variable": ("device", "name", "value"),
    "application_environment_variable": ("application", "name", "value"),
    "application_config_variable": ("application", "name", "value"),
    "device_tag": ("device", "tag_key"),
    "application_tag": ("application", "tag_key"),
    "release_tag": ("release", "tag_key"),
    "service": ("application", "service_name"),
}
RELEASE_RULE = (
    "It is necessary that each release that should be running on an application, has a status that is "
    'equal to "success" and belongs to the application.'
)
PIN_RULE = (  # balena.sbvr: validateModel runs the final (resin) model's rules, v6 and v7 alike
    'It is necessary that each release that is pinned to a device, has a status that is equal to "success" and '
    "belongs to an application1 that the device belongs to."
)
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def writable_values(res: Resource, body: dict[str, Any]) -> dict[str, Any]:
    """The body keys v7 binds: known, non-computed columns (unknown keys are ignored, as pinejs does), with
    values cast to the column type as pinejs/PostgreSQL would (``"1"`` for an id, epoch ms for a date)."""
    computed = COMPUTED.get(res.name, set())
    out = {}
    for key, value in body.items():
        if key in computed or key not in res.key_order or key in ("id", "created_at", "modified_at", "actor"):
            continue
        out[key] = cast(res, key, unwrap(value))
    return out


def cast(res: Resource, column: str, value: Any) -> Any:
    ftype = res.fields.get(column, "Integer" if column in res.navigation else "").split(" | ")[0]
    value = coerced(ftype, value)
    if isinstance(value, str) and ftype == "Date Time" and not math.isnan(number := js_number(value)):
        value = number  # Number(v) first, as the Date Time schema does: "1767607300000" is epoch ms
    if isinstance(value, (int, float)) and not isinstance(value, bool) and ftype == "Date Time":
        moment = datetime.fromtimestamp(value / 1000, tz=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and ftype == "Big Integer":
        return str(int(value))
    return value


def check_unique(ev: Evaluator, res: Resource, row: Row, ignore: Row | None = None) -> None:
    for columns in UNIQUE.get(res.name, []):
        values = tuple(row.get(c) for c in columns)
        if any(v is None for v in values):
            continue
        for other in ev.store.where(res.name, columns[0], values[0]):
            if other is ignore or other is row:
                continue
            if tuple(other.get(c) for c in columns) == values:
                raise ODataError(409, unique_violation(res.name, columns))


def check_primary_key(ev: Evaluator, res: Resource, id_: Any) -> None:
    """An id already taken: PostgreSQL's ``<table>_pkey`` violation, which pinejs cannot name (``"Unique key
    constraint violated"``). An id a POST or PUT gave explicitly does not move the table's sequence, so a later
    POST reaching that id fails this way too, as on the server."""
    if ev.store.get(res.name, id_) is not None:
        raise ODataError(409, "Unique key constraint violated")


def check_parent(ev: Evaluator, res: Resource, row: Row) -> None:
    """A new row must hang under something the caller may write (pinejs: 401 otherwise)."""
    if ev.caller.superuser:
        return
    if res.name == "application":
        if row.get("organization") not in ev.caller.organizations:
            raise ODataError(401)
        return
    link = PARENT.get(res.name)
    if link is None:
        raise ODataError(401)
    column, parent = link
    parent_row = ev.store.get(parent, row.get(column))
    if parent_row is None or not ev.can(parent, parent_row, WRITE):
        raise ODataError(401)


def check_references(ev: Evaluator, res: Resource, row: Row) -> None:
    for nav, column in res.fk_column.items():
        if nav != column or row.get(column) is None:
            continue
        target = ev.model.resolve(res.navigation[nav])
        if target is None or target.name in ("actor",):
            continue
        if ev.store.get(target.name, row[column]) is None:
            raise ODataError(409, "Foreign key constraint violated")


def release_version(row: Row, store_rows: list[Row]) -> None:
    """semver fields, revision and raw_version as open-balena-api's release-versioning hook derives them."""
    semver = row.get("semver") or "0.0.0"
    match = _SEMVER.match(semver)
    if not match:
        raise ODataError(400, "Invalid semver format")
    major, minor, patch = (int(g) for g in match.groups())
    row.update(
        semver=semver,
        semver_major=major,
        semver_minor=minor,
        semver_patch=patch,
        semver_build=row.get("semver_build") or "",
        variant=row.get("variant") or "",
    )
    if row.get("is_final"):
        same = [
            r
            for r in store_rows
            if r is not row
            and r.get("belongs_to__application") == row["belongs_to__application"]
            and r.get("semver") == semver
            and r.get("revision") is not None
        ]
        revision = max((r["revision"] for r in same), default=-1) + 1
        row["revision"] = revision
        row["semver_prerelease"] = ""
        raw = semver if revision == 0 else f"{semver}+rev{revision}"
        row["is_finalized_at__date"] = row.get("is_finalized_at__date") or now_iso()
        build = [] if revision == 0 else [f"rev{revision}"]
        prerelease: list[Any] = []
    else:
        row["revision"] = None
        stamp = str(int(time.time() * 1000))
        row["semver_prerelease"] = stamp
        raw = f"{semver}-{stamp}"
        row["is_finalized_at__date"] = None
        build, prerelease = [], [int(stamp)]
    row["raw_version"] = raw
    row["version"] = {
        "raw": raw,
        "build": build,
        "major": major,
        "minor": minor,
        "patch": patch,
        "version": raw.split("+")[0],
        "prerelease": prerelease,
    }
    row.pop("is_final", None)


def track_latest(ev: Evaluator, release: Row) -> None:
    """A fleet tracking its latest release moves its target to a new final successful release."""
    app = ev.store.get("application", release.get("belongs_to__application"))
    if (
        app
        and app.get("should_track_latest_release")
        and release.get("status") == "success"
        and release.get("revision") is not None
    ):
        app["should_be_running__release"] = release["id"]


BOOLEAN_DEFAULTS = {
    ("application", "should_track_latest_release"): True,
    ("device", "is_active"): True,
    ("release", "is_passing_tests"): True,
    ("release", "is_final"): True,
}


def defaults(ev: Evaluator, res: Resource, row: Row) -> None:
    """Fill what the server generates or defaults; values the client gave are kept."""
    stamp = now_iso()
    for column in res.key_order:
        row.setdefault(column, None)
    row["created_at"] = row["modified_at"] = stamp
    if "actor" in res.key_order:
        row["actor"] = ev.store.new_actor()
    for column, ftype in list(res.fields.items()) + [("is_final", "Boolean")] * (res.name == "release"):
        if ftype == "Boolean" and row.get(column) is None:
            row[column] = BOOLEAN_DEFAULTS.get((res.name, column), False)
    if res.name == "application":
        org = ev.store.get("organization", row.get("organization"))
        if row.get("slug") is None and org is not None and row.get("app_name"):
            row["slug"] = f"{org['handle']}/{row['app_name']}".lower()
        row["uuid"] = row.get("uuid") or new_uuid()
        row["application_type"] = row.get("application_type") or 1
        row["is_of__class"] = row.get("is_of__class") or "fleet"
    elif res.name == "device":
        row["uuid"] = row.get("uuid") or new_uuid()
        row["device_name"] = row.get("device_name") or f"device-{row['uuid'][:7]}"
        row["api_heartbeat_state"] = row.get("api_heartbeat_state") or "unknown"
    elif res.name == "release":
        row["update_timestamp"] = stamp


def post(ev: Evaluator, res: Resource, body: Any) -> Row:
    if not isinstance(body, dict):
        raise ODataError(400)
    row: Row = writable_values(res, body)
    if res.name == "release" and "is_final" in body:
        row["is_final"] = bool(body["is_final"])
    defaults(ev, res, row)
    for column in REQUIRED.get(res.name, ()):
        if row.get(column) is None:
            raise ODataError(500)  # NOT NULL violation, as open-balena answers a POST missing a required column
    check_parent(ev, res, row)
    check_references(ev, res, row)
    check_unique(ev, res, row)
    check_lengths(res.name, row)
    if res.name == "release":
        release_version(row, ev.store.rows("release"))
    if res.name == "device" and row.get("is_pinned_on__release") is not None:
        check_pin(ev, row, row["is_pinned_on__release"])
    given_id = body.get("id")
    if isinstance(given_id, int) and not isinstance(given_id, bool):
        row["id"] = given_id  # the body's id is bound like any column (BindVars); the sequence does not move
    else:
        row["id"] = ev.store.new_id(res.name)  # nextval: consumed even if the insert then fails
    check_primary_key(ev, res, row["id"])
    ordered = {c: row.get(c) for c in res.key_order}
    for k, v in row.items():
        ordered.setdefault(k, v)
    ev.store.insert(res.name, ordered)
    if res.name == "release":
        track_latest(ev, ordered)
    return ordered


def check_pin(ev: Evaluator, device: Row, release_id: Any) -> None:
    release = ev.store.get("release", release_id)
    if release is None:
        raise ODataError(409, "Foreign key constraint violated")
    if release.get("status") != "success" or release.get("belongs_to__application") != device.get(
        "belongs_to__application"
    ):
        raise ODataError(400, PIN_RULE)


def patch(ev: Evaluator, res: Resource, rows: list[Row], body: Any) -> None:
    if not isinstance(body, dict):
        raise ODataError(400)
    if not body:
        raise ODataError(400, "No fields to update")
    values = writable_values(res, body)
    if res.name == "release" and "is_final" in body:
        values["is_final"] = bool(body["is_final"])
    if not values:
        raise ODataError(500)  # "PATCH requests must update at least one field"
    targets = [r for r in rows if ev.can(res.name, r, WRITE)]
    for row in targets:
        update = dict(values)
        if res.name == "device":
            if update.get("api_heartbeat_state") not in (None, row.get("api_heartbeat_state")):
                update.setdefault("changed_api_heartbeat_state_on__date", now_iso())
            if "belongs_to__application" in update and "is_pinned_on__release" not in update:
                update["is_pinned_on__release"] = None
            if update.get("is_pinned_on__release") is not None:
                check_pin(ev, {**row, **update}, update["is_pinned_on__release"])
        if res.name == "application" and update.get("should_be_running__release") is not None:
            release = ev.store.get("release", update["should_be_running__release"])
            if release is None:
                raise ODataError(409, "Foreign key constraint violated")  # the UPDATE fails before the rules run
            if release.get("status") != "success" or release.get("belongs_to__application") != row["id"]:
                raise ODataError(400, RELEASE_RULE)
        if res.name == "release" and "is_final" in update:
            final = update.pop("is_final")
            if not final and row.get("revision") is not None:
                raise ODataError(400, "Finalized releases cannot be converted to draft.")
            if final and row.get("revision") is None:
                merged = {**row, **update, "is_final": True, "is_finalized_at__date": None}
                release_version(merged, ev.store.rows("release"))
                update.update(
                    {
                        k: merged[k]
                        for k in (
                            "revision",
                            "raw_version",
                            "version",
                            "semver_prerelease",
                            "is_finalized_at__date",
                            "semver",
                            "semver_major",
                            "semver_minor",
                            "semver_patch",
                        )
                    }
                )
        check_references(ev, res, {**row, **update})
        check_unique(ev, res, {**row, **update}, ignore=row)
        check_lengths(res.name, {**row, **update})
        row.update(update)
        row["modified_at"] = now_iso()
        if res.name == "release" and row.get("revision") is not None:
            track_latest(ev, row)
    ev.store.invalidate()


def delete(ev: Evaluator, res: Resource, rows: list[Row]) -> None:
    targets = [r for r in rows if ev.can(res.name, r, WRITE)]
    if not targets:
        return
    ids = {r["id"] for r in targets}
    if res.name == "release":
        check_release_deletion(ev, ids)
    # children go with their parent (the real schema cascades or the hooks delete them first)
    for child, (column, parent) in PARENT.items():
        if parent == res.name:
            child_rows = [r for r in ev.store.rows(child) if r.get(column) in ids]
            if child_rows:
                delete(ev, ev.model[child], child_rows)
    ev.store.delete(res.name, targets)


def check_release_deletion(ev: Evaluator, ids: set[Any]) -> None:
    """open-balena-api ``restrict-release-deletion.ts`` (a DELETE PRERUN hook, with the caller's own reads): no
    fleet's target release and no release a device is pinned to may go, 400 with the hook's text."""
    for app in ev.store.rows("application"):
        if app.get("should_be_running__release") in ids and ev.can("application", app):
            release = ev.store.get("release", app["should_be_running__release"]) or {}
            raise ODataError(
                400,
                f"Unable to delete release {release.get('raw_version')} because it is the "
                f"{app.get('is_of__class')}'s target release.",
            )
    for device in ev.store.rows("device"):
        if device.get("is_pinned_on__release") in ids and ev.can("device", device):
            raise ODataError(400, "Unable to delete a release because device(s) are pinned to it.")
