"""Per-client rollout (``v6_mode_rules``) and the deprecation headers, through the running proxy in front of the
v7 simulator: two clients routed differently, ``v6_mode = "forward"`` staying absolute, the three ways to
give the rules, and RFC 9745/8594 headers on translated answers only."""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ALICE_TOKEN
from balena_v7_simulator.harness import running_pair
from proxy.cli import build_parser
from proxy.rollout import Rules, v6_resource
from proxy.settings import SettingsError, load_settings

AUTH = {"Authorization": f"Bearer {ALICE_TOKEN}"}


async def call(url: str, **headers: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={**AUTH, **headers}) as response:
            await response.read()
            return response


async def test_rules_route_two_clients_differently(log_output):
    rules = ["balena-cli/*=forward", "python-requests*=translate"]
    async with running_pair(proxy_overrides={"log_level": "info", "v6_mode_rules": rules}) as pair:
        cli = await call(pair.proxy_url + "/v6/device?$select=id", **{"X-Balena-Client": "balena-cli/19.0.0"})
        script = await call(pair.proxy_url + "/v6/device?$select=id", **{"User-Agent": "python-requests/2.31"})
        other = await call(pair.proxy_url + "/v6/device?$select=id", **{"User-Agent": "curl/8"})
    assert cli.status == 404  # went to the upstream's own /v6/ (the simulator has none)
    assert script.status == 200 and other.status == 200
    modes = [(e["balena_client"] or e["user_agent"], e["v6_mode"]) for e in log_output.events("request")]
    assert modes == [("balena-cli/19.0.0", "forward"), ("python-requests/2.31", "translate"), ("curl/8", "translate")]
    # the forwarded one reached the upstream's /v6/ (answered 404 there); the two translated ones its /v7/
    assert [r[1] for r in pair.upstream_requests if "$metadata" not in r[1]] == [
        "/v6/device?$select=id",
        *["/v7/device?$select=id"] * 2,
    ]


async def test_forward_mode_is_absolute_whatever_the_rules(log_output):
    overrides = {"log_level": "info", "v6_mode": "forward", "v6_mode_rules": ["*=translate"]}
    async with running_pair(proxy_overrides=overrides) as pair:
        response = await call(pair.proxy_url + "/v6/device?$select=id", **{"User-Agent": "python-requests/2.31"})
    assert response.status == 404  # the simulator has no /v6/
    assert [r[:2] for r in pair.upstream_requests if "$metadata" not in r[1]] == [("GET", "/v6/device?$select=id")]
    assert log_output.events("request")[0]["v6_mode"] == "forward"


def test_rules_split_at_the_last_equals_sign_and_match_case_sensitively():
    rules = Rules(load_settings(env={}, overrides={"v6_mode_rules": ["team=a/*=forward", "CLI*=forward"]}))
    assert rules.mode("team=a/script") == "forward"
    assert rules.mode("cli-tool") == "translate" and rules.mode("CLI-tool") == "forward"
    assert rules.mode("") == "translate"
    first_wins = Rules(load_settings(env={}, overrides={"v6_mode_rules": ["a*=translate", "ab*=forward"]}))
    assert first_wins.mode("abc") == "translate"


def test_rules_from_toml_env_and_repeatable_flag(tmp_path):
    config = tmp_path / "p.toml"
    config.write_text('v6_mode_rules = ["balena-cli/*=forward"]\n')
    assert load_settings(config, env={}).v6_mode_rules == ("balena-cli/*=forward",)
    env = {"PROXY_V6_MODE_RULES": '["x=forward", "y=translate"]'}
    assert load_settings(env=env).v6_mode_rules == ("x=forward", "y=translate")
    parsed = build_parser().parse_args(["serve", "--v6-mode-rule", "a=forward", "--v6-mode-rule", "b*=translate"])
    assert load_settings(env={}, overrides={"v6_mode_rules": parsed.v6_mode_rules}).v6_mode_rules == (
        "a=forward",
        "b*=translate",
    )
    with pytest.raises(SettingsError, match=r"setting 'v6_mode_rules' .*--v6-mode-rule.*PATTERN=translate"):
        load_settings(env={}, overrides={"v6_mode_rules": ["x=sideways"]})
    with pytest.raises(SettingsError, match="JSON array"):
        load_settings(env={"PROXY_V6_MODE_RULES": "x=forward"})


def test_resource_of_a_v6_target():
    assert v6_resource("/v6/device(uuid='x')?$select=id") == "device"
    assert v6_resource("/v6/application/$count") == "application"
    assert v6_resource("/v6/$metadata") == "$metadata"
    assert v6_resource("/v6") == "" and v6_resource("/v6/") == ""


async def test_deprecation_headers_on_translated_answers_only():
    overrides = {
        "deprecation_headers": True,
        "sunset_date": "2027-06-30",
        "v6_mode_rules": ["balena-cli/*=forward"],
    }
    async with running_pair(proxy_overrides=overrides) as pair:
        translated = await call(pair.proxy_url + "/v6/device?$select=id")
        error = await call(pair.proxy_url + "/v6/device?$select=id&$filter=nope%20eq%201")
        forwarded = await call(pair.proxy_url + "/v6/device", **{"X-Balena-Client": "balena-cli/19"})
        other = await call(pair.proxy_url + "/ping")
    assert translated.status == 200 and error.status == 400
    for response in (translated, error):
        assert response.headers["Deprecation"] == "@1721347200"  # 2024-07-19T00:00:00Z, v7's release
        assert response.headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert response.headers["Link"] == (
            "<https://blog.balena.io/balena-api-v7-new-features-breaking-changes-and-migration-guide/>;"
            ' rel="deprecation"'
        )
    for response in (forwarded, other):
        assert "Deprecation" not in response.headers and "Sunset" not in response.headers


async def test_no_deprecation_headers_by_default():
    async with running_pair() as pair:
        response = await call(pair.proxy_url + "/v6/device?$select=id")
    assert response.status == 200 and "Deprecation" not in response.headers and "Link" not in response.headers
