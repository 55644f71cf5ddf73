"""A value the proxy derives at the end of a `$select` path (issue 12): pinejs joins the path and answers the
value under the name's own key. The proxy expands the links down to a row holding only that value (helpers
and view restrictions included), reads it there and strips the expansion, against the simulator's fleet.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
import yarl

from balena_v7_simulator.app import create_simulator_app
from balena_v7_simulator.fixtures import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def urls(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")
    return upstream, running.url


async def call(base: str, method: str, path: str, body=None):
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.request(method, yarl.URL(base + path.replace(" ", "%20"), encoded=True), json=body) as resp:
            return resp.status, await resp.json(content_type=None)


async def release_types(upstream: str, proxy: str) -> dict[int, str]:
    """A draft made to run on two devices (release 3 is not final); each install's
    `device/is_running__release/release_type`, as the proxy answers it without the client's expansions."""
    for device in (1, 5):
        assert (await call(upstream, "PATCH", f"/v7/device({device})", {"is_running__release": 3}))[0] == 200
    _, values = await call(proxy, "GET", "/v6/image_install?$select=id,device/is_running__release/release_type")
    type_of = {r["id"]: r["release_type"] for r in values["d"]}
    assert len(set(type_of.values())) > 1
    return type_of


async def test_overall_status_through_a_link(urls):
    _, proxy = urls
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,overall_status")
    status_of = {r["id"]: r["overall_status"] for r in devices["d"]}
    _, installs = await call(proxy, "GET", "/v6/image_install?$select=id,device")
    device_of = {r["id"]: r["device"]["__id"] for r in installs["d"]}
    assert len({status_of[d] for d in device_of.values()}) > 1
    status, body = await call(proxy, "GET", "/v6/image_install?$select=device/overall_status,id,installs__image")
    assert status == 200, body
    assert [(r["id"], r["overall_status"]) for r in body["d"]] == [(i, status_of[device_of[i]]) for i in device_of]
    assert all(list(r) == ["overall_status", "id", "installs__image"] for r in body["d"])
    # filtered, paged and nested in an $expand of the installs
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id&$expand=image_install($select=id,device/overall_status;$top=1)&$filter=id eq 5",
    )
    assert status == 200, body
    assert body["d"][0]["image_install"] == [
        {"id": body["d"][0]["image_install"][0]["id"], "overall_status": status_of[5]}
    ]


async def test_release_type_two_links_away_and_null_links(urls):
    _, proxy = urls
    _, releases = await call(proxy, "GET", "/v6/release?$select=id,release_type")
    type_of = {r["id"]: r["release_type"] for r in releases["d"]}
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,is_running__release")
    running = {r["id"]: (r["is_running__release"] or {}).get("__id") for r in devices["d"]}
    assert None in running.values()  # a device running nothing reads NULL
    status, body = await call(proxy, "GET", "/v6/device?$select=id,is_running__release/release_type")
    assert status == 200, body
    assert body["d"] == [{"id": i, "release_type": type_of.get(r)} for i, r in running.items()]
    _, installs = await call(proxy, "GET", "/v6/image_install?$select=id,device")
    device_of = {r["id"]: r["device"]["__id"] for r in installs["d"]}
    status, body = await call(proxy, "GET", "/v6/image_install?$select=id,device/is_running__release/release_type")
    assert status == 200, body
    assert body["d"] == [{"id": i, "release_type": type_of.get(running[d])} for i, d in device_of.items()]


async def test_supervisor_version_through_the_view_link(urls):
    upstream, proxy = urls
    for device, release in ((1, 10), (2, 1)):
        status, _ = await call(upstream, "PATCH", f"/v7/device({device})", {"should_be_managed_by__release": release})
        assert status == 200
    _, v7 = await call(upstream, "GET", "/v7/release(10)?$select=raw_version")
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id,should_be_managed_by__supervisor_release/supervisor_version&$filter=id le 3",
    )
    assert status == 200, body
    assert body["d"] == [
        {"id": 1, "supervisor_version": "v" + v7["d"][0]["raw_version"]},
        {"id": 2, "supervisor_version": None},  # an app release: outside the view
        {"id": 3, "supervisor_version": None},
    ]


