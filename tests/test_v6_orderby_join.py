"""A local sort key through a navigation to many rows (issue 12 item 2): v6 (pinejs, odata-to-abstract-sql
``AddJoins``) LEFT JOINs the navigation of an ``$orderby`` path, so the answer has one row per related row (a
row without any once, its key NULL). When the proxy sorts by overall_status itself, it joins the same way; the
simulator (which joins as pinejs does) is the oracle: its own answer for the keys v7 can sort, re-sorted stably
by the v6 overall_status, is what v6 answered for the whole $orderby.
"""

from __future__ import annotations

import itertools
import json

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


def nulls_last(v):
    """PostgreSQL's order of a key: NULLs last ascending (first descending, reversed)."""
    return (v is None, v or "")


async def assert_joined_rows(proxy: str, path: str, rows: list[tuple]) -> None:
    """`path` (with `{direction}`) answers one row per joined row (`rows`: its id first, its key third),
    sorted by the key either way, ties by id."""
    by_id = sorted(rows, key=lambda r: r[0])
    for direction in ("asc", "desc"):
        expected = sorted(by_id, key=lambda r: nulls_last(r[2]), reverse=direction == "desc")
        status, body = await get(proxy, path.format(direction=direction))
        assert status == 200, body
        assert body["d"] == [{"id": r[0]} for r in expected], direction


async def assert_ids(proxy: str, path: str, ids: list[int]) -> None:
    """`path` answers the rows of these ids, in this order, each only its id."""
    status, body = await get(proxy, path)
    assert status == 200, body
    assert body["d"] == [{"id": i} for i in ids], path


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
    # the key's join shared with the nested $filter: left to v7 after overall_status, as at the top
    nested = "$select=id;$filter=device_tag/tag_key ne 'location'"
    _, joined = await get(
        proxy, f"/v6/application?$select=id&$expand=owns__device({nested};$orderby=device_tag/tag_key desc,id asc)"
    )
    status, body = await get(
        proxy,
        f"/v6/application?$select=id&$expand=owns__device({nested};"
        "$orderby=overall_status asc,device_tag/tag_key desc,id asc;$top=3;$skip=1)",
    )
    assert status == 200, body
    assert any(len(a["owns__device"]) > len({d["id"] for d in a["owns__device"]}) for a in joined["d"])
    for mine, theirs in zip(body["d"], joined["d"], strict=True):
        rows = sorted(theirs["owns__device"], key=lambda d: status_of[d["id"]])  # stable
        assert mine["owns__device"] == rows[1:4]


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


async def test_a_join_shared_with_the_filter_select_or_expand_is_left_to_v7(urls):
    """A key through a collection the client also reads through (a $filter path, a $select path) or expands:
    pinejs shares one join between them. After the last key only the proxy can sort, such keys stay in the v7
    $orderby (v7's pinejs joins exactly as v6's did) and the proxy re-sorts v7's rows stably by overall_status."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    repeated: list[bool] = []
    for query in (
        "$select=id&$filter=device_tag/tag_key eq 'alpha' or device_tag/tag_key eq 'zz'",
        "$select=id&$filter=device_tag/tag_key ne 'location'",
        "$select=id&$expand=device_tag($select=tag_key;$filter=tag_key ne 'alpha')",
        "$expand=device_tag($select=id;$top=1)",
    ):
        _, joined = await get(proxy, f"/v6/device?{query}&$orderby=device_tag/tag_key desc,id asc")  # v7 sorts it
        ids = [r["id"] for r in joined["d"]]
        assert len(set(ids)) > 1
        repeated.append(len(ids) > len(set(ids)))  # the join repeats devices
        expected = sorted(joined["d"], key=lambda r: status_of[r["id"]])  # stable: tag_key, id within a status
        status, body = await get(
            proxy, f"/v6/device?{query}&$orderby=overall_status asc,device_tag/tag_key desc,id asc&$top=9&$skip=1"
        )
        assert status == 200, body
        assert body["d"] == expected[1:10]
    assert repeated == [False, True, True, True]  # one shared join: once per matching tag, not per tag


async def test_two_keys_through_the_same_collection_share_one_join(urls):
    """pinejs joins a navigation path once per query: `device_tag/value,device_tag/tag_key` read the same tag
    (one row per tag, not per pair of tags), next to overall_status as without it."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    keys = "device_tag/value desc,device_tag/tag_key asc,id asc"
    _, joined = await get(proxy, f"/v6/device?$select=id&$orderby={keys}")  # v7 sorts it
    _, tags = await get(proxy, "/v6/device_tag?$select=id")
    _, untagged = await get(proxy, "/v6/device?$select=id&$filter=not(device_tag/any(t:1 eq 1))")
    assert len(joined["d"]) == len(tags["d"]) + len(untagged["d"])
    expected = sorted(joined["d"], key=lambda r: status_of[r["id"]], reverse=True)
    status, body = await get(proxy, f"/v6/device?$select=id&$orderby=overall_status desc,{keys}")
    assert status == 200, body
    assert body["d"] == expected


