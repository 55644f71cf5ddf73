"""A client's ``$filter`` over a ``Date Time`` column that the proxy decides itself (an expansion it asks of v7
whole next to a key or value it reads through it, ``proxy/engine/walk_gates.py``; was a 400).

The facts relied on (``proxy/engine/dates.py``): the database keeps the column with microseconds, but in a
``$filter`` odata-to-abstract-sql compares ``DATE_TRUNC('milliseconds', field, 'UTC')``; pinejs answers the same
millisecond (node-postgres ``postgres-date`` reads three digits of the fraction, sub-millisecond digits
truncated; ``@balena/sbvr-types`` Date Time ``fetchProcessing`` answers ``toISOString()``); a ``datetime'…'``
literal is ``Date.parse``'s whole millisecond (``@balena/odata-parser``). So every comparison is decided from
the answered value, a row equal to the literal to the millisecond too. The simulator keeps milliseconds only,
so the proxy's answer is the simulator's own (the oracle: the same filter sent to it).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import aiohttp
import pytest
import yarl

from balena_v7_simulator.app import create_simulator_app
from balena_v7_simulator.fixtures import ADMIN_TOKEN
from proxy.engine.apply import UpstreamValueUnreadable
from proxy.engine.dates import keeps, milliseconds

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# install_date values of the bundled fleet: 2026-01-05T10:00, 2026-02-01T12:00 and 2026-03-01T08:30 (UTC)
FEB = "2026-02-01T12:00:00"


@pytest.fixture
async def proxy(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app(flavour="balena-cloud"))
    running = await start_proxy(upstream, v6_mode="translate", upstream_flavour="balena-cloud")
    return running.url


async def get(base: str, path: str):
    async with aiohttp.ClientSession(headers=AUTH) as s:
        async with s.get(yarl.URL(base + path.replace(" ", "%20").replace("+", "%2B"), encoded=True)) as resp:
            return resp.status, await resp.json(content_type=None)


async def assert_in_order(proxy: str, plain: str, order: str, query: str) -> None:
    """`device?<query>&<order>` answers the rows of `device?<query>` (the simulator decides its $filters) in
    the order of `device?$select=id&<order>` (the proxy's own count or join)."""
    _, ordered = await get(proxy, f"/v6/device?$select=id&{order}")
    _, rows = await get(proxy, f"/v6/device?{plain}")
    row_of = {r["id"]: r for r in rows["d"]}
    status, body = await get(proxy, f"/v6/device?{query}&{order}")
    assert status == 200, (query, body)
    assert body["d"] == [row_of[r["id"]] for r in ordered["d"]], query


DECIDED = (
    f"install_date ge datetime'{FEB}Z'",
    f"install_date lt datetime'{FEB}.000Z'",
    f"install_date gt datetime'{FEB}.001Z'",
    "install_date gt datetime'2026-02-01T11:59:59.999Z'",
    f"install_date le datetime'{FEB}.500Z' and install_date ne datetime'2026-01-05T10:00:00.001Z'",
    f"not (install_date ge datetime'{FEB}Z') or install_date eq null",
    "install_date eq null",
    "install_date ge datetime'2026-02-01T13:00:00+01:00' and install_date gt datetime'1969-12-31T23:59:59.999Z'",
    "install_date lt date'2026-02-02'",
    "install_date gt datetime'2026-01-05T10:00:00.5Z' and id gt 2",
    f"install_date lt datetime'{FEB}.001Z' and install_date ge datetime'2026-01-05T09:59:59.999Z' or id eq 3",
)
AT_THE_LITERAL = (  # a row's value equals the literal (or the other column's) to the millisecond
    f"install_date gt datetime'{FEB}Z'",
    "install_date eq datetime'2026-03-01T08:30:00Z'",
    f"install_date le datetime'{FEB}Z'",
    "not (install_date ne datetime'2026-01-05T10:00:00Z')",
    "install_date eq datetime'2026-03-01T08:30:00Z' or install_date eq datetime'2026-03-01T08:30:00.001Z'",
)


async def test_a_collection_expansion_filtered_by_a_date_next_to_a_count_key(proxy):
    """`device?$expand=image_install($filter=<date>)&$orderby=image_install/$count desc,overall_status`: the
    proxy asks for every install (v6's count saw them all), counts them, and keeps the ones the $filter keeps."""
    orderby = "$orderby=image_install/$count desc,overall_status asc,id asc"
    _, order = await get(proxy, f"/v6/device?$select=id&{orderby}")
    # the last: every install's two dates are equal to the millisecond
    for flt in (*DECIDED, *AT_THE_LITERAL, "install_date ge created_at", "install_date gt created_at"):
        expand = f"$expand=image_install($select=id,install_date;$filter={flt})"
        _, plain = await get(proxy, f"/v6/device?$select=id&{expand}")  # the simulator decides the $filter
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/device?$select=id&{expand}&{orderby}")
        assert status == 200, (flt, body)
        assert body["d"] == [row_of[r["id"]] for r in order["d"]], flt
        if flt == DECIDED[-1]:
            kept = {len(row_of[i]["image_install"]) for i in row_of}
            assert len(kept) > 1  # this $filter keeps some installs and leaves out others
        if flt == AT_THE_LITERAL[1]:  # eq the March install's value: kept where it occurs
            assert any(row_of[i]["image_install"] for i in row_of)


async def test_a_filtered_count_key_by_a_date_read_from_the_clients_expansion(proxy):
    """`$orderby=image_install/$count($filter=<date>)` with the client's whole `$expand=image_install`: counted
    by the proxy from the expansion (the order of the same request without the expansion, v7's, is the oracle)."""
    for flt in DECIDED[:3]:
        orderby = f"$orderby=image_install/$count($filter={flt}) desc,overall_status asc,id asc"
        query = "$select=id&$expand=image_install($select=id)"
        await assert_in_order(proxy, query, orderby, query)
    for flt in AT_THE_LITERAL[:2]:
        orderby = f"$orderby=image_install/$count($filter={flt}) desc,overall_status asc,id asc"
        query = "$select=id&$expand=image_install($select=id)"
        await assert_in_order(proxy, query, orderby, query)


async def test_a_single_valued_link_filtered_by_a_date_next_to_a_derived_path(proxy):
    """`image_install?$select=device/overall_status&$expand=device($filter=<date>)`: v6 joined the device for
    the path whatever the expansion left out; the proxy asks for the device whole and leaves it out again where
    the $filter does not hold (every device was created at 2026-02-01T12:00Z: `gt`/`le` at that millisecond
    decided as the database's millisecond-truncated column is)."""
    for flt, kept in (
        (f"created_at ge datetime'{FEB}Z'", True),
        (f"created_at lt datetime'{FEB}Z'", False),
        (f"created_at gt datetime'{FEB}Z'", False),
        (f"created_at le datetime'{FEB}Z'", True),
    ):
        expand = f"$expand=device($select=id;$filter={flt})"
        _, plain = await get(proxy, f"/v6/image_install?$select=id&{expand}")
        _, values = await get(proxy, "/v6/image_install?$select=id,device/overall_status")
        assert all(bool(r["device"]) is kept for r in plain["d"])
        status, body = await get(proxy, f"/v6/image_install?$select=id,device/overall_status&{expand}")
        assert status == 200, body
        assert body["d"] == [{**p, **v} for p, v in zip(plain["d"], values["d"], strict=True)]


async def test_what_the_proxy_does_not_decide_stays_the_clear_400(proxy):
    """A date through a function, arithmetic or the database's clock (`now()`): the proxy cannot compute it
    as the database does, so the key through the expansion stays the 400 it was."""
    for flt in (
        "year(install_date) eq 2026",
        "install_date gt now()",
        "install_date gt 5",
        f"install_date ge datetime'{FEB}Z' and id gt datetime'{FEB}Z'",  # a date literal next to a number column
        # odata-to-abstract-sql reads the column as DATE_TRUNC(…), which abstract-sql-compiler's `In` refuses
        # (a field only): the server's 500, never an answer
        f"install_date in (datetime'{FEB}Z', null)",
        f"not (install_date in (datetime'{FEB}Z'))",
        f"id in (datetime'{FEB}Z')",
    ):
        expand = f"$expand=image_install($select=id;$filter={flt})"
        status, body = await get(proxy, f"/v6/device?$select=id&{expand}&$orderby=image_install/$count,overall_status")
        assert status == 400, (flt, body)
        assert body.endswith("through the v6 proxy"), body


def test_an_answered_date_in_milliseconds():
    """pinejs's `toISOString()` text as milliseconds since the epoch, exactly (before 1970 too)."""
    assert milliseconds("1970-01-01T00:00:00.001Z") == 1
    assert milliseconds("1969-12-31T23:59:59.999Z") == -1
    assert milliseconds("2026-02-01T12:00:00.123Z") == 1769947200123
    assert milliseconds(None) is None


def test_an_answered_date_with_an_offset_or_before_1970():
    """Any offset names the same instant; before 1970 the millisecond is floored (the value lies in it)."""
    assert milliseconds("2026-02-01T13:00:00.000+01:00") == milliseconds(f"{FEB}.000Z") == 1769947200000
    assert milliseconds("1969-12-31T23:59:59.999500Z") == -1
    assert milliseconds("1969-12-31T23:59:59.000500+00:00") == -1000
    # toISOString's years outside 0001-9999 (node: Date.parse of the same text)
    assert milliseconds("+275760-09-13T00:00:00.000Z") == 8_640_000_000_000_000
    assert milliseconds("-271821-04-20T00:00:00.000Z") == -8_640_000_000_000_000
    assert milliseconds("0000-01-01T00:00:00.000Z") == -62167219200000
    assert milliseconds("-000001-12-31T23:59:59.999Z") == -62167219200001
    late = keeps("install_date gt datetime'9999-12-31T23:59:59.999Z'", ("install_date",))
    assert late({"install_date": "+010000-01-01T00:00:00.000Z"}) and not late(
        {"install_date": "2026-01-01T00:00:00.000Z"}
    )
    with pytest.raises(UpstreamValueUnreadable):  # never pinejs's: the proxy does not guess
        keeps(f"install_date gt datetime'{FEB}Z'", ("install_date",))({"install_date": 5})


def test_two_dates_compared_with_each_other():
    """Compared by their milliseconds, equal ones too (the database compares both truncated so)."""
    both = ("install_date", "created_at")
    later = {"install_date": "2026-02-01T12:00:00.001Z", "created_at": "2026-02-01T12:00:00.000Z"}
    equal = {**later, "created_at": later["install_date"]}
    assert keeps("install_date gt created_at", both)(later)
    assert not keeps("install_date gt created_at", both)(equal)
    assert keeps("install_date ge created_at", both)(equal)
    assert keeps("install_date eq created_at", both)(equal)
    assert not keeps("install_date gt created_at", both)({**later, "created_at": None})
    assert not keeps("not (install_date gt created_at)", both)({**later, "created_at": None})  # NULL


def test_null_dates_as_the_server_compares_them():
    """`eq`/`ne` are IS (NOT) DISTINCT FROM (odata-to-abstract-sql), the rest SQL's three-valued logic."""
    null = {"install_date": None}
    feb = f"datetime'{FEB}Z'"
    for condition, kept in (
        (f"install_date ne {feb}", True),
        (f"not (install_date eq {feb})", True),
        (f"install_date eq {feb}", False),
        (f"install_date gt {feb}", False),
        (f"not (install_date gt {feb})", False),
        ("install_date eq null", True),
        ("install_date ne null", False),
    ):
        assert keeps(condition, ("install_date",))(null) is kept, condition
    assert keeps("install_date gt datetime'1969-12-31T23:59:59.999Z'", ("install_date",))(
        {"install_date": "1970-01-01T00:00:00.000Z"}
    )
    assert not keeps("install_date lt date'1960-01-01'", ("install_date",))(
        {"install_date": "1960-01-01T00:00:00.000Z"}
    )


def _random_filter(rng: random.Random, instants: list[int]) -> tuple[str, set[int]]:
    """A random condition over install_date (comparisons with literals at, next to or between the fleet's
    values, combined with and/or/not) and the literals it compares with (milliseconds)."""
    used: set[int] = set()

    def leaf() -> str:
        if rng.random() < 0.1:
            return f"install_date {rng.choice(['eq', 'ne'])} null"
        at = rng.choice(instants) + rng.choice([0, 0, 1, -1, 500, -86_400_000])
        used.add(at)
        text = datetime.fromtimestamp(at / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return f"install_date {rng.choice(['eq', 'ne', 'gt', 'ge', 'lt', 'le'])} datetime'{text}'"

    def expr(depth: int) -> str:
        roll = rng.random()
        if depth == 0 or roll < 0.4:
            return leaf()
        if roll < 0.55:
            return f"not ({expr(depth - 1)})"
        return f"({expr(depth - 1)}) {rng.choice(['and', 'or'])} ({expr(depth - 1)})"

    return expr(2), used


async def test_random_date_filters_agree_with_the_server(proxy):
    """120 generated conditions (seeded, bounded): the proxy answers exactly what the simulator's own $filter
    gives, where an install's date equals a compared literal to the millisecond too."""
    _, installs = await get(proxy, "/v6/image_install?$select=id,install_date")
    values = {milliseconds(r["install_date"]) for r in installs["d"]}
    instants = sorted(v for v in values if v is not None)
    orderby = "$orderby=image_install/$count desc,overall_status asc,id asc"
    _, order = await get(proxy, f"/v6/device?$select=id&{orderby}")
    rng = random.Random(12)
    at_a_value = 0
    for _ in range(120):
        flt, used = _random_filter(rng, instants)
        expand = f"$expand=image_install($select=id;$filter={flt})"
        _, plain = await get(proxy, f"/v6/device?$select=id&{expand}")
        row_of = {r["id"]: r for r in plain["d"]}
        status, body = await get(proxy, f"/v6/device?$select=id&{expand}&{orderby}")
        assert status == 200, (flt, body)
        assert body["d"] == [row_of[r["id"]] for r in order["d"]], flt
        at_a_value += bool(used & values)
    assert at_a_value > 5, at_a_value  # conditions comparing with a row's own value were among them


async def test_a_count_the_client_expands_with_a_date_filter_next_to_a_count_key(proxy):
    """`$expand=image_install/$count($filter=<date>)` next to `$orderby=image_install/$count`: the key counts
    every install, the client's count only those its $filter keeps; the proxy asks for the rows and counts both."""
    orderby = "$orderby=image_install/$count desc,overall_status asc,id asc"
    for flt in (*DECIDED[:4], *AT_THE_LITERAL[:2]):
        query = f"$select=id&$expand=image_install/$count($filter={flt})"
        await assert_in_order(proxy, query, orderby, query)