async def test_the_first_link_also_selected(urls):
    """`$select=is_running__release,is_running__release/release_type`: v6 answered the reference and the value
    (issue 12); the proxy's expansion holds the linked key too and the reference is rebuilt from it."""
    _, proxy = urls
    _, releases = await call(proxy, "GET", "/v6/release?$select=id,release_type")
    type_of = {r["id"]: r["release_type"] for r in releases["d"]}
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,is_running__release")
    link = {r["id"]: r["is_running__release"] for r in devices["d"]}
    assert None in link.values() and len({type_of.get((v or {}).get("__id")) for v in link.values()}) > 1
    for query, keys in (
        ("id,is_running__release,is_running__release/release_type", ["id", "is_running__release", "release_type"]),
        ("is_running__release/release_type,id,is_running__release", ["release_type", "id", "is_running__release"]),
        ("is_running__release/release_type,is_running__release", ["release_type", "is_running__release"]),
    ):
        status, body = await call(proxy, "GET", f"/v6/device?$select={query}")
        assert status == 200, body
        values = {
            "is_running__release": lambda i: link[i],
            "release_type": lambda i: type_of.get((link[i] or {}).get("__id")),
            "id": lambda i: i,
        }
        assert body["d"] == [{k: values[k](i) for k in keys} for i in link]
    # with odata.metadata=full the reference carries its __deferred URI, as without the path
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id,is_running__release,is_running__release/release_type&$filter=is_running__release ne null"
        "&$top=1&$format=json;odata.metadata=full",
    )
    assert status == 200, body
    _, plain = await call(
        proxy,
        "GET",
        f"/v6/device?$select=id,is_running__release&$filter=id eq {body['d'][0]['id']}&$format=json;odata.metadata=full",
    )
    assert body["d"][0]["is_running__release"] == plain["d"][0]["is_running__release"]
    assert "__deferred" in body["d"][0]["is_running__release"]


async def test_two_derived_paths_through_the_same_link(urls):
    """Several derived values through one first link (at any depth) share one expansion of it."""
    _, proxy = urls
    _, releases = await call(proxy, "GET", "/v6/release?$select=id,release_type")
    type_of = {r["id"]: r["release_type"] for r in releases["d"]}
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,is_running__release,overall_status")
    running = {r["id"]: (r["is_running__release"] or {}).get("__id") for r in devices["d"]}
    status_of = {r["id"]: r["overall_status"] for r in devices["d"]}
    _, installs = await call(proxy, "GET", "/v6/image_install?$select=id,device")
    device_of = {r["id"]: r["device"]["__id"] for r in installs["d"]}
    status, body = await call(
        proxy,
        "GET",
        "/v6/image_install?$select=device/overall_status,id,device,device/is_running__release/release_type",
    )
    assert status == 200, body
    assert body["d"] == [
        {
            "overall_status": status_of[d],
            "id": i,
            "device": {"__id": d},
            "release_type": type_of.get(running[d]),
        }
        for i, d in device_of.items()
    ]


async def test_the_first_link_also_expanded_by_the_client(urls):
    """The client's own expansion of the link holds the linked row (no $filter/$top/$skip): the value is read
    from it (added to its $select where the client did not select it, and hidden again)."""
    _, proxy = urls
    _, releases = await call(proxy, "GET", "/v6/release?$select=id,release_type")
    type_of = {r["id"]: r["release_type"] for r in releases["d"]}
    for nested in ("($select=id)", "($select=release_type,id)", ""):
        _, own = await call(proxy, "GET", f"/v6/device?$select=id&$expand=is_running__release{nested}")
        assert any(r["is_running__release"] for r in own["d"]) and any(not r["is_running__release"] for r in own["d"])
        status, body = await call(
            proxy, "GET", f"/v6/device?$select=id,is_running__release/release_type&$expand=is_running__release{nested}"
        )
        assert status == 200, body
        assert body["d"] == [
            {
                "is_running__release": r["is_running__release"],
                "id": r["id"],
                "release_type": type_of[r["is_running__release"][0]["id"]] if r["is_running__release"] else None,
            }
            for r in own["d"]
        ]
    # without the linked id in the client's rows: compared with the runs of each device
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,is_running__release")
    running = {r["id"]: (r["is_running__release"] or {}).get("__id") for r in devices["d"]}
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id,is_running__release/release_type"
        "&$expand=is_running__release($select=commit;$expand=belongs_to__application($select=id))",
    )
    assert status == 200, body
    assert [(r["id"], r["release_type"]) for r in body["d"]] == [(i, type_of.get(v)) for i, v in running.items()]
    assert all(set(x) == {"commit", "belongs_to__application"} for r in body["d"] for x in r["is_running__release"])