async def test_a_longer_path_through_a_collection_after_the_proxy_only_key(urls):
    """`image_install/installs__image/id` (two links, the first to many rows) after overall_status: v7 joins
    and sorts it as v6 did, the proxy re-sorts stably by overall_status."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    keys = "image_install/installs__image/id desc,id asc"
    _, joined = await get(proxy, f"/v6/device?$select=id&$orderby={keys}")  # v7 sorts it
    ids = [r["id"] for r in joined["d"]]
    assert len(ids) > len(set(ids))  # devices with several installs come once per install
    expected = sorted(joined["d"], key=lambda r: status_of[r["id"]])
    status, body = await get(proxy, f"/v6/device?$select=id&$orderby=overall_status asc,{keys}&$top=10&$skip=3")
    assert status == 200, body
    assert body["d"] == expected[3:13]
    # before overall_status: the proxy joins the collection itself, the link expanded inside it
    _, images = await get(proxy, "/v6/image?$select=id,content_hash")
    size = {r["id"]: r["content_hash"] for r in images["d"]}
    assert len(set(size.values())) > 1
    _, installs = await get(proxy, "/v6/image_install?$select=device,installs__image")
    pairs = [(r["device"]["__id"], size[r["installs__image"]["__id"]]) for r in installs["d"]]
    pairs += [(i, None) for i in status_of if i not in {p[0] for p in pairs}]
    rows = sorted(sorted(pairs), key=lambda p: status_of[p[0]])
    expected = [p[0] for p in sorted(rows, key=lambda p: (p[1] is None, p[1] or ""), reverse=True)]
    status, body = await get(
        proxy,
        "/v6/device?$select=id&$orderby=image_install/installs__image/content_hash desc,overall_status asc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected
    # ... and where a column of the device has the name (`id`; was the clear 400): joined by the proxy itself,
    # the link expanded inside the collection's expansion
    image_pairs = [(r["device"]["__id"], r["installs__image"]["__id"]) for r in installs["d"]]
    image_pairs += [(i, None) for i in status_of if i not in {p[0] for p in image_pairs}]
    rows = sorted(sorted(image_pairs), key=lambda p: status_of[p[0]])
    expected = [p[0] for p in sorted(rows, key=lambda p: (p[1] is None, p[1] or 0), reverse=True)]
    status, body = await get(proxy, f"/v6/device?$select=id&$orderby={keys.split(',')[0]},overall_status asc")
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected


async def test_a_shared_join_before_the_last_proxy_only_key_is_a_select_path(urls):
    """Before overall_status v7 cannot sort the key, and the proxy cannot join as pinejs shares the join with
    the $filter path: it asks v7 for the key as a $select path, which pinejs joins into the same shared join
    (one row per joined tag), and sorts those rows."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, tags = await get(proxy, "/v6/device_tag?$select=device,tag_key")
    keys_of: dict[int, list[str]] = {i: [] for i in status_of}
    for t in tags["d"]:
        keys_of[t["device"]["__id"]].append(t["tag_key"])
    pairs = [(i, k) for i, ks in keys_of.items() for k in ks or [None]]

    def ordered(rows):  # tag_key asc (NULL last), overall_status desc, id asc
        rows = sorted(rows, key=lambda p: p[0])
        rows = sorted(rows, key=lambda p: status_of[p[0]], reverse=True)
        return [p[0] for p in sorted(rows, key=lambda p: (p[1] is None, p[1] or ""))]

    orderby = "$orderby=device_tag/tag_key asc,overall_status desc,id asc"
    for query, expected in (
        # `ne` keeps a device without tags (NULL is distinct from 'location'), once
        ("$select=id&$filter=device_tag/tag_key ne 'location'", ordered([p for p in pairs if p[1] != "location"])),
        (
            "$select=id&$filter=device_tag/tag_key eq 'alpha' or id eq 5",
            ordered([p for p in pairs if p[1] == "alpha" or p[0] == 5]),
        ),
        ("$select=id&$expand=device_tag($select=id)", ordered(pairs)),
    ):
        assert len(expected) > len(set(expected)) or "alpha" in query
        status, body = await get(proxy, f"/v6/device?{query}&{orderby}")
        assert status == 200, body
        assert [r["id"] for r in body["d"]] == expected
        assert all(set(r) <= {"id", "device_tag"} for r in body["d"])  # the key is not shown
    # the client selects the same path (v6 answers the joined value under its own key): read from the row
    status, body = await get(
        proxy, f"/v6/device?$select=id,device_tag/tag_key&$filter=device_tag/tag_key ne 'location'&{orderby}"
    )
    assert status == 200, body
    keys = sorted((p for p in pairs if p[1] != "location"), key=lambda p: p[0])
    keys = sorted(keys, key=lambda p: status_of[p[0]], reverse=True)
    keys = sorted(keys, key=lambda p: (p[1] is None, p[1] or ""))
    assert body["d"] == [{"id": i, "tag_key": k} for i, k in keys]
    # inside an $expand, per parent
    _, apps = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=id)")
    status, body = await get(
        proxy,
        "/v6/application?$select=id&$expand=owns__device($select=id;$filter=device_tag/tag_key ne 'location';"
        f"{orderby};$top=4)",
    )
    assert status == 200, body
    joined = ordered([p for p in pairs if p[1] != "location"])
    for mine, app in zip(body["d"], apps["d"], strict=True):
        members = {d["id"] for d in app["owns__device"]}
        assert mine["owns__device"] == [{"id": i} for i in joined if i in members][:4]
    # without $select: v7 is asked for every field the plain answer reads, plus the path (pinejs answers every
    # field either way): the rows are the plain v6 rows, byte for byte (key order, references, `__metadata`),
    # one per joined tag; inside an $expand too
    for fmt in ("", "&$format=json;odata.metadata=full"):
        for query, whole, expected in (
            ("$filter=device_tag/tag_key ne 'location'", "$top=100", ordered([p for p in pairs if p[1] != "location"])),
            ("$select=*&$expand=device_tag", "$expand=device_tag", ordered(pairs)),
        ):
            _, plain = await get(proxy, f"/v6/device?{whole}{fmt}")
            row_of = {r["id"]: r for r in plain["d"]}
            status, body = await get(proxy, f"/v6/device?{query}&{orderby}{fmt}")
            assert status == 200, body
            assert [json.dumps(r) for r in body["d"]] == [json.dumps(row_of[i]) for i in expected]
        _, plain = await get(proxy, f"/v6/application?$select=id&$expand=owns__device{fmt}")
        status, body = await get(
            proxy,
            "/v6/application?$select=id&$expand=owns__device($filter=device_tag/tag_key ne 'location';"
            f"{orderby};$top=4){fmt}",
        )
        assert status == 200, body
        for mine, app in zip(body["d"], plain["d"], strict=True):
            row_of = {d["id"]: d for d in app["owns__device"]}
            expected = [json.dumps(row_of[i]) for i in joined if i in row_of][:4]
            assert [json.dumps(d) for d in mine["owns__device"]] == expected


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
    # an expansion that may not hold the linked row (filtered): the key after overall_status is left to v7
    expand = "$expand=belongs_to__application($select=id;$filter=id eq 1)"
    _, plain = await get(proxy, f"/v6/device?$select=id&{expand}")
    own = {r["id"]: r for r in plain["d"]}
    assert any(not r["belongs_to__application"] for r in plain["d"])
    status, body = await get(proxy, f"/v6/device?$select=id&{expand}&{orderby}&$top=7&$skip=1")
    assert status == 200, body
    assert body["d"] == [own[i] for i in expected[1:8]]
    # before overall_status v7 cannot sort it: the key is asked as a $select path (joined, not shown)
    expected = sorted(sorted(status_of), key=lambda i: status_of[i], reverse=True)
    expected = sorted(expected, key=lambda i: name[i], reverse=True)
    status, body = await get(
        proxy,
        f"/v6/device?$select=id&{expand}&$orderby=belongs_to__application/app_name desc,overall_status desc,id asc",
    )
    assert status == 200, body
    assert body["d"] == [own[i] for i in expected]
    # ... also a name the resource has (`id`) where the finished row holds no other column of it (OData has no
    # alias for a $select path: pinejs would answer both under one key)
    _, links = await get(proxy, "/v6/device?$select=id,device_name,belongs_to__application")
    app_of = {r["id"]: (r["belongs_to__application"] or {}).get("__id") for r in links["d"]}
    named = {r["id"]: r["device_name"] for r in links["d"]}
    assert len(set(app_of.values())) > 1 and len(set(named.values())) == len(named)
    _, plain = await get(proxy, f"/v6/device?$select=device_name&{expand}")
    own = {r["device_name"]: r for r in plain["d"]}
    expected = sorted(sorted(status_of, key=lambda i: named[i]), key=lambda i: status_of[i], reverse=True)
    expected = sorted(expected, key=lambda i: (app_of[i] is None, app_of[i] or 0), reverse=True)  # NULL first
    status, body = await get(
        proxy,
        f"/v6/device?$select=device_name&{expand}"
        "&$orderby=belongs_to__application/id desc,overall_status desc,device_name asc",
    )
    assert status == 200, body
    assert body["d"] == [own[named[i]] for i in expected]
    assert all("id" not in r for r in body["d"])
    # where the row has another column of that name (the device's own `id`, selected or sorted by; was a 400):
    # the proxy asks the client's expansion whole, reads the key from it and decides its $filter itself
    by_id = sorted(sorted(status_of), key=lambda i: status_of[i], reverse=True)
    by_id = sorted(by_id, key=lambda i: (app_of[i] is None, app_of[i] or 0), reverse=True)
    for query, order in (
        (f"$select=id&{expand}", expected),
        (expand, expected),
        (f"$select=device_name&{expand}", by_id),
    ):
        key = "id asc" if query.startswith("$select=device_name") else "device_name asc"
        _, plain = await get(proxy, f"/v6/device?{query}")
        rows = plain["d"]
        own = {r["device_name"] if "device_name" in r else named[r["id"]]: r for r in rows}
        status, body = await get(
            proxy, f"/v6/device?{query}&$orderby=belongs_to__application/id desc,overall_status desc,{key}"
        )
        assert status == 200, body
        assert [json.dumps(r) for r in body["d"]] == [json.dumps(own[named[i]]) for i in order]
    # a $filter the proxy cannot decide (`now()`): still the clear 400
    status, body = await get(
        proxy,
        "/v6/device?$select=id&$expand=belongs_to__application($filter=created_at gt now())"
        "&$orderby=belongs_to__application/id desc,overall_status desc",
    )
    assert status == 400, body
    assert "belongs_to__application/id with belongs_to__application expanded" in body


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


