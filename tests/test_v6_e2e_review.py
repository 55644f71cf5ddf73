"""End-to-end: findings of the 01:30 review, through the running proxy (the recording v7 upstream, or the
simulator behind the proxy), asserting what a v6 client sees."""

from __future__ import annotations

import json

import pytest
from fixtures.engine.upstream import Reply
from v6_proxy import call


# ------------------------------------------------------------------------------------------ 1. POST {"id": N}
@pytest.mark.parametrize("flag", ["0", "false"])
async def test_post_with_return_resource_off_answers_the_bare_id(pair, flag):
    """Spec §4.5: ``?returnResource=0|false`` → ``{"id": N}``, no constant or derived value added."""
    status, body = await call(
        pair.proxy_url,
        "POST",
        f"/v6/release?returnResource={flag}",
        {
            "release_type": "final",
            "belongs_to__application": 1,
            "commit": f"c{flag}",
            "composition": {},
            "status": "success",
            "source": "cloud",
            "start_timestamp": "2024-01-01T00:00:00Z",
        },
    )
    assert status == 201, body
    assert list(body) == ["id"] and isinstance(body["id"], int)
    status, body = await call(
        pair.proxy_url,
        "POST",
        f"/v6/device?returnResource={flag}",
        {"device_type": "raspberrypi3", "belongs_to__application": 1, "uuid": f"ab{flag}cd" * 4},
    )
    assert status == 201, body
    assert list(body) == ["id"]


async def test_post_whose_read_back_failed_answers_the_bare_id(env):
    """Spec §4.5: a failed read-back is ``{"id": N}`` in v6 too (the v7 201 body holds only the key)."""
    env.fixture.queue(Reply(201, {"id": 15}, headers={"Location": "/v7/release(@id)?@id=15"}))
    status, body = await env.json("POST", "/v6/release", {"release_type": "final", "commit": "x"})
    assert (status, body) == (201, {"id": 15})
    env.fixture.route("/v7/device_type?", Reply(200, {"d": [{"id": 8, "slug": "raspberrypi3"}]}))
    env.fixture.queue(Reply(201, {"id": 32}, headers={"Location": "/v7/device(@id)?@id=32"}))
    status, body = await env.json("POST", "/v6/device", {"device_type": "raspberrypi3", "belongs_to__application": 1})
    assert (status, body) == (201, {"id": 32})
    # a full read-back still gets every v6 value
    env.fixture.queue(Reply(201, {"id": 16, "is_final": True}, headers={"Location": "/v7/release(@id)?@id=16"}))
    status, body = await env.json("POST", "/v6/release", {"release_type": "final", "commit": "x"})
    assert status == 201 and body["release_type"] == "final"


# ------------------------------------------------------------------------------------------ 2. local sort: reads only
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_write_paged_by_a_derived_order_is_refused(env, method):
    """The proxy sorts and pages GET rows itself; a one-row write must never become a 10,001-row one."""
    before = len(env.fixture.v7)
    status, body = await env.json(
        method, "/v6/device?$orderby=overall_status desc&$top=1", {"note": "x"} if method == "PATCH" else None
    )
    assert (status, body) == (400, f"overall_status cannot be used with $orderby on a {method} through the v6 proxy")
    assert len(env.fixture.v7) == before  # nothing was sent upstream


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_a_write_ordered_by_a_derived_value_without_paging_drops_the_order(env, method):
    env.fixture.queue(Reply(200, None))
    status, body = await env.json(
        method, "/v6/device?$orderby=overall_status desc&$filter=id eq 1", {"note": "x"} if method == "PATCH" else None
    )
    assert (status, body) == (200, "OK")
    assert env.last == "/v7/device?$filter=id eq 1"


async def test_a_count_ordered_by_a_derived_value_drops_the_order(env):
    env.fixture.queue(Reply(200, {"d": 3}))
    status, body = await env.json("GET", "/v6/device/$count?$orderby=overall_status desc")
    assert (status, body) == (200, {"d": 3})
    assert env.last == "/v7/device/$count"


async def test_a_write_paged_by_a_derived_order_changes_nothing_in_the_simulator(pair):
    status, before = await call(pair.proxy_url, "GET", "/v6/device?$select=id,note&$orderby=id")
    status, _body = await call(
        pair.proxy_url, "PATCH", "/v6/device?$orderby=overall_status desc&$top=1", {"note": "zz"}
    )
    assert status == 400
    status, after = await call(pair.proxy_url, "GET", "/v6/device?$select=id,note&$orderby=id")
    assert after == before


# ------------------------------------------------------------------------------------------ 3. writes through a path
WRITE_PATHS = [
    "/v6/device(1)/should_be_managed_by__supervisor_release",  # decision 4: a read-only view
    "/v6/device(1)/gateway_download",  # decision 5: answered by the proxy, writes 401
    "/v6/image(1)/is_downloaded_by__device",
    "/v6/device(1)/manages__device",
]


