"""The v7 simulator over the bundled fleet: envelopes, errors, identity, computed fields, the query evaluator."""

from __future__ import annotations

import json

import pytest

from balena_v7_simulator import create_simulator_app, store_of
from balena_v7_simulator.fixtures import ALICE_TOKEN, BOB_TOKEN, DEVICE_STATUS, RELEASES

ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
BOB = {"Authorization": f"Bearer {BOB_TOKEN}"}


@pytest.fixture
async def client(aiohttp_client):
    return await aiohttp_client(create_simulator_app())


async def get(client, target: str, headers=ALICE):
    response = await client.get(target, headers=headers)
    raw = await response.read()
    return response.status, (json.loads(raw) if raw else None), response


def ids(body) -> list:
    return [row["id"] for row in body["d"]]


# -- envelopes and errors --------------------------------------------------------------------------------------
async def test_collection_key_and_alternate_key_reads_are_d_arrays(client):
    uuid = DEVICE_STATUS["operational"][0]
    status, body, response = await get(client, "/v7/device(1)?$select=id,uuid")
    assert (status, body) == (200, {"d": [{"id": 1, "uuid": uuid}]})
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert (await get(client, f"/v7/device(uuid='{uuid}')?$select=id"))[1] == {"d": [{"id": 1}]}
    assert (await get(client, "/v7/device(99999)"))[:2] == (200, {"d": []})
    assert (await get(client, "/v7/device_type(slug='intel-nuc')?$select=name"))[1] == {"d": [{"name": "Intel NUC"}]}


async def test_count_path_and_count_with_filter(client):
    status, body, _ = await get(client, "/v7/device/$count")
    assert status == 200 and body == {"d": 13 + 1}  # alice: acme/myapp's 13 devices + her own NUC
    assert (await get(client, "/v7/device/$count?$filter=belongs_to__application%20eq%201"))[1] == {"d": 13}
    assert (await get(client, f"/v7/device/$count?apikey={ALICE_TOKEN}", headers={}))[1] == {"d": 14}


async def test_missing_bad_token_and_unknown_resource_are_401_empty(client):
    for headers in ({}, {"Authorization": "Bearer nope"}):
        status, body, _ = await get(client, "/v7/device", headers=headers)
        assert (status, body) == (401, None)
    assert (await get(client, "/v7/gateway_download"))[:2] == (401, None)
    assert (await get(client, "/v7/my_application"))[:2] == (401, None)
    assert (await get(client, "/v7/device?$expand=actor"))[:2] == (401, None)


async def test_options_is_an_empty_200_even_without_a_token(client):
    response = await client.options("/v7/device")
    assert (response.status, await response.read()) == (200, b"")


async def test_malformed_url_is_400_with_the_server_message(client):
    status, body, _ = await get(client, "/v7/device?$filter=id%20eq")
    assert status == 400 and body == "Malformed url: '/v7/device?$filter=id%20eq'"


@pytest.mark.parametrize(
    "query",
    [
        "$select=id,logs_channel",
        "$expand=manages__device",
        "$filter=vpn_address%20eq%201",
        "$orderby=release_type%20asc",
        "$expand=owns__device($select=nope)",
    ],
)
async def test_unknown_names_answer_500_empty_by_default(client, query):
    target = "/v7/application" if "owns__device" in query else "/v7/device"
    assert (await get(client, f"{target}?{query}"))[:2] == (500, None)


async def test_unknown_name_status_400_names_the_property(aiohttp_client):
    client = await aiohttp_client(create_simulator_app(unknown_name_status=400))
    status, body, _ = await get(client, "/v7/device?$select=id,logs_channel")
    assert (status, body) == (400, "Unknown property 'logs_channel'")


async def test_metadata_is_the_v7_xml_as_a_json_string(client):
    response = await client.get("/v7/$metadata")
    assert response.status == 200 and response.headers["Content-Type"] == "xml"
    document = json.loads(await response.read())
    assert document.lstrip().startswith("<?xml") and "is_pinned_on__release" in document


async def test_cloud_metadata_describes_the_larger_model(client, aiohttp_client):
    cloud = json.loads(await (await client.get("/v7/$metadata")).read())
    device = cloud[cloud.index('<EntityType Name="device">') :]
    device = device[: device.index("</EntityType>")]
    assert '<Property Name="is_active" Type="Edm.Boolean" Nullable="false" />' in device
    assert '<EntityType Name="device_history">' in cloud
    oba_client = await aiohttp_client(create_simulator_app(flavour="open-balena"))
    oba = json.loads(await (await oba_client.get("/v7/$metadata")).read())
    assert "is_active" not in oba and "device_history" not in oba and oba.count("<EntityType ") == 43


