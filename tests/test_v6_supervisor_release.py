"""The supervisor_release view (decision 4) and should_be_managed_by__supervisor_release, against the
simulator's balenaCloud fleet (supervisor fleets balena_os/<arch>-supervisor)."""

from __future__ import annotations

import aiohttp
import pytest
import yarl

from balena_v7_simulator.app import create_simulator_app
from balena_v7_simulator.fixtures import ADMIN_TOKEN

# the order v6 (open-balena's supervisor_release view) wrote a row's keys in
V6_KEY_ORDER = [
    "created_at",
    "id",
    "supervisor_version",
    "image_name",
    "is_public",
    "note",
    "is_for__device_type",
]


@pytest.fixture
async def proxy(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")
    return running.url


async def call(base: str, method: str, path: str, body=None):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
        async with s.request(method, yarl.URL(base + path.replace(" ", "%20"), encoded=True), json=body) as resp:
            data = await resp.read()
            import json

            return resp.status, (json.loads(data) if data else None)


async def test_supervisor_release_view_fields(proxy):
    status, body = await call(proxy, "GET", "/v6/supervisor_release?$orderby=id asc")
    assert status == 200
    # only final, successful, valid releases of public non-host balena_os/*-supervisor fleets
    assert [r["id"] for r in body["d"]] == [10, 11, 13, 14]
    first = body["d"][0]
    assert list(first) == V6_KEY_ORDER
    assert first["supervisor_version"] == "v14.0.0"
    assert first["image_name"] is None and first["is_public"] is True
    assert first["is_for__device_type"] == {"__id": 5}  # the aarch64 supervisor fleet's device type


async def test_supervisor_release_filter_as_the_v6_sdk_sent_it(proxy):
    """balena-sdk 14.5 device.set_supervisor_release: slug of the device's type and a version without 'v'."""
    for version in ("14.0.0", "v14.0.0"):
        status, body = await call(
            proxy,
            "GET",
            "/v6/supervisor_release?$top=1&$select=id&$filter=(is_for__device_type/any(dt:dt/slug eq "
            f"'raspberrypi4-64')) and (supervisor_version eq '{version}')",
        )
        assert (status, body) == (200, {"d": [{"id": 10}]})
    # armv7hf device type → the armv7hf supervisor fleet
    status, body = await call(
        proxy,
        "GET",
        "/v6/supervisor_release?$select=id,supervisor_version&$filter="
        "is_for__device_type/any(dt:dt/slug eq 'raspberrypi3')",
    )
    assert body == {"d": [{"id": 13, "supervisor_version": "v14.0.0"}]}


async def test_supervisor_release_is_read_only(proxy):
    status, body = await call(proxy, "PATCH", "/v6/supervisor_release(10)", {"note": "x"})
    assert (status, body) == (401, None)


async def test_device_managed_by_supervisor_release(proxy):
    status, body = await call(proxy, "PATCH", "/v6/device(1)", {"should_be_managed_by__supervisor_release": 10})
    assert (status, body) == (200, "OK")
    status, body = await call(proxy, "GET", "/v6/device(1)?$select=id,should_be_managed_by__supervisor_release")
    assert body == {"d": [{"id": 1, "should_be_managed_by__supervisor_release": {"__id": 10}}]}
    status, body = await call(
        proxy, "GET", "/v6/device?$select=id&$filter=should_be_managed_by__supervisor_release eq 10"
    )
    assert body == {"d": [{"id": 1}]}


async def test_expanding_the_device_type_of_a_supervisor_release(proxy):
    status, body = await call(
        proxy, "GET", "/v6/supervisor_release?$select=id&$expand=is_for__device_type($select=slug)&$filter=id eq 13"
    )
    assert (status, body) == (200, {"d": [{"is_for__device_type": [{"slug": "raspberrypi3"}], "id": 13}]})
    status, body = await call(proxy, "GET", "/v6/supervisor_release(10)?$expand=is_for__device_type($select=id)")
    row = body["d"][0]
    assert next(iter(row)) == "is_for__device_type" and row["is_for__device_type"] == [{"id": 5}]
    assert "belongs_to__application" not in row and "raw_version" not in row


async def test_expand_count_of_a_derived_navigation_is_a_number(proxy):
    """`is_for__device_type/$count` is expanded along the view's v7 path; the client gets the count, not []."""
    status, body = await call(
        proxy, "GET", "/v6/supervisor_release?$select=id&$expand=is_for__device_type/$count&$orderby=id asc"
    )
    assert status == 200
    assert body["d"][0] == {"is_for__device_type": 1, "id": 10}


async def test_the_device_navigation_leads_to_the_supervisor_release_view(proxy):
    """Decision 4 / spec C2: the v6 navigation's target is v6 supervisor_release (a view over v7 release), so
    its names are the view's in $expand and in $filter paths."""
    status, body = await call(proxy, "PATCH", "/v6/device(1)", {"should_be_managed_by__supervisor_release": 10})
    assert (status, body) == (200, "OK")
    status, body = await call(
        proxy,
        "GET",
        "/v6/device(1)?$select=id&$expand=should_be_managed_by__supervisor_release($select=supervisor_version)",
    )
    assert (status, body) == (
        200,
        {"d": [{"should_be_managed_by__supervisor_release": [{"supervisor_version": "v14.0.0"}], "id": 1}]},
    )
    status, body = await call(proxy, "GET", "/v6/device(1)?$select=id&$expand=should_be_managed_by__supervisor_release")
    assert status == 200
    managed = body["d"][0]["should_be_managed_by__supervisor_release"]
    assert list(managed[0]) == V6_KEY_ORDER
    assert managed[0]["id"] == 10 and managed[0]["is_public"] is True
    for version in ("v14.0.0", "14.0.0"):
        status, body = await call(
            proxy,
            "GET",
            f"/v6/device?$select=id&$filter=should_be_managed_by__supervisor_release/supervisor_version eq '{version}'",
        )
        assert (status, body) == (200, {"d": [{"id": 1}]})
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id&$filter=should_be_managed_by__supervisor_release/supervisor_version eq 'v1.0.0'",
    )
    assert (status, body) == (200, {"d": []})


