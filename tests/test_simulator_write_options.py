"""PATCH, PUT and DELETE write only the rows their ``$filter``, ``$orderby``, ``$top`` and ``$skip`` select.

Source: odata-to-abstract-sql ``PathSegment`` writes ``WHERE id IN (SELECT id … )`` with ``AddQueryOptions``,
which adds all four options (pinejs uri-parser passes ``$top``/``$skip``/``$orderby`` on to it). The simulator
used to apply only the ``$filter``, so a write with ``$top=1`` changed every matching row: a proxy that dropped
a write's ``$top`` would have gone unnoticed.
"""

from __future__ import annotations

import aiohttp

from balena_v7_simulator.fixtures import ALICE_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator
from balena_v7_simulator.store import SIM_STORE

ALICE = {"Authorization": f"Bearer {ALICE_TOKEN}"}
FLEET_ONE = "$filter=belongs_to__application eq 1"


def notes(store, ids: list[int]) -> list[object]:
    return [store.get("device", i)["note"] for i in ids]


async def test_a_patch_with_top_and_orderby_writes_only_those_rows() -> None:
    async with running_simulator() as (app, url), aiohttp.ClientSession() as session:
        store = app[SIM_STORE]
        ids = sorted(r["id"] for r in store.where("device", "belongs_to__application", 1))
        target = f"{url}/v7/device?{FLEET_ONE}&$orderby=id desc&$top=2&$skip=1"
        async with session.patch(target, json={"note": "picked"}, headers=ALICE) as response:
            assert (response.status, await response.read()) == (200, b"")
        assert [i for i in ids if store.get("device", i)["note"] == "picked"] == ids[-3:-1]
        async with session.delete(f"{url}/v7/device_tag?$orderby=id asc&$top=1", headers=ALICE) as response:
            assert response.status == 200
        assert store.get("device_tag", 1) is None
        assert store.get("device_tag", 2) is not None


async def test_a_write_with_top_0_writes_nothing() -> None:
    async with running_simulator() as (app, url), aiohttp.ClientSession() as session:
        store = app[SIM_STORE]
        before = notes(store, [1, 2])
        async with session.patch(f"{url}/v7/device?$top=0", json={"note": "none"}, headers=ALICE) as response:
            assert response.status == 200
        async with session.patch(f"{url}/v7/device(1)?$top=0", json={"note": "none"}, headers=ALICE) as response:
            assert response.status == 200
        assert notes(store, [1, 2]) == before


async def test_an_unknown_name_in_a_writes_orderby_is_the_translators_500() -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        async with session.patch(f"{url}/v7/device?$orderby=nope&$top=1", json={"note": "x"}, headers=ALICE) as r:
            assert (r.status, await r.read()) == (500, b"")


async def test_a_v6_patch_with_top_through_the_proxy_writes_only_that_many_rows() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        ids = sorted(r["id"] for r in pair.store.where("device", "belongs_to__application", 1))
        target = f"{pair.proxy_url}/v6/device?{FLEET_ONE}&$orderby=id asc&$top=1"
        async with session.patch(target, json={"note": "first"}, headers=ALICE) as response:
            assert (response.status, await response.json()) == (200, "OK")
        assert [i for i in ids if pair.store.get("device", i)["note"] == "first"] == ids[:1]
        assert pair.simulator_crashes == []
