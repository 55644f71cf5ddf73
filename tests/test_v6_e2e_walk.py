"""End-to-end: v6 URLs the walk used to mistranslate, through the running proxy against the recording v7 upstream.

Each test checks the v7 request the upstream received (``env.last``) and what the v6 client got.
"""

from __future__ import annotations

from fixtures.engine.upstream import Reply


async def translated(env, target: str) -> str:
    """GET /v6/<target> (the upstream answers no row): the v7 target the upstream received."""
    env.fixture.queue(Reply(200, {"d": []}))
    status, _ = await env.json("GET", f"/v6/{target}")
    assert status == 200, target
    return env.last


# ------------------------------------------------------------------------------------------ separators
async def test_a_replaced_operand_keeps_a_valid_separator(env):
    """Clients may write `(a)and(b)`: a literal put in place of `(b)` must not make `andfalse`, which the
    server reads as a name and rejects."""
    for v6, v7 in [
        ("(device_name eq 'a')and(is_managed_by__device eq 1)", "(device_name eq 'a') and false"),
        ("device_name eq 'a'or(logs_channel eq 'x')", "device_name eq 'a' or false"),
    ]:
        env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
        status, body = await env.json("GET", f"/v6/device?$select=id&$filter={v6}")
        assert (status, body) == (200, {"d": [{"id": 1}]})
        assert env.last == f"/v7/device?$select=id&$filter={v7}"


# ------------------------------------------------------------------------------------------ values
async def test_not_binds_one_value_and_its_operand_is_translated(env):
    """`not a eq b` is `(not a) eq b`: the name under `not` is still renamed."""
    assert await translated(env, "device?$select=id&$filter=not should_be_running__release eq 1") == (
        "/v7/device?$select=id&$filter=not is_pinned_on__release eq 1"
    )


async def test_a_condition_compared_as_a_value(env):
    """`(a or b) eq true`: constants fold when the result is two-valued; a NULL there has no v7 spelling."""
    assert await translated(env, "device?$select=id&$filter=(logs_channel eq null or id eq 1) eq true") == (
        "/v7/device?$select=id&$filter=(true or id eq 1) eq true"
    )
    status, body = await env.json(
        "GET", "/v6/device?$select=id&$filter=(startswith(logs_channel,'a') or id eq 1) eq true"
    )
    assert (status, body) == (400, "a condition on a removed field cannot be used as a value through the v6 proxy")


async def test_always_empty_navigation_as_a_value_is_refused_not_a_crash(env):
    for flt in ["manages__device eq 1", "not(manages__device in (1,2))"]:
        status, body = await env.json("GET", f"/v6/device?$select=id&$filter={flt}")
        assert (status, body) == (
            400,
            "manages__device is a navigation and cannot be used as a value through the v6 proxy",
        )
    assert env.fixture.v7 == []


async def test_derived_value_compared_with_a_duration_is_false(env):
    assert await translated(env, "device?$select=id&$filter=overall_status eq duration'P1D'") == (
        "/v7/device?$select=id&$filter=false"
    )


async def test_all_over_a_rewritten_view_navigation_is_refused(cloud):
    """A translator's filter hook rewrites `any()`; `all()` over the same navigation has no rewrite."""
    status, body = await cloud.json(
        "GET", "/v6/supervisor_release?$select=id&$filter=is_for__device_type/all(dt:dt/slug eq 'raspberrypi3')"
    )
    assert (status, body) == (400, "is_for__device_type cannot be used with a lambda through the v6 proxy")
    assert cloud.fixture.v7 == []