async def test_ping_and_whoami(client):
    response = await client.get("/ping")
    assert response.status == 200 and await response.text() == "OK"
    assert (await get(client, "/user/v1/whoami"))[1] == {"id": 1, "username": "alice", "email": "alice@example.com"}
    actor = (await get(client, "/actor/v1/whoami"))[1]
    assert actor["actorType"] == "user" and actor["actorTypeId"] == 1 and actor["id"] == 1
    assert (await get(client, "/whoami", headers={}))[0] == 401


async def test_log_stream_is_chunked_line_by_line(aiohttp_client):
    client = await aiohttp_client(create_simulator_app(log_interval=0.05))
    uuid = DEVICE_STATUS["operational"][0]
    response = await client.get(f"/device/v2/{uuid}/logs?stream=1&count=4", headers=ALICE)
    assert response.status == 200 and response.headers.get("Transfer-Encoding") == "chunked"
    lines = [json.loads(line) async for line in response.content if line.strip()]
    assert [line["message"] for line in lines][:3] == [f"[dev-operational] line {i}" for i in range(3)]
    assert len(lines) == 4 and lines[3]["message"] == "heartbeat 1"
    history = (await get(client, f"/device/v2/{uuid}/logs"))[1]
    assert len(history) == 3


# -- computed fields ---------------------------------------------------------------------------------------------
async def test_overall_status_of_every_fleet_device(client):
    body = (await get(client, "/v7/device?$select=uuid,overall_status,overall_progress"))[1]
    by_uuid = {row["uuid"]: row for row in body["d"]}
    for label, (uuid, v7_status, _v6) in DEVICE_STATUS.items():
        assert by_uuid[uuid]["overall_status"] == v7_status, label
    assert by_uuid[DEVICE_STATUS["updating"][0]]["overall_progress"] == 45
    assert by_uuid[DEVICE_STATUS["reduced-dl"][0]]["overall_progress"] == 70


async def test_open_balena_has_no_is_active_so_no_inactive(aiohttp_client):
    client = await aiohttp_client(create_simulator_app(flavour="open-balena"))
    uuid = DEVICE_STATUS["inactive"][0]
    assert (await get(client, f"/v7/device(uuid='{uuid}')?$select=overall_status"))[1]["d"][0][
        "overall_status"
    ] == "disconnected"
    assert (await get(client, "/v7/device?$select=is_active"))[0] == 500
    assert (await get(client, "/v7/device_history"))[0] == 401


async def test_cloud_model_has_device_history_and_is_active(client):
    status, body, _ = await get(client, "/v7/device_history?$select=id,uuid,is_active&$orderby=id%20asc")
    assert status == 200 and body["d"][0] == {"id": 1, "uuid": DEVICE_STATUS["operational"][0], "is_active": True}


async def test_vpn_control_config_variable_changes_the_status(client):
    uuid = DEVICE_STATUS["reduced"][0]
    response = await client.post(
        "/v7/device_config_variable",
        headers=ALICE,
        json={"device": 2, "name": "RESIN_SUPERVISOR_VPN_CONTROL", "value": "false"},
    )
    assert response.status == 201
    assert (await get(client, f"/v7/device(uuid='{uuid}')?$select=overall_status"))[1]["d"][0][
        "overall_status"
    ] == "operational"


async def test_should_be_running_release_is_the_pin_else_the_fleet_target(client):
    body = (
        await get(
            client,
            "/v7/device?$select=id,is_pinned_on__release,should_be_running__release"
            "&$filter=id%20in%20(1,12)&$orderby=id%20asc",
        )
    )[1]
    assert body["d"] == [
        {"id": 1, "is_pinned_on__release": None, "should_be_running__release": {"__id": 2}},
        {"id": 12, "is_pinned_on__release": {"__id": 1}, "should_be_running__release": {"__id": 1}},
    ]
    response = await client.patch("/v7/device(1)", headers=ALICE, json={"is_pinned_on__release": 5})
    assert (response.status, await response.read()) == (200, b"")
    assert (await get(client, "/v7/device(1)?$select=should_be_running__release"))[1]["d"][0] == {
        "should_be_running__release": {"__id": 5}
    }


# -- identity ----------------------------------------------------------------------------------------------------
async def test_users_see_only_their_organizations_fleets(client):
    alice = (
        await get(
            client,
            "/v7/application?$select=slug&$filter=is_directly_accessible_by__user/any(dau:1%20eq%201)"
            "&$orderby=slug%20asc",
        )
    )[1]
    assert [a["slug"] for a in alice["d"]] == ["acme/myapp", "alice/alice-fleet"]
    bob = (
        await get(
            client,
            "/v7/application?$select=slug&$filter=is_directly_accessible_by__user/any(dau:1%20eq%201)",
            headers=BOB,
        )
    )[1]
    assert [a["slug"] for a in bob["d"]] == ["bob/bobs-app"]
    assert (await get(client, "/v7/device/$count", headers=BOB))[1] == {"d": 1}
    # public supervisor fleets are readable, not writable
    supervisors = (
        await get(
            client,
            "/v7/application?$select=slug&$filter=startswith(slug,'balena_os/')%20and%20endswith(slug,'-supervisor')",
            headers=BOB,
        )
    )[1]
    assert len(supervisors["d"]) == 3
    response = await client.patch("/v7/application(4)", headers=BOB, json={"app_name": "mine"})
    assert response.status == 200
    assert (await get(client, "/v7/application(4)?$select=app_name", headers=BOB))[1]["d"][0][
        "app_name"
    ] == "aarch64-supervisor"