async def test_device_type_filter_through_the_device_navigation(proxy):
    """`is_for__device_type/any()` reached from device is the managing supervisor release's device type
    (the view's filter hook, under the v7 navigation), not the device's own fleet's: device 1 (a fleet of
    aarch64 devices) is made managed by release 13, the armv7hf supervisor."""
    status, body = await call(
        proxy,
        "GET",
        "/v6/device(1)?$select=id&$expand=belongs_to__application($select=id;"
        "$expand=is_for__device_type($select=slug))",
    )
    assert body["d"][0]["belongs_to__application"][0]["is_for__device_type"] == [{"slug": "raspberrypi4-64"}]
    status, body = await call(proxy, "PATCH", "/v6/device(1)", {"should_be_managed_by__supervisor_release": 13})
    assert status == 200
    found = {}
    for slug in ("raspberrypi4-64", "raspberrypi3"):
        status, body = await call(
            proxy,
            "GET",
            "/v6/device?$select=id&$orderby=id asc&$filter="
            f"should_be_managed_by__supervisor_release/is_for__device_type/any(dt:dt/slug eq '{slug}')",
        )
        assert status == 200
        found[slug] = [d["id"] for d in body["d"]]
    assert 1 in found["raspberrypi3"] and 1 not in found["raspberrypi4-64"]