# ------------------------------------------------------------------------------------------ always-NULL links
async def test_a_path_through_an_always_null_link_reads_null(env):
    """pinejs (odata-to-abstract-sql >= 8) LEFT JOINs every navigation of a $filter/$orderby path: through a
    v6 link that is always NULL the row stays and the value at the end of the path is NULL (`eq 'x'` is
    FALSE as IS NOT NULL AND =, `eq null` TRUE, a lambda below it sees no member, a $count below it is 0)."""
    for v6, v7 in [
        ("device?$select=id&$filter=not(is_managed_by__device/device_name eq 'x')", "device?$select=id&$filter=true"),
        ("device?$select=id&$filter=is_managed_by__device/device_name eq null", "device?$select=id&$filter=true"),
        (
            "device?$select=id&$filter=id eq 1 or manages__device/device_name eq 'x'",
            "device?$select=id&$filter=id eq 1 or false",
        ),
        (
            "device?$select=id&$filter=startswith(is_managed_by__device/device_name,'x') or id eq 1",
            "device?$select=id&$filter=id eq 1",
        ),  # NULL or E: TRUE exactly where E is
        (
            "device?$select=id&$filter=is_managed_by__device/device_tag/any(t:t/value eq 'x')",
            "device?$select=id&$filter=false",
        ),
        (
            "device?$select=id&$filter=is_managed_by__device/device_tag/all(t:t/value eq 'x')",
            "device?$select=id&$filter=true",
        ),
        ("device?$select=id&$filter=is_managed_by__device/device_tag/$count eq 0", "device?$select=id&$filter=0 eq 0"),
        (
            "application?$select=id&$filter=owns__device/all(d:d/manages__device/device_name eq 'x')",
            "application?$select=id&$filter=owns__device/all(d:false)",
        ),
        (
            "application?$select=id&$filter=owns__device/any(d:not(d/manages__device/device_name eq 'x'))",
            "application?$select=id&$filter=owns__device/any(d:true)",
        ),
        ("device?$select=id&$orderby=is_managed_by__device/device_name desc", "device?$select=id"),
        (
            "device?$select=id&$orderby=is_managed_by__device/device_name desc,id asc",
            "device?$select=id&$orderby=id asc",
        ),
        (
            "device?$select=id&$expand=belongs_to__application($select=id;$filter=depends_on__application/app_name eq 'x')",
            "device?$select=id&$expand=belongs_to__application($select=id;$filter=false)",
        ),
    ]:
        assert await translated(env, v6) == f"/v7/{v7}", v6


async def test_an_unknown_name_below_an_always_null_link_is_still_400(env):
    status, body = await env.json("GET", "/v6/device?$select=id&$filter=is_managed_by__device/nope eq 'x'")
    assert (status, body) == (400, "Unknown field 'nope' on 'device' in $filter")
    status, body = await env.json("GET", "/v6/device?$select=id&$orderby=manages__device/nope asc")
    assert (status, body) == (400, "Unknown field 'nope' on 'device' in $orderby")
    assert env.fixture.v7 == []


async def test_a_constant_at_the_end_of_a_path_is_still_a_value(env):
    assert await translated(
        env, "application?$select=id&$filter=owns__device/any(d:d/is_managed_by__device eq null)"
    ) == ("/v7/application?$select=id&$filter=owns__device/any(d:true)")
    status, body = await env.json("GET", "/v6/device?$select=id&$filter=manages__device eq null")
    assert (status, body) == (400, "manages__device is a navigation and cannot be used as a value through the v6 proxy")


async def test_orderby_a_derived_value_at_the_end_of_a_path(env):
    assert await translated(env, "device?$select=id&$orderby=should_be_running__release/release_type desc") == (
        "/v7/device?$select=id&$orderby=is_pinned_on__release/is_final desc"
    )


# ------------------------------------------------------------------------------------------ $select paths
async def test_select_path_is_renamed_and_its_key_renamed_back(env):
    """`$select=nav/name` answers the name under its own key (pinejs joins nav into the query)."""
    env.fixture.queue(Reply(200, {"d": [{"id": 1, "is_pinned_on__release": {"__id": 3}}]}))
    status, body = await env.json(
        "GET", "/v6/release?$select=id,should_be_running_on__device/should_be_running__release"
    )
    assert env.last == "/v7/release?$select=id,is_pinned_to__device/is_pinned_on__release"
    assert (status, body) == (200, {"d": [{"id": 1, "should_be_running__release": {"__id": 3}}]})
    # a derived value at the end of the path: the link expanded down to that value (with its helpers)
    env.fixture.queue(Reply(200, {"d": [{"id": 1, "is_pinned_on__release": [{"is_final": False}]}, {"id": 2}]}))
    status, body = await env.json("GET", "/v6/device?$select=id,should_be_running__release/release_type")
    assert env.last == "/v7/device?$select=id&$expand=is_pinned_on__release($select=is_final)"
    assert (status, body) == (200, {"d": [{"id": 1, "release_type": "draft"}, {"id": 2, "release_type": None}]})


