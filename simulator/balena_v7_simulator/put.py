"""PUT as pinejs runs it: a full replace of the addressed rows, else an insert (an upsert of the whole row).

odata-to-abstract-sql (``match``, ``PUT``) compiles a PUT to ``['UpsertQuery', InsertQuery, UpdateQuery]`` and
pinejs ``runPut`` runs the UPDATE first and the INSERT only when it changed no row. The UPDATE binds every
column of the table (``BindVars``): the body's value where the body names the column, ``DEFAULT`` where it does
not, so a PUT resets what it leaves out (``created_at``/``modified_at`` to now, a Boolean to FALSE, anything
else to NULL). The key is written too (``PathKey`` -> ``addBodyKey``). The INSERT binds only what the body and
the key give. No open-balena-api hook generates values on PUT (actor, uuid, slug, release versioning are
``POST`` hooks), so a column the row needs and the request does not give is a NOT NULL violation: a
``DatabaseError``, answered 500 with an empty body. uri-parser's ``"No fields to update"`` is for PATCH/MERGE
only: a PUT of ``{}`` is such a replace. A row the caller may not write is not updated (the UPDATE is filtered
by the permissions). Answer: 200, empty body (``respondPut``).
"""

from __future__ import annotations

from typing import Any

from .evaluator import Evaluator, ODataError
from .identity import WRITE
from .model import COMPUTED, Resource
from .rules import check_lengths
from .store import Row, now_iso
from .writes import (
    PIN_RULE,
    RELEASE_RULE,
    cast,
    check_parent,
    check_primary_key,
    check_references,
    check_unique,
    writable_values,
)

# The to-one links of open-balena's v7 model that are NOT NULL (v6-v7-spec §3.1 lists each nullable one with `?`;
# reduced to the columns rows hold). A link of a resource not listed here (balenaCloud-only) is taken as nullable.
NOT_NULL_LINKS: dict[str, tuple[str, ...]] = {
    "api_key": ("is_of__actor",),
    "application": ("actor", "organization", "is_for__device_type", "application_type"),
    "application_config_variable": ("application",),
    "application_environment_variable": ("application",),
    "application_tag": ("application",),
    "device": ("actor", "is_of__device_type"),
    "device_config_variable": ("device",),
    "device_environment_variable": ("device",),
    "device_service_environment_variable": ("service_install",),
    "device_tag": ("device",),
    "device_type": ("is_of__cpu_architecture",),
    "device_type_alias": ("device_type",),
    "image": ("is_a_build_of__service",),
    "image_environment_variable": ("release_image",),
    "image_install": ("device", "installs__image", "is_provided_by__release"),
    "image_label": ("release_image",),
    "organization_membership": ("user", "is_member_of__organization"),
    "release": ("belongs_to__application",),
    "release_asset": ("release",),
    "release_image": ("image", "is_part_of__release"),
    "release_tag": ("release",),
    "service": ("application",),
    "service_environment_variable": ("service",),
    "service_install": ("device", "installs__service"),
    "service_label": ("service",),
    "user": ("actor",),
    "user_permission": ("user", "permission"),
    "user_public_key": ("user",),
    "user_role": ("user", "role"),
}
_NEVER_BOUND = ("id",)  # the key column: written from the key, never reset


def _required(res: Resource, column: str) -> bool:
    """NOT NULL: a field whose model type is not ``… | null``, or a link listed in :data:`NOT_NULL_LINKS`."""
    if column in res.fields:
        return "null" not in res.fields[column].split(" | ")[1:]
    return column in NOT_NULL_LINKS.get(res.name, ())


def _default(res: Resource, column: str, stamp: str) -> Any:
    """The column's database default: the timestamps' CURRENT_TIMESTAMP, sbvr-types Boolean's FALSE, else NULL."""
    if column in ("created_at", "modified_at"):
        return stamp
    if res.fields.get(column) == "Boolean":
        return False
    return None