async def test_a_navigation_to_supervisor_release_keeps_the_view_restriction():
    """The view's restriction (decision 4) holds however supervisor_release is reached: a device managed by an
    ordinary fleet release shows no supervisor release, through a path, $expand, $count or a lambda."""
    from balena_v7_simulator.harness import running_pair

    async with running_pair(flavour="balena-cloud") as pair:
        base = pair.proxy_url
        nav = "should_be_managed_by__supervisor_release"
        assert await call(base, "PATCH", "/v6/device(1)", {nav: 1}) == (200, "OK")  # an application release
        assert await call(base, "PATCH", "/v6/device(2)", {nav: 10}) == (200, "OK")  # a supervisor release
        assert await call(base, "GET", f"/v6/device(1)/{nav}?$select=id") == (200, {"d": []})
        assert await call(base, "GET", f"/v6/device(2)/{nav}?$select=id") == (200, {"d": [{"id": 10}]})
        assert await call(base, "GET", f"/v6/device(1)/{nav}/$count") == (200, {"d": 0})
        assert await call(base, "GET", f"/v6/device(2)/{nav}/$count") == (200, {"d": 1})
        status, body = await call(
            base,
            "GET",
            f"/v6/device?$select=id&$filter=id le 2&$orderby=id asc&$expand={nav}($select=id;$filter=id gt 0)",
        )
        assert (status, body) == (200, {"d": [{nav: [], "id": 1}, {nav: [{"id": 10}], "id": 2}]})
        status, body = await call(
            base, "GET", f"/v6/device?$select=id&$filter=id le 2&$orderby=id asc&$expand={nav}/$count"
        )
        assert (status, body) == (200, {"d": [{nav: 0, "id": 1}, {nav: 1, "id": 2}]})
        for text, ids in (
            (f"{nav}/any(r:r/id gt 0)", [2]),
            (f"{nav}/all(r:r/id eq 10)", [1, 2]),
            (f"{nav}/$count gt 0", [2]),
            # a value read through the link is NULL where the linked release is outside the view (issue 12)
            (f"{nav}/id eq 1", []),
            (f"{nav}/id ne 1", [1, 2]),
            (f"{nav}/id eq 10", [2]),
            (f"{nav}/id eq null", [1]),
            (f"not({nav}/id eq 1)", [1, 2]),
            (f"{nav}/id gt 0", [2]),
            (f"not({nav}/id gt 0)", []),
            (f"{nav}/supervisor_version eq null", [1]),
        ):
            status, body = await call(base, "GET", f"/v6/device?$select=id&$orderby=id asc&$filter=id le 2 and {text}")
            assert (status, [r["id"] for r in body["d"]]) == (200, ids), text
        # beyond the view: its restriction cannot be carried to the next resource
        status, body = await call(base, "GET", f"/v6/device(2)/{nav}/is_for__device_type")
        assert status == 400


async def test_a_value_selected_through_the_link_is_null_outside_the_view(serve_app, start_proxy):
    """The v6 link joins only supervisor releases, so `$select=link/name` reads NULL where the device's v7
    release is outside the view (an app release here, set through v7): the proxy counts the linked release
    inside the view and writes NULL where it is not (the count is stripped again)."""
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    proxy = (await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")).url
    for device, release in ((1, 10), (2, 1)):
        status, _ = await call(upstream, "PATCH", f"/v7/device({device})", {"should_be_managed_by__release": release})
        assert status == 200
    _, v7 = await call(upstream, "GET", "/v7/release?$select=id,created_at,raw_version&$filter=id in (1,10)")
    created = {r["id"]: r["created_at"] for r in v7["d"]}
    status, body = await call(
        proxy, "GET", "/v6/device?$select=id,should_be_managed_by__supervisor_release/created_at&$filter=id le 3"
    )
    assert status == 200, body
    assert body["d"] == [
        {"id": 1, "created_at": created[10]},
        {"id": 2, "created_at": None},  # release 1 is not a supervisor release
        {"id": 3, "created_at": None},  # no link
    ]
    # the client's own expansion of the link stays as it is next to the path
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id,should_be_managed_by__supervisor_release/note,device_name"
        "&$expand=should_be_managed_by__supervisor_release($select=id)&$filter=id eq 1",
    )
    assert status == 200, body
    assert body["d"] == [
        {
            "should_be_managed_by__supervisor_release": [{"id": 10}],
            "id": 1,
            "note": None,
            "device_name": body["d"][0]["device_name"],
        }
    ]


