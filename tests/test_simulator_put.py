"""PUT as the real API runs it: a replace of the whole row, else an insert of what the request gives.

Sources: odata-to-abstract-sql ``match`` (PUT -> ``UpsertQuery``), ``BindVars`` (a column the body does not name
is bound to ``DEFAULT``), ``PathKey``/``addBodyKey`` (the key is written too); pinejs ``runPut`` (UPDATE, then
INSERT when no row changed; rows are not counted) and uri-parser (``"No fields to update"`` only for PATCH and
MERGE); open-balena-api (the hooks generating actor, uuid, slug are ``POST`` hooks). A column left NULL that the
schema requires is a database error: 500 with an empty body. The simulator used to run a PUT as a PATCH.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from balena_v7_simulator import create_simulator_app, store_of
from balena_v7_simulator.app import SIM_CRASHES, SIMULATOR_RUNNER_OPTIONS
from balena_v7_simulator.fixtures import ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN
from balena_v7_simulator.harness import running_pair

JSON = {"Content-Type": "application/json"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", **JSON}
ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}", **JSON}
BOB = {"Authorization": f"Bearer {BOB_TOKEN}", **JSON}
TAG = {"device": 1, "tag_key": "location", "value": "attic"}


@pytest.fixture
async def sim(serve_app: Callable[..., Awaitable[str]]) -> tuple[web.Application, str]:
    app = create_simulator_app()
    return app, await serve_app(app, **SIMULATOR_RUNNER_OPTIONS)


async def send(url: str, method: str, target: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url + target, json=body, headers=headers) as response:
            return response.status, await response.read()


async def test_a_put_of_an_empty_object_replaces_the_row_and_fails_on_its_required_columns(sim) -> None:
    """No "No fields to update" for PUT: every column becomes its default, and a device tag needs its device."""
    app, url = sim
    before = dict(store_of(app).get("device_tag", 1))
    assert await send(url, "PUT", "/v7/device_tag(1)", {}, ALICE) == (500, b"")
    assert store_of(app).get("device_tag", 1) == before
    assert await send(url, "PATCH", "/v7/device_tag(1)", {}, ALICE) == (400, b'"No fields to update"')
    assert app[SIM_CRASHES] == []


async def test_a_partial_put_is_not_a_patch(sim) -> None:
    app, url = sim
    assert await send(url, "PUT", "/v7/device_tag(1)", {"value": "attic"}, ALICE) == (500, b"")
    assert store_of(app).get("device_tag", 1)["value"] == "lab"
    assert await send(url, "PATCH", "/v7/device_tag(1)", {"value": "attic"}, ALICE) == (200, b"")
    assert store_of(app).get("device_tag", 1)["value"] == "attic"


async def test_a_put_resets_what_it_leaves_out(sim) -> None:
    """``download_progress`` (nullable) becomes NULL, ``created_at`` the time of the PUT."""
    app, url = sim
    before = dict(store_of(app).get("image_install", 11))
    assert before["download_progress"] == 60
    body = {k: before[k] for k in ("device", "installs__image", "install_date", "status", "is_provided_by__release")}
    assert await send(url, "PUT", "/v7/image_install(11)", body, ADMIN) == (200, b"")
    after = store_of(app).get("image_install", 11)
    assert after["download_progress"] is None
    assert after["created_at"] > before["created_at"]
    assert {k: after[k] for k in body} == body


async def test_a_full_put_replaces_the_row(sim) -> None:
    app, url = sim
    assert await send(url, "PUT", "/v7/device_tag(1)", TAG, ALICE) == (200, b"")
    row = store_of(app).get("device_tag", 1)
    assert (row["device"], row["tag_key"], row["value"]) == (1, "location", "attic")


async def test_a_put_of_a_missing_row_inserts_only_what_it_is_given(sim) -> None:
    """The INSERT gets the body and the key and nothing a POST hook would add: a device without a uuid fails."""
    app, url = sim
    count = len(store_of(app).rows("device"))
    body = {"belongs_to__application": 1, "is_of__device_type": 1, "device_name": "d"}
    assert await send(url, "PUT", "/v7/device(900)", body, ADMIN) == (500, b"")
    assert len(store_of(app).rows("device")) == count
    assert await send(url, "PUT", "/v7/device_tag(900)", {"value": "v"}, ADMIN) == (500, b"")
    assert store_of(app).get("device_tag", 900) is None
    assert await send(url, "PUT", "/v7/device_tag(900)", {**TAG, "tag_key": "new"}, ADMIN) == (200, b"")
    assert store_of(app).get("device_tag", 900)["tag_key"] == "new"


async def test_a_put_insert_the_caller_may_not_make_changes_nothing_and_answers_200(sim) -> None:
    """The INSERT's permission filter leaves it empty, and ``runPut`` does not count rows (a POST would be 401)."""
    app, url = sim
    assert await send(url, "PUT", "/v7/device_tag(901)", {**TAG, "tag_key": "bob"}, BOB) == (200, b"")
    assert store_of(app).get("device_tag", 901) is None
    assert await send(url, "POST", "/v7/device_tag", {**TAG, "tag_key": "bob"}, BOB) == (401, b"")