async def test_personal_organization_and_org_handles(client):
    body = (await get(client, "/v7/organization?$select=handle&$orderby=handle%20asc"))[1]
    assert [o["handle"] for o in body["d"]] == ["acme", "alice"]
    assert (await get(client, "/v7/user?$select=id,username"))[1] == {"d": [{"id": 1, "username": "alice"}]}


async def test_post_under_someone_elses_fleet_is_401(client):
    response = await client.post(
        "/v7/device_environment_variable", headers=BOB, json={"device": 1, "name": "X", "value": "1"}
    )
    assert (response.status, await response.read()) == (401, b"")


# -- PostgreSQL comparison and ordering -----------------------------------------------------------------------
async def test_quoted_number_equals_the_number(client):
    assert ids((await get(client, "/v7/device?$select=id&$filter=id%20eq%20'3'"))[1]) == [3]
    assert (await get(client, "/v7/device?$select=id&$filter=id%20eq%20'x'"))[0] == 500


async def test_bare_orderby_sorts_descending_and_nulls_order_like_postgres(client):
    assert ids((await get(client, "/v7/release?$select=id&$orderby=id"))[1])[:3] == [14, 13, 12]
    asc = (
        await get(client, "/v7/device?$select=id,is_pinned_on__release&$orderby=is_pinned_on__release%20asc,id%20asc")
    )[1]["d"]
    assert asc[0]["is_pinned_on__release"] == {"__id": 1} and asc[-1]["is_pinned_on__release"] is None
    desc = (
        await get(client, "/v7/device?$select=id,is_pinned_on__release&$orderby=is_pinned_on__release%20desc,id%20asc")
    )[1]["d"]
    assert desc[0]["is_pinned_on__release"] is None and desc[-1]["is_pinned_on__release"] == {"__id": 1}


async def test_text_sorts_by_code_point(client):
    await client.patch("/v7/device(2)", headers=ALICE, json={"device_name": "Zeta"})
    await client.patch("/v7/device(3)", headers=ALICE, json={"device_name": "alpha"})
    names = [
        d["device_name"]
        for d in (await get(client, "/v7/device?$select=device_name&$orderby=device_name%20asc&$filter=id%20le%203"))[
            1
        ]["d"]
    ]
    assert names == ["Zeta", "alpha", "dev-operational"]


async def test_eq_and_ne_with_null_never_yield_null(client):
    pinned = ids((await get(client, "/v7/device?$select=id&$filter=is_pinned_on__release%20ne%20null"))[1])
    assert pinned == [12]
    not_one = ids((await get(client, "/v7/device?$select=id&$filter=is_pinned_on__release%20ne%201"))[1])
    assert 12 not in not_one and 1 in not_one
    assert ids((await get(client, "/v7/device?$select=id&$filter=not(is_pinned_on__release%20gt%200)"))[1]) == []


# -- the evaluator on the queries the clients send ------------------------------------------------------------
async def test_sdk14_pin_to_release_lookup(client):
    commit = RELEASES["v1.1.0"]
    target = (
        f"/v7/release?$filter=startswith(commit,'{commit}')%20and%20((status%20eq%20'success')%20and%20"
        f"(belongs_to__application%20eq%201)%20and%20(commit%20eq%20'{commit}'))&$select=id"
        "&$orderby=created_at%20desc&$top=1"
    )
    assert (await get(client, target))[1] == {"d": [{"id": 2}]}


async def test_sdk14_get_with_service_details_expand(client):
    uuid = DEVICE_STATUS["reduced-dl"][0]
    target = (
        f"/v7/device(uuid='{uuid}')?$select=id&$expand=image_install($select=id,download_progress,status,"
        "install_date;$filter=status%20ne%20'deleted';$orderby=id%20asc;$expand=image($select=id;$expand="
        "is_a_build_of__service($select=id,service_name)),is_provided_by__release($select=id,commit,raw_version))"
    )
    installs = (await get(client, target))[1]["d"][0]["image_install"]
    assert [i["status"] for i in installs] == ["Running", "Downloading", "Running", "Downloading"]
    first = installs[0]
    assert list(first) == ["image", "is_provided_by__release", "id", "download_progress", "status", "install_date"]
    assert first["image"][0]["is_a_build_of__service"] == [{"id": 1, "service_name": "main"}]
    assert first["is_provided_by__release"] == [{"id": 2, "commit": RELEASES["v1.1.0"], "raw_version": "1.1.0"}]


