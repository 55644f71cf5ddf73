"""End-to-end: v6 requests through the running proxy (v6_mode=translate) against a recording v7 upstream.

Each test checks both sides: the v7 request the upstream really received, and the v6 answer the client got.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import unquote

import aiohttp
import pytest
from fixtures.engine.upstream import Reply, V7Fixture
from v6_proxy import AUTH, Env


# ------------------------------------------------------------------------------------------ renames
async def test_pinned_release_renamed_in_select_filter_orderby_and_response(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 2, "is_pinned_on__release": {"__id": 3}}]}))
    status, body = await env.json(
        "GET",
        "/v6/device?$select=id,should_be_running__release&$filter=should_be_running__release eq 3"
        "&$orderby=should_be_running__release asc",
    )
    assert status == 200
    assert body == {"d": [{"id": 2, "should_be_running__release": {"__id": 3}}]}
    assert env.last == (
        "/v7/device?$select=id,is_pinned_on__release&$filter=is_pinned_on__release eq 3"
        "&$orderby=is_pinned_on__release asc"
    )


async def test_v7_computed_should_be_running_release_is_never_shown(env):
    env.fixture.queue(
        Reply(200, {"d": [{"id": 1, "is_pinned_on__release": None, "should_be_running__release": {"__id": 9}}]})
    )
    _status, body = await env.json("GET", "/v6/device?$select=id,should_be_running__release")
    assert body == {"d": [{"id": 1, "should_be_running__release": None}]}


async def test_nested_expand_three_levels_and_lambdas_over_renamed_navigations(env):
    v7_row = {
        "owns__device": [
            {
                "is_pinned_on__release": [
                    {"is_pinned_to__device": [{"id": 7, "actor": {"__id": 70}}], "id": 3, "is_final": False}
                ],
                "id": 7,
            }
        ],
        "id": 1,
    }
    env.fixture.queue(Reply(200, {"d": [v7_row]}))
    status, body = await env.json(
        "GET",
        "/v6/application?$select=id&$expand=owns__device($select=id;$expand=should_be_running__release("
        "$select=id,release_type;$expand=should_be_running_on__device($select=id,actor)))"
        "&$filter=owns__device/any(d:d/should_be_running__release/should_be_running_on__device/any("
        "x:x/should_be_running__release eq 3))",
    )
    assert status == 200
    assert env.last == (
        "/v7/application?$select=id&$expand=owns__device($select=id;$expand=is_pinned_on__release("
        "$select=id,is_final;$expand=is_pinned_to__device($select=id,actor)))"
        "&$filter=owns__device/any(d:d/is_pinned_on__release/is_pinned_to__device/any("
        "x:x/is_pinned_on__release eq 3))"
    )
    assert body == {
        "d": [
            {
                "owns__device": [
                    {
                        "should_be_running__release": [
                            {"should_be_running_on__device": [{"id": 7, "actor": 70}], "id": 3, "release_type": "draft"}
                        ],
                        "id": 7,
                    }
                ],
                "id": 1,
            }
        ]
    }


async def test_device_history_pinned_release_renamed_on_balena_cloud(cloud):
    cloud.fixture.queue(Reply(200, {"d": [{"id": 1, "is_pinned_on__release": {"__id": 4}}]}))
    _status, body = await cloud.json("GET", "/v6/device_history?$select=id,should_be_running__release")
    assert body == {"d": [{"id": 1, "should_be_running__release": {"__id": 4}}]}
    assert cloud.last == "/v7/device_history?$select=id,is_pinned_on__release"


# ------------------------------------------------------------------------------------------ actor
async def test_actor_is_a_number_but_my_application_keeps_the_reference(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 1, "actor": {"__id": 5}}]}))
    _, body = await env.json("GET", "/v6/application?$select=id,actor")
    assert body == {"d": [{"id": 1, "actor": 5}]}
    env.fixture.queue(Reply(200, {"d": [{"id": 1, "actor": {"__id": 5}}]}))
    _, body = await env.json("GET", "/v6/my_application?$select=id,actor")
    assert body == {"d": [{"id": 1, "actor": {"__id": 5}}]}
    env.fixture.queue(Reply(200, {"d": [{"id": 2, "username": "admin", "actor": {"__id": 2}}]}))
    _, body = await env.json("GET", "/v6/user?$select=id,username,actor")
    assert body == {"d": [{"id": 2, "username": "admin", "actor": 2}]}


async def test_expand_actor_passes_through_what_upstream_answers(env):
    env.fixture.queue(Reply(401, None))
    status, _, data = await env.call("GET", "/v6/device?$select=id,actor&$expand=actor($select=id)")
    assert status == 401 and data == b""
    assert env.last == "/v7/device?$select=id,actor&$expand=actor($select=id)"


# ------------------------------------------------------------------------------------------ release
async def test_release_type_in_select_filter_orderby_and_response(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 2, "is_final": False}, {"id": 4, "is_final": True}]}))
    _, body = await env.json(
        "GET",
        "/v6/release?$select=id,release_type&$filter=release_type eq 'draft' or release_type ne null"
        "&$orderby=release_type desc",
    )
    assert body == {"d": [{"id": 2, "release_type": "draft"}, {"id": 4, "release_type": "final"}]}
    assert env.last == "/v7/release?$select=id,is_final&$filter=(is_final eq false) or true&$orderby=is_final desc"


async def test_release_type_in_bodies(env):
    env.fixture.queue(Reply(200, None))
    status, body = await env.json("PATCH", "/v6/release(2)", {"release_type": "final"})
    assert (status, body) == (200, "OK")
    assert env.fixture.v7[-1].json == {"is_final": True}
    status, body = await env.json("POST", "/v6/release", {"release_type": "bogus", "commit": "x"})
    assert (status, body) == (400, 'It is necessary that each release has a release type that is "final" or "draft".')
    status, body = await env.json("POST", "/v6/release", {"release_type": "draft", "is_final": True})
    assert (status, body) == (400, "Conflict between the provided is_final and release_type values")
    assert len(env.fixture.v7) == 1  # refused bodies never reach the upstream


async def test_contract_is_sent_as_jsonb_text(env):
    contract = {"type": "sw.application", "name": "ünïcode", "aa": [1, 2.5, None, True], "b": {"zz": 1, "a": "x\ny"}}
    env.fixture.queue(Reply(200, {"d": [{"id": 1, "contract": contract}, {"id": 2, "contract": None}]}))
    _, body = await env.json("GET", "/v6/release?$select=id,contract")
    assert body["d"][0]["contract"] == (
        '{"b": {"a": "x\\ny", "zz": 1}, "aa": [1, 2.5, null, true], "name": "ünïcode", "type": "sw.application"}'
    )
    assert body["d"][1]["contract"] is None


async def test_contract_string_accepted_in_bodies(env):
    env.fixture.queue(Reply(200, None))
    status, _ = await env.json("PATCH", "/v6/release(1)", {"contract": '{"a": 1}'})
    assert status == 200
    assert env.fixture.v7[-1].json == {"contract": {"a": 1}}
    status, data = await env.json("PATCH", "/v6/release(1)", {"contract": "notjson"})
    assert (status, data) == (400, None)


async def test_image_size_is_a_js_number(env):
    env.fixture.queue(
        Reply(
            200,
            raw=b'{"d":[{"id":1,"image_size":"9223372036854775807"},{"id":2,"image_size":"1234"}]}',
            headers={"Content-Type": "application/json"},
        )
    )
    _, _, data = await env.call("GET", "/v6/image?$select=id,image_size")
    assert data == b'{"d":[{"id":1,"image_size":9223372036854776000},{"id":2,"image_size":1234}]}'


# ------------------------------------------------------------------------------------------ removed fields
async def test_removed_fields_read_null_and_their_navigations_empty_without_asking(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 3}]}))
    _, body = await env.json(
        "GET",
        "/v6/device?$select=id,logs_channel,vpn_address,is_managed_by__device"
        "&$expand=manages__device,is_managed_by__device,gateway_download/$count",
    )
    assert body == {
        "d": [
            {
                "manages__device": [],
                "is_managed_by__device": [],
                "gateway_download": 0,
                "id": 3,
                "logs_channel": None,
                "vpn_address": None,
            }
        ]
    }
    assert env.last == "/v7/device?$select=id"


async def test_expanded_single_removed_navigation_is_an_empty_array(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    _, body = await env.json(
        "GET", "/v6/application?$select=id&$expand=depends_on__application,is_depended_on_by__application"
    )
    assert body == {"d": [{"depends_on__application": [], "is_depended_on_by__application": [], "id": 1}]}
    assert env.last == "/v7/application?$select=id"


@pytest.mark.parametrize(
    "v6_filter, v7_filter",
    [
        ("logs_channel eq null", "true"),
        ("logs_channel ne null", "false"),
        ("vpn_address eq 'x'", "false"),
        ("vpn_address ne 'x'", "true"),
        ("startswith(logs_channel,'a')", "false"),
        ("not(startswith(logs_channel,'a'))", "false"),
        ("manages__device/any(d:d/id eq 1)", "false"),
        ("manages__device/all(d:d/id eq 1)", "true"),
        ("id eq 1 and is_managed_by__device eq null", "id eq 1 and true"),
    ],
)
async def test_filters_on_removed_fields_become_literals(env, v6_filter, v7_filter):
    env.fixture.queue(Reply(200, {"d": []}))
    status, _ = await env.json("GET", f"/v6/device?$select=id&$filter={v6_filter}")
    assert status == 200
    assert env.last == f"/v7/device?$select=id&$filter={v7_filter}"


async def test_body_guards_for_removed_links(env):
    status, data = await env.json("PATCH", "/v6/device(2)", {"is_managed_by__device": 1})
    assert (status, data) == (400, None)
    status, data = await env.json("PATCH", "/v6/application(1)", {"depends_on__application": 2})
    assert (status, data) == (400, None)
    assert env.fixture.v7 == []
    env.fixture.queue(Reply(200, None))
    status, data = await env.json(
        "PATCH", "/v6/device(2)", {"is_managed_by__device": None, "logs_channel": "x", "should_be_running__release": 4}
    )
    assert (status, data) == (200, "OK")
    assert env.fixture.v7[-1].json == {"is_managed_by__device": None, "logs_channel": "x", "is_pinned_on__release": 4}


# ------------------------------------------------------------------------------------------ unknown names
async def test_v7_only_names_are_dropped_from_select_and_logged(env, log_output):
    env.fixture.queue(Reply(200, {"d": [{"id": 3}]}))
    status, body = await env.json(
        "GET",
        "/v6/device?$select=id,is_pinned_on__release,changed_api_heartbeat_state_on__date&$expand=should_manage__device",
        headers={"User-Agent": "old-cli/1.0", "X-Balena-Client": "balena-cli"},
    )
    assert (status, body) == (200, {"d": [{"id": 3}]})
    assert env.last == "/v7/device?$select=id"
    events = log_output.events("unknown_field")
    assert {(e["name"], e["resource"], e["option"]) for e in events} == {
        ("is_pinned_on__release", "device", "$select"),
        ("changed_api_heartbeat_state_on__date", "device", "$select"),
        ("should_manage__device", "device", "$expand"),
    }
    assert all(
        e["user_agent"] == "old-cli/1.0" and e["balena_client"] == "balena-cli" and e["credential"] for e in events
    )
    assert "user-token" not in log_output.text


async def test_unknown_names_in_filter_and_orderby_are_400(env):
    status, body = await env.json("GET", "/v6/device?$filter=is_pinned_on__release eq 1")
    assert (status, body) == (400, "Unknown field 'is_pinned_on__release' on 'device' in $filter")
    status, body = await env.json("GET", "/v6/release?$orderby=should_manage__device/$count desc")
    assert (status, body) == (400, "Unknown field 'should_manage__device' on 'release' in $orderby")
    status, body = await env.json("GET", "/v6/application?$filter=owns__device/any(d:d/nope eq 1)")
    assert (status, body) == (400, "Unknown field 'nope' on 'device' in $filter")
    assert env.fixture.v7 == []


async def test_unknown_names_rejected_when_configured(serve_app, start_proxy):
    fixture = V7Fixture()
    running = await start_proxy(
        await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena", unknown_names="reject"
    )
    e = Env(running.url, fixture, running.app)
    status, body = await e.json("GET", "/v6/device?$select=id,is_pinned_on__release")
    assert (status, body) == (400, "Unknown field 'is_pinned_on__release' on 'device' in $select")


# ------------------------------------------------------------------------------------------ resources
async def test_my_application_is_application_with_direct_access_filter(env):
    env.fixture.queue(Reply(200, {"d": []}))
    await env.json("GET", "/v6/my_application?$select=id&$filter=app_name eq 'a' or app_name eq 'b'")
    assert env.last == (
        "/v7/application?$select=id&$filter=(app_name eq 'a' or app_name eq 'b') and "
        "is_directly_accessible_by__user/any(dau:true)"
    )


async def test_unknown_resources_and_gateway_download_writes_are_401(env):
    for method, path in [
        ("GET", "/v6/release_asset"),
        ("GET", "/v6/nope"),
        ("POST", "/v6/gateway_download"),
        ("PATCH", "/v6/gateway_download(1)"),
        ("DELETE", "/v6/image__is_downloaded_by__device(1)"),
    ]:
        status, _, data = await env.call(method, path)
        assert (status, data) == (401, b""), path
    assert env.fixture.v7 == []


async def test_config_variable_resource_names(env):
    env.fixture.queue(
        Reply(200, {"d": [{"id": 1, "name": "A"}]}), Reply(200, {"d": [{"device__has__config_var_name": [], "id": 1}]})
    )
    _, body = await env.json("GET", "/v6/device__has__name?$select=id,name")
    assert env.last == "/v7/device__has__config_var_name?$select=id,name"
    _, body = await env.json("GET", "/v6/device?$select=id&$expand=device__has__name")
    assert env.last == "/v7/device?$select=id&$expand=device__has__config_var_name"
    assert body == {"d": [{"device__has__name": [], "id": 1}]}


# ------------------------------------------------------------------------------------------ bodies
async def test_post_device_type_slug_is_looked_up_with_callers_credentials(env):
    env.fixture.route("/v7/device_type?", Reply(200, {"d": [{"id": 8, "slug": "raspberrypi3"}]}))
    env.fixture.queue(
        Reply(
            201,
            {"id": 5, "is_of__device_type": {"__id": 8}, "actor": {"__id": 9}},
            headers={"Location": "/v7/device(@id)?@id=5"},
        )
    )
    status, headers, data = await env.call(
        "POST", "/v6/device", {"device_type": "raspberrypi3", "belongs_to__application": 1}
    )
    assert status == 201
    assert headers["Location"] == "/v6/device(@id)?@id=5"
    lookup = [r for r in env.fixture.received if r.path_qs.startswith("/v7/device_type")]
    assert unquote(lookup[0].path_qs) == (
        "/v7/device_type?$top=1&$select=id,slug&$filter=device_type_alias/any(dta:dta/is_referenced_by__alias eq 'raspberrypi3')"
    )
    assert lookup[0].headers["Authorization"] == AUTH["Authorization"]
    assert env.fixture.v7[-1].json == {"is_of__device_type": 8, "belongs_to__application": 1}
    assert json.loads(data)["actor"] == 9
    # cached per credential: a second POST does not look it up again
    env.fixture.queue(Reply(201, {"id": 6}))
    await env.call("POST", "/v6/device", {"device_type": "raspberrypi3", "belongs_to__application": 1})
    assert len([r for r in env.fixture.received if r.path_qs.startswith("/v7/device_type")]) == 1


async def test_location_names_the_resource_as_the_client_spelled_it(env):
    env.fixture.queue(
        Reply(201, {"id": 5, "name": "A"}, headers={"Location": "/v7/device__has__config_var_name(@id)?@id=5"}),
        Reply(201, {"id": 6}, headers={"Location": "/v7/application(@id)?@id=6"}),
    )
    status, headers, _ = await env.call("POST", "/v6/device__has__name", {"device": 1, "name": "A", "value": "b"})
    assert (status, headers["Location"]) == (201, "/v6/device__has__name(@id)?@id=5")
    status, headers, _ = await env.call("POST", "/v6/my_application", {"app_name": "x", "organization": 1})
    assert (status, headers["Location"]) == (201, "/v6/my_application(@id)?@id=6")
    assert env.last == "/v7/application"  # writes go to application, no filter on POST


async def test_post_unknown_device_type_is_404(env):
    env.fixture.route("/v7/device_type?", Reply(200, {"d": []}))
    status, body = await env.json(
        "POST", "/v6/application", {"device_type": "nonexistent-dt", "app_name": "x", "organization": 1}
    )
    assert (status, body) == (404, "Unknown device type nonexistent-dt")


async def test_post_application_without_organization_uses_personal_one(env):
    env.fixture.route(
        "/v7/organization?", Reply(200, {"d": [{"id": 1, "handle": "acme"}, {"id": 7, "handle": "admin"}]})
    )
    env.fixture.queue(Reply(201, {"id": 3, "organization": {"__id": 7}}))
    status, _body = await env.json("POST", "/v6/application", {"app_name": "x", "is_for__device_type": 1})
    assert status == 201
    assert env.fixture.v7[-1].json == {"app_name": "x", "is_for__device_type": 1, "organization": 7}


async def test_post_application_without_a_choosable_organization_is_400(env):
    env.fixture.route(
        "/v7/organization?", Reply(200, {"d": [{"id": 1, "handle": "acme"}, {"id": 2, "handle": "other"}]})
    )
    status, body = await env.json("POST", "/v6/application", {"app_name": "x"})
    assert (status, body) == (400, "organization is required: none could be chosen for this user; pass organization")


# ------------------------------------------------------------------------------------------ envelopes
async def test_empty_success_bodies_become_ok_and_created(env):
    env.fixture.queue(Reply(200, None), Reply(201, None), Reply(200, None))
    assert await env.json("DELETE", "/v6/device_environment_variable(1)") == (200, "OK")
    assert await env.json("POST", "/v6/device_tag", {"device": 1, "tag_key": "a", "value": "b"}) == (201, "Created")
    status, headers, data = await env.call(
        "PUT", "/v6/device_tag(1)", raw_body=b'{"value": "c"}', headers={"Content-Type": "application/json"}
    )
    assert (status, data) == (200, b'"OK"')
    assert headers["Content-Type"].startswith("application/json")


async def test_metadata_uris_rewritten(env):
    env.fixture.queue(
        Reply(
            200,
            {
                "d": [
                    {
                        "__metadata": {"uri": "/v7/device__has__config_var_name(@id)?@id=1"},
                        "id": 1,
                        "device": {"__deferred": {"uri": "/v7/device(@id)?@id=4"}, "__id": 4},
                    }
                ]
            },
        )
    )
    _, body = await env.json("GET", "/v6/device__has__name?$select=id,device&$format=json;odata.metadata=full")
    row = body["d"][0]
    assert row["__metadata"]["uri"] == "/v6/device__has__name(@id)?@id=1"
    assert row["device"]["__deferred"]["uri"] == "/v6/device(@id)?@id=4"


async def test_v6_key_order_expands_first_then_select_order(env):
    """Decision 11: expanded navigations first in $expand order, then $select order."""
    env.fixture.queue(
        Reply(
            200,
            raw=(
                b'{"d":[{"is_of__device_type":[{"slug":"rpi","id":1}],"belongs_to__application":[],'
                b'"uuid":"u","id":3,"device_name":"n","is_pinned_on__release":null}]}'
            ),
            headers={"Content-Type": "application/json"},
        )
    )
    _, _, data = await env.call(
        "GET",
        "/v6/device?$select=device_name,should_be_running__release,logs_channel,id,uuid"
        "&$expand=belongs_to__application($select=id),manages__device,is_of__device_type($select=slug,id)",
    )
    row = json.loads(data)["d"][0]
    assert list(row) == [
        "belongs_to__application",
        "manages__device",
        "is_of__device_type",
        "device_name",
        "should_be_running__release",
        "logs_channel",
        "id",
        "uuid",
    ]
    assert list(row["is_of__device_type"][0]) == ["slug", "id"]


async def test_v6_key_order_without_select_follows_the_v6_model(env):
    env.fixture.queue(
        Reply(
            200,
            {
                "d": [
                    {
                        "invalidation_reason": None,
                        "is_final": True,
                        "id": 1,
                        "is_passing_tests": True,
                        "created_at": "t",
                        "cloud_only_field": 1,
                        "contract": None,
                    }
                ]
            },
        )
    )
    _, _, data = await env.call("GET", "/v6/release(1)")
    row = json.loads(data)["d"][0]
    # v6 key order; a field the v6 model does not name keeps its place after the key before it upstream
    assert list(row) == [
        "created_at",
        "cloud_only_field",
        "id",
        "contract",
        "is_passing_tests",
        "release_type",
        "is_final",
        "invalidation_reason",
    ]


async def test_options_is_answered_by_the_api_under_v7(env):
    """pinejs answers ``OPTIONS /v7/*`` 200 empty (and the API's CORS middleware any preflight): the proxy
    asks it rather than answering for it (tests/test_v6_browser_headers.py has the preflight's headers)."""
    env.fixture.queue(Reply(200, None))
    status, _, data = await env.call("OPTIONS", "/v6/device")
    assert (status, data) == (200, b"")
    assert [(r.method, r.path_qs) for r in env.fixture.v7] == [("OPTIONS", "/v7/device")]


async def test_action_paths_are_translated_like_resources(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    status, _body = await env.json("POST", "/v6/device(1)/canAccess", {"action": "update"})
    assert status == 200
    assert env.last == "/v7/device(1)/canAccess"
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    await env.json("POST", "/v6/device__has__name(1)/canAccess", {"action": "update"})
    assert env.last == "/v7/device__has__config_var_name(1)/canAccess"


async def test_translated_responses_are_gzipped_when_accepted(env):
    rows = [{"id": i, "is_pinned_on__release": None} for i in range(200)]
    env.fixture.queue(Reply(200, {"d": rows}))
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(
            env.url + "/v6/device?$select=id,should_be_running__release", headers={"Accept-Encoding": "gzip"}
        ) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            body = json.loads(gzip.decompress(await resp.read()))
    assert body["d"][0] == {"id": 0, "should_be_running__release": None}


async def test_write_bodies_are_capped(serve_app, start_proxy):
    fixture = V7Fixture()
    running = await start_proxy(
        await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena", max_body_bytes=1000
    )
    e = Env(running.url, fixture, running.app)
    status, _, _ = await e.call(
        "PATCH",
        "/v6/device(1)",
        raw_body=b'{"note": "' + b"x" * 2000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 413
    assert fixture.v7 == []


async def test_malformed_url_is_400_with_apikey_masked(env):
    status, body = await env.json("GET", "/v6/device?$filter=id eq&apikey=SECRET123")
    assert status == 400
    assert body == "Malformed url: '/v6/device?$filter=id%20eq&apikey=***'"
    status, body = await env.json("GET", "/v6/device?$filter=name eq '%E0%A4%A'")
    assert status == 400 and body.startswith("Malformed url: '/v6/device")


async def test_upstream_errors_pass_through_unchanged(env):
    env.fixture.queue(Reply(409, '"uuid" must be unique.'), Reply(500, None))
    assert await env.json("POST", "/v6/device", {"uuid": "x", "should_be_running__release": 1}) == (
        409,
        '"uuid" must be unique.',
    )
    status, _, data = await env.call("GET", "/v6/device?$select=id")
    assert (status, data) == (500, b"")


async def test_metadata_document_is_served_as_a_json_string(env):
    status, headers, data = await env.call("GET", "/v6/$metadata")
    assert status == 200
    assert headers["Content-Type"] == "xml"
    xml = (Path(__file__).parent / "fixtures" / "engine" / "v6-metadata.xml").read_text(encoding="utf-8")
    assert json.loads(data) == xml
    assert env.fixture.v7 == []


async def test_log_extra_records_the_rules_that_fired(env, log_output):
    env.fixture.queue(Reply(200, {"d": []}))
    await env.json("GET", "/v6/device?$select=id,should_be_running__release")
    event = [e for e in log_output.events("request") if e.get("path", "").startswith("/v6/device")][-1]
    assert event["translated"] is True
    assert "device.should_be_running__release.rename" in event["v6_features"]


async def test_upstream_metadata_is_merged_at_startup(serve_app, start_proxy):
    fixture = V7Fixture()
    xml = (Path(__file__).parent / "fixtures" / "engine" / "v6-metadata.xml").read_text(encoding="utf-8")
    fixture.metadata = xml.replace(
        '<Property Name="note" Type="Edm.String" Nullable="true" />',
        '<Property Name="note" Type="Edm.String" Nullable="true" />\n'
        '<Property Name="brand_new_field" Type="Edm.String" Nullable="true" />',
        1,
    )
    running = await start_proxy(
        await serve_app(fixture.app),
        v6_mode="translate",
        upstream_flavour="open-balena",
        upstream_api_key="metadata-key",
    )
    e = Env(running.url, fixture, running.app)
    fixture.queue(Reply(200, {"d": [{"id": 1, "brand_new_field": "x"}]}))
    status, body = await e.json("GET", "/v6/device?$select=id,brand_new_field")
    assert (status, body) == (200, {"d": [{"id": 1, "brand_new_field": "x"}]})
    assert e.last == "/v7/device?$select=id,brand_new_field"
    meta = [r for r in fixture.received if r.path_qs == "/v7/$metadata"]
    assert meta and meta[0].headers["Authorization"] == "Bearer metadata-key"


# ------------------------------------------------------------------------------------------ $expand tail paths
async def test_expand_tail_path_is_translated_at_both_levels(env):
    """`a($select=x)/b` means "expand a, and inside it b": the tail is renamed with a's target as its resource
    and the response keys are renamed back at both levels."""
    env.fixture.queue(
        Reply(
            200, {"d": [{"owns__device": [{"is_pinned_on__release": [{"id": 3, "is_final": True}], "id": 7}], "id": 1}]}
        )
    )
    status, body = await env.json(
        "GET", "/v6/application?$select=id&$expand=owns__device($select=id)/should_be_running__release"
    )
    assert status == 200
    assert env.last == "/v7/application?$select=id&$expand=owns__device($select=id;$expand=is_pinned_on__release)"
    assert body == {
        "d": [
            {
                "owns__device": [
                    {"should_be_running__release": [{"id": 3, "release_type": "final", "is_final": True}], "id": 7}
                ],
                "id": 1,
            }
        ]
    }


async def test_expand_tail_without_options_and_two_deep(env):
    env.fixture.queue(
        Reply(
            200,
            {
                "d": [
                    {
                        "owns__device": [
                            {
                                "is_pinned_on__release": [
                                    {"is_pinned_to__device": [{"id": 7, "actor": {"__id": 70}}], "id": 3}
                                ]
                            }
                        ],
                        "id": 1,
                    }
                ]
            },
        )
    )
    status, body = await env.json(
        "GET", "/v6/application?$select=id&$expand=owns__device/should_be_running__release/should_be_running_on__device"
    )
    assert status == 200
    # the tail's resources are the targets of the navigations before it (device, then release)
    assert env.last.startswith(
        "/v7/application?$select=id&$expand=owns__device($expand=is_pinned_on__release($expand=is_pinned_to__device"
    )
    device = body["d"][0]["owns__device"][0]
    release = device["should_be_running__release"][0]
    assert next(iter(device)) == "should_be_running__release" and "is_pinned_on__release" not in device
    assert release["should_be_running_on__device"][0]["actor"] == 70 and "is_pinned_to__device" not in release


async def test_expand_tail_removed_unknown_and_counted_navigations(env, log_output):
    env.fixture.queue(Reply(200, {"d": [{"owns__device": [{"id": 7}], "id": 1}]}))
    _, body = await env.json("GET", "/v6/application?$select=id&$expand=owns__device($select=id)/manages__device")
    assert env.last == "/v7/application?$select=id&$expand=owns__device($select=id)"
    assert body == {"d": [{"owns__device": [{"manages__device": [], "id": 7}], "id": 1}]}
    env.fixture.queue(Reply(200, {"d": [{"owns__device": [{"id": 7}], "id": 1}]}))
    _, body = await env.json("GET", "/v6/application?$select=id&$expand=owns__device($select=id)/is_pinned_on__release")
    assert env.last == "/v7/application?$select=id&$expand=owns__device($select=id)"
    assert body == {"d": [{"owns__device": [{"id": 7}], "id": 1}]}
    assert ("is_pinned_on__release", "device", "$expand") in {
        (e["name"], e["resource"], e["option"]) for e in log_output.events("unknown_field")
    }
    env.fixture.queue(Reply(200, {"d": [{"owns__device": [{"is_pinned_on__release": 1, "id": 7}], "id": 1}]}))
    _, body = await env.json(
        "GET", "/v6/application?$select=id&$expand=owns__device($select=id)/should_be_running__release/$count"
    )
    assert (
        env.last == "/v7/application?$select=id&$expand=owns__device($select=id;$expand=is_pinned_on__release/$count)"
    )
    assert body == {"d": [{"owns__device": [{"should_be_running__release": 1, "id": 7}], "id": 1}]}


async def test_a_true_constant_reads_true_as_a_condition(cloud):
    """supervisor_release.is_public is the constant true in v6: `$filter=is_public` keeps every row."""
    for flt, literal in [
        ("is_public", "true"),
        ("not(is_public)", "false"),
        ("true eq is_public", "true"),
        ("is_public in (false,null)", "false"),
    ]:
        cloud.fixture.queue(Reply(200, {"d": []}))
        status, _ = await cloud.json("GET", f"/v6/supervisor_release?$select=id&$filter={flt}")
        assert status == 200
        assert cloud.last.startswith(f"/v7/release?$select=id&$filter={literal} and ("), flt