async def test_a_sort_key_through_the_link_is_null_outside_the_view(serve_app, start_proxy):
    """`$orderby=link/name` through the link to the view: v6 joined only supervisor releases, so a device
    linked to an app release sorts with the devices without a link (NULLs first descending, last ascending);
    the proxy sorts such keys itself, reading them through the link expanded with the view's restriction."""
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    proxy = (await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")).url
    for device, release in ((1, 10), (2, 1)):
        status, _ = await call(upstream, "PATCH", f"/v7/device({device})", {"should_be_managed_by__release": release})
        assert status == 200
    _, everyone = await call(proxy, "GET", "/v6/device?$select=id")
    others = sorted(r["id"] for r in everyone["d"] if r["id"] != 1)
    assert 2 in others
    for key in ("created_at", "supervisor_version", "id"):
        status, body = await call(
            proxy, "GET", f"/v6/device?$select=id&$orderby=should_be_managed_by__supervisor_release/{key} desc,id asc"
        )
        assert status == 200, body
        assert [r["id"] for r in body["d"]] == [*others, 1]
        status, body = await call(
            proxy,
            "GET",
            f"/v6/device?$select=id,device_name&$orderby=should_be_managed_by__supervisor_release/{key} asc,id desc"
            "&$top=3",
        )
        assert status == 200, body
        assert [r["id"] for r in body["d"]] == [1, *sorted(others, reverse=True)[:2]]
        assert all(list(r) == ["id", "device_name"] for r in body["d"])
    # next to overall_status, which the proxy sorts anyway
    _, statuses = await call(proxy, "GET", "/v6/device?$select=id,overall_status")
    status_of = {r["id"]: r["overall_status"] for r in statuses["d"]}
    expected = sorted([*others, 1], key=lambda i: status_of[i])
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id&$orderby=overall_status asc,should_be_managed_by__supervisor_release/created_at desc,id asc",
    )
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == expected


