"""A Date Time (or Text) column compared with a literal of another type: PostgreSQL reads the untyped parameter as ``timestamptz``
(pinejs binds literals untyped), so ``'2026-01-05T10:00:00Z'`` equals the stored ``…10:00:00.000Z``, a time
without a zone is the server's UTC, ``'now'`` is now, and text that is no time at all (``'abc'``) is
``invalid input syntax``, a ``DatabaseError``: 500. The simulator compared the ISO texts as strings (the first
found nothing, ``'abc'`` was 200 with no rows).
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STORED = "2026-01-05T10:00:00.000Z"  # device tags 1 and 2


@pytest.mark.parametrize(
    ("condition", "answer"),
    [
        ("created_at eq '2026-01-05T10:00:00Z'", [1, 2]),
        ("created_at eq '2026-01-05 10:00:00'", [1, 2]),
        ("created_at eq '2026-01-05T11:00:00+01:00'", [1, 2]),
        ("created_at gt '2026-01-05T10:00:00.001Z'", []),
        ("created_at lt 'now'", [1, 2]),
        ("created_at gt '2026-01-05'", [1, 2]),
        ("created_at eq 'abc'", 500),
        ("created_at gt ''", 500),
        ("created_at in ('2026-01-05T10:00:00Z', 'x')", 500),
    ],
)
async def test_a_date_time_compared_with_text_reads_it_as_postgres_does(
    condition: str, answer: list[int] | int
) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        target = f"{url}/v7/device_tag?$select=id,created_at&$orderby=id asc&$filter=id le 2 and {condition}"
        async with session.get(target, headers=ADMIN) as r:
            if isinstance(answer, int):
                assert (r.status, await r.read()) == (answer, b"")
                return
            assert r.status == 200
            rows = (await r.json())["d"]
        assert [row["id"] for row in rows] == answer
        assert all(row["created_at"] == STORED for row in rows)


async def test_a_v6_date_filter_through_the_proxy_finds_the_rows() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        target = (
            f"{pair.proxy_url}/v6/device_tag?$select=id&$orderby=id asc&$filter=created_at eq '2026-01-05T10:00:00Z'"
        )
        async with session.get(target, headers=ADMIN) as r:
            assert r.status == 200
            assert [row["id"] for row in (await r.json())["d"]][:2] == [1, 2]
        assert pair.simulator_crashes == []


@pytest.mark.parametrize(
    ("condition", "answer"),
    [
        ("tag_key eq 1", []),  # the number goes as the text '1': no row, no error
        ("value gt 1", [1, 2]),  # compared as text: 'field' and 'lab' sort after '1'
        ("id eq 'abc'", 500),  # the other way round: 'abc' is no integer
    ],
)
async def test_a_text_column_compared_with_a_number_compares_text(condition: str, answer: list[int] | int) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        target = f"{url}/v7/device_tag?$select=id&$orderby=id asc&$filter=id le 2 and {condition}"
        async with session.get(target, headers=ADMIN) as r:
            if isinstance(answer, int):
                assert (r.status, await r.read()) == (answer, b"")
                return
            assert r.status == 200
            assert [row["id"] for row in (await r.json())["d"]] == answer
