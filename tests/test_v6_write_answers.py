"""End-to-end, what a v6 write gets back and what it may not do, through the running proxy (the recording v7
upstream, or the simulator behind the proxy): the bare ``{"id": N}`` when the read-back is off or failed; an
order by a derived value refused or dropped for writes and counts (local sorting is for reads); writes through
a navigation to a read-only or always-empty target are 401."""

from __future__ import annotations

import pytest
from fixtures.engine.upstream import Reply
from v6_proxy import call


# ------------------------------------------------------------------------------------------ POST {"id": N}
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


# ------------------------------------------------------------------------------------------ local sort: reads only
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


# ------------------------------------------------------------------------------------------ writes through a path
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