async def test_sdk12_ampersand_separated_nested_options(client):
    uuid = DEVICE_STATUS["operational"][0]
    target = (
        f"/v7/device?$filter=uuid%20eq%20'{uuid}'&$select=id&$expand=image_install($select=id,status"
        "&$filter=status%20ne%20'deleted')"
    )
    installs = (await get(client, target))[1]["d"][0]["image_install"]
    assert {i["status"] for i in installs} == {"Running"} and len(installs) == 2


async def test_supervisor_release_lookup_three_deep_lambda(client):
    target = (
        "/v7/release?$select=id,raw_version&$orderby=id%20asc&$filter=(status%20eq%20'success')%20and%20"
        "(is_final%20eq%20true)%20and%20belongs_to__application/any(a:startswith(a/slug,'balena_os/')%20and%20"
        "endswith(a/slug,'-supervisor')%20and%20a/is_for__device_type/any(dt:dt/is_of__cpu_architecture/any("
        "c:c/slug%20eq%20'aarch64')))"
    )
    assert (await get(client, target))[1] == {
        "d": [{"id": 10, "raw_version": "14.0.0"}, {"id": 11, "raw_version": "14.11.1"}]
    }


async def test_device_type_alias_lookup_with_host_app_expand(client):
    target = (
        "/v7/device_type?$orderby=name%20asc&$select=id&$filter=device_type_alias/any(dta:dta/"
        "is_referenced_by__alias%20eq%20'nuc')&$expand=is_default_for__application($select=is_archived;"
        "$filter=is_host%20eq%20true)&$top=1"
    )
    assert (await get(client, target))[1] == {"d": [{"is_default_for__application": [{"is_archived": False}], "id": 3}]}


async def test_count_in_filter_and_expand_and_all_lambda(client):
    target = (
        "/v7/application?$select=id&$filter=owns__device/$count($filter=api_heartbeat_state%20eq%20'online')"
        "%20gt%205&$expand=owns__device/$count($filter=is_connected_to_vpn%20eq%20false)"
    )
    assert (await get(client, target))[1] == {"d": [{"owns__device": 5, "id": 1}]}
    target = "/v7/application?$select=id&$filter=owns__release/all(r:r/status%20eq%20'success')&$orderby=id%20asc"
    assert ids((await get(client, target))[1]) == [2, 4, 5, 6, 7, 8]  # public fleets too


async def test_lambda_bodies_follow_sql_three_valued_logic(client):
    """all(v:E) is NOT EXISTS(… WHERE NOT E): a NULL E (every device's note is NULL) fails no member, so every
    application passes; any(v:E) is EXISTS(… WHERE E): a NULL E, or NOT of it, satisfies none."""
    every = ids((await get(client, "/v7/application?$select=id&$orderby=id%20asc"))[1])
    assert len(every) > 2
    target = "/v7/application?$select=id&$orderby=id%20asc&$filter=owns__device/all(d:startswith(d/note,'a'))"
    assert ids((await get(client, target))[1]) == every
    for body in ("startswith(d/note,'a')", "not(startswith(d/note,'a'))"):
        target = f"/v7/application?$select=id&$filter=owns__device/any(d:{body})"
        assert (await get(client, target))[1] == {"d": []}
    target = "/v7/application?$select=id&$orderby=id%20asc&$filter=owns__device/all(d:d/note%20eq%20'a')"
    assert ids((await get(client, target))[1]) == [i for i in every if i not in (1, 2)]  # 1, 2 own devices


async def test_a_to_one_path_is_a_left_join_a_missing_link_reads_null_and_keeps_the_row(client):
    """odata-to-abstract-sql (8.x on; the server runs 10.x) LEFT JOINs a navigation path's table: a device with
    no pinned release has a NULL commit, which keeps it for `eq null` and `not(eq 'x')`, drops it for `ne null`
    and for not(NULL), and a lambda or $count below the NULL link sees no members. Only device 12 is pinned."""
    every = ids((await get(client, "/v7/device?$select=id&$orderby=id%20asc"))[1])
    unpinned = [i for i in every if i != 12]

    async def kept(flt: str) -> list[int]:
        return ids((await get(client, f"/v7/device?$select=id&$orderby=id%20asc&$filter={flt}"))[1])

    assert await kept("is_pinned_on__release/commit%20eq%20null") == unpinned
    assert await kept("not(is_pinned_on__release/commit%20eq%20'x')") == every
    assert await kept("is_pinned_on__release/commit%20ne%20null") == [12]
    assert await kept("not(is_pinned_on__release/id%20gt%200)") == []
    # release 1 (device 12's) has no tags either, so every device passes
    assert await kept("is_pinned_on__release/release_tag/all(t:t/tag_key%20eq%20'zzz')") == every
    assert await kept("is_pinned_on__release/release_tag/$count%20eq%200") == every
    assert await kept("is_pinned_on__release/belongs_to__application/app_name%20eq%20null") == unpinned
    # $orderby by the path keeps the unpinned devices too (NULLs first when descending)
    target = "/v7/device?$select=id&$orderby=is_pinned_on__release/created_at%20desc,id%20asc"
    assert ids((await get(client, target))[1]) == [*unpinned, 12]


