"""End-to-end, unknown names and resource keys, through the running proxy against the recording v7 upstream:
a $select of only unknown names still selects (and strips again) the key the proxy asks for; a field in
$expand is an unknown name (dropped and logged, or 400 when rejecting); the key the proxy selects, and the
one v6 $metadata states, is each resource's own.

Each test checks the v7 request the upstream received (``env.last``) and what the v6 client got.
"""

from __future__ import annotations

from importlib import resources

import pytest
from fixtures.engine.upstream import Reply, V7Fixture
from v6_proxy import Env


@pytest.fixture
async def strict(serve_app, start_proxy):
    """The proxy with ``unknown_names = "reject"``."""
    fixture = V7Fixture()
    running = await start_proxy(
        await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena", unknown_names="reject"
    )
    return Env(running.url, fixture, running.app)


# ------------------------------------------------------------------------------------------ injected key
async def test_select_of_only_unknown_names_strips_the_key_the_proxy_asked_for(env, log_output):
    """Every selected name dropped (decision 1): the proxy still needs one name for v7's $select, and
    strips it again, as it does when every selected name is a v6 constant."""
    env.fixture.queue(Reply(200, {"d": [{"id": 1}, {"id": 2}]}))
    status, body = await env.json("GET", "/v6/device?$select=nope")
    assert (status, body) == (200, {"d": [{}, {}]})
    assert env.last == "/v7/device?$select=id"
    assert ("nope", "device", "$select") in {
        (e["name"], e["resource"], e["option"]) for e in log_output.events("unknown_field")
    }
    # the same inside an expanded navigation
    env.fixture.queue(Reply(200, {"d": [{"owns__device": [{"id": 7}], "id": 1}]}))
    status, body = await env.json(
        "GET", "/v6/application?$select=id&$expand=owns__device($select=nope,is_pinned_on__release)"
    )
    assert (status, body) == (200, {"d": [{"owns__device": [{}], "id": 1}]})
    assert env.last == "/v7/application?$select=id&$expand=owns__device($select=id)"


async def test_select_of_the_key_alone_is_still_answered_as_is(env):
    env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
    status, body = await env.json("GET", "/v6/device?$select=id,nope")
    assert (status, body) == (200, {"d": [{"id": 1}]})
    assert env.last == "/v7/device?$select=id"


# ------------------------------------------------------------------------------------------ fields in $expand
async def test_a_non_navigation_in_expand_is_an_unknown_name(env, log_output):
    """Only navigations can be expanded; a field there is unknown (decision 1): dropped, never sent to v7
    (which answers 500), and logged."""
    cases = [
        ("device?$select=id&$expand=overall_status", "/v7/device?$select=id", ("overall_status", "device")),
        ("device?$select=id&$expand=device_name", "/v7/device?$select=id", ("device_name", "device")),
        ("device?$select=id&$expand=logs_channel/$count", "/v7/device?$select=id", ("logs_channel", "device")),
        (
            "device?$select=id&$expand=should_be_running__release/release_type",
            "/v7/device?$select=id&$expand=is_pinned_on__release",
            ("release_type", "release"),
        ),
        (
            "device?$select=id&$expand=should_be_running__release($select=id;$expand=contract)",
            "/v7/device?$select=id&$expand=is_pinned_on__release($select=id)",
            ("contract", "release"),
        ),
    ]
    for target, v7, unknown in cases:
        env.fixture.queue(Reply(200, {"d": [{"id": 1}]}))
        status, body = await env.json("GET", f"/v6/{target}")
        assert status == 200, target
        assert env.last == v7, target
        assert (*unknown, "$expand") in {
            (e["name"], e["resource"], e["option"]) for e in log_output.events("unknown_field")
        }, target
    assert body == {"d": [{"id": 1}]}


async def test_a_non_navigation_in_expand_is_400_when_rejecting(strict):
    status, body = await strict.json("GET", "/v6/device?$select=id&$expand=overall_status")
    assert (status, body) == (400, "Unknown field 'overall_status' on 'device' in $expand")
    assert strict.fixture.v7 == []