async def test_the_first_link_also_expanded_partly_reads_the_helpers_as_joined_columns(urls):
    """The client's expansion of the link may leave out the linked row ($filter, $top=0, $skip above 0): the
    value is computed from its helpers asked of v7 as $select paths (one join of the link, as v6 joined it for
    the path; hidden again), NULL where no release runs; the client's expansion stays as it asked."""
    _, proxy = urls
    _, releases = await call(proxy, "GET", "/v6/release?$select=id,release_type")
    type_of = {r["id"]: r["release_type"] for r in releases["d"]}
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,is_running__release&$orderby=id asc")
    running = {r["id"]: (r["is_running__release"] or {}).get("__id") for r in devices["d"]}
    assert None in running.values() and 1 in running.values()
    for nested in ("($select=id;$filter=id gt 1)", "($select=commit;$skip=1)", "($top=0)"):
        _, own = await call(proxy, "GET", f"/v6/device?$select=id&$expand=is_running__release{nested}&$orderby=id asc")
        status, body = await call(
            proxy,
            "GET",
            f"/v6/device?$select=id,is_running__release/release_type&$expand=is_running__release{nested}"
            "&$orderby=id asc",
        )
        assert status == 200, body
        assert body["d"] == [
            {
                "is_running__release": r["is_running__release"],
                "id": r["id"],
                "release_type": type_of.get(running[r["id"]]),
            }
            for r in own["d"]
        ]
    # overall_status reads related rows of the device too (no joined column holds those), and two such paths
    # would answer their helpers under one name (OData has no alias for a $select path); v6 answered both (was
    # a 400): where the proxy can decide the expansion's $filter itself, it asks the expansion whole (the value
    # computed there) and leaves the row out again where the $filter does not hold
    _, statuses = await call(proxy, "GET", "/v6/image_install?$select=id,device/overall_status")
    status_of = {r["id"]: r["overall_status"] for r in statuses["d"]}
    _, own = await call(proxy, "GET", "/v6/image_install?$select=id&$expand=device($select=id;$filter=id gt 1)")
    assert any(r["device"] for r in own["d"]) and not all(r["device"] for r in own["d"])
    status, body = await call(
        proxy, "GET", "/v6/image_install?$select=id,device/overall_status&$expand=device($select=id;$filter=id gt 1)"
    )
    assert status == 200, body
    assert body["d"] == [{"device": r["device"], "id": r["id"], "overall_status": status_of[r["id"]]} for r in own["d"]]
    expand = "$expand=is_running__release($filter=id gt 1),should_be_running__release($filter=id gt 1)"
    _, own = await call(proxy, "GET", f"/v6/device?$select=id&{expand}&$orderby=id asc")
    _, types = await call(
        proxy,
        "GET",
        "/v6/device?$select=id,is_running__release/release_type,should_be_running__release/release_type"
        "&$orderby=id asc",
    )
    status, body = await call(
        proxy,
        "GET",
        f"/v6/device?$select=id,is_running__release/release_type,should_be_running__release/release_type&{expand}"
        "&$orderby=id asc",
    )
    assert status == 200, body
    assert body["d"] == [{**o, **t} for o, t in zip(own["d"], types["d"], strict=True)]
    # a $filter the proxy does not compute as the server does (`now()`, the database's clock): still the clear 400
    status, body = await call(
        proxy,
        "GET",
        "/v6/image_install?$select=id,device/overall_status&$expand=device($select=id;$filter=created_at gt now())",
    )
    assert (status, body) == (400, "overall_status cannot be used in a $select path through the v6 proxy")