async def test_a_put_keeps_the_unique_and_reference_rules(sim) -> None:
    app, url = sim
    assert await send(url, "PUT", "/v7/device_tag(1)", {**TAG, "device": 999999}, ALICE) == (
        409,
        b'"Foreign key constraint violated"',
    )
    assert (await send(url, "POST", "/v7/device_tag", {**TAG, "tag_key": "other"}, ALICE))[0] == 201
    assert await send(url, "PUT", "/v7/device_tag(1)", {**TAG, "tag_key": "other"}, ALICE) == (
        409,
        b'"\\"device\\" and \\"tag_key\\" must be unique."',
    )
    assert store_of(app).get("device_tag", 1)["tag_key"] == "location"


# -- through the proxy: what a v6 client sees -----------------------------------------------------------------


async def test_a_v6_put_through_the_proxy_replaces_the_row_or_passes_the_500_on() -> None:
    async with running_pair() as pair:
        async with aiohttp.ClientSession() as session:
            target = pair.proxy_url + "/v6/device_environment_variable(1)"
            async with session.put(target, json={"value": "info"}, headers=ALICE) as response:
                assert (response.status, await response.read()) == (500, b"")
            assert pair.store.get("device_environment_variable", 1)["value"] == "debug"
            body = {"device": 1, "name": "LOG_LEVEL", "value": "info"}
            async with session.put(target, json=body, headers=ALICE) as response:
                assert (response.status, await response.json()) == (200, "OK")
        assert pair.store.get("device_environment_variable", 1)["value"] == "info"
        assert pair.upstream_requests[-1][:2] == ("PUT", "/v7/device_environment_variable(1)")
        assert pair.simulator_crashes == []


async def test_an_explicit_id_does_not_move_the_sequence_so_a_later_post_can_collide(sim) -> None:
    """PostgreSQL's serial: an id a POST (or a PUT insert) gives is stored as given and nextval() does not skip
    it; the POST whose nextval() reaches it fails on the primary key (409, a name pinejs cannot read), and the
    value is consumed all the same. The simulator used to move its counter past every explicit id."""
    app, url = sim
    body = {"device": 1, "value": "v"}
    status, raw = await send(url, "POST", "/v7/device_tag", {**body, "tag_key": "a"}, ADMIN)
    assert status == 201
    taken = orjson.loads(raw)["id"]
    assert (await send(url, "POST", "/v7/device_tag", {**body, "tag_key": "b", "id": taken + 1}, ADMIN))[0] == 201
    assert await send(url, "POST", "/v7/device_tag", {**body, "tag_key": "c"}, ADMIN) == (
        409,
        b'"Unique key constraint violated"',
    )
    status, raw = await send(url, "POST", "/v7/device_tag", {**body, "tag_key": "c"}, ADMIN)
    assert (status, orjson.loads(raw)["id"]) == (201, taken + 2)
    assert await send(url, "POST", "/v7/device_tag", {**body, "tag_key": "d", "id": 1}, ADMIN) == (
        409,
        b'"Unique key constraint violated"',
    )
    assert store_of(app).get("device_tag", 1)["tag_key"] == "location"