@pytest.mark.parametrize("method", ["PATCH", "POST", "DELETE"])
@pytest.mark.parametrize("path", WRITE_PATHS)
async def test_a_write_through_a_navigation_to_a_read_only_or_empty_target_is_401(cloud, path, method):
    env = cloud
    before = len(env.fixture.v7)
    status, _headers, data = await env.call(method, path, {"note": "x"} if method != "DELETE" else None)
    assert (status, data) == (401, b"")
    assert len(env.fixture.v7) == before


async def test_reads_through_those_navigations_still_answer(cloud):
    env = cloud
    for path in WRITE_PATHS[1:]:
        assert await env.json("GET", path) == (200, {"d": []})
    assert await env.json("GET", "/v6/device(1)/gateway_download/$count") == (200, {"d": 0})


# ------------------------------------------------------------------------------------------ 4. metadata=full URIs
@pytest.fixture
async def test_full_metadata_uris_name_the_v6_resource_of_the_row(cloud_pair):
    fmt = "$format=json;odata.metadata=full"
    status, body = await call(cloud_pair.proxy_url, "GET", f"/v6/supervisor_release?$top=1&{fmt}")
    assert status == 200, body
    row = body["d"][0]
    assert row["__metadata"]["uri"] == f"/v6/supervisor_release(@id)?@id={row['id']}"
    deferred = row["is_for__device_type"]["__deferred"]["uri"]
    assert deferred.startswith("/v6/device_type(@id)?@id="), deferred
    assert "/v7/" not in json.dumps(body)
    status, body = await call(cloud_pair.proxy_url, "GET", f"/v6/my_application?$top=1&$select=id,app_name&{fmt}")
    row = body["d"][0]
    assert row["__metadata"]["uri"] == f"/v6/my_application(@id)?@id={row['id']}"
    status, body = await call(cloud_pair.proxy_url, "GET", f"/v6/application?$top=1&$select=id&{fmt}")
    row = body["d"][0]
    assert row["__metadata"]["uri"] == f"/v6/application(@id)?@id={row['id']}"


# ------------------------------------------------------------------------------------------ 5. derived navigation path
async def test_a_derived_navigation_after_a_key_is_answered_as_its_expand(cloud_pair):
    """``/supervisor_release(k)/is_for__device_type`` answers what ``$expand=is_for__device_type`` holds, with
    the client's own options (it reached v7 untranslated and failed with a 500)."""
    url = cloud_pair.proxy_url
    status, expanded = await call(
        url, "GET", "/v6/supervisor_release?$top=1&$select=id&$expand=is_for__device_type($select=slug)"
    )
    assert status == 200, expanded
    row = expanded["d"][0]
    assert row["is_for__device_type"], row
    key = row["id"]
    assert await call(url, "GET", f"/v6/supervisor_release({key})/is_for__device_type?$select=slug") == (
        200,
        {"d": row["is_for__device_type"]},
    )
    assert await call(url, "GET", f"/v6/supervisor_release({key})/is_for__device_type/$count") == (
        200,
        {"d": len(row["is_for__device_type"])},
    )
    assert await call(
        url, "GET", f"/v6/supervisor_release({key})/is_for__device_type?$select=slug&$filter=slug eq 'nope'"
    ) == (200, {"d": []})
    assert await call(url, "GET", "/v6/supervisor_release(999999)/is_for__device_type?$select=slug") == (200, {"d": []})
    status, _body = await call(
        url, "GET", "/v6/device?$top=1&$expand=should_be_managed_by__supervisor_release/is_for__device_type"
    )
    assert status == 200


# ------------------------------------------------------------------------------------------ 6. helper from the client's expand
async def test_overall_status_with_every_spelling_of_its_helper_expanded(cloud_pair):
    """v6 answers 200: the proxy computes the downloading-installs helper from the client's own expanded rows
    (selected names the helper reads are fetched and cut back again)."""
    url = cloud_pair.proxy_url
    status, plain = await call(url, "GET", "/v6/device?$select=id,overall_status")
    assert status == 200
    want = {r["id"]: r["overall_status"] for r in plain["d"]}
    assert "updating" in want.values()
    navs = ("device__installs__image", "image_install", "installs__image")
    status, body = await call(
        url, "GET", "/v6/device?$select=id,overall_status&$expand=" + ",".join(f"{n}($select=id)" for n in navs)
    )
    assert status == 200, body
    assert {r["id"]: r["overall_status"] for r in body["d"]} == want
    for row in body["d"]:
        for nav in navs:
            assert all(list(i) == ["id"] for i in row[nav]), row  # only what the client selected
    status, body = await call(url, "GET", "/v6/device?$expand=" + ",".join(navs))
    assert status == 200, body
    assert {r["id"]: r["overall_status"] for r in body["d"]} == want
    # a filtered, paged or counted expansion does not hold every row: still the 400
    status, body = await call(
        url,
        "GET",
        "/v6/device?$select=id,overall_status&$expand=device__installs__image($top=1),"
        "image_install($filter=id eq 1),installs__image/$count",
    )
    assert (status, body) == (400, "downloading_installs cannot be computed with this $expand through the v6 proxy")