async def test_a_paged_expansion_of_the_link_that_keeps_its_row_is_read_too(urls):
    """`$top=n` (n ≥ 1) and `$skip=0` page the one row of a single-valued link's expansion without leaving it
    out (the server pages the expansion's own subquery), so such an expansion holds the linked row as a whole
    one does: the value is read from it, the rows the client sees unchanged."""
    _, proxy = urls
    _, whole = await call(
        proxy, "GET", "/v6/device?$select=id,is_running__release/release_type&$expand=is_running__release($select=id)"
    )
    assert {r["release_type"] for r in whole["d"]} > {None}
    for paging in ("$top=1", "$top=3;$skip=0", "$skip=0"):
        status, body = await call(
            proxy,
            "GET",
            f"/v6/device?$select=id,is_running__release/release_type&$expand=is_running__release($select=id;{paging})",
        )
        assert (status, body) == (200, whole), paging


async def test_a_path_to_a_value_v7_answers_through_the_same_link(urls):
    """`is_running__release/commit` stays a v7 $select path (a join) next to the proxy's expansion of the link
    for `is_running__release/release_type`, as pinejs has a join and an expansion of one link side by side."""
    _, proxy = urls
    _, releases = await call(proxy, "GET", "/v6/release?$select=id,commit,release_type")
    of = {r["id"]: r for r in releases["d"]}
    _, devices = await call(proxy, "GET", "/v6/device?$select=id,is_running__release")
    running = {r["id"]: (r["is_running__release"] or {}).get("__id") for r in devices["d"]}
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=id,is_running__release/commit,is_running__release,is_running__release/release_type",
    )
    assert status == 200, body
    assert body["d"] == [
        {
            "id": i,
            "commit": of[r]["commit"] if r else None,
            "is_running__release": {"__id": r} if r else None,
            "release_type": of[r]["release_type"] if r else None,
        }
        for i, r in running.items()
    ]


async def test_a_name_v7_removed_at_the_end_of_a_path_reads_null(urls):
    """`device/vpn_address` (NULL in every v6 answer since v7 removed it) and a link v7 removed
    (`belongs_to__application/depends_on__application`): pinejs joined the column, NULL here on every row, so
    the proxy answers NULL without asking v7 for it."""
    _, proxy = urls
    _, installs = await call(proxy, "GET", "/v6/image_install?$select=id&$orderby=id asc")
    status, body = await call(proxy, "GET", "/v6/image_install?$select=id,device/vpn_address&$orderby=id asc")
    assert status == 200, body
    assert body["d"] == [{"id": r["id"], "vpn_address": None} for r in installs["d"]]
    status, body = await call(
        proxy,
        "GET",
        "/v6/device?$select=belongs_to__application/depends_on__application,id&$filter=id le 2&$orderby=id asc",
    )
    assert status == 200, body
    assert body["d"] == [{"depends_on__application": None, "id": 1}, {"depends_on__application": None, "id": 2}]


