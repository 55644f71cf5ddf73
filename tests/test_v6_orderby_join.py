"""A local sort key through a navigation to many rows (issue 12 item 2): v6 (pinejs, odata-to-abstract-sql
``AddJoins``) LEFT JOINs the navigation of an ``$orderby`` path, so the answer has one row per related row (a
row without any once, its key NULL). When the proxy sorts by overall_status itself, it joins the same way; the
simulator (which joins as pinejs does) is the oracle: its own answer for the keys v7 can sort, re-sorted stably
by the v6 overall_status, is what v6 answered for the whole $orderby.
"""

from __future__ import annotations

import aiohttp
import pytest
import yarl

from balena_v7_simulator.app import create_simulator_app
from balena_v7_simulator.fixtures import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# device 1 already has 'location'; three devices get more tags, so some devices appear several times
TAGS = [(1, "zone"), (1, "alpha"), (5, "rack"), (5, "beta"), (5, "zz"), (9, "alpha")]


@pytest.fixture
async def urls(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    async with aiohttp.ClientSession(headers=AUTH) as s:
        for device, key in TAGS:
            body = {"device": device, "tag_key": key, "value": "v"}
            async with s.post(f"{upstream}/v7/device_tag", json=body) as resp:
                assert resp.status == 201, await resp.text()
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")
    small = await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud", max_local_sort_rows=17)
    return running.url, small.url


async def get(base: str, path: str):
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(yarl.URL(base + path.replace(" ", "%20"), encoded=True)) as resp:
            return resp.status, await resp.json(content_type=None)


async def status_by_id(proxy: str) -> dict[int, str]:
    _, body = await get(proxy, "/v6/device?$select=id,overall_status")
    return {r["id"]: r["overall_status"] for r in body["d"]}


async def test_top_level_sort_key_through_a_collection_joins_it(urls):
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, joined = await get(proxy, "/v6/device?$select=id&$orderby=device_tag/tag_key asc,id asc")  # v7 sorts it
    ids = [r["id"] for r in joined["d"]]
    assert len(ids) > len(set(ids))  # the join repeats devices with several tags
    expected = sorted(ids, key=lambda i: status_of[i], reverse=True)  # stable: tag_key, id within a status
    status, body = await get(proxy, "/v6/device?$select=id&$orderby=overall_status desc,device_tag/tag_key asc,id asc")
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected
    assert all(list(r) == ["id"] for r in body["d"])
    # $top/$skip page the joined rows; without $select the rows are the plain v6 rows, nothing added
    status, body = await get(
        proxy, "/v6/device?$orderby=overall_status desc,device_tag/tag_key asc,id asc&$top=4&$skip=2"
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected[2:6]
    _, plain = await get(proxy, f"/v6/device?$filter=id eq {expected[2]}")
    assert body["d"][0] == plain["d"][0]
    # a device repeated by the join carries its own expanded links in every copy
    expand = "$expand=belongs_to__application($select=app_name;$expand=is_for__device_type($select=slug))"
    _, plain = await get(proxy, f"/v6/device?$select=id&{expand}")
    own = {r["id"]: r for r in plain["d"]}
    status, body = await get(
        proxy, f"/v6/device?$select=id&{expand}&$orderby=overall_status desc,device_tag/tag_key asc,id asc"
    )
    assert status == 200, body
    assert body["d"] == [own[i] for i in expected]


async def test_nested_sort_key_through_a_collection_joins_per_parent(urls):
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, joined = await get(
        proxy, "/v6/application?$select=id&$expand=owns__device($select=id;$orderby=device_tag/tag_key desc,id asc)"
    )
    status, body = await get(
        proxy,
        "/v6/application?$select=id&$expand=owns__device($select=id;"
        "$orderby=overall_status asc,device_tag/tag_key desc,id asc;$top=5;$skip=1)",
    )
    assert status == 200, body
    assert len(body["d"]) == len(joined["d"])
    for mine, theirs in zip(body["d"], joined["d"], strict=True):
        ids = sorted((d["id"] for d in theirs["owns__device"]), key=lambda i: status_of[i])  # stable
        assert mine["owns__device"] == [{"id": i} for i in ids[1:6]]


async def test_the_joined_rows_count_against_the_local_sort_limit(urls):
    proxy, small = urls
    _, joined = await get(proxy, "/v6/device?$select=id&$orderby=device_tag/tag_key asc")
    limit = 17  # more than the 15 devices, fewer than the joined rows
    assert len(joined["d"]) > limit  # the joined rows are more than the limit
    status, body = await get(small, "/v6/device?$select=id&$orderby=overall_status desc,device_tag/tag_key asc")
    assert (status, body) == (
        400,
        f"Ordering by overall_status is done by the proxy and is limited to {limit} rows: narrow the $filter",
    )


async def test_a_join_shared_with_the_filter_or_select_stays_a_clear_400(urls):
    proxy, _ = urls
    for query in (
        "$select=id&$filter=device_tag/tag_key eq 'alpha'",
        "$select=id&$expand=device_tag($select=id)",
    ):
        status, body = await get(proxy, f"/v6/device?{query}&$orderby=overall_status desc,device_tag/tag_key asc")
        assert status == 400, body
        assert "device_tag/tag_key" in body


async def test_sort_key_through_a_link_the_client_expands_itself(urls):
    """`belongs_to__application/app_name` next to overall_status with the client's own
    `$expand=belongs_to__application(...)`: the key is read from that expansion (widened by the name where it
    has a $select, and cut back again), as v6's join gave the same linked row."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, apps = await get(proxy, "/v6/device?$select=id&$expand=belongs_to__application($select=app_name)")
    name = {r["id"]: r["belongs_to__application"][0]["app_name"] for r in apps["d"]}
    assert len(set(name.values())) > 1
    expected = sorted(sorted(status_of, key=lambda i: (name[i], i)), key=lambda i: status_of[i], reverse=True)
    orderby = "$orderby=overall_status desc,belongs_to__application/app_name asc,id asc"
    for nested in ("($select=id)", "", "($select=id;$expand=is_for__device_type($select=slug))"):
        expand = f"$expand=belongs_to__application{nested}"
        _, plain = await get(proxy, f"/v6/device?$select=id&{expand}")
        own = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/device?$select=id&{expand}&{orderby}&$top=7&$skip=1")
        assert status == 200, body
        assert body["d"] == [own[i] for i in expected[1:8]]
    # an expansion that may not hold the linked row (filtered or paged) cannot give the key
    status, body = await get(
        proxy, f"/v6/device?$select=id&$expand=belongs_to__application($select=id;$filter=id eq 1)&{orderby}"
    )
    assert status == 400, body
    assert "belongs_to__application/app_name with belongs_to__application expanded" in body


async def test_overall_status_itself_through_a_collection_is_joined(urls):
    """`application?$orderby=owns__device/overall_status`: v6 joined the devices, one row per device (an
    application without any once, its key NULL); the proxy expands them with the value's helpers and joins."""
    proxy, _ = urls
    _, apps = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=id,overall_status)")
    pairs = [(a["id"], d["overall_status"]) for a in apps["d"] for d in a["owns__device"] or [None] if d] + [
        (a["id"], None) for a in apps["d"] if not a["owns__device"]
    ]
    for direction in ("asc", "desc"):
        # PostgreSQL: NULLs last ascending, first descending; ties by id (stable sorts, last key first)
        by_id = sorted(pairs, key=lambda p: p[0])
        expected = sorted(by_id, key=lambda p: (p[1] is None, p[1] or ""), reverse=direction == "desc")
        status, body = await get(
            proxy, f"/v6/application?$select=id&$orderby=owns__device/overall_status {direction},id asc"
        )
        assert status == 200, body
        assert [r["id"] for r in body["d"]] == [p[0] for p in expected]


async def test_overall_status_itself_through_a_link(urls):
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, installs = await get(proxy, "/v6/image_install?$select=id,device")
    device_of = {r["id"]: r["device"]["__id"] for r in installs["d"]}
    expected = sorted(sorted(device_of), key=lambda i: status_of[device_of[i]], reverse=True)
    status, body = await get(proxy, "/v6/image_install?$select=id&$orderby=device/overall_status desc,id asc&$top=5")
    assert status == 200, body
    assert body["d"] == [{"id": i} for i in expected[:5]]
    # without $select the rows show the link as a reference, rebuilt from the expansion: the plain v6 rows
    status, body = await get(proxy, "/v6/image_install?$orderby=device/overall_status desc,id asc&$top=2&$skip=1")
    assert status == 200, body
    for row, i in zip(body["d"], expected[1:3], strict=True):
        _, plain = await get(proxy, f"/v6/image_install?$filter=id eq {i}")
        assert row == plain["d"][0]
    # a link the client also expands stays the clear 400
    status, body = await get(
        proxy, "/v6/image_install?$select=id&$expand=device($select=id)&$orderby=device/overall_status desc"
    )
    assert status == 400, body
    assert "device/overall_status" in body