async def test_select_path_through_an_always_null_link_is_null(env, log_output):
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    status, body = await env.json("GET", "/v6/device?$select=id,is_managed_by__device/device_name")
    assert env.last == "/v7/device?$select=id"
    assert (status, body) == (200, {"d": [{"id": 1, "device_name": None}]})
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    status, body = await env.json("GET", "/v6/device?$select=id,manages__device/nope")
    assert (status, body) == (200, {"d": [{"id": 1}]})
    assert ("nope", "device", "$select") in {
        (e["name"], e["resource"], e["option"]) for e in log_output.events("unknown_field")
    }


# ------------------------------------------------------------------------------------------ resource paths
async def test_navigation_from_a_filtered_resource_is_refused(env):
    """my_application is application narrowed by a filter; `/my_application(1)/owns__device` cannot carry it."""
    status, body = await env.json("GET", "/v6/my_application(1)/owns__device?$select=id")
    assert (status, body) == (400, "my_application cannot be used with a navigation path through the v6 proxy")
    assert env.fixture.v7 == []


# ------------------------------------------------------------------------------------------ in lists
async def test_in_list_with_null_on_a_derived_value_is_null_where_nothing_matches(env):
    """SQL: `x in ('final', null)` is NULL (not FALSE) for a draft, so under not() it keeps no row."""
    for v6, v7 in [
        ("not(release_type in ('x',null))", "false"),
        ("not(release_type in ('final',null))", "false"),
        ("not(release_type in ('final','x'))", "not(((is_final eq true)))"),
    ]:
        assert await translated(env, f"release?$select=id&$filter={v6}") == f"/v7/release?$select=id&$filter={v7}", v6
    # compared as a value it is evaluated per release_type case (NULL eq true is FALSE: IS NOT DISTINCT FROM)
    assert await translated(env, "release?$select=id&$filter=(release_type in ('final',null)) eq true") == (
        "/v7/release?$select=id&$filter=is_final eq true"
    )


# ------------------------------------------------------------------------------------------ unknown prefix
async def test_an_unknown_path_prefix_is_skipped_as_the_server_skips_it(env):
    """odata-to-abstract-sql reads `z/name` as `name` when `z` is neither a lambda variable nor a navigation
    (its Property() ignores the failed look-up), in $filter, lambdas and $orderby; the v7 path drops `z` too
    (v7 might know the name). Issue 12 item 4."""
    for v6, v7 in [
        (
            "application?$select=id&$filter=owns__device/any(d:z/should_be_running__release eq 1)",
            "application?$select=id&$filter=owns__device/any(d:is_pinned_on__release eq 1)",
        ),
        ("device?$select=id&$filter=z/y/device_name eq 'a'", "device?$select=id&$filter=device_name eq 'a'"),
        (
            "device?$select=id&$filter=changed_api_heartbeat_state_on__date/device_name eq 'a'",
            "device?$select=id&$filter=device_name eq 'a'",
        ),
        ("device?$select=id&$orderby=z/device_name desc", "device?$select=id&$orderby=device_name desc"),
        (
            "device?$select=id&$filter=z/logs_channel eq null",
            "device?$select=id&$filter=true",
        ),
    ]:
        assert await translated(env, v6) == f"/v7/{v7}", v6
    # the last name is still checked
    status, body = await env.json("GET", "/v6/device?$select=id&$filter=z/nope eq 'x'")
    assert (status, body) == (400, "Unknown field 'nope' on 'device' in $filter")
