"""translators.application: actor, removed dependency links, POST device_type and organization default."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from translator_helpers import FakeContext, v7

from translators import BodyError
from translators.hooks import NO_ORGANIZATION, default_organization


async def test_organization_default_personal_then_only():
    ctx = FakeContext(
        "POST",
        {
            "/user/v1/whoami": {"username": "bob"},
            "/v7/organization?": {"d": [{"id": 1, "handle": "acme"}, {"id": 4, "handle": "bob"}]},
        },
        settings=SimpleNamespace(default_organization=None),
    )
    body = {"app_name": "a"}
    await default_organization(ctx, body)
    assert body["organization"] == 4
    ctx = FakeContext(
        "POST",
        {"/user/v1/whoami": {"username": "bob"}, "/v7/organization?": {"d": [{"id": 9, "handle": "x"}]}},
        settings=SimpleNamespace(default_organization=None),
    )
    body = {}
    await default_organization(ctx, body)
    assert body["organization"] == 9
    ctx = FakeContext(
        "POST",
        {"/user/v1/whoami": {"username": "bob"}, "/v7/organization?": {"d": []}},
        settings=SimpleNamespace(default_organization=None),
    )
    with pytest.raises(BodyError) as err:
        await default_organization(ctx, {})
    assert err.value.message == NO_ORGANIZATION


async def test_organization_default_from_settings_and_untouched_when_given():
    ctx = FakeContext("POST", settings=SimpleNamespace(default_organization="12"))
    body = {}
    await default_organization(ctx, body)
    assert body == {"organization": 12} and ctx.asked == []
    ctx = FakeContext(
        "POST", {"/v7/organization?": {"d": [{"id": 5}]}}, settings=SimpleNamespace(default_organization="acme")
    )
    body = {}
    await default_organization(ctx, body)
    assert body == {"organization": 5}
    body = {"organization": 2}
    await default_organization(FakeContext("POST", settings=SimpleNamespace(default_organization=None)), body)
    assert body == {"organization": 2}


def test_urls():
    assert v7("/application?$select=id,actor,depends_on__application") == "/application?$select=id,actor"
    assert (
        v7("/application?$select=id&$filter=depends_on__application eq null") == "/application?$select=id&$filter=true"
    )
    assert v7("/application?$select=id&$expand=application__has__name") == (
        "/application?$select=id&$expand=application__has__config_var_name"
    )