async def test_a_collection_path_is_a_left_join_one_row_per_member(client):
    """The same LEFT JOIN over a collection yields the base row once per member, with no DISTINCT: duplicates in
    the answer, in /$count and in a $count subquery, and one joined member must satisfy every condition on it
    (checked against odata-to-abstract-sql 10.0.28's SQL: `FROM "device" LEFT JOIN "device tag" AS … WHERE …`)."""
    response = await client.post("/v7/device_tag", headers=ALICE, json={"device": 1, "tag_key": "env", "value": "b"})
    assert response.status == 201, await response.text()
    every = ids((await get(client, "/v7/device?$select=id&$orderby=id%20asc"))[1])  # device 1 tagged lab and b

    async def kept(flt: str, extra: str = "&$orderby=id%20asc") -> list[int]:
        return ids((await get(client, f"/v7/device?$select=id&$filter={flt}{extra}"))[1])

    assert await kept("device_tag/tag_key%20ne%20'zz'") == [1, *every]
    assert (await get(client, "/v7/device/$count?$filter=device_tag/tag_key%20ne%20'zz'"))[1] == {"d": len(every) + 1}
    assert await kept("not(device_tag/value%20eq%20'lab')") == every  # device 1 through its 'b' tag
    assert await kept("device_tag/tag_key%20eq%20'location'%20and%20device_tag/value%20eq%20'b'") == []
    target = (
        "/v7/application?$select=id&$filter=owns__device/any(d:d/device_tag/tag_key%20eq%20'location'%20and%20"
        "device_tag/value%20eq%20'b')"
    )
    assert (await get(client, target))[1] == {"d": []}
    target = "/v7/application(1)?$select=id&$expand=owns__device/$count($filter=device_tag/tag_key%20ne%20'zz')"
    assert (await get(client, target))[1] == {"d": [{"owns__device": 13 + 1, "id": 1}]}
    target = "/v7/device?$select=id&$orderby=device_tag/value%20asc,id%20asc&$top=4"
    assert ids((await get(client, target))[1]) == [1, 2, 1, 3]  # 'b', 'field', 'lab', then NULLs (no tag)
    # a write is `WHERE id IN (SELECT … LEFT JOIN …)`: each of device 1's tags is joined twice, deleted once
    response = await client.delete("/v7/device_tag?$filter=device/device_tag/value%20ne%20'zz'", headers=ALICE)
    assert response.status == 200
    assert (await get(client, "/v7/device_tag/$count"))[1] == {"d": 0}


