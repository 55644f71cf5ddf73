"""The simulator checked against recordings of the real server (open-balena-api v49.0.12).

Fixtures: ``tests/fixtures/open-balena-pairs/`` is a copy of ``shared/reference/open-balena-pairs/`` (the recorded
request/response pairs, ``INDEX.md`` and ``snapshot.json``), taken on 2026-11-25.

- Loaded with the v7 rows of ``snapshot.json`` in open-balena mode, the simulator answers every recorded /v7/
  read of the snapshot with the recorded status and body, byte for byte in key order.
- Every /v7/ GET of the other recorded pairs, replayed against it, matches status, envelope and key order
  (values may differ: the database changed between recordings); so does every recorded /v7/ write, replayed
  with its unique values changed (the snapshot already holds the recorded rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from balena_v7_simulator import create_simulator_app

PAIRS = Path(__file__).parent / "fixtures" / "open-balena-pairs"
SNAPSHOT = json.loads((PAIRS / "snapshot.json").read_text())
TOKEN = "admin-jwt"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def snapshot_dataset() -> dict:
    """The snapshot's v7 rows, with the recording's superuser (user 2, ``admin``) holding ``TOKEN``."""
    tables = {name: rec["body"]["d"] for name, rec in SNAPSHOT["v7"].items() if rec["status"] == 200}
    return {"tables": tables, "auth": {"tokens": {TOKEN: 2}, "superusers": [2]}}


def recorded_gets(root: str, reads: bool = True) -> list[dict]:
    """The recorded GET pairs (or, ``reads=False``, the writes) whose path starts with ``root`` (``/v7/``...)."""
    pairs = []
    for path in sorted(PAIRS.glob("[0-9]*.json")):
        pair = json.loads(path.read_text())
        if (pair["request"]["method"] == "GET") == reads and pair["request"]["path"].startswith(root):
            pairs.append(pair)
    return pairs


def key_orders(body: object, path: str = "", out: dict | None = None) -> dict[str, set[tuple[str, ...]]]:
    """Every entity's key sequence, by position in the document (list indices collapsed).

    Only entities are compared: the envelope's ``d`` and expanded navigations (lists), not JSON field values."""
    out = {} if out is None else out
    if isinstance(body, dict):
        out.setdefault(path, set()).add(tuple(body))
        for key, value in body.items():
            if isinstance(value, list):
                key_orders(value, f"{path}/{key}", out)
    elif isinstance(body, list):
        for item in body:
            key_orders(item, f"{path}[]", out)
    return out


def envelope(body: object) -> str:
    if body is None:
        return "empty"
    if isinstance(body, dict) and set(body) == {"d"}:
        return "collection" if isinstance(body["d"], list) else type(body["d"]).__name__
    return type(body).__name__


@pytest.fixture
async def snapshot_client(aiohttp_client):
    return await aiohttp_client(create_simulator_app(snapshot_dataset(), flavour="open-balena"))


@pytest.mark.parametrize("resource", sorted(SNAPSHOT["v7"]))
async def test_snapshot_reads_match_the_recording_exactly(snapshot_client, resource):
    recorded = SNAPSHOT["v7"][resource]
    query = "" if resource == "user__has_direct_access_to__application" else "?$orderby=id%20asc"
    response = await snapshot_client.get(f"/v7/{resource}{query}", headers=AUTH)
    raw = await response.read()
    assert response.status == recorded["status"]
    if recorded["body"] is None:
        assert raw == b""
    else:
        # byte-level key order: compare the serialised documents, not dict equality
        assert json.dumps(json.loads(raw)) == json.dumps(recorded["body"])


@pytest.mark.parametrize("pair", recorded_gets("/v7/"), ids=lambda p: p["name"])
async def test_recorded_v7_gets_match_status_envelope_and_key_order(snapshot_client, pair):
    response = await snapshot_client.get(pair["request"]["path"], headers=AUTH)
    raw = await response.read()
    body = json.loads(raw) if raw else None
    recorded = pair["response"]
    assert response.status == recorded["status"]
    assert envelope(body) == envelope(recorded["body"])
    if body is not None:
        assert response.headers["Content-Type"] == recorded["content_type"]
    got, want = key_orders(body), key_orders(recorded["body"])
    for position in set(got) & set(want):
        assert got[position] == want[position], position


def fresh(body: object) -> object:
    """The recorded body with its unique values changed (the snapshot already holds the recorded rows)."""
    if not isinstance(body, dict):
        return body
    out = dict(body)
    for key, replacement in (
        ("app_name", f"{body.get('app_name')}-replay"),
        ("uuid", "e" * 32),
        ("commit", "e" * 32),
        ("name", f"{body.get('name')}_REPLAY"),
    ):
        if key in out:
            out[key] = replacement
    return out


@pytest.mark.parametrize("pair", recorded_gets("/v7/", reads=False), ids=lambda p: p["name"])
async def test_recorded_v7_writes_match_status_envelope_and_key_order(snapshot_client, pair):
    request, recorded = pair["request"], pair["response"]
    response = await snapshot_client.request(
        request["method"],
        request["path"],
        headers=AUTH,
        json=fresh(request["body"]) if request["body"] is not None else None,
    )
    raw = await response.read()
    body = json.loads(raw) if raw else None
    assert response.status == recorded["status"]
    assert envelope(body) == envelope(recorded["body"])
    if isinstance(body, dict):
        assert list(body) == list(recorded["body"])
        assert response.headers["Location"] == f"{request['path']}(@id)?@id={body['id']}"


async def test_recorded_device_provisioning_flow(snapshot_client):
    """Pairs 10, 11, 40, 41: provisioning key, device registration, state v3 read and report (same shapes)."""
    recorded = {
        name: json.loads((PAIRS / f"{name}.json").read_text())
        for name in (
            "10_provisioning_key_app1",
            "11_device_register_app1",
            "40_device_get_state_v3",
            "41_device_patch_state_v3",
        )
    }
    response = await snapshot_client.post("/api-key/application/1/provisioning", headers=AUTH, json={})
    key = await response.json()
    assert response.status == 200 and isinstance(key, str) and len(key) == 32
    uuid = "f" * 32
    body = {**recorded["11_device_register_app1"]["request"]["body"], "uuid": uuid, "api_key": "k" * 31}
    response = await snapshot_client.post("/device/register", headers={"Authorization": f"Bearer {key}"}, json=body)
    registered = await response.json()
    assert response.status == 201
    assert list(registered) == list(recorded["11_device_register_app1"]["response"]["body"])
    device_auth = {"Authorization": f"Bearer {'k' * 31}"}
    response = await snapshot_client.get(f"/device/v3/{uuid}/state", headers=device_auth)
    state = await response.json()
    want = next(iter(recorded["40_device_get_state_v3"]["response"]["body"].values()))
    assert response.status == 200 and list(state) == [uuid] and list(state[uuid]) == list(want)
    app = next(iter(state[uuid]["apps"].values()))
    assert list(app) == list(next(iter(want["apps"].values())))
    report = {uuid: next(iter(recorded["41_device_patch_state_v3"]["request"]["body"].values()))}
    response = await snapshot_client.patch("/device/v3/state", headers=device_auth, json=report)
    assert (response.status, await response.read()) == (200, b"")
    response = await snapshot_client.get(
        f"/v7/device(uuid='{uuid}')?$select=status,api_heartbeat_state,is_online,overall_status", headers=AUTH
    )
    assert (await response.json())["d"] == [
        {
            "status": "Idle",
            "api_heartbeat_state": "online",
            "is_online": True,
            "overall_status": "reduced-functionality",
        }
    ]
