"""Three rules of the real API the simulator missed (a reviewer's findings, checked against the sources the server runs):

- ``x in (…)`` compiles to SQL ``IN`` (abstract-sql-compiler's optimiser turns ``Not(In)`` into ``NotIn``, the same
  thing in SQL): with a ``null`` among the values a row matching none of the others is NULL, not FALSE, so
  ``not (id in (1, null))`` keeps no row at all (three-valued logic).
- abstract-sql-compiler's ``In``/``NotIn`` take a plain field only (``Field()`` throws otherwise), and
  odata-to-abstract-sql reads every ``Date Time`` field in a ``$filter`` as ``DATE_TRUNC('milliseconds', …)``
  (``ReferencedProperty``): a Date Time column (or a function, a literal) asked ``in`` a list cannot be compiled,
  pinejs answers 500 with an empty body.
- A ``datetime'…'`` literal is bound as a JS Date and read as ``timestamptz`` (4714-11-24 BC .. 294276 AD), so
  every date the parser takes (JS Date's ±8.64e15 ms) is compared, even outside Python's years 1-9999; only a
  date before PostgreSQL's first one (or a date plus a duration outside its range) is ``timestamp out of range``,
  a 500.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _ids(url: str, resource: str, condition: str) -> list[int] | int:
    """The ids a v7 read with ``$filter=condition`` answers, or its status when that is no 200 (the body then
    checked to be empty)."""
    async with aiohttp.ClientSession() as session:
        target = f"{url}/v7/{resource}?$select=id&$orderby=id asc&$filter={condition}"
        async with session.get(target, headers=ADMIN) as r:
            if r.status != 200:
                assert await r.read() == b""
                return r.status
            return [row["id"] for row in (await r.json())["d"]]


@pytest.mark.parametrize(
    ("condition", "answer"),
    [
        ("id le 3 and id in (1, null)", [1]),
        ("id le 3 and not (id in (1, null))", []),  # 2 IN (1, NULL) is NULL; NOT NULL is NULL
        ("id le 3 and not (not (id in (1, null)))", [1]),
        ("id le 3 and (not (id in (1, null)) or id eq 2)", [2]),
        ("id le 3 and id in (null)", []),
        ("id le 3 and not (id in (null))", []),
        ("id le 3 and not (id in (1, 2))", [3]),
        ("id le 3 and id ne 1 and not (id in (3, null))", []),
        ("id le 3 and not (id in (1, 2)) and id ne 3", []),
    ],
)
async def test_in_with_a_null_value_is_sql_in(condition: str, answer: list[int]) -> None:
    async with running_simulator() as (_app, url):
        assert await _ids(url, "device", condition) == answer


@pytest.mark.parametrize(
    "condition",
    [
        "install_date in (datetime'2026-01-05T10:00:00Z')",
        "install_date in (datetime'2026-01-05T10:00:00Z', datetime'2026-02-01T12:00:00Z')",
        "not (install_date in (datetime'2026-01-05T10:00:00Z'))",
        "id eq 0 and created_at in ('2026-01-05T10:00:00Z')",  # no row needed: compilation fails first
        "installs__image/created_at in (datetime'2026-01-05T10:00:00Z')",
        "tolower(status) in ('idle')",
        "length(status) in (4)",
        "1 in (1, 2)",
    ],
)
async def test_in_over_anything_but_a_plain_field_is_the_servers_500(condition: str) -> None:
    async with running_simulator() as (app, url):
        assert await _ids(url, "image_install", condition) == 500
        from balena_v7_simulator.app import SIM_CRASHES

        assert app[SIM_CRASHES] == []


async def test_in_over_a_plain_field_still_answers() -> None:
    async with running_simulator() as (_app, url):
        assert await _ids(url, "image_install", "id in (3, 1, null)") == [1, 3]
        assert await _ids(url, "image_install", "installs__image in (-1)") == []


async def test_a_date_time_in_through_the_proxy_is_the_servers_500() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        target = (
            f"{pair.proxy_url}/v6/image_install?$select=id&$filter=install_date in (datetime'2026-01-05T10:00:00Z')"
        )
        async with session.get(target, headers=ADMIN) as r:
            assert r.status == 500
        assert pair.simulator_crashes == []


@pytest.mark.parametrize(
    ("condition", "answer"),
    [
        ("install_date lt datetime'+275760-09-13T00:00:00Z'", [1, 2, 3]),
        ("install_date gt datetime'+275760-09-13T00:00:00Z'", []),
        ("install_date gt datetime'-000001-01-01T00:00:00Z'", [1, 2, 3]),
        ("install_date lt datetime'-000001-01-01T00:00:00Z'", []),
        ("install_date eq datetime'0000-01-01T00:00:00Z'", []),
        ("install_date ne datetime'-271821-04-20T00:00:00Z'", 500),  # before 4714-11-24 BC: out of range
        ("install_date gt datetime'-004713-11-24T00:00:00Z'", [1, 2, 3]),  # PostgreSQL's first moment
        ("year(datetime'+275760-09-13T00:00:00Z') eq 275760", [1, 2, 3]),
        ("year(datetime'0000-06-01T00:00:00Z') eq -1", [1, 2, 3]),  # EXTRACT: 1 BC is year -1 (no year 0)
        ("month(datetime'-000001-03-01T00:00:00Z') eq 3", [1, 2, 3]),
        ("install_date add duration'P3650000D' lt datetime'+275760-09-13T00:00:00Z'", [1, 2, 3]),
        ("datetime'+275760-09-13T00:00:00Z' sub duration'P100000000D' lt install_date", [1, 2, 3]),
        ("datetime'+275760-09-13T00:00:00Z' add duration'P10000000D' gt install_date", 500),  # past 294276 AD
        ("install_date sub duration'P2000000D' lt install_date", [1, 2, 3]),  # 3450 BC
        ("install_date sub duration'P3000000D' lt install_date", 500),  # 6188 BC: timestamp out of range
    ],
)
async def test_a_date_outside_pythons_years_is_compared(condition: str, answer: list[int] | int) -> None:
    async with running_simulator() as (app, url):
        assert await _ids(url, "image_install", f"id le 3 and {condition}") == answer
        from balena_v7_simulator.app import SIM_CRASHES

        assert app[SIM_CRASHES] == []


async def test_a_far_date_through_the_proxy_finds_the_rows() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        target = (
            f"{pair.proxy_url}/v6/image_install?$select=id&$orderby=id asc"
            "&$filter=id le 3 and install_date lt datetime'+275760-09-13T00:00:00Z'"
        )
        async with session.get(target, headers=ADMIN) as r:
            assert r.status == 200
            assert [row["id"] for row in (await r.json())["d"]] == [1, 2, 3]
        assert pair.simulator_crashes == []
