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
