"""Filters on v6 constant fields (spec §2.5), end to end: v6 client → proxy → simulator (a real v7 evaluator).

pinejs compiles ``eq``/``ne`` to IS [NOT] DISTINCT FROM, a function of an always-NULL field is NULL, and NULL
propagates through not/and/or by SQL's three-valued logic; WHERE keeps only TRUE rows, and ``all(v:E)`` is
``NOT EXISTS(… WHERE NOT E)``. Each case states the rows the real v6 server returns on the same data.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair


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


async def test_a_path_through_an_always_null_link_reads_null(pair):
    """pinejs LEFT JOINs `is_managed_by__device` into the query: with the link always NULL every row stays and
    `device_name` below it reads NULL (`eq 'x'` FALSE, `eq null` TRUE, under not() TRUE)."""
    every = await ids(pair, "device")
    assert await ids(pair, "device", "not(is_managed_by__device/device_name eq 'x')") == every
    assert await ids(pair, "device", "is_managed_by__device/device_name eq null") == every
    assert await ids(pair, "device", f"is_managed_by__device/device_name eq 'x' or id eq {every[0]}") == [every[0]]
    assert await ids(pair, "device", "is_managed_by__device/device_tag/any(t:t/value eq 'x')") == []
    assert await ids(pair, "device", "is_managed_by__device/device_tag/all(t:t/value eq 'x')") == every
    apps = await ids(pair, "application")
    with_devices = await ids(pair, "application", "owns__device/any(d:true)")
    assert await ids(pair, "application", "owns__device/all(d:d/is_managed_by__device/device_name eq 'x')") == [
        a for a in apps if a not in with_devices
    ]


V6_TO_V7_NULL_TEXT = {"logs_channel": "note", "vpn_address": "local_id"}  # always NULL in the simulator's fleet


def random_filter(rng, var: str, depth: int = 0) -> str:
    """A random v6 device condition mixing the constant fields with real ones under and/or/not."""
    pre = f"{var}/" if var else ""
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        return (
            f"({random_filter(rng, var, depth + 1)} {rng.choice(['and', 'or'])} {random_filter(rng, var, depth + 1)})"
        )
    if depth < 3 and roll < 0.45:
        return f"not({random_filter(rng, var, depth + 1)})"
    const = pre + rng.choice(sorted(V6_TO_V7_NULL_TEXT))
    return rng.choice(
        [
            f"startswith({const},'a')",
            f"contains({const},'a')",
            f"length({const}) gt 2",
            f"length({const}) eq 3",
            f"{const} eq 'x'",
            f"{const} ne 'x'",
            f"{const} eq null",
            f"{const} ne null",
            f"{const} in ('a','b')",
            f"tolower({const}) eq 'a'",
            f"{pre}id eq {rng.randint(1, 16)}",
            f"{pre}id gt {rng.randint(1, 16)}",
            f"{pre}is_online eq true",
            f"startswith({pre}device_name,'{rng.choice('abcdefghijklmnopqrstuvwxyz')}')",
        ]
    )


async def v7_ids(pair, target: str) -> list[int]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
        async with session.get(pair.simulator_url + target.replace(" ", "%20")) as response:
            body = await response.json(content_type=None)
            assert response.status == 200, (target, body)
            return [row["id"] for row in body["d"]]


async def test_random_filters_on_constants_match_the_same_filters_on_null_columns(pair):
    """Differential: a v6 filter through the proxy keeps exactly the rows the same filter keeps when the constant
    fields are real always-NULL columns (evaluated directly by the simulator, which follows SQL's
    three-valued logic), at the top level and inside any() and all()."""
    import random
    import re

    rng = random.Random(6)
    pattern = re.compile(r"\b(" + "|".join(V6_TO_V7_NULL_TEXT) + r")\b")
    for i in range(150):
        resource, flt = (
            ("device", random_filter(rng, ""))
            if i % 3
            else ("application", f"owns__device/{'any' if i % 2 else 'all'}(d:{random_filter(rng, 'd')})")
        )
        expected = await v7_ids(
            pair,
            f"/v7/{resource}?$select=id&$orderby=id asc&$filter="
            + pattern.sub(lambda m: V6_TO_V7_NULL_TEXT[m.group(1)], flt),
        )
        assert await ids(pair, resource, flt) == expected, flt