def _given(res: Resource, body: dict[str, Any]) -> dict[str, Any]:
    """The columns the body binds (as a POST/PATCH binds them), plus ``actor``, which a PUT binds like any column."""
    values: dict[str, Any] = writable_values(res, body)
    if "actor" in body and "actor" in res.key_order:
        values["actor"] = cast(res, "actor", body["actor"])
    return values


def _check_not_null(res: Resource, row: Row) -> None:
    for column in res.key_order:
        if column in COMPUTED.get(res.name, ()):
            continue
        if row.get(column) is None and _required(res, column):
            raise ODataError(500)  # not_null_violation: pinejs answers a DatabaseError with 500, empty body


def _check_rules(ev: Evaluator, res: Resource, row: Row) -> None:
    """The SBVR rules pinejs validates after the write (``validateModel``), the ones the simulator knows."""
    if res.name == "device" and row.get("is_pinned_on__release") is not None:
        release = ev.store.get("release", row["is_pinned_on__release"])
        if release is not None and (
            release.get("status") != "success"
            or release.get("belongs_to__application") != row.get("belongs_to__application")
        ):
            raise ODataError(400, PIN_RULE)
    if res.name == "application" and row.get("should_be_running__release") is not None:
        release = ev.store.get("release", row["should_be_running__release"])
        if release is not None and (
            release.get("status") != "success" or release.get("belongs_to__application") != row.get("id")
        ):
            raise ODataError(400, RELEASE_RULE)


def put(ev: Evaluator, res: Resource, rows: list[Row], body: Any, key: dict[str, Any] | None) -> None:
    """Replace every addressed row the caller may write; with none and a ``key``, insert the row instead.

    ``rows`` are the rows the URL addresses (its key or ``$filter``); ``key`` the key's column values when the
    URL names one row (a collection PUT or a navigation path inserts nothing here)."""
    if not isinstance(body, dict):
        raise ODataError(400)
    written = {column: cast(res, column, value) for column, value in (key or {}).items()}  # addBodyKey
    written.update(_given(res, body))  # ... unless the body names the key's column itself
    stamp = now_iso()
    targets = [r for r in rows if ev.can(res.name, r, WRITE)]
    if targets:
        replacements = []
        for row in targets:
            new = {
                column: _default(res, column, stamp)
                for column in res.key_order
                if column not in _NEVER_BOUND and column not in COMPUTED.get(res.name, ())
            }
            new.update({k: v for k, v in written.items() if k not in _NEVER_BOUND})
            merged = {**row, **new}
            _check_not_null(res, merged)
            check_unique(ev, res, merged, ignore=row)
            check_references(ev, res, merged)
            check_lengths(res.name, merged)
            _check_rules(ev, res, merged)
            replacements.append((row, new))
        for row, new in replacements:
            row.update(new)
        ev.store.invalidate()
        return
    if rows or key is None:
        return  # rows the caller may not write: the UPDATE changes nothing (the INSERT is not modelled)
    _insert(ev, res, written, stamp)


def _insert(ev: Evaluator, res: Resource, written: dict[str, Any], stamp: str) -> None:
    """The upsert's INSERT: only what the body and the key give, the database's defaults for the rest. Its
    ``WHERE EXISTS`` applies the caller's permissions: a row the caller may not create is not inserted, and
    ``runPut`` (unlike ``runPost``) does not count the rows, so that is still a 200."""
    row: Row = {column: _default(res, column, stamp) for column in res.key_order}
    row.update(written)
    try:
        check_parent(ev, res, row)
    except ODataError:
        return
    if not isinstance(row.get("id"), int) or isinstance(row.get("id"), bool):
        row["id"] = ev.store.new_id(res.name)  # a named key: the Serial's next value
    _check_not_null(res, row)
    check_primary_key(ev, res, row["id"])  # e.g. a row with that id the caller cannot see
    check_unique(ev, res, row)
    check_references(ev, res, row)
    check_lengths(res.name, row)
    _check_rules(ev, res, row)
    ev.store.insert(res.name, row)