async def test_a_longer_path_through_the_clients_own_expansion_of_its_first_link(urls):
    """`$select=device/is_running__release/release_type` (and `$orderby`) with the client's own whole
    `$expand=device(...)`: the proxy expands the rest of the path inside that expansion (as the client's own
    expansion would be walked), reads the value from it and cuts the client's rows back, a reference they show
    rebuilt (was a 400). The answer without the client's expansion and the plain expansion are the oracle."""
    upstream, proxy = urls
    type_of = await release_types(upstream, proxy)
    for fmt in ("", "&$format=json;odata.metadata=full"):
        for nested in ("($select=id)", "", "($select=device_name,is_running__release)"):
            _, own = await call(proxy, "GET", f"/v6/image_install?$select=id&$expand=device{nested}{fmt}")
            status, body = await call(
                proxy,
                "GET",
                f"/v6/image_install?$select=id,device/is_running__release/release_type&$expand=device{nested}{fmt}",
            )
            assert status == 200, body
            # `__metadata` after the row's fields, as pinejs writes it
            expected = [
                {**{k: v for k, v in r.items() if k != "__metadata"}, "release_type": type_of[r["id"]]}
                | ({"__metadata": r["__metadata"]} if "__metadata" in r else {})
                for r in own["d"]
            ]
            assert [json.dumps(r) for r in body["d"]] == [json.dumps(r) for r in expected]
    # overall_status two links away as a sort key, the client expanding the first link
    for install in (3, 5, 9, 11, 13, 15):
        body = {"service_install": install, "name": f"V{install}", "value": "x"}
        assert (await call(upstream, "POST", "/v7/device_service_environment_variable", body))[0] == 201
    orderby = "$orderby=service_install/device/overall_status desc,id asc"
    _, order = await call(proxy, "GET", f"/v6/device_service_environment_variable?$select=id&{orderby}")
    _, statuses = await call(
        proxy, "GET", "/v6/device_service_environment_variable?$select=id,service_install/device/overall_status"
    )
    assert len({r["overall_status"] for r in statuses["d"]}) > 1
    for nested in ("($select=id)", "", "($select=device)"):
        expand = f"$expand=service_install{nested}"
        _, own = await call(proxy, "GET", f"/v6/device_service_environment_variable?$select=id&{expand}")
        row_of = {r["id"]: r for r in own["d"]}
        status, body = await call(
            proxy, "GET", f"/v6/device_service_environment_variable?$select=id&{expand}&{orderby}"
        )
        assert status == 200, body
        assert body["d"] == [row_of[r["id"]] for r in order["d"]]


async def test_every_link_down_to_the_value_expanded_by_the_client(urls):
    """`$select=device/is_running__release/release_type&$expand=device($expand=is_running__release(...))` (and
    overall_status so in `$orderby`): every link is the client's own expansion, each holding its row; the value
    is read from the innermost one (added to its `$select` and hidden again where the client did not select it).
    Was a 400. The answer without the client's expansions and the plain expansions are the oracle."""
    upstream, proxy = urls
    type_of = await release_types(upstream, proxy)
    for nested in (
        "($expand=is_running__release)",
        "($select=id;$expand=is_running__release($select=id))",
        "($select=device_name;$expand=is_running__release($select=release_type,commit))",
    ):
        _, own = await call(proxy, "GET", f"/v6/image_install?$select=id&$expand=device{nested}")
        status, body = await call(
            proxy,
            "GET",
            f"/v6/image_install?$select=id,device/is_running__release/release_type&$expand=device{nested}",
        )
        assert status == 200, (nested, body)
        assert body["d"] == [{**r, "release_type": type_of[r["id"]]} for r in own["d"]], nested
    # overall_status two links away as a sort key, both links the client's
    for install in (3, 5, 9, 11, 13, 15):
        body = {"service_install": install, "name": f"V{install}", "value": "x"}
        assert (await call(upstream, "POST", "/v7/device_service_environment_variable", body))[0] == 201
    orderby = "$orderby=service_install/device/overall_status desc,id asc"
    _, order = await call(proxy, "GET", f"/v6/device_service_environment_variable?$select=id&{orderby}")
    for nested in ("($select=id;$expand=device($select=id))", "($expand=device)"):
        expand = f"$expand=service_install{nested}"
        _, own = await call(proxy, "GET", f"/v6/device_service_environment_variable?$select=id&{expand}")
        row_of = {r["id"]: r for r in own["d"]}
        status, body = await call(
            proxy, "GET", f"/v6/device_service_environment_variable?$select=id&{expand}&{orderby}"
        )
        assert status == 200, (nested, body)
        assert body["d"] == [row_of[r["id"]] for r in order["d"]], nested