async def test_select_of_a_navigation_path_is_the_joined_column_under_its_own_name(client):
    """`$select=nav/name` LEFT JOINs nav (AddSelectFields) and selects its column as `name`: NULL through a
    missing link, one row per member through a collection; an unknown name below the navigation is an error."""
    target = (
        "/v7/device?$select=id,belongs_to__application/app_name,is_pinned_on__release/commit&$filter=id%20in%20(1,12)"
    )
    assert (await get(client, target))[1] == {
        "d": [
            {"id": 1, "app_name": "myapp", "commit": None},
            {"id": 12, "app_name": "myapp", "commit": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"},
        ]
    }
    response = await client.post("/v7/device_tag", headers=ALICE, json={"device": 1, "tag_key": "env", "value": "b"})
    assert response.status == 201
    target = "/v7/device?$select=id,device_tag/value&$filter=id%20le%202&$orderby=id%20asc"
    assert (await get(client, target))[1] == {
        "d": [{"id": 1, "value": "lab"}, {"id": 1, "value": "b"}, {"id": 2, "value": "field"}]
    }
    target = "/v7/application(1)?$select=id&$expand=owns__device($select=belongs_to__application/slug;$top=1)"
    assert (await get(client, target))[1] == {"d": [{"owns__device": [{"slug": "acme/myapp"}], "id": 1}]}
    assert (await get(client, "/v7/device?$select=belongs_to__application/nope"))[:2] == (500, None)


async def test_a_path_deeper_through_an_already_joined_navigation_is_a_500(client):
    """pinejs joins a path's navigations only if its first one is new to the query, so `a/x … a/b/y` names a table
    it never joined (PostgreSQL fails: 500, empty body) while `a/b/y … a/x` works; $filter and $orderby share the
    query, a lambda body is its own. /$count ignores $orderby (and its names), so there it is fine."""
    bad = (
        "belongs_to__application/app_name%20eq%20'x'%20and%20belongs_to__application/organization/handle%20eq%20'acme'"
    )
    good = (
        "belongs_to__application/organization/handle%20eq%20'acme'%20and%20belongs_to__application/app_name%20ne%20'x'"
    )
    assert (await get(client, f"/v7/device?$select=id&$filter={bad}"))[:2] == (500, None)
    assert len((await get(client, f"/v7/device?$select=id&$filter={good}"))[1]["d"]) == 13
    order = "&$orderby=belongs_to__application/organization/handle%20asc"
    assert (await get(client, f"/v7/device?$select=id&$filter=belongs_to__application/app_name%20ne%20'x'{order}"))[
        :2
    ] == (500, None)
    assert (await get(client, f"/v7/device/$count?$filter=belongs_to__application/app_name%20ne%20'x'{order}"))[1] == {
        "d": 14
    }
    assert (await get(client, "/v7/device/$count?$orderby=nope%20asc&$select=nope"))[1] == {"d": 14}
    target = "/v7/application(1)?$select=id&$expand=owns__device/$count($select=nope;$orderby=nope%20asc)"
    assert (await get(client, target))[1] == {"d": [{"owns__device": 13, "id": 1}]}  # counted expands too
    target = f"/v7/application?$select=id&$filter=owns__device/any(d:{bad.replace('belongs', 'd/belongs', 1)})"
    assert (await get(client, target))[:2] == (500, None)


async def test_navigation_paths_functions_in_and_paging(client):
    target = (
        "/v7/device?$select=device_name&$filter=belongs_to__application/slug%20eq%20'acme%2Fmyapp'%20and%20"
        "contains(tolower(device_name),'dl')&$orderby=device_name%20asc"
    )
    assert [d["device_name"] for d in (await get(client, target))[1]["d"]] == ["dev-configuring-dl", "dev-reduced-dl"]
    target = "/v7/device?$select=id&$filter=id%20in%20(3,%201,%202)&$orderby=id%20asc&$top=2&$skip=1"
    assert ids((await get(client, target))[1]) == [2, 3]


async def test_nested_expand_with_orderby_top_and_select_keeps_key_order(client):
    target = (
        "/v7/application(1)?$select=app_name,id&$expand=owns__release($select=id,commit;$orderby=created_at%20desc;"
        "$top=2;$filter=is_final%20eq%20true),organization($select=handle)"
    )
    row = (await get(client, target))[1]["d"][0]
    assert list(row) == ["owns__release", "organization", "app_name", "id"]
    assert [r["id"] for r in row["owns__release"]] == [4, 2] and row["organization"] == [{"handle": "acme"}]


# -- writes --------------------------------------------------------------------------------------------------------
async def test_post_answers_201_with_the_entity_and_location(client):
    response = await client.post(
        "/v7/application", headers=ALICE, json={"app_name": "NewApp", "organization": 1, "is_for__device_type": 1}
    )
    body = await response.json()
    assert response.status == 201
    assert response.headers["Location"] == f"/v7/application(@id)?@id={body['id']}"
    assert body["slug"] == "alice/newapp" and body["organization"] == {"__id": 1}
    assert list(body)[:4] == ["created_at", "modified_at", "id", "actor"]
    assert body["should_track_latest_release"] is True and len(body["uuid"]) == 32


async def test_post_without_a_required_column_fails_like_the_server(client):
    response = await client.post("/v7/application", headers=ALICE, json={"app_name": "x", "is_for__device_type": 1})
    assert (response.status, await response.read()) == (500, b"")


async def test_duplicate_env_var_is_a_unique_violation(client):
    payload = {"device": 1, "name": "LOG_LEVEL", "value": "info"}
    response = await client.post("/v7/device_environment_variable", headers=ALICE, json=payload)
    assert response.status == 409 and "unique" in (await response.json()).lower()


async def test_patch_by_filter_patch_nothing_and_patch_errors(client, aiohttp_client):
    response = await client.patch(
        "/v7/device?$filter=belongs_to__application%20eq%20'1'%20and%20id%20le%202",
        headers=ALICE,
        json={"note": "batch"},
    )
    assert (response.status, await response.read()) == (200, b"")
    notes = (await get(client, "/v7/device?$select=id,note&$filter=note%20eq%20'batch'&$orderby=id%20asc"))[1]
    assert ids(notes) == [1, 2]
    assert (await client.patch("/v7/device(4242)", headers=ALICE, json={"note": "x"})).status == 200
    response = await client.patch("/v7/device(1)", headers=ALICE, json={})
    assert (response.status, await response.json()) == (400, "No fields to update")
    response = await client.patch("/v7/device(1)", headers=ALICE, json={"should_be_running__release": 1})
    assert (response.status, await response.read()) == (500, b"")


async def test_release_finalisation_and_fleet_tracking(client):
    app = client.server.app
    response = await client.post(
        "/v7/release",
        headers=ALICE,
        json={
            "belongs_to__application": 1,
            "commit": "9" * 32,
            "status": "success",
            "composition": {},
            "source": "cloud",
            "start_timestamp": "2026-03-01T00:00:00.000Z",
            "semver": "2.0.0",
            "is_final": False,
        },
    )
    release = await response.json()
    assert release["is_final"] is False and release["raw_version"].startswith("2.0.0-")
    assert store_of(app).get("application", 1)["should_be_running__release"] == 2
    response = await client.patch(f"/v7/release({release['id']})", headers=ALICE, json={"is_final": True})
    assert response.status == 200
    row = (await get(client, f"/v7/release({release['id']})?$select=is_final,raw_version,revision"))[1]["d"][0]
    assert row == {"is_final": True, "raw_version": "2.0.0", "revision": 0}
    assert store_of(app).get("application", 1)["should_be_running__release"] == release["id"]
    response = await client.patch(f"/v7/release({release['id']})", headers=ALICE, json={"is_final": False})
    assert (response.status, await response.json()) == (400, "Finalized releases cannot be converted to draft.")


async def test_delete_removes_matching_rows_only(client):
    response = await client.delete(
        "/v7/device_tag?$filter=tag_key%20eq%20'location'%20and%20device%20eq%201", headers=ALICE
    )
    assert (response.status, await response.read()) == (200, b"")
    assert ids((await get(client, "/v7/device_tag?$select=id"))[1]) == [2]


async def test_full_metadata_format_adds_uris(client):
    target = "/v7/device__has__config_var_name?$select=id,device&$filter=id%20eq%202&$format=json;odata.metadata=full"
    body = (await get(client, target))[1]
    assert body == {
        "d": [
            {
                "__metadata": {"uri": "/v7/device__has__config_var_name(@id)?@id=2"},
                "id": 2,
                "device": {"__deferred": {"uri": "/v7/device(@id)?@id=1"}, "__id": 1},
            }
        ]
    }


async def test_put_is_an_upsert_and_can_access_checks_permissions(client):
    response = await client.put("/v7/device_tag(50)", headers=ALICE, json={"device": 1, "tag_key": "k", "value": "v"})
    assert (response.status, await response.read()) == (200, b"")
    assert (await get(client, "/v7/device_tag(50)?$select=tag_key,value"))[1] == {"d": [{"tag_key": "k", "value": "v"}]}
    response = await client.put("/v7/device_tag(50)", headers=ALICE, json={"device": 1, "tag_key": "k", "value": "w"})
    assert response.status == 200
    assert (await get(client, "/v7/device_tag(50)?$select=value"))[1] == {"d": [{"value": "w"}]}
    response = await client.post("/v7/device(1)/canAccess", headers=ALICE, json={"action": "update"})
    assert (response.status, await response.json()) == (200, {"d": [{"id": 1}]})
    response = await client.post("/v7/device(1)/canAccess", headers=BOB, json={"action": "update"})
    assert (response.status, await response.read()) == (401, b"")
    response = await client.post("/v7/application(4)/canAccess", headers=BOB, json={"method": "GET"})
    assert response.status == 200  # public fleet: readable, not writable
    response = await client.post("/v7/application(4)/canAccess", headers=BOB, json={"method": "PATCH"})
    assert response.status == 401


async def test_written_values_are_cast_to_the_column_type(client):
    response = await client.patch(
        "/v7/device(1)",
        headers=ALICE,
        json={"is_pinned_on__release": "2", "is_accessible_by_support_until__date": 1767607200000},
    )
    assert response.status == 200
    row = (await get(client, "/v7/device(1)?$select=is_pinned_on__release,is_accessible_by_support_until__date"))[1]
    assert row["d"][0] == {
        "is_pinned_on__release": {"__id": 2},
        "is_accessible_by_support_until__date": "2026-01-05T10:00:00.000Z",
    }


async def test_resource_method_in_filter_is_a_server_error(client):
    assert (await get(client, "/v7/device?$filter=device_tag/canAccess()"))[:2] == (500, None)


# -- body validation (pinejs zod looseObject, spec §2.3 step 3) and HEAD ---------------------------------------
@pytest.mark.parametrize(
    "method,target,body",
    [
        ("patch", "/v7/device(1)", {"note": 5}),  # number for Text
        ("patch", "/v7/device(1)", {"device_name": None}),  # null for a required column (.optional(), not .nullish())
        ("patch", "/v7/device(1)", {"memory_usage": "lots"}),  # non-numeric string for Integer
        ("patch", "/v7/device(1)", {"memory_usage": True}),  # boolean for Integer
        ("patch", "/v7/device(1)", {"is_online": "yes"}),  # string for Boolean
        ("patch", "/v7/device(1)", {"last_vpn_event": "yesterday"}),  # not a date for Date Time
        ("patch", "/v7/device(1)", {"last_vpn_event": True}),
        ("patch", "/v7/device(1)", {"is_pinned_on__release": "two"}),  # FK
        ("patch", "/v7/device(1)", {"is_pinned_on__release": {"__id": 1}}),  # FKs are the integer schema
        ("patch", "/v7/device(1)", {"belongs_to__application": None}),  # a NOT NULL foreign key
        ("patch", "/v7/device(1)", {"memory_usage": 1.5}),  # z.number().int()
        ("patch", "/v7/device(1)", {"memory_usage": 2**53}),  # beyond the safe integers
        ("patch", "/v7/device(1)", {"device_name": "x" * 256}),  # Short Text is at most 255 characters
        ("patch", "/v7/release(1)", {"composition": "notjson"}),  # JSON must be an object or array
        ("patch", "/v7/device(1)", ["note"]),  # not an object
        ("put", "/v7/device(1)", {"api_heartbeat_state": 3}),  # number for an Enum
        ("post", "/v7/application", {"app_name": 7, "organization": 1, "is_for__device_type": 1}),
        ("post", "/v7/application", {"app_name": "x", "organization": "acme", "is_for__device_type": 1}),
        (
            "post",
            "/v7/image",
            {
                "image_size": "big",
                "is_stored_at__image_location": "x",
                "status": "x",
                "start_timestamp": "2026-01-01T00:00:00Z",
            },
        ),
    ],
)
async def test_a_body_of_the_wrong_shape_is_400_empty_before_any_hook(client, method, target, body):
    response = await getattr(client, method)(target, headers=ALICE, json=body)
    assert (response.status, await response.read()) == (400, b"")
    assert store_of(client.server.app).get("device", 1)["note"] != 5


async def test_values_the_real_schemas_coerce_pass_validation(client):
    body = {
        "memory_usage": "42",
        "cpu_usage": 7.0,
        "is_online": 1,
        "last_vpn_event": 1767607300000,
        "is_locked_until__date": "2026-03-01T00:00:00.000Z",
        "is_pinned_on__release": "1",
        "logs_channel": 5,
        "note": None,
    }  # unknown keys pass whatever their type; note is nullable
    response = await client.patch("/v7/device(1)", headers=ALICE, json=body)
    assert (response.status, await response.read()) == (200, b"")
    row = (await get(client, "/v7/device(1)?$select=memory_usage,is_online,is_pinned_on__release"))[1]["d"][0]
    assert row == {"memory_usage": 42, "is_online": True, "is_pinned_on__release": {"__id": 1}}


async def test_big_integer_takes_a_number_or_a_numeric_string(client):
    for size in (123, "9223372036854775807"):
        response = await client.post(
            "/v7/image",
            headers=ALICE,
            json={
                "image_size": size,
                "is_stored_at__image_location": "registry/x",
                "status": "success",
                "start_timestamp": "2026-01-01T00:00:00.000Z",
            },
        )
        assert response.status != 400, size


async def test_head_of_a_read_is_the_translators_500(client):
    """pinejs has no HEAD (tests/test_simulator_head.py): a read the GET route answers is a 500 to a HEAD."""
    assert (await client.get("/v7/device(1)?$select=id", headers=ALICE)).status == 200
    for target in ("/v7/device(1)?$select=id", "/v7/device/$count"):
        response = await client.head(target, headers=ALICE)
        assert (response.status, await response.read()) == (500, b"")
    assert (await client.head("/v7/device", headers={})).status == 401
    assert (await client.head("/ping")).status == 200


async def test_a_coerced_value_is_stored_as_the_schema_produced_it(client):
    body = {"memory_usage": "12abc", "cpu_usage": 7.0, "is_online": "0", "last_vpn_event": "1767607300000"}
    response = await client.patch("/v7/device(1)", headers=ALICE, json=body)
    assert (response.status, await response.read()) == (200, b"")
    row = (await get(client, "/v7/device(1)?$select=memory_usage,cpu_usage,is_online,last_vpn_event"))[1]["d"][0]
    assert row == {"memory_usage": 12, "cpu_usage": 7, "is_online": False, "last_vpn_event": "2026-01-05T10:01:40.000Z"}


async def test_validation_comes_after_resource_resolution_and_before_url_translation(client):
    response = await client.post("/v7/no_such_resource", headers=ALICE, json={"note": 5})
    assert (response.status, await response.read()) == (401, b"")
    response = await client.patch("/v7/device?$filter=no_such_field%20eq%201", headers=ALICE, json={"note": 5})
    assert (response.status, await response.read()) == (400, b"")
    response = await client.patch("/v7/device?$filter=no_such_field%20eq%201", headers=ALICE, json={"note": "x"})
    assert (response.status, await response.read()) == (500, b"")


@pytest.mark.parametrize(
    "target",
    [
        "/v7/$metadata",
        "/v7/device?$select=nope",
        "/v7/device(1)?$filter=(",
        "/v7/no_such_resource",
    ],
)
async def test_head_status_matches_get_where_the_get_fails_before_translation(client, target):
    get_status = (await client.get(target, headers=ALICE)).status
    response = await client.head(target, headers=ALICE)
    assert (response.status, await response.read()) == (get_status, b"")
