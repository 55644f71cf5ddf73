"""Filters on v6 constant fields (spec §2.5), end to end: v6 client → proxy → simulator (a real v7 evaluator).

pinejs compiles ``eq``/``ne`` to IS [NOT] DISTINCT FROM, a function of an always-NULL field is NULL, and NULL
propagates through not/and/or by SQL's three-valued logic; WHERE keeps only TRUE rows, and ``all(v:E)`` is
``NOT EXISTS(… WHERE NOT E)``. Each case states the rows the real v6 server returns on the same data.
"""

from __future__ import annotations

import aiohttp
import pytest

from proxy.simulator.fixtures import ADMIN_TOKEN
from proxy.simulator.harness import running_pair


@pytest.fixture
async def pair():
    async with running_pair(flavour="open-balena", proxy_overrides={"log_level": "warning"}) as running:
        yield running


async def ids(pair, resource: str, flt: str | None = None) -> list[int]:
    target = f"/v6/{resource}?$select=id&$orderby=id asc" + (f"&$filter={flt}" if flt else "")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
        async with session.get(pair.proxy_url + target.replace(" ", "%20")) as response:
            body = await response.json(content_type=None)
            assert response.status == 200, body
            return [row["id"] for row in body["d"]]


async def test_null_under_not_and_or_follows_three_valued_logic(pair):
    every = await ids(pair, "device")
    assert len(every) >= 3
    first, second = every[0], every[1]
    null = "startswith(logs_channel,'a')"  # SQL NULL on every row
    cases = {
        f"{null} or id eq {first}": [first],  # NULL or TRUE = TRUE
        f"not({null} or id eq {first})": [],  # NOT(TRUE) = FALSE, NOT(NULL) = NULL: no row
        f"not({null} and id eq {first})": [i for i in every if i != first],  # NULL and FALSE = FALSE
        f"not(not({null} or id eq {first}) and id eq {second})": [i for i in every if i != second],
        f"not({null})": [],
        f"not(length(vpn_address) gt 3 and id eq {first})": [i for i in every if i != first],
    }
    for flt, expected in cases.items():
        assert await ids(pair, "device", flt) == expected, flt


async def test_eq_against_a_constant_is_is_not_distinct_from(pair):
    every = await ids(pair, "device")
    with_os = await ids(pair, "device", "os_version ne null")
    without_os = [i for i in every if i not in with_os]
    assert with_os and without_os
    assert await ids(pair, "device", "logs_channel eq os_version") == without_os  # NULL IS NOT DISTINCT FROM os_version
    assert await ids(pair, "device", "os_version ne vpn_address") == with_os
    assert await ids(pair, "device", "logs_channel eq vpn_address") == every  # NULL = NULL here
    assert await ids(pair, "device", "not(logs_channel in ('a','b'))") == []  # NULL IN (…) is NULL


async def test_all_over_a_null_body_is_true(pair):
    every = await ids(pair, "application")
    assert await ids(pair, "application", "owns__device/all(d:startswith(d/logs_channel,'a'))") == every
    assert await ids(pair, "application", "owns__device/any(d:startswith(d/logs_channel,'a'))") == []


async def test_a_path_through_an_always_null_link_returns_no_row(pair):
    """pinejs joins `is_managed_by__device` into the query: with the link always NULL no row survives, even
    under not()."""
    assert await ids(pair, "device", "not(is_managed_by__device/device_name eq 'x')") == []
    assert await ids(pair, "device", "is_managed_by__device/device_name eq 'x' or id gt 0") == []
    every = await ids(pair, "application")
    assert await ids(pair, "application", "owns__device/all(d:d/is_managed_by__device/device_name eq 'x')") == every