@pytest.fixture
async def linked(serve_app, start_proxy):
    """Device 1 managed by supervisor release 10 (inside the view), device 2 by app release 1 (outside it: v6
    joined only supervisor releases, so values through its link were NULL), device 3 by none; set through
    v7. The proxy's URL and the v7 created_at of the two releases."""
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    proxy = (await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")).url
    for device, release in ((1, 10), (2, 1)):
        status, _ = await call(upstream, "PATCH", f"/v7/device({device})", {"should_be_managed_by__release": release})
        assert status == 200
    _, v7 = await call(upstream, "GET", "/v7/release?$select=id,created_at&$filter=id in (1,10)")
    return proxy, {r["id"]: r["created_at"] for r in v7["d"]}


NAV = "should_be_managed_by__supervisor_release"


async def test_a_value_selected_through_the_link_the_client_expands_is_null_outside_the_view(linked):
    """`$select=link/name` next to the client's own `$expand` of the link: the value is read from that
    expansion (which holds only the view's rows), so it is NULL outside the view as in v6, not the v7 join's
    value of the app release; the expansion's rows keep the client's own $select."""
    proxy, created = linked
    status, body = await call(
        proxy, "GET", f"/v6/device?$select=id,{NAV}/created_at&$expand={NAV}($select=id)&$filter=id le 3&$orderby=id"
    )
    assert status == 200, body
    assert body["d"] == [
        {NAV: [], "id": 3, "created_at": None},
        {NAV: [], "id": 2, "created_at": None},  # release 1 is not a supervisor release
        {NAV: [{"id": 10}], "id": 1, "created_at": created[10]},
    ]
    # an expansion without $select holds every field already; a second path reads it too
    status, body = await call(
        proxy, "GET", f"/v6/device?$select={NAV}/note,{NAV}/id&$expand={NAV}&$filter=id le 2&$orderby=id asc"
    )
    assert status == 200, body
    assert [(r[NAV] != [], r["id"], r["note"]) for r in body["d"]] == [(True, 10, None), (False, None, None)]
    assert list(body["d"][0][NAV][0]) == V6_KEY_ORDER


async def test_a_sort_key_through_the_link_the_client_expands_is_null_outside_the_view(linked):
    """`$orderby=link/name` with the link expanded by the client (or read by a `$select` path): sorted by the
    proxy from the expansion holding only the view's rows, NULL outside the view (last ascending, first
    descending; a missing direction is DESC, as the server reads it)."""
    proxy, _ = linked
    for query, ids in (
        (f"$select=id&$expand={NAV}($select=id)&$orderby={NAV}/created_at asc,id asc", [1, 2, 3]),
        (f"$select=id&$expand={NAV}($select=id;$top=1)&$orderby={NAV}/created_at asc,id asc", [1, 2, 3]),
        (f"$select=id&$expand={NAV}($select=id)&$orderby={NAV}/created_at desc,id desc", [3, 2, 1]),
        (f"$select=id&$expand={NAV}&$orderby={NAV}/supervisor_version asc,id desc", [1, 3, 2]),
        (f"$select=id,{NAV}/created_at&$orderby={NAV}/created_at asc,id", [1, 3, 2]),
        (f"$select=id,{NAV}/note&$orderby={NAV}/id asc,id asc&$top=2", [1, 2]),
    ):
        status, body = await call(proxy, "GET", f"/v6/device?{query}&$filter=id le 3")
        assert status == 200, (query, body)
        assert [r["id"] for r in body["d"]] == ids, query
        assert all("created_at" not in r for r in body["d"]) or f"$select=id,{NAV}/created_at" in query
        if f"$expand={NAV}($select=id)" in query:
            assert [r[NAV] for r in body["d"] if r["id"] == 1] == [[{"id": 10}]]


async def test_where_the_rows_show_the_link_the_value_is_still_null_outside_the_view(linked):
    """No $select, or the link selected next to the path: the rows show the link's reference (the linked key
    even outside the view), so the proxy expands the link whole, rebuilds the reference from it and decides
    itself whether the linked release is inside the view (its restriction evaluated on the expanded row)."""
    proxy, created = linked
    status, body = await call(
        proxy, "GET", f"/v6/device?$select=id,{NAV},{NAV}/created_at&$filter=id le 3&$orderby=id asc"
    )
    assert status == 200, body
    assert body["d"] == [
        {"id": 1, NAV: {"__id": 10}, "created_at": created[10]},
        {"id": 2, NAV: {"__id": 1}, "created_at": None},
        {"id": 3, NAV: None, "created_at": None},
    ]
    # a derived value through the link too: computed from the same expansion's helpers, NULL outside the view
    status, body = await call(
        proxy,
        "GET",
        f"/v6/device?$select={NAV}/supervisor_version,id,{NAV}/created_at,{NAV}&$filter=id le 3&$orderby=id asc",
    )
    assert status == 200, body
    assert body["d"] == [
        {"supervisor_version": "v14.0.0", "id": 1, "created_at": created[10], NAV: {"__id": 10}},
        {"supervisor_version": None, "id": 2, "created_at": None, NAV: {"__id": 1}},
        {"supervisor_version": None, "id": 3, "created_at": None, NAV: None},
    ]
    _, plain = await call(proxy, "GET", "/v6/device?$filter=id le 3&$orderby=id asc")
    for query, ids in (
        (f"$orderby={NAV}/created_at asc,id asc", [1, 2, 3]),
        (f"$orderby={NAV}/supervisor_version desc,id desc", [3, 2, 1]),
        (f"$select=id,{NAV}&$orderby={NAV}/note,{NAV}/id asc,id asc", [1, 2, 3]),
    ):
        status, body = await call(proxy, "GET", f"/v6/device?{query}&$filter=id le 3")
        assert status == 200, (query, body)
        assert [r["id"] for r in body["d"]] == ids, query
        if "$select" not in query:  # the plain rows, reference and key order included
            assert sorted(body["d"], key=lambda r: r["id"]) == plain["d"]
            assert [list(r) for r in body["d"]] == [list(r) for r in plain["d"]]
        assert {r["id"]: r[NAV] for r in body["d"]} == {1: {"__id": 10}, 2: {"__id": 1}, 3: None}


async def test_the_view_restriction_the_proxy_evaluates_agrees_with_the_server():
    """Where the proxy decides itself whether a linked release is inside the view (``holds`` on the expanded
    row), it keeps exactly the releases the simulator's own $filter of the restriction keeps: every release
    of the balenaCloud fleet, two made outside it (invalidated, failed)."""
    from balena_v7_simulator.harness import running_pair
    from proxy.engine import build_schema
    from proxy.engine.texts import expression
    from proxy.engine.walk_views import holds, restriction_reads

    view = build_schema("balena-cloud").resources["supervisor_release"]
    restriction = expression(view.restriction)
    reads = restriction_reads(restriction)
    assert reads is not None and reads.fields and reads.navs
    nested = ",".join(f"{nav}($select={','.join(names)})" for nav, names in reads.navs.items())
    async with running_pair(flavour="balena-cloud") as pair:
        sim = pair.simulator_url
        for rid, change in ((12, {"is_invalidated": True}), (13, {"status": "failed"})):
            assert (await call(sim, "PATCH", f"/v7/release({rid})", change))[0] == 200
        _, kept = await call(sim, "GET", f"/v7/release?$select=id&$filter={view.restriction}")
        _, rows = await call(sim, "GET", f"/v7/release?$select=id,{','.join(reads.fields)}&$expand={nested}")
    inside = {r["id"] for r in kept["d"]}
    assert inside and not inside & {12, 13} and len(inside) < len(rows["d"]) - 2
    assert {r["id"] for r in rows["d"] if holds(restriction, r)} == inside


async def test_a_filtered_expansion_of_the_link_the_proxy_can_decide_is_asked_whole(linked):
    """The client's expansion of the link may leave the linked row out ($filter, $top=0, $skip above 0), and a
    v7 row holds one expansion per navigation: v6 joined the link for the value all the same (NULL outside the
    view), apart from the expansion (was a 400). Where the proxy can decide the expansion's $filter itself, it
    asks the expansion whole, reads the value from it and leaves the row out again where the $filter (as the
    server's own answer shows) does not hold."""
    proxy, _ = linked
    for nested, option in (
        ("($select=id;$filter=id gt 0)", f"$select=id,{NAV}/created_at"),
        ("($filter=id gt 1 and id lt 10)", f"$select=id,{NAV}/supervisor_version"),
        ("($skip=1)", f"$select=id&$orderby={NAV}/supervisor_version asc,id asc"),
        ("($select=note;$top=0)", f"$select=id&$orderby={NAV}/created_at desc,id desc"),
    ):
        _, own = await call(proxy, "GET", f"/v6/device?$select=id&$expand={NAV}{nested}&$filter=id le 3")
        row_of = {r["id"]: r for r in own["d"]}
        assert bool(row_of[1][NAV]) == (nested == "($select=id;$filter=id gt 0)")
        _, plain = await call(proxy, "GET", f"/v6/device?{option}&$filter=id le 3")
        status, body = await call(proxy, "GET", f"/v6/device?{option}&$expand={NAV}{nested}&$filter=id le 3")
        assert status == 200, (nested, body)
        assert body["d"] == [{**row_of[r["id"]], **r} for r in plain["d"]], nested
    # a count of the link: the proxy asks for the (view's) row instead, counts it and reads the key from it
    _, own = await call(proxy, "GET", f"/v6/device?$select=id&$expand={NAV}/$count&$filter=id le 3")
    row_of = {r["id"]: r for r in own["d"]}
    assert row_of[1][NAV] == 1 and row_of[2][NAV] == 0  # release 1 is outside the view
    order = f"$orderby={NAV}/created_at desc,id desc"
    _, plain = await call(proxy, "GET", f"/v6/device?$select=id&{order}&$filter=id le 3")
    status, body = await call(proxy, "GET", f"/v6/device?$select=id&$expand={NAV}/$count&{order}&$filter=id le 3")
    assert status == 200, body
    assert body["d"] == [row_of[r["id"]] for r in plain["d"]]
    # a $filter the proxy does not compute as the server does (`now()`), there or in a count: the clear 400
    for query in (
        f"$select=id,{NAV}/created_at&$expand={NAV}($select=id;$filter=created_at gt now())",
        f"$select=id&$expand={NAV}/$count($filter=created_at gt now())&$orderby={NAV}/note",
    ):
        status, body = await call(proxy, "GET", f"/v6/device?{query}")
        assert status == 400, (query, body)
        assert "cannot be used in" in body and body.endswith("through the v6 proxy"), body
    # a count or an unpaged write touches the same rows in any order: the key is dropped, not refused
    status, body = await call(proxy, "GET", f"/v6/device/$count?$orderby={NAV}/created_at asc")
    assert status == 200 and isinstance(body["d"], int), body


async def test_a_constant_of_the_view_through_the_link(linked):
    """`is_public` (true on every supervisor release) and `image_name` (NULL) through the link, as $select
    paths and sort keys: pinejs joined the v6 column, so the constant where the linked release is inside the
    view and NULL elsewhere (outside it, or no link); NULL everywhere orders nothing."""
    proxy, _ = linked
    status, body = await call(
        proxy, "GET", f"/v6/device?$select=id,{NAV}/is_public,{NAV},{NAV}/image_name&$filter=id le 3&$orderby=id asc"
    )
    assert status == 200, body
    assert body["d"] == [
        {"id": 1, "is_public": True, NAV: {"__id": 10}, "image_name": None},
        {"id": 2, "is_public": None, NAV: {"__id": 1}, "image_name": None},
        {"id": 3, "is_public": None, NAV: None, "image_name": None},
    ]
    for query, ids in (
        (f"$select=id&$orderby={NAV}/is_public desc,id asc", [2, 3, 1]),
        (f"$select=id&$orderby={NAV}/is_public asc,id desc", [1, 3, 2]),
        (f"$orderby={NAV}/is_public asc,id asc", [1, 2, 3]),
        (f"$select=id&$orderby={NAV}/image_name desc,id desc", [3, 2, 1]),
    ):
        status, body = await call(proxy, "GET", f"/v6/device?{query}&$filter=id le 3")
        assert status == 200, (query, body)
        assert [r["id"] for r in body["d"]] == ids, query
    status, body = await call(proxy, "GET", f"/v6/device/$count?$orderby={NAV}/is_public asc")
    assert status == 200 and isinstance(body["d"], int), body


async def test_a_path_through_a_link_to_the_view_two_links_away(linked):
    """From image_install through `device` to the view. In $filter the value is NULL outside the view and the
    proxy's membership test comes after the value's own path: a lambda over `device/<link>` joins only
    `device`, and pinejs does not join a deeper path through a navigation already joined (the simulator
    answers that query 500, as the server's database does), where v6 answered. A derived value there is
    read through the proxy's walked expansion (NULL outside the view), and so is a plain value (v7's join
    would give the linked release's value outside the view too), in $select and $orderby; a count ignores
    the order."""
    proxy, _ = linked
    path = f"device/{NAV}"
    _, installs = await call(proxy, "GET", "/v6/image_install?$select=id,device&$filter=device le 3&$orderby=id asc")
    device_of = {r["id"]: r["device"]["__id"] for r in installs["d"]}
    assert set(device_of.values()) >= {1, 2}
    for text, devices in (
        (f"{path}/id eq 10", {1}),
        (f"{path}/id eq 1", set()),
        (f"{path}/id eq null", {2, 3}),
        (f"not({path}/created_at eq null)", {1}),
        (f"{path}/supervisor_version eq 'v14.0.0'", {1}),
    ):
        status, body = await call(
            proxy, "GET", f"/v6/image_install?$select=id&$filter=device le 3 and {text}&$orderby=id asc"
        )
        assert status == 200, (text, body)
        assert [r["id"] for r in body["d"]] == [i for i, d in device_of.items() if d in devices], text
    status, body = await call(
        proxy, "GET", f"/v6/image_install?$select=id,{path}/supervisor_version&$filter=device le 3&$orderby=id asc"
    )
    assert status == 200, body
    assert body["d"] == [{"id": i, "supervisor_version": "v14.0.0" if d == 1 else None} for i, d in device_of.items()]
    # a plain value there too (was a 400): read from the walked expansion of the path (NULL outside the view),
    # in $select and $orderby, also through the client's own expansion of `device` (its rows cut back)
    _, v7 = await call(proxy, "GET", "/v7/release?$select=id,created_at&$filter=id eq 10")
    created = v7["d"][0]["created_at"]
    value_of = {i: created if d == 1 else None for i, d in device_of.items()}
    for expand in ("", "&$expand=device($select=id)", "&$expand=device"):
        _, own = await call(proxy, "GET", f"/v6/image_install?$select=id{expand}&$filter=device le 3&$orderby=id asc")
        status, body = await call(
            proxy, "GET", f"/v6/image_install?$select=id,{path}/created_at{expand}&$filter=device le 3&$orderby=id asc"
        )
        assert status == 200, (expand, body)
        assert body["d"] == [{**r, "created_at": value_of[r["id"]]} for r in own["d"]]
        # the rows show the link to the view (`$expand=device`): its key even outside the view, as v6 showed it
        status, body = await call(
            proxy,
            "GET",
            f"/v6/image_install?$select=id,{path}/supervisor_version{expand}&$filter=device le 3&$orderby=id asc",
        )
        assert status == 200, (expand, body)
        versions = {i: "v14.0.0" if d == 1 else None for i, d in device_of.items()}
        assert body["d"] == [{**r, "supervisor_version": versions[r["id"]]} for r in own["d"]]
        row_of = {r["id"]: r for r in own["d"]}
        for direction in ("asc", "desc"):  # NULL last ascending, first descending
            status, body = await call(
                proxy,
                "GET",
                f"/v6/image_install?$select=id{expand}&$filter=device le 3&$orderby={path}/created_at {direction},id asc",
            )
            assert status == 200, (expand, body)
            inside = [i for i in device_of if value_of[i] is not None]
            outside = [i for i in device_of if value_of[i] is None]
            order = inside + outside if direction == "asc" else outside + inside
            assert body["d"] == [row_of[i] for i in order], (expand, direction)
    status, body = await call(proxy, "GET", f"/v6/image_install/$count?$filter=device le 3&$orderby={path}/note")
    assert (status, body) == (200, {"d": len(device_of)})


async def test_a_sort_key_through_a_collection_and_then_the_link_to_the_view(linked):
    """`application?$orderby=owns__device/<link>/created_at` and `device?$orderby=belongs_to__application/
    owns__device/<link>/created_at`: v6 LEFT JOINed every link of the path (one row per device, the value NULL
    outside the view); the proxy expands the links (the view's restriction on the last) and joins the rows to
    the devices. Expected orders are computed from the data (NULL last ascending, first descending)."""
    proxy, created = linked

    def value(device: int):
        return created[10] if device == 1 else None  # only device 1 is managed by a release inside the view

    def nulls_last(v):
        return (v is None, v or "")

    _, apps = await call(proxy, "GET", "/v6/application?$select=id&$expand=owns__device($select=id)")
    rows = [(a["id"], value(d["id"])) for a in apps["d"] for d in a["owns__device"]]
    rows += [(a["id"], None) for a in apps["d"] if not a["owns__device"]]
    _, devices = await call(
        proxy, "GET", "/v6/device?$select=id&$expand=belongs_to__application($expand=owns__device($select=id))"
    )
    device_rows = [
        (d["id"], value(m["id"])) for d in devices["d"] for a in d["belongs_to__application"] for m in a["owns__device"]
    ]
    assert any(v is not None for _, v in rows) and len(device_rows) > len(devices["d"])
    for resource, path, joined in (
        ("application", f"owns__device/{NAV}/created_at", rows),
        ("device", f"belongs_to__application/owns__device/{NAV}/created_at", device_rows),
    ):
        by_id = sorted(joined, key=lambda r: r[0])
        for direction in ("asc", "desc"):
            expected = sorted(by_id, key=lambda r: nulls_last(r[1]), reverse=direction == "desc")
            status, body = await call(proxy, "GET", f"/v6/{resource}?$select=id&$orderby={path} {direction},id asc")
            assert status == 200, (path, body)
            assert body["d"] == [{"id": r[0]} for r in expected], (path, direction)
