"""Named keys as the real API takes them: only fields that are unique (a unique field or a unique index's fields).

Source: odata-to-abstract-sql ``BaseKey``: a key on other fields is a ``KeySyntaxError``, a field the table lacks
a ``SyntaxError``; pinejs uri-parser makes either a ``TranslationError`` (500, empty body) for every method. The
unique fields are open-balena-api ``v7.sbvr``'s; a fact type with a term form (``device has tag key``) gets a
UNIQUE index over its two roles (lf-to-abstract-sql). The simulator used to look any field up as a key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from balena_v7_simulator import create_simulator_app, store_of
from balena_v7_simulator.app import SIM_CRASHES, SIMULATOR_RUNNER_OPTIONS
from balena_v7_simulator.fixtures import ALICE_TOKEN
from balena_v7_simulator.harness import running_pair
from balena_v7_simulator.keys import UNIQUE_FIELDS, UNIQUE_INDEXES
from balena_v7_simulator.model import load_model

ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
PATCH_BODY = {"note": "x", "value": "x", "app_name": "x"}  # a writable field of each resource below


@pytest.fixture
async def sim(serve_app: Callable[..., Awaitable[str]]) -> tuple[web.Application, str]:
    app = create_simulator_app()
    return app, await serve_app(app, **SIMULATOR_RUNNER_OPTIONS)


async def send(url: str, method: str, target: str, body: object = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + target, json=body, headers=ALICE) as response:
            return response.status, await response.read()


@pytest.mark.parametrize(
    "target",
    [
        "/v7/application(app_name='fleet-one')",
        "/v7/device(device_name='x')",
        "/v7/device(is_of__device_type=1)",
        "/v7/device_tag(tag_key='location')",  # half of the (device, tag_key) index
        "/v7/device_tag(device=1,tag_key='location',value='lab')",  # more than the index
        "/v7/device(1)/device_tag(tag_key='location')",  # a key in the path is checked on its own
        "/v7/device(overall_status='idle')",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_a_named_key_on_fields_that_are_not_unique_is_the_translators_500(sim, target: str, method: str) -> None:
    app, url = sim
    before = {name: [dict(r) for r in store_of(app).rows(name)] for name in ("application", "device", "device_tag")}
    assert await send(url, method, target, PATCH_BODY if method == "PATCH" else None) == (500, b"")
    assert {name: store_of(app).rows(name) for name in before} == before
    assert app[SIM_CRASHES] == []


async def test_a_named_key_on_a_field_the_table_lacks_is_a_500(sim) -> None:
    _, url = sim
    assert await send(url, "GET", "/v7/device(no_such_field='x')") == (500, b"")


async def test_named_keys_on_unique_fields_and_indexes_find_the_row(sim) -> None:
    app, url = sim
    store = store_of(app)
    uuid = store.get("device", 1)["uuid"]
    slug = store.get("application", 1)["slug"]
    assert await send(url, "GET", f"/v7/device(uuid='{uuid}')?$select=id") == (200, b'{"d":[{"id":1}]}')
    assert await send(url, "GET", f"/v7/application(slug='{slug}')?$select=id") == (200, b'{"d":[{"id":1}]}')
    assert await send(url, "GET", "/v7/device_tag(device=1,tag_key='location')?$select=value") == (
        200,
        b'{"d":[{"value":"lab"}]}',
    )
    assert await send(url, "GET", "/v7/device_tag(tag_key='location',device=1)?$select=id") == (
        200,
        b'{"d":[{"id":1}]}',
    )
    assert await send(url, "PATCH", "/v7/device_tag(device=1,tag_key='location')", {"value": "attic"}) == (200, b"")
    assert store.get("device_tag", 1)["value"] == "attic"


def test_every_declared_key_names_columns_of_the_open_balena_model() -> None:
    model = load_model("open-balena")
    for name, fields in [*UNIQUE_FIELDS.items(), *UNIQUE_INDEXES.items()]:
        res = model[name]
        assert set(fields) <= set(res.key_order) | {"email"}, name  # user.email: not readable through v7


async def test_a_v6_named_key_on_a_non_unique_field_through_the_proxy_is_the_apis_500() -> None:
    """The proxy passes named keys on as they are: a v6 client sees the real server's 500."""
    async with running_pair() as pair:
        async with aiohttp.ClientSession() as session:
            target = pair.proxy_url + "/v6/application(app_name='fleet-one')?$select=id"
            async with session.get(target, headers=ALICE) as response:
                assert (response.status, await response.read()) == (500, b"")
            uuid = pair.store.get("device", 1)["uuid"]
            async with session.get(pair.proxy_url + f"/v6/device(uuid='{uuid}')?$select=id", headers=ALICE) as response:
                assert (response.status, await response.json()) == (200, {"d": [{"id": 1}]})
        assert pair.simulator_crashes == []


# -- the same constraints, written twice: pinejs prettifyConstraintError --------------------------------------


@pytest.mark.parametrize(
    ("resource", "body", "message"),
    [
        ("device_tag", {"device": 1, "tag_key": "location", "value": "x"}, '"device" and "tag_key" must be unique.'),
        (
            "device_environment_variable",
            {"device": 1, "name": "LOG_LEVEL", "value": "x"},
            '"device" and "name" must be unique.',
        ),
        ("application", {"app_name": "again", "organization": 1, "is_for__device_type": 1, "slug": None}, None),
    ],
)
async def test_a_second_row_with_the_same_unique_values_is_a_409_naming_the_columns(
    sim, resource: str, body: dict, message: str | None
) -> None:
    app, url = sim
    if message is None:  # the slug a POST derives: "slug" alone
        existing = store_of(app).get("application", 1)
        org = store_of(app).get("organization", existing["organization"])
        body = {**body, "app_name": existing["app_name"], "organization": org["id"]}
        body.pop("slug")
        message = '"slug" must be unique.'
    status, raw = await send(url, "POST", f"/v7/{resource}", body)
    assert (status, raw.decode()) == (409, '"' + message.replace('"', '\\"') + '"')
