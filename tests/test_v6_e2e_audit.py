"""End-to-end: findings of the 01:07 audit, through the running proxy against the recording v7 upstream.

Each test checks the v7 request the upstream received (``env.last``) and what the v6 client got.
"""

from __future__ import annotations

from fixtures.engine.upstream import Reply
from test_v6_e2e import Env, env  # noqa: F401  (the proxy + recording upstream fixture)
from fixtures.engine.upstream import V7Fixture

import pytest


@pytest.fixture
async def strict(serve_app, start_proxy):
    """The proxy with ``unknown_names = "reject"``."""
    fixture = V7Fixture()
    running = await start_proxy(await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena",
                                unknown_names="reject")
    return Env(running.url, fixture, running.app)


# ------------------------------------------------------------------------------------------ (c) injected key
async def test_select_of_only_unknown_names_strips_the_key_the_proxy_asked_for(env, log_output):  # noqa: F811
    """Every selected name dropped (decision 1): the proxy still needs one name for v7's $select, and
    strips it again, as it does when every selected name is a v6 constant."""
    env.fixture.queue(Reply(200, {"d": [{"id": 1}, {"id": 2}]}))
    status, body = await env.json("GET", "/v6/device?$select=nope")
    assert (status, body) == (200, {"d": [{}, {}]})
    assert env.last == "/v7/device?$select=id"
    assert ("nope", "device", "$select") in {
        (e["name"], e["resource"], e["option"]) for e in log_output.events("unknown_field")}
    # the same inside an expanded navigation
    env.fixture.queue(Reply(200, {"d": [{"owns__device": [{"id": 7}], "id": 1}]}))
    status, body = await env.json("GET", "/v6/application?$select=id&$expand=owns__device($select=nope,is_pinned_on__release)")
    assert (status, body) == (200, {"d": [{"owns__device": [{}], "id": 1}]})
    assert env.last == "/v7/application?$select=id&$expand=owns__device($select=id)"


async def test_select_of_the_key_alone_is_still_answered_as_is(env):  # noqa: F811
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    status, body = await env.json("GET", "/v6/device?$select=id,nope")
    assert (status, body) == (200, {"d": [{"id": 1}]})
    assert env.last == "/v7/device?$select=id"


# ------------------------------------------------------------------------------------------ (d) fields in $expand
async def test_a_non_navigation_in_expand_is_an_unknown_name(env, log_output):  # noqa: F811
    """Only navigations can be expanded; a field there is unknown (decision 1): dropped, never sent to v7
    (which answers 500), and logged."""
    cases = [
        ("device?$select=id&$expand=overall_status", "/v7/device?$select=id", ("overall_status", "device")),
        ("device?$select=id&$expand=device_name", "/v7/device?$select=id", ("device_name", "device")),
        ("device?$select=id&$expand=logs_channel/$count", "/v7/device?$select=id", ("logs_channel", "device")),
        ("device?$select=id&$expand=should_be_running__release/release_type",
         "/v7/device?$select=id&$expand=is_pinned_on__release", ("release_type", "release")),
        ("device?$select=id&$expand=should_be_running__release($select=id;$expand=contract)",
         "/v7/device?$select=id&$expand=is_pinned_on__release($select=id)", ("contract", "release")),
    ]
    for target, v7, unknown in cases:
        env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
        status, body = await env.json("GET", f"/v6/{target}")
        assert status == 200, target
        assert env.last == v7, target
        assert (*unknown, "$expand") in {
            (e["name"], e["resource"], e["option"]) for e in log_output.events("unknown_field")}, target
    assert body == {"d": [{"id": 1}]}


async def test_a_non_navigation_in_expand_is_400_when_rejecting(strict):
    status, body = await strict.json("GET", "/v6/device?$select=id&$expand=overall_status")
    assert (status, body) == (400, "Unknown field 'overall_status' on 'device' in $expand")
    assert strict.fixture.v7 == []