# ------------------------------------------------------------------------------------------ keys from the models
WIDGET = """					<EntityType Name="widget">
						<Key>
							<PropertyRef Name="code" />
						</Key>

						<Property Name="code" Type="Edm.String" Nullable="false" />
<Property Name="label" Type="Edm.String" Nullable="true" />

					</EntityType>
"""


@pytest.fixture
async def keyed(serve_app, start_proxy):
    """balenaCloud flavour behind an upstream whose ``/v7/$metadata`` keys ``application`` by ``uuid`` and
    has a resource ``widget`` keyed by ``code`` (no ``id`` at all)."""
    fixture = V7Fixture()
    xml = resources.files("proxy.data").joinpath("v7-metadata.xml").read_text(encoding="utf-8")
    app_entity = xml.index('<EntityType Name="application">')
    xml = xml[:app_entity] + xml[app_entity:].replace('<PropertyRef Name="id" />', '<PropertyRef Name="uuid" />', 1)
    first = xml.index("\t\t\t\t\t<EntityType ")
    fixture.metadata = xml[:first] + WIDGET + xml[first:]
    running = await start_proxy(
        await serve_app(fixture.app),
        v6_mode="translate",
        upstream_flavour="balena-cloud",
        upstream_api_key="metadata-key",
    )
    return Env(running.url, fixture, running.app)


async def test_the_key_the_proxy_selects_is_the_resources_own(keyed):
    # every selected name dropped: v7 still needs one name in $select, the resource's key
    keyed.fixture.queue(Reply(200, {"d": [{"code": "w1"}]}))
    status, body = await keyed.json("GET", "/v6/widget?$select=nope")
    assert (status, body) == (200, {"d": [{}]})
    assert keyed.last == "/v7/widget?$select=code"
    keyed.fixture.queue(Reply(200, {"d": [{"uuid": "u1"}]}))
    status, body = await keyed.json("GET", "/v6/application?$select=nope")
    assert (status, body) == (200, {"d": [{}]})
    assert keyed.last == "/v7/application?$select=uuid"
    # a balenaCloud-only resource known from the SDK typings (its key typed as a plain Integer there)
    keyed.fixture.queue(Reply(200, {"d": [{"id": 4}]}))
    status, body = await keyed.json("GET", "/v6/team?$select=nope")
    assert (status, body) == (200, {"d": [{}]})
    assert keyed.last == "/v7/team?$select=id"
    # a derived navigation expanded along a v7 path selects only the key on the hops in between
    keyed.fixture.queue(
        Reply(
            200,
            {"d": [{"id": 5, "belongs_to__application": [{"uuid": "u1", "is_for__device_type": [{"slug": "rpi"}]}]}]},
        )
    )
    status, body = await keyed.json(
        "GET", "/v6/supervisor_release?$select=id&$expand=is_for__device_type($select=slug)"
    )
    assert (status, body) == (200, {"d": [{"is_for__device_type": [{"slug": "rpi"}], "id": 5}]})
    assert keyed.last.startswith(
        "/v7/release?$select=id&$expand=belongs_to__application($select=uuid;$expand=is_for__device_type($select=slug))"
    )


async def test_v6_metadata_states_each_resources_key(keyed):
    status, body = await keyed.json("GET", "/v6/$metadata")
    assert status == 200
    widget = body[body.index('<EntityType Name="widget">') :]
    assert widget[: widget.index("</Key>")].count("<PropertyRef") == 1
    assert '<PropertyRef Name="code" />' in widget[: widget.index("</Key>")]
    application = body[body.index('<EntityType Name="application">') :]
    assert '<PropertyRef Name="uuid" />' in application[: application.index("</Key>")]
    device = body[body.index('<EntityType Name="device">') :]
    assert '<PropertyRef Name="id" />' in device[: device.index("</Key>")]
