"""Rules of the real API on written values that the simulator used to skip or word differently.

Sources (open-balena-api): ``src/balena.sbvr`` (rule and necessity texts; pinejs validates the final model, so
v6 and v7 share them), ``src/features/tags/validation.ts`` and ``src/features/field-size-limits/`` (hooks on
POST/PATCH/PUT). A missing row behind a foreign key fails the write itself (409) before any rule.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator
from balena_v7_simulator.store import SIM_STORE
from balena_v7_simulator.writes import PIN_RULE

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FK = '"Foreign key constraint violated"'


async def call(url: str, method: str, target: str, body: object) -> tuple[int, object]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + target, json=body, headers=ADMIN) as response:
            raw = await response.read()
            return response.status, raw.decode() if raw else None


def quoted(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


# -- pinning: balena.sbvr "each release that is pinned to a device, has a status that is equal to "success" ... --


@pytest.mark.parametrize(
    ("release", "answer"),
    [
        (4, (400, PIN_RULE)),  # fleet 1's failed release
        (6, (400, PIN_RULE)),  # another fleet's release
        (999, (409, FK)),
        (2, (200, None)),
    ],
)
async def test_pinning_needs_a_successful_release_of_the_devices_fleet(release: int, answer: tuple) -> None:
    async with running_simulator() as (app, url):
        status, body = await call(url, "PATCH", "/v7/device(1)", {"is_pinned_on__release": release})
        expected_status, expected_text = answer
        assert (status, body) == (
            expected_status,
            quoted(expected_text) if expected_text == PIN_RULE else expected_text,
        )
        pinned = app[SIM_STORE].get("device", 1)["is_pinned_on__release"]
        assert (pinned == release) == (status == 200)


def test_the_pin_rule_is_balenas_text() -> None:
    assert PIN_RULE == (
        'It is necessary that each release that is pinned to a device, has a status that is equal to "success" '
        "and belongs to an application1 that the device belongs to."
    )


async def test_a_fleet_target_that_does_not_exist_is_the_foreign_keys_409() -> None:
    async with running_simulator() as (_app, url):
        assert await call(url, "PATCH", "/v7/application(1)", {"should_be_running__release": 999}) == (409, FK)


# -- tag keys: hook and necessity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("has space", "Tag keys cannot contain whitespace."),
        ("tab\there", "Tag keys cannot contain whitespace."),
        ("io.resin.x", "Tag keys beginning with io.resin. are reserved."),
        ("io.balena.x", "Tag keys beginning with io.balena. are reserved."),
        (
            "",
            "It is necessary that each device tag has a tag key that has a Length (Type) that is greater than 0 and "
            "is less than or equal to 100.",
        ),
        (
            "k" * 101,
            "It is necessary that each device tag has a tag key that has a Length (Type) that is greater than 0 and "
            "is less than or equal to 100.",
        ),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT"])
async def test_a_bad_tag_key_is_a_400_with_the_apis_text(key: str, message: str, method: str) -> None:
    async with running_simulator() as (app, url):
        store = app[SIM_STORE]
        before = len(store.rows("device_tag")), dict(store.get("device_tag", 1))
        target = "/v7/device_tag" if method == "POST" else "/v7/device_tag(1)"
        body = {"device": 1, "tag_key": key, "value": "v"}
        assert await call(url, method, target, body) == (400, quoted(message))
        assert (len(store.rows("device_tag")), store.get("device_tag", 1)) == before


async def test_a_tag_value_over_the_size_limit_is_the_hooks_400() -> None:
    async with running_simulator() as (_app, url):
        status, body = await call(url, "PATCH", "/v7/device_tag(1)", {"value": "v" * 10_001})
        assert (status, body) == (
            400,
            quoted(
                "It is necessary that each device tag has a value that has a Length (Type) that is less than or "
                "equal to 10000."
            ),
        )
        assert (await call(url, "PATCH", "/v7/device_tag(1)", {"value": "v" * 10_000}))[0] == 200


@pytest.mark.parametrize("name", ["abc", "a" * 101])
async def test_an_app_name_outside_4_to_100_characters_is_the_necessitys_400(name: str) -> None:
    async with running_simulator() as (app, url):
        status, body = await call(url, "PATCH", "/v7/application(1)", {"app_name": name})
        assert status == 400
        assert body == quoted(
            "It is necessary that each application has an app name that has a Length (Type) that is greater than or "
            "equal to 4 and is less than or equal to 100."
        )
        assert app[SIM_STORE].get("application", 1)["app_name"] != name


# -- through the proxy: a v6 client gets the same texts ---------------------------------------------------------


async def test_v6_writes_through_the_proxy_get_the_rule_texts() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        target = pair.proxy_url + "/v6/device(1)"
        async with session.patch(target, json={"should_be_running__release": 4}, headers=ADMIN) as response:
            assert (response.status, await response.json()) == (400, PIN_RULE)
        assert pair.store.get("device", 1)["is_pinned_on__release"] is None
        body = {"device": 1, "tag_key": "io.balena.x", "value": "v"}
        async with session.post(pair.proxy_url + "/v6/device_tag", json=body, headers=ADMIN) as response:
            assert (response.status, await response.json()) == (400, "Tag keys beginning with io.balena. are reserved.")
        assert pair.simulator_crashes == []


# -- variables: src/features/vars-schema/env-vars.ts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "name", "value", "message"),
    [
        (
            "device_environment_variable",
            "1ABC",
            "v",
            "Environment variable names can only contain alphanumeric characters and underscores.",
        ),
        (
            "device_environment_variable",
            "A-B",
            "v",
            "Environment variable names can only contain alphanumeric characters and underscores.",
        ),
        ("device_environment_variable", "USER", "v", "Environment variables RESIN, BALENA, USER are reserved"),
        (
            "device_environment_variable",
            "BALENA_X",
            "v",
            "Environment variables beginning with RESIN_, BALENA_ are reserved.",
        ),
        ("device_environment_variable", "OK_NAME", "a\nb", "Variable values cannot contain line break characters"),
        (
            "device_config_variable",
            "FOO",
            "1",
            "Configuration variables must be part of one of the following namespaces: RESIN_, BALENA_",
        ),
        (
            "device_config_variable",
            "RESIN_A B",
            "1",
            "Configuration variable names can only contain alphanumeric characters, underscores or a colon",
        ),
        ("device_config_variable", "BALENA", "1", "Configuration variables RESIN, BALENA, USER are reserved"),
    ],
)
async def test_a_bad_variable_is_the_hooks_400(resource: str, name: str, value: str, message: str) -> None:
    async with running_simulator() as (app, url):
        count = len(app[SIM_STORE].rows(resource))
        body = {"device": 1, "name": name, "value": value}
        assert await call(url, "POST", f"/v7/{resource}", body) == (400, quoted(message))
        assert len(app[SIM_STORE].rows(resource)) == count


async def test_good_variables_are_written() -> None:
    async with running_simulator() as (_app, url):
        for resource, name in [("device_environment_variable", "_MY_VAR2"), ("device_config_variable", "BALENA_A:B")]:
            status, _ = await call(url, "POST", f"/v7/{resource}", {"device": 1, "name": name, "value": "x"})
            assert status == 201


# -- releases a fleet or a device still needs: src/features/releases/hooks/restrict-release-deletion.ts ----------


@pytest.mark.parametrize(
    ("release", "message"),
    [
        (2, "Unable to delete release 1.1.0 because it is the fleet's target release."),
        (1, "Unable to delete a release because device(s) are pinned to it."),
    ],
)
async def test_a_release_still_targeted_or_pinned_is_not_deleted(release: int, message: str) -> None:
    async with running_simulator() as (app, url):
        assert await call(url, "DELETE", f"/v7/release({release})", None) == (400, quoted(message))
        assert app[SIM_STORE].get("release", release) is not None


async def test_a_release_nothing_needs_is_deleted_and_through_the_proxy_the_hook_text_is_kept() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        async with session.delete(pair.proxy_url + "/v6/release(3)", headers=ADMIN) as response:
            assert (response.status, await response.json()) == (200, "OK")
        assert pair.store.get("release", 3) is None
        async with session.delete(pair.proxy_url + "/v6/release(2)", headers=ADMIN) as response:
            assert (response.status, await response.json()) == (
                400,
                "Unable to delete release 1.1.0 because it is the fleet's target release.",
            )
        assert pair.simulator_crashes == []