async def test_overall_status_and_another_key_through_the_same_collection_share_one_join(urls):
    """`owns__device/overall_status` next to `owns__device/device_name` (either first): pinejs joins the
    devices once, so both keys read the same device of each joined row."""
    proxy, _ = urls
    _, apps = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=device_name,overall_status)")
    rows = [(a["id"], d["overall_status"], d["device_name"]) for a in apps["d"] for d in a["owns__device"]]
    rows += [(a["id"], None, None) for a in apps["d"] if not a["owns__device"]]
    assert len(rows) > len(apps["d"])

    by_id = sorted(rows, key=lambda r: r[0])
    expected = sorted(sorted(by_id, key=lambda r: nulls_last(r[2])), key=lambda r: nulls_last(r[1]), reverse=True)
    status, body = await get(
        proxy,
        "/v6/application?$select=id&$orderby=owns__device/overall_status desc,owns__device/device_name asc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == [r[0] for r in expected]
    expected = sorted(sorted(by_id, key=lambda r: nulls_last(r[1]), reverse=True), key=lambda r: nulls_last(r[2]))
    status, body = await get(
        proxy,
        "/v6/application?$select=id&$orderby=owns__device/device_name asc,owns__device/overall_status desc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == [r[0] for r in expected]


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
    # the client's own expansion of the link holds the device (no $filter/$top/$skip): the value is read
    # from it (added to its $select and hidden again where the client did not select it)
    # ($top=n ≥ 1 and $skip=0 page the one linked row without leaving it out: the same)
    for nested in ("($select=id)", "($select=device_name,overall_status)", "", "($select=id;$top=1;$skip=0)"):
        _, plain = await get(proxy, f"/v6/image_install?$select=id&$expand=device{nested}")
        own = {r["id"]: r for r in plain["d"]}
        status, body = await get(
            proxy,
            f"/v6/image_install?$select=id&$expand=device{nested}&$orderby=device/overall_status desc,id asc&$top=6",
        )
        assert status == 200, body
        assert body["d"] == [own[i] for i in expected[:6]]
    # a $select path through the link: a join next to the proxy's expansion, the value the same
    _, named = await get(proxy, "/v6/image_install?$select=id,device/device_name")
    name_of = {r["id"]: r["device_name"] for r in named["d"]}
    status, body = await get(
        proxy, "/v6/image_install?$select=id,device/device_name&$orderby=device/overall_status desc,id asc"
    )
    assert status == 200, body
    assert body["d"] == [{"id": i, "device_name": name_of[i]} for i in expected]
    # a $filter path through the link joins the same device: the value is the same
    _, named = await get(proxy, "/v6/image_install?$select=id&$filter=device/device_name ne 'nothing'")
    assert len(named["d"]) == len(expected)
    status, body = await get(
        proxy,
        "/v6/image_install?$select=id&$filter=device/device_name ne 'nothing'&$orderby=device/overall_status desc,id asc",
    )
    assert status == 200, body
    assert body["d"] == [{"id": i} for i in expected]
    # an expansion that may leave out the device ($filter, $skip above 0, $top=0): v6 joined the device for the
    # key all the same (was a 400). Where the proxy can decide the $filter itself it asks the expansion whole
    # and leaves the device out again where the $filter (as the server's own answer shows) does not hold
    for expand in (
        "device($select=id;$filter=id gt 3)",
        "device($select=device_name;$filter=id gt 3 and (device_name ne 'x' or note eq null))",
        "device($select=overall_status;$skip=1),installs__image",
        "device($top=0)",
    ):
        _, plain = await get(proxy, f"/v6/image_install?$select=id&$expand={expand}")
        own = {r["id"]: r for r in plain["d"]}
        assert any(r["device"] for r in own.values()) == ("$filter" in expand)
        status, body = await get(
            proxy, f"/v6/image_install?$select=id&$expand={expand}&$orderby=device/overall_status desc,id asc"
        )
        assert status == 200, body
        assert body["d"] == [own[i] for i in expected]
    # without $select (the raw link hidden again), and with `__metadata` URIs in the expanded row
    _, order = await get(proxy, "/v6/image_install?$select=id&$orderby=device/overall_status desc,id asc")
    for fmt in ("", "&$format=json;odata.metadata=full"):
        _, plain = await get(proxy, f"/v6/image_install?$expand=device($filter=id gt 3){fmt}")
        own = {r["id"]: r for r in plain["d"]}
        status, body = await get(
            proxy, f"/v6/image_install?$expand=device($filter=id gt 3)&$orderby=device/overall_status desc,id asc{fmt}"
        )
        assert status == 200, body
        assert [json.dumps(r) for r in body["d"]] == [json.dumps(own[r["id"]]) for r in order["d"]]
    # a $filter the proxy does not compute as the server does (`now()`): still the clear 400
    expand = "device($select=id;$filter=created_at gt now())"
    status, body = await get(proxy, f"/v6/image_install?$select=id&$expand={expand}&$orderby=device/overall_status")
    assert status == 400, body
    assert "device/overall_status" in body


async def test_a_longer_path_through_a_collection_the_proxy_joins_shares_its_join(urls):
    """`image_install/install_date` and `image_install/installs__image/content_hash` next to overall_status: pinejs
    joins image_install once for both (and installs__image on from each member), so the second key reads the
    image of the member each joined row holds; the proxy expands the link inside its own join of the
    collection. Either key order, before or after overall_status."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, images = await get(proxy, "/v6/image?$select=id,content_hash")
    hash_of = {r["id"]: r["content_hash"] for r in images["d"]}
    _, installs = await get(proxy, "/v6/image_install?$select=device,install_date,installs__image&$orderby=id asc")
    rows = [(r["device"]["__id"], r["install_date"], hash_of.get(r["installs__image"]["__id"])) for r in installs["d"]]
    rows += [(i, None, None) for i in status_of if i not in {r[0] for r in rows}]
    assert len({r[0] for r in rows}) < len(rows) and len({r[2] for r in rows}) > 2 and len({r[1] for r in rows}) > 2

    def text(value, desc):  # NULL last ascending, first descending (sorted in reverse); text by code point
        return value is None, value or ""

    def first_order(rs):  # overall_status desc, install_date asc, content_hash desc, id asc
        rs = sorted(rs, key=lambda x: text(x[2], True), reverse=True)
        rs = sorted(rs, key=lambda x: text(x[1], False))
        return sorted(rs, key=lambda x: status_of[x[0]], reverse=True)

    def second_order(rs):  # content_hash asc, install_date desc, overall_status asc, id asc
        rs = sorted(rs, key=lambda x: status_of[x[0]])
        rs = sorted(rs, key=lambda x: text(x[1], True), reverse=True)
        return sorted(rs, key=lambda x: text(x[2], False))

    by_id = sorted(rows, key=lambda x: x[0])
    for orderby, order in (
        (
            "overall_status desc,image_install/install_date asc,image_install/installs__image/content_hash desc,id asc",
            first_order,
        ),
        (
            "image_install/installs__image/content_hash asc,image_install/install_date desc,overall_status asc,id asc",
            second_order,
        ),
    ):
        expected = [r[0] for r in order(by_id)]
        status, body = await get(proxy, f"/v6/device?$select=id&$orderby={orderby}")
        assert status == 200, body
        assert [r["id"] for r in body["d"]] == expected
        status, body = await get(proxy, f"/v6/device?$select=id&$orderby={orderby}&$top=5&$skip=2")
        assert status == 200, body
        assert [r["id"] for r in body["d"]] == expected[2:7]


async def test_overall_status_through_a_collection_shares_the_join_a_longer_path_made(urls):
    """`owns__device/is_online`, `owns__device/is_of__device_type/slug` then `owns__device/overall_status`:
    one join of owns__device for all three (as pinejs joins it once), the device type expanded inside it."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, devices = await get(proxy, "/v6/device?$select=id,is_online&$expand=is_of__device_type($select=slug)")
    slug = {r["id"]: r["is_of__device_type"][0]["slug"] for r in devices["d"]}
    online = {r["id"]: r["is_online"] for r in devices["d"]}
    assert len(set(slug.values())) > 1 and len(set(online.values())) > 1
    _, apps = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=id)")
    rows = [(a["id"], d["id"]) for a in apps["d"] for d in a["owns__device"] or [None] if d is not None]
    rows += [(a["id"], None) for a in apps["d"] if not a["owns__device"]]
    assert len({r[0] for r in rows}) < len(rows)

    def key(r):  # is_online asc, slug asc (NULL last), overall_status desc (NULL first), id asc
        d = r[1]
        return (
            (d is None, online.get(d) or False),
            (d is None, slug.get(d) or ""),
            (*(-ord(c) for c in status_of[d]), 0) if d is not None else (float("-inf"),),
            r[0],
        )

    expected = [r[0] for r in sorted(rows, key=key)]
    orderby = (
        "owns__device/is_online asc,owns__device/is_of__device_type/slug asc,owns__device/overall_status desc,id asc"
    )
    status, body = await get(proxy, f"/v6/application?$select=id&$orderby={orderby}")
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected
    # the longer path first: the proxy joins the collection for it already (overall_status takes that join over)
    expected = [r[0] for r in sorted(rows, key=lambda r: (key(r)[1], key(r)[2], r[0]))]
    orderby = "owns__device/is_of__device_type/slug asc,owns__device/overall_status desc,id asc"
    status, body = await get(proxy, f"/v6/application?$select=id&$orderby={orderby}&$top=6&$skip=1")
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected[1:7]


async def test_a_big_integer_sort_key_sorts_by_the_number(serve_app, start_proxy):
    """`image_install/installs__image/image_size` (a Big Integer: the driver hands its value on as decimal
    text) sorts as SQL sorts the column, by the number, both as a $select path before overall_status and in
    the proxy's own join after it."""
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(f"{upstream}/v7/image?$select=id") as resp:
            image_ids = [r["id"] for r in (await resp.json())["d"]]
        for i in image_ids:  # sizes of different lengths: text order is not number order
            async with s.patch(f"{upstream}/v7/image({i})", json={"image_size": str(7 * 10 ** (i % 6) + i)}) as resp:
                assert resp.status == 200, await resp.text()
    proxy = (await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")).url
    status_of = await status_by_id(proxy)
    _, images = await get(proxy, "/v6/image?$select=id,image_size")
    size_of = {r["id"]: r["image_size"] for r in images["d"]}
    _, installs = await get(proxy, "/v6/image_install?$select=device,install_date,installs__image&$orderby=id asc")
    rows = [(r["device"]["__id"], r["install_date"], size_of[r["installs__image"]["__id"]]) for r in installs["d"]]
    rows += [(i, None, None) for i in status_of if i not in {r[0] for r in rows}]
    sizes = sorted({int(r[2]) for r in rows if r[2] is not None})
    assert sorted(sizes, key=str) != sizes  # the order by text differs

    def number(value, desc):  # NULL last ascending, first descending (sorted in reverse)
        return value is None, int(value or 0)

    by_id = sorted(rows, key=lambda x: x[0])
    before = sorted(sorted(by_id, key=lambda x: status_of[x[0]]), key=lambda x: number(x[2], True), reverse=True)
    status, body = await get(
        proxy, "/v6/device?$select=id&$orderby=image_install/installs__image/image_size desc,overall_status asc,id asc"
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == [r[0] for r in before]
    after = sorted(by_id, key=lambda x: number(x[2], False))
    after = sorted(after, key=lambda x: ((x[1] is None), x[1] or ""))
    after = sorted(after, key=lambda x: status_of[x[0]], reverse=True)
    status, body = await get(
        proxy,
        "/v6/device?$select=id&$orderby=overall_status desc,image_install/install_date asc,"
        "image_install/installs__image/image_size asc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == [r[0] for r in after]


async def test_a_derived_value_v7_sorts_alike_through_a_link_next_to_a_local_key(urls):
    """`is_running__release/release_type` before `overall_status`: v7 would sort the release type by the field
    that sorts alike (is_final), but the proxy sorts the keys before its own; it reads that field through the
    link as it reads a plain one (expanded by the proxy, from the client's whole expansion, or as a $select
    path beside the client's filtered one), NULL where no release runs."""
    proxy, _ = urls
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.patch(f"{proxy}/v6/device(5)", json={"is_running__release": 3}) as resp:  # a draft
            assert resp.status == 200, await resp.text()
    status_of = await status_by_id(proxy)
    _, releases = await get(proxy, "/v6/release?$select=id,release_type")
    type_of = {r["id"]: r["release_type"] for r in releases["d"]}
    _, devices = await get(proxy, "/v6/device?$select=id,is_running__release")
    kind = {r["id"]: type_of.get((r["is_running__release"] or {}).get("__id")) for r in devices["d"]}
    assert len(set(kind.values())) == 3  # draft, final and no release at all
    for direction in ("asc", "desc"):
        by_id = sorted(kind)
        by_status = sorted(by_id, key=lambda i: status_of[i])
        # NULLs last ascending, first descending
        expected = sorted(by_status, key=lambda i: (kind[i] is None, kind[i] or ""), reverse=direction == "desc")
        for query in (
            "$select=id",
            "$select=id,is_running__release",
            "$select=id&$expand=is_running__release($select=id)",
            "$select=id&$expand=is_running__release($select=id;$filter=id gt 1)",
        ):
            status, body = await get(
                proxy,
                f"/v6/device?{query}&$orderby=is_running__release/release_type {direction},overall_status asc,id asc",
            )
            assert status == 200, (query, body)
            assert [r["id"] for r in body["d"]] == expected, (query, direction)
            if "is_running__release" in query.split("&")[0]:
                assert {r["id"]: r["is_running__release"] for r in body["d"]} == {
                    r["id"]: r["is_running__release"] for r in devices["d"]
                }


async def test_a_sort_key_asked_as_a_select_path_that_would_join_too_early_is_a_clear_400(urls):
    """A key the proxy asks as a $select path is joined before the $filter (v6 joined it after, in
    $orderby); pinejs joins a path's links only where its first one is not joined yet, so a deeper $filter
    path through the same link would name a table the query lacks: the database fails (the simulator
    answers 500 as the server does). The proxy answers the key's clear 400 instead of that 500; without the
    deeper path the same request is answered. Where the proxy can decide the client's $filter of the link's
    expansion itself, it reads the key from the expansion asked whole instead: answered (was the 400)."""
    proxy, _ = urls
    order = "$orderby=belongs_to__application/app_name asc,overall_status asc"
    expand = "$expand=belongs_to__application($select=id;$filter=created_at gt now())"
    status, body = await get(
        proxy, f"/v6/device?$select=id&$filter=belongs_to__application/organization/name ne 'zz'&{expand}&{order}"
    )
    assert status == 400, body
    assert "belongs_to__application/app_name" in body and body.endswith("through the v6 proxy")
    status, body = await get(proxy, f"/v6/device?$select=id&$filter=id ne 0&{expand}&{order}")
    assert status == 200 and body["d"], body
    expand = "$expand=belongs_to__application($select=id;$filter=id gt 1)"
    _, every = await get(proxy, f"/v6/device?$select=id&$filter=id ne 0&{expand}&{order}")
    status, body = await get(
        proxy, f"/v6/device?$select=id&$filter=belongs_to__application/organization/name ne 'zz'&{expand}&{order}"
    )
    assert status == 200, body
    assert body == every and any(not r["belongs_to__application"] for r in body["d"])


async def test_a_key_through_a_collection_the_client_expands_whole_joins_beside_it(urls):
    """`device_tag/<name>` before overall_status with the client's own `$expand=device_tag(...)` (no $filter,
    $top, $skip or $orderby there): v6 joined the tags for the key (one row per tag, a device without any once)
    and every row still holds the client's whole expansion (a subquery of its own). The proxy reads the key
    from the member of that expansion each joined row stands for; `device_tag/id` was a 400 before (as a
    $select path its column would be answered under the device's own `id`)."""
    proxy, _ = urls
    for select, key, nested in (
        ("", "device_tag/id asc", ""),
        ("$select=id&", "device_tag/id desc", "($select=tag_key)"),
        ("$select=device_name,id&", "device_tag/tag_key asc", "($select=value;$expand=device($select=id))"),
    ):
        orderby = f"$orderby={key},overall_status desc,id asc"
        _, joined = await get(proxy, f"/v6/device?$select=id&{orderby}")  # the proxy's own join of the tags
        order = [r["id"] for r in joined["d"]]
        assert len(order) > len(set(order))
        expand = f"$expand=device_tag{nested}"
        _, plain = await get(proxy, f"/v6/device?{select}{expand}")
        row_of = {r["id"]: r for r in plain["d"]}
        for paging, rows in (("", order), ("&$top=5&$skip=3", order[3:8])):
            status, body = await get(proxy, f"/v6/device?{select}{expand}&{orderby}{paging}")
            assert status == 200, body
            assert [json.dumps(r) for r in body["d"]] == [json.dumps(row_of[i]) for i in rows]


async def test_overall_status_through_a_collection_the_client_expands_whole(urls):
    """`application?$orderby=owns__device/overall_status` with the client's own `$expand=owns__device(...)`:
    one row per device as v6's join made them (was a 400), each with the client's whole expansion; the value
    is computed in that expansion (added to its $select with its helpers, and hidden again)."""
    proxy, _ = urls
    for select, nested in (("$select=id&", "($select=device_name)"), ("", ""), ("$select=id&", "($select=id)")):
        orderby = "$orderby=owns__device/overall_status desc,id asc"
        _, joined = await get(proxy, f"/v6/application?$select=id&{orderby}")  # the proxy's own join
        order = [r["id"] for r in joined["d"]]
        assert len(order) > len(set(order))
        expand = f"$expand=owns__device{nested}"
        _, plain = await get(proxy, f"/v6/application?{select}{expand}")
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/application?{select}{expand}&{orderby}")
        assert status == 200, body
        assert [json.dumps(r) for r in body["d"]] == [json.dumps(row_of[i]) for i in order]
    # next to a key through the same collection: one join, both read the same member
    orderby = "$orderby=owns__device/device_name asc,owns__device/overall_status desc,id asc"
    _, joined = await get(proxy, f"/v6/application?$select=id&{orderby}")
    _, plain = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=id)")
    row_of = {r["id"]: r for r in plain["d"]}
    status, body = await get(proxy, f"/v6/application?$select=id&$expand=owns__device($select=id)&{orderby}")
    assert status == 200, body
    assert body["d"] == [row_of[r["id"]] for r in joined["d"]]
    # paged by an $orderby the proxy does itself there: v7 is asked for every member, which the key reads, and
    # the proxy pages the client's rows after its sort (was a 400)
    for nested, keys in (
        ("($select=id;$orderby=overall_status desc;$top=2;$skip=1)", "owns__device/overall_status desc"),
        ("($orderby=overall_status asc;$top=1)", "owns__device/overall_status desc"),
        ("($select=id;$orderby=overall_status asc;$skip=1)", "owns__device/device_name,owns__device/overall_status"),
    ):
        orderby = f"$orderby={keys},id asc"
        _, joined = await get(proxy, f"/v6/application?$select=id&{orderby}")
        _, plain = await get(proxy, f"/v6/application?$select=id&$expand=owns__device{nested}")
        row_of = {r["id"]: r for r in plain["d"]}
        assert any(len(r["owns__device"]) for r in row_of.values())
        status, body = await get(proxy, f"/v6/application?$select=id&$expand=owns__device{nested}&{orderby}")
        assert status == 200, body
        assert body["d"] == [row_of[r["id"]] for r in joined["d"]], nested
    # a count of the collection next to it counts every member (v6's count subquery saw them all), each
    # application once per device (expected from the data)
    _, apps = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=device_name,overall_status)")
    rows = [
        (a["id"], len(a["owns__device"]), d["overall_status"], d["device_name"])
        for a in apps["d"]
        for d in a["owns__device"]
    ]
    rows += [(a["id"], 0, None, None) for a in apps["d"] if not a["owns__device"]]
    rows = sorted(sorted(sorted(rows), key=lambda r: (r[2] is None, r[2] or "")), key=lambda r: -r[1])
    nested = "($select=id;$orderby=overall_status asc;$top=1)"
    _, plain = await get(proxy, f"/v6/application?$select=id&$expand=owns__device{nested}")
    row_of = {r["id"]: r for r in plain["d"]}
    orderby = "$orderby=owns__device/$count desc,owns__device/overall_status asc,id asc"
    status, body = await get(proxy, f"/v6/application?$select=id&$expand=owns__device{nested}&{orderby}")
    assert status == 200, body
    assert body["d"] == [row_of[r[0]] for r in rows]
    # without the client's expansion: the proxy's own expansion, joined beside the whole collection it counts
    # (was a 400), either key first
    await assert_ids(proxy, f"/v6/application?$select=id&{orderby}", [r[0] for r in rows])
    rows = sorted(sorted(sorted(rows), key=lambda r: -r[1]), key=lambda r: (r[2] is None, r[2] or ""))
    orderby = "$orderby=owns__device/overall_status asc,owns__device/$count desc,id asc"
    await assert_ids(proxy, f"/v6/application?$select=id&{orderby}", [r[0] for r in rows])
    # a filtered count: the proxy counts the members its own expansion holds where the $filter holds
    name = rows[0][3]
    counted = {a["id"]: sum(d["device_name"] != name for d in a["owns__device"]) for a in apps["d"]}
    rows = sorted(
        sorted(sorted(rows), key=lambda r: (r[2] is None, r[2] or ""), reverse=True), key=lambda r: -counted[r[0]]
    )
    orderby = (
        f"$orderby=owns__device/$count($filter=device_name ne '{name}') desc,owns__device/overall_status desc,id asc"
    )
    await assert_ids(proxy, f"/v6/application?$select=id&{orderby}", [r[0] for r in rows])
    # a third key through the collection reads the same joined device
    rows = sorted(sorted(sorted(rows), key=lambda r: (r[3] is None, r[3] or "")), key=lambda r: -r[1])
    orderby = "$orderby=owns__device/$count desc,owns__device/device_name asc,owns__device/overall_status desc,id asc"
    await assert_ids(proxy, f"/v6/application?$select=id&{orderby}", [r[0] for r in rows])
    # an expansion that may leave out members, with a $filter the proxy cannot decide (`now()`): the clear 400
    status, body = await get(
        proxy,
        "/v6/application?$expand=owns__device($filter=created_at gt now())&$orderby=owns__device/overall_status",
    )
    assert status == 400, body


async def test_keys_through_two_collections_join_both(urls):
    """Keys through two different collections before overall_status: v6 joined both (every tag with every
    install of a device); the proxy joins both in the same order (was: only the first, the second key read
    from the first install). The simulator's own join of the v7 keys is the oracle."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, v7 = await get(
        proxy,
        "/v7/device?$select=id,device_tag/tag_key,image_install/install_date"
        "&$orderby=device_tag/tag_key asc,image_install/install_date asc,id asc",
    )
    rows = v7["d"]
    expected: list[int] = []
    for _, group in itertools.groupby(rows, key=lambda r: (r["tag_key"], r["install_date"])):
        expected += [r["id"] for r in sorted(group, key=lambda r: status_of[r["id"]], reverse=True)]  # stable
    assert len(expected) > len({(r["id"], r["tag_key"]) for r in rows})  # the second join repeats rows too
    status, body = await get(
        proxy,
        "/v6/device?$select=id&$orderby=device_tag/tag_key asc,image_install/install_date asc,"
        "overall_status desc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected


async def test_a_collection_the_client_expands_with_a_filter_the_proxy_decides(urls):
    """`device_tag/…` keys and counts before overall_status with the client's `$expand=device_tag($filter=…)`:
    v6's join (and its count subquery) saw every tag whatever the expansion left out (was a 400). Where the
    proxy can decide that $filter itself it asks the expansion whole, joins (or counts) from it, and leaves the
    tags out of it again where the $filter (as the server's own answer shows) does not hold."""
    proxy, _ = urls
    nested = "($select=tag_key;$filter=tag_key ne 'alpha')"
    _, plain = await get(proxy, f"/v6/device?$select=id&$expand=device_tag{nested}")
    row_of = {r["id"]: r for r in plain["d"]}
    assert any(len(r["device_tag"]) == 1 for r in row_of.values())  # device 9 keeps none of its 'alpha' tag
    for key in ("device_tag/id desc", "device_tag/$count desc", "device_tag/$count($filter=tag_key eq 'alpha') desc"):
        orderby = f"$orderby={key},overall_status desc,id asc"
        _, joined = await get(proxy, f"/v6/device?$select=id&{orderby}")  # the proxy's own join or count
        status, body = await get(proxy, f"/v6/device?$select=id&$expand=device_tag{nested}&{orderby}")
        assert status == 200, (key, body)
        assert body["d"] == [row_of[r["id"]] for r in joined["d"]], key
    # overall_status through the collection: one row per device of the application, the expansion filtered
    _, plain = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=id;$filter=id gt 5)")
    row_of = {r["id"]: r for r in plain["d"]}
    orderby = "$orderby=owns__device/overall_status desc,id asc"
    _, joined = await get(proxy, f"/v6/application?$select=id&{orderby}")
    status, body = await get(
        proxy, f"/v6/application?$select=id&$expand=owns__device($select=id;$filter=id gt 5)&{orderby}"
    )
    assert status == 200, body
    assert body["d"] == [row_of[r["id"]] for r in joined["d"]]
    # an $orderby of the client's there, next to any key through the collection (was a 400 but for the member's
    # own key): the rows v6 joined to one device's members show the same device and the same whole expansion
    # (a subquery of its own) and differ only by the keys, so the order the members come in is not seen
    for path, nested, key in (
        ("device", "device_tag($select=tag_key;$orderby=tag_key desc)", "device_tag/id desc"),
        ("device", "device_tag($select=tag_key;$orderby=tag_key desc)", "device_tag/tag_key asc"),
        ("device", "device_tag($orderby=id desc)", "device_tag/tag_key desc,device_tag/id asc"),
        (
            "application",
            "owns__device($select=device_name;$orderby=device_name desc)",
            "owns__device/overall_status desc",
        ),
        (
            "application",
            "owns__device($select=id;$orderby=id desc)",
            "owns__device/device_name asc,owns__device/overall_status desc",
        ),
        (  # an $orderby the proxy does itself there (unpaged)
            "application",
            "owns__device($select=id;$orderby=overall_status desc)",
            "owns__device/device_name asc,owns__device/overall_status desc",
        ),
    ):
        orderby = f"$orderby={key},overall_status desc,id asc" if path == "device" else f"$orderby={key},id asc"
        _, order = await get(proxy, f"/v6/{path}?$select=id&{orderby}")  # the proxy's own join
        assert len(order["d"]) > len({r["id"] for r in order["d"]}), key
        _, plain = await get(proxy, f"/v6/{path}?$select=id&$expand={nested}")
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/{path}?$select=id&$expand={nested}&{orderby}")
        assert status == 200, (key, body)
        assert body["d"] == [row_of[r["id"]] for r in order["d"]], key
    # a $filter the proxy does not compute as the server does (`now()`): the 400
    for path, expand, key in (
        ("device", "device_tag($filter=created_at gt now())", "device_tag/$count,overall_status"),
    ):
        status, body = await get(proxy, f"/v6/{path}?$select=id&$expand={expand}&$orderby={key}")
        assert status == 400, body


async def test_a_longer_path_through_the_clients_own_expansion_is_read_from_it(urls):
    """`link/link2/…/name` (or `collection/link/name`) before overall_status with the client's own whole
    expansion of the first link: the key is read from that expansion, the links after the first expanded inside
    it by the proxy (its own nested expansion where the client has one holding the row) and cut back again, a
    reference the client's rows show rebuilt. Was a $select path, a 400 where its column's name was another
    column's of the row (`…/id` next to the device's own `id`)."""
    proxy, _ = urls
    for fmt in ("", "&$format=json;odata.metadata=full"):
        for query, key in (
            ("$expand=belongs_to__application", "belongs_to__application/organization/id desc"),
            (
                "$select=id&$expand=belongs_to__application($select=app_name;$expand=organization($select=name))",
                "belongs_to__application/organization/id desc",
            ),
            (
                "$select=id&$expand=belongs_to__application($select=app_name)",
                "belongs_to__application/is_for__device_type/is_of__cpu_architecture/slug asc",
            ),
        ):
            orderby = f"$orderby={key},overall_status desc,id asc"
            _, joined = await get(proxy, f"/v6/device?$select=id&{orderby}")  # the proxy's own expansion
            _, plain = await get(proxy, f"/v6/device?{query}{fmt}")
            row_of = {r["id"]: r for r in plain["d"]}
            status, body = await get(proxy, f"/v6/device?{query}&{orderby}{fmt}")
            assert status == 200, (query, body)
            assert [json.dumps(r) for r in body["d"]] == [json.dumps(row_of[r["id"]]) for r in joined["d"]]
    # through a collection the client expands whole: one row per install, each with the whole expansion
    _, named = await get(proxy, "/v6/device?$select=id,device_name")
    id_of = {r["device_name"]: r["id"] for r in named["d"]}
    assert len(id_of) == len(named["d"])
    orderby = "$orderby=image_install/installs__image/id desc,overall_status desc"
    _, joined = await get(proxy, f"/v6/device?$select=device_name&{orderby},device_name asc")  # a $select path
    assert len(joined["d"]) > len(id_of)
    for query in ("$select=id&$expand=image_install($select=id)", "$expand=image_install"):
        _, plain = await get(proxy, f"/v6/device?{query}")
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/device?{query}&{orderby},device_name asc")
        assert status == 200, (query, body)
        assert body["d"] == [row_of[id_of[r["device_name"]]] for r in joined["d"]]


async def test_a_link_the_client_counts_is_expanded_and_counted_by_the_proxy(urls):
    """`$expand=nav/$count` (a `$filter` the proxy decides at most) next to a key the proxy sorts through
    `nav` (a member, overall_status through the link, or a count the client's one does not give): v6 joined or
    counted on its own whatever the client counted (was a 400). The proxy asks for the rows instead, counts them
    itself (the server's own count is the oracle) and reads the key from them."""
    proxy, _ = urls
    for count, key in (
        ("device_tag/$count", "device_tag/id desc"),
        ("device_tag/$count($filter=tag_key ne 'alpha')", "device_tag/tag_key asc"),
        ("device_tag/$count($filter=tag_key ne 'alpha')", "device_tag/$count desc"),
        ("device_tag/$count", "device_tag/$count($filter=tag_key eq 'alpha') desc"),
        ("device_tag/$count", "device_tag/$count desc"),  # the client's own count is the key's
    ):
        orderby = f"$orderby={key},overall_status desc,id asc"
        _, joined = await get(proxy, f"/v6/device?$select=id&{orderby}")  # the proxy's own join or count
        _, plain = await get(proxy, f"/v6/device?$select=id&$expand={count}")
        row_of = {r["id"]: r for r in plain["d"]}
        assert all(isinstance(r["device_tag"], int) for r in row_of.values())
        status, body = await get(proxy, f"/v6/device?$select=id&$expand={count}&{orderby}")
        assert status == 200, (count, key, body)
        assert body["d"] == [row_of[r["id"]] for r in joined["d"]], (count, key)
    _, plain = await get(proxy, "/v6/image_install?$select=id&$expand=device/$count")
    row_of = {r["id"]: r for r in plain["d"]}
    orderby = "$orderby=device/overall_status desc,id asc"
    _, order = await get(proxy, f"/v6/image_install?$select=id&{orderby}")
    status, body = await get(proxy, f"/v6/image_install?$select=id&$expand=device/$count&{orderby}")
    assert status == 200, body
    assert body["d"] == [row_of[r["id"]] for r in order["d"]]
    # a count $filter the proxy does not compute as the server does (`now()`): still the clear 400
    count = "device_tag/$count($filter=created_at gt now())"
    status, body = await get(proxy, f"/v6/device?$select=id&$expand={count}&$orderby=device_tag/id,overall_status")
    assert status == 400, body


async def test_keys_and_select_paths_through_one_link_share_its_expansion(urls):
    """`device/device_name,device/overall_status`, `$select=device/overall_status&$orderby=device/overall_status`
    and a longer path next to the derived key (either first): pinejs joins `device` once for all of them; the
    proxy expands it once, every key and value read from that one expansion (were 400s). Expected orders are
    computed from the data."""
    proxy, _ = urls
    status_of = await status_by_id(proxy)
    _, devices = await get(proxy, "/v6/device?$select=id,device_name&$expand=belongs_to__application($select=app_name)")
    name_of = {r["id"]: r["device_name"] for r in devices["d"]}
    app_of = {r["id"]: r["belongs_to__application"][0]["app_name"] for r in devices["d"]}
    _, installs = await get(proxy, "/v6/image_install?$select=id,device")
    device_of = {r["id"]: r["device"]["__id"] for r in installs["d"]}
    by_id = sorted(device_of)
    by_status = sorted(by_id, key=lambda i: status_of[device_of[i]], reverse=True)
    expected = sorted(by_status, key=lambda i: name_of[device_of[i]], reverse=True)
    for orderby in (
        "device/device_name desc,device/overall_status desc,id asc",
        "device/overall_status desc,id asc",
    ):
        order = expected if orderby.startswith("device/device_name") else by_status
        for select in ("$select=id", "$select=id,device/overall_status", "$select=id,device"):
            status, body = await get(proxy, f"/v6/image_install?{select}&$orderby={orderby}")
            assert status == 200, (select, orderby, body)
            assert [r["id"] for r in body["d"]] == order, (select, orderby)
            if "overall_status" in select:
                assert all(r["overall_status"] == status_of[device_of[r["id"]]] for r in body["d"])
            if select == "$select=id,device":
                assert all(r["device"] == {"__id": device_of[r["id"]]} for r in body["d"])
    # a longer path next to the derived key, either first, without $select: the plain rows
    _, plain = await get(proxy, "/v6/image_install")
    row_of = {r["id"]: r for r in plain["d"]}
    by_app = sorted(by_status, key=lambda i: app_of[device_of[i]])
    status_then_app = sorted(
        sorted(by_id, key=lambda i: app_of[device_of[i]]), key=lambda i: status_of[device_of[i]], reverse=True
    )
    for orderby, order in (
        ("device/belongs_to__application/app_name asc,device/overall_status desc,id asc", by_app),
        ("device/overall_status desc,device/belongs_to__application/app_name asc,id asc", status_then_app),
    ):
        status, body = await get(proxy, f"/v6/image_install?$orderby={orderby}")
        assert status == 200, body
        assert [json.dumps(r) for r in body["d"]] == [json.dumps(row_of[i]) for i in order]


async def test_the_new_routes_inside_an_expansion_sort_each_parent(urls):
    """The routes that read a key from the client's own (gated, counted, whole) expansion work per parent
    inside an `$expand` too: each application's devices are the top-level answer's, in its order, cut to
    that application's devices."""
    proxy, _ = urls
    _, apps = await get(proxy, "/v6/application?$select=id&$expand=owns__device($select=id)")
    members = {a["id"]: {d["id"] for d in a["owns__device"]} for a in apps["d"]}
    for nested, orderby in (
        ("$select=id;$expand=device_tag($select=tag_key;$filter=tag_key ne 'alpha')", "device_tag/id desc"),
        ("$select=id;$expand=device_tag/$count", "device_tag/id desc"),
        (
            "$select=id;$expand=belongs_to__application($select=app_name;$filter=id gt 1)",
            "belongs_to__application/id desc",
        ),
        (
            "$select=id;$expand=belongs_to__application($select=app_name)",
            "belongs_to__application/organization/id desc",
        ),
    ):
        orderby = f"{orderby},overall_status desc,id asc"
        _, order = await get(proxy, f"/v6/device?$select=id&$orderby={orderby}")
        _, plain = await get(proxy, f"/v6/device?{nested.replace(';', '&')}")
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/application?$select=id&$expand=owns__device({nested};$orderby={orderby})")
        assert status == 200, (nested, body)
        for app in body["d"]:
            assert app["owns__device"] == [row_of[r["id"]] for r in order["d"] if r["id"] in members[app["id"]]]


async def test_a_key_through_two_collections_one_after_the_other(urls):
    """`owns__device/device_tag/tag_key` next to `owns__device/overall_status` (either first): v6 joined the
    devices and then their tags, one row per tag of every device of an application (a device without tags
    once, an application without devices once); the proxy expands the tags inside its join of the devices and
    joins both (was a 400). Expected orders are computed from the data."""
    proxy, _ = urls
    _, apps = await get(
        proxy,
        "/v6/application?$select=id&$expand=owns__device($select=overall_status;$expand=device_tag($select=tag_key))",
    )
    rows = [
        (a["id"], d["overall_status"], t["tag_key"])
        for a in apps["d"]
        for d in a["owns__device"] or [{"overall_status": None, "device_tag": []}]
        for t in d["device_tag"] or [{"tag_key": None}]
    ]
    assert len(rows) > len({r[0] for r in rows}) + 3

    by_id = sorted(rows, key=lambda r: r[0])
    tag_then_status = sorted(
        sorted(by_id, key=lambda r: nulls_last(r[1]), reverse=True), key=lambda r: nulls_last(r[2])
    )
    status_then_tag = sorted(
        sorted(by_id, key=lambda r: nulls_last(r[2])), key=lambda r: nulls_last(r[1]), reverse=True
    )
    for orderby, expected in (
        ("owns__device/device_tag/tag_key asc,owns__device/overall_status desc,id asc", tag_then_status),
        ("owns__device/overall_status desc,owns__device/device_tag/tag_key asc,id asc", status_then_tag),
    ):
        status, body = await get(proxy, f"/v6/application?$select=id&$orderby={orderby}")
        assert status == 200, (orderby, body)
        assert [r["id"] for r in body["d"]] == [r[0] for r in expected], orderby


async def test_overall_status_through_two_collections(urls):
    """`organization?$orderby=application/owns__device/overall_status`: v6 joined the applications and then
    their devices (one row per device of every application, an application without devices once, an
    organization without applications once); the proxy expands both, computes the value on each device and
    joins both (was a 400). Expected orders are computed from the data."""
    proxy, _ = urls
    _, orgs = await get(
        proxy,
        "/v6/organization?$select=id&$expand=application($select=app_name;$expand=owns__device($select=overall_status))",
    )
    rows = [
        (o["id"], a["app_name"], d["overall_status"])
        for o in orgs["d"]
        for a in o["application"] or [{"app_name": None, "owns__device": []}]
        for d in a["owns__device"] or [{"overall_status": None}]
    ]
    assert len(rows) > len(orgs["d"])

    await assert_joined_rows(
        proxy, "/v6/organization?$select=id&$orderby=application/owns__device/overall_status {direction},id asc", rows
    )
    by_id = sorted(rows, key=lambda r: r[0])
    # next to a key through the first collection, after it: both read the same joined application
    expected = sorted(sorted(by_id, key=lambda r: nulls_last(r[1])), key=lambda r: nulls_last(r[2]), reverse=True)
    status, body = await get(
        proxy,
        "/v6/organization?$select=id&$orderby=application/owns__device/overall_status desc,application/app_name asc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == [r[0] for r in expected]


async def test_a_collection_the_client_pages_next_to_a_key_through_it(urls):
    """The client's `$expand=device_tag(…;$top/$skip)` next to a count or member key through `device_tag`
    before overall_status: v6's join and count saw every tag (was a 400). The proxy asks for the expansion
    without its paging (v7 still orders it by the client's `$orderby`), reads the key from every tag and pages
    the client's rows itself after its `$filter` (the server's own paged expansion is the oracle)."""
    proxy, _ = urls
    for nested, key in (
        ("($select=tag_key;$top=1)", "device_tag/$count desc"),
        ("($select=tag_key;$orderby=tag_key desc;$skip=1;$top=1)", "device_tag/$count desc"),
        ("($select=tag_key;$filter=tag_key ne 'zz';$top=2)", "device_tag/$count($filter=tag_key eq 'alpha') desc"),
        ("($select=tag_key;$skip=1)", "device_tag/id desc"),
        ("($select=tag_key;$filter=tag_key ne 'alpha';$top=1)", "device_tag/tag_key asc"),
    ):
        orderby = f"$orderby={key},overall_status desc,id asc"
        _, order = await get(proxy, f"/v6/device?$select=id&{orderby}")
        _, plain = await get(proxy, f"/v6/device?$select=id&$expand=device_tag{nested}")
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/device?$select=id&$expand=device_tag{nested}&{orderby}")
        assert status == 200, (nested, body)
        assert body["d"] == [row_of[r["id"]] for r in order["d"]], nested
    # an $orderby the proxy does itself inside the paged expansion keeps its own paging: v7 sorts by the count
    status, body = await get(
        proxy,
        "/v6/application?$select=id&$expand=owns__device($select=id;$orderby=overall_status;$top=2)"
        "&$orderby=owns__device/$count desc,id asc",
    )
    assert status == 200 and all(len(a["owns__device"]) <= 2 for a in body["d"]), body


async def test_overall_status_through_a_link_then_a_collection(urls):
    """`device?$orderby=belongs_to__application/owns__device/overall_status`: v6 LEFT JOINed the application
    and then its devices (odata-to-abstract-sql ``AddJoins`` joins every link of an ``$orderby`` path), one
    row per device of the device's application; the proxy expands both links, computes the value on each
    device and joins the rows to them (was a 400). Expected orders are computed from the data."""
    proxy, small = urls
    _, devices = await get(
        proxy,
        "/v6/device?$select=id&$expand=belongs_to__application($select=app_name;"
        "$expand=owns__device($select=overall_status,device_name))",
    )
    rows = [
        (d["id"], a["app_name"], m["overall_status"], m["device_name"])
        for d in devices["d"]
        for a in d["belongs_to__application"] or [{"app_name": None, "owns__device": []}]
        for m in a["owns__device"] or [{"overall_status": None, "device_name": None}]
    ]
    assert len(rows) > len(devices["d"])  # the join repeats devices

    await assert_joined_rows(
        proxy,
        "/v6/device?$select=id&$orderby=belongs_to__application/owns__device/overall_status {direction},id asc",
        rows,
    )
    by_id = sorted(rows, key=lambda r: r[0])
    # paged; without $select the rows are the plain v6 rows (the application's reference rebuilt)
    expected = sorted(by_id, key=lambda r: nulls_last(r[2]), reverse=True)
    _, plain = await get(proxy, "/v6/device")
    row_of = {r["id"]: r for r in plain["d"]}
    status, body = await get(
        proxy,
        "/v6/device?$orderby=belongs_to__application/owns__device/overall_status desc,id asc&$top=7&$skip=3",
    )
    assert status == 200, body
    assert body["d"] == [row_of[r[0]] for r in expected[3:10]]
    # next to a key through the first link: both read the same joined application; a second key through the
    # same collection, after or before it (that was a 400: the first key was asked as a $select path), reads the
    # same joined device. (column of `rows`, descending) per key, the first key first
    app = "belongs_to__application/app_name"
    status_ = "belongs_to__application/owns__device/overall_status"
    name = "belongs_to__application/owns__device/device_name"
    for keys in (
        ((app, 1, True), (status_, 2, False)),
        ((status_, 2, False), (name, 3, True)),
        ((name, 3, False), (status_, 2, True)),
    ):
        expected = by_id
        for _path, column, desc in reversed(keys):
            expected = sorted(expected, key=lambda r, c=column: nulls_last(r[c]), reverse=desc)
        orderby = ",".join(f"{path} {'desc' if desc else 'asc'}" for path, _c, desc in keys)
        await assert_ids(proxy, f"/v6/device?$select=id&$orderby={orderby},id asc", [r[0] for r in expected])
    # a plain key through the link then the collection before overall_status is joined too (it read only the
    # first device of the application before: a silent wrong order with fewer rows)
    status_of = await status_by_id(proxy)
    expected = sorted(
        sorted(sorted(by_id, key=lambda r: status_of[r[0]]), key=lambda r: nulls_last(r[3])),
        key=lambda r: nulls_last(r[1]),
    )
    await assert_ids(
        proxy,
        "/v6/device?$select=id&$orderby=belongs_to__application/app_name asc,"
        "belongs_to__application/owns__device/device_name asc,overall_status asc,id asc",
        [r[0] for r in expected],
    )
    # the client's own whole expansion of the link (not of the collection): each joined row shows it unchanged
    expected = sorted(by_id, key=lambda r: nulls_last(r[2]), reverse=True)
    for select, nested in (("$select=id&", "($select=app_name)"), ("", ""), ("$select=id&", "($filter=id gt 1)")):
        expand = f"$expand=belongs_to__application{nested}"
        _, plain = await get(proxy, f"/v6/device?{select}{expand}")
        row_of = {r["id"]: r for r in plain["d"]}
        orderby = "$orderby=belongs_to__application/owns__device/overall_status desc,id asc"
        status, body = await get(proxy, f"/v6/device?{select}{expand}&{orderby}")
        assert status == 200, body
        assert body["d"] == [row_of[r[0]] for r in expected], nested
    # two single-valued links and then the collection: `image_install?$orderby=device/belongs_to__application/…`
    statuses = {
        d["id"]: [m["overall_status"] for a in d["belongs_to__application"] for m in a["owns__device"]] or [None]
        for d in devices["d"]
    }
    _, installs = await get(proxy, "/v6/image_install?$select=id,device")
    install_rows = [(r["id"], None, s) for r in installs["d"] for s in statuses[r["device"]["__id"]]]
    await assert_joined_rows(
        proxy,
        "/v6/image_install?$select=id&$orderby=device/belongs_to__application/owns__device/overall_status {direction},"
        "id asc",
        install_rows,
    )
    # the joined rows count against max_local_sort_rows (17 is more than the devices, fewer than the rows)
    assert len(devices["d"]) <= 17 < len(rows)
    status, body = await get(
        small, "/v6/device?$select=id&$orderby=belongs_to__application/owns__device/overall_status"
    )
    assert (status, body) == (
        400,
        "Ordering by overall_status is done by the proxy and is limited to 17 rows: narrow the $filter",
    )


async def test_link_then_collection_next_to_a_path_through_the_link_stays_a_400(urls):
    """`belongs_to__application/owns__device/overall_status` with the client's whole expansion of the link and a
    `$select` or `$filter` path through it: pinejs joins nothing further of a path whose first link is joined
    already (odata-to-abstract-sql ``AddJoinNavigation``), so v6 did not answer the joined rows the proxy would
    make; the clear 400 naming the key, not 200."""
    proxy, _ = urls
    key = "belongs_to__application/owns__device/overall_status"
    for query in (
        "$select=id,belongs_to__application/app_name&$expand=belongs_to__application",
        "$select=id&$filter=belongs_to__application/app_name ne 'x'&$expand=belongs_to__application",
    ):
        status, body = await get(proxy, f"/v6/device?{query}&$orderby={key}")
        assert status == 400, (query, body)
        assert body.startswith(f"overall_status cannot be used with $orderby on {key}"), body
