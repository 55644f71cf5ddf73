"""A value compared with a boolean is read by PostgreSQL's ``boolin``: pinejs binds the literal untyped
(node-postgres sends ``'abc'``, ``'1'``, ``'true'`` as text) and PostgreSQL takes the column's type, so a text
that is no boolean is ``invalid input syntax for type boolean``, a ``DatabaseError``: 500, empty body; and
``true`` against an integer column fails the same way. The simulator compared them as unequal values (200, no
rows), so a proxy writing ``is_final eq 'final'`` for a v6 ``release_type`` filter would have passed.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize(
    ("condition", "status"),
    [
        ("is_final eq 'final'", 500),
        ("is_final eq ''", 500),
        ("is_final eq 2", 500),
        ("is_invalidated eq 'abc'", 500),
        ("id eq true", 500),
        ("is_final eq 'true'", 200),
        ("is_final eq 'f'", 200),
        ("is_final eq 'Yes'", 200),
        ("is_final eq 'off'", 200),
        ("is_final eq 1", 200),
        ("is_final in (true, 'no')", 200),
    ],
)
async def test_a_boolean_compared_with_what_postgres_cannot_read_as_one_is_a_500(condition: str, status: int) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        async with session.get(f"{url}/v7/release?$select=id&$filter={condition}", headers=ADMIN) as r:
            body = await r.read()
            assert r.status == status
            if status == 500:
                assert body == b""


async def test_v6_release_type_filters_through_the_proxy_are_valid_v7() -> None:
    """The proxy's translation of ``release_type`` (spec §2.5) gives v7 filters PostgreSQL accepts."""
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        for condition in ("release_type eq 'final'", "release_type eq 'draft'", "release_type ne 'final'"):
            target = f"{pair.proxy_url}/v6/release?$select=id,release_type&$filter={condition}"
            async with session.get(target, headers=ADMIN) as r:
                assert r.status == 200, condition
                rows = (await r.json())["d"]
            want = condition.split("'")[1]
            assert all((row["release_type"] == want) == (" eq " in condition) for row in rows), condition
        assert pair.simulator_crashes == []
