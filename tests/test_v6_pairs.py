"""Recorded open-balena pairs: the proxy, fed the recorded v7 answer, gives the recorded v6 answer.

For each pair ``NN_*__v6`` / ``NN_*__v7`` (the same read through both roots of the real server, one database
state) the fixture upstream answers the recorded v7 body, and the proxy's answer to the v6 request must equal
the recorded v6 body — byte order of keys included. Pairs whose two requests do not ask the same thing are
left out (55, 58: the v7 side asked v7's own semantics; 52/62/66/68/71 have no usable v7 body).
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
import yarl
from fixtures.engine.upstream import Reply, V7Fixture

PAIRS = Path(__file__).parent / "fixtures" / "open-balena-pairs"
SKIP = {"55", "58"}


def pairs() -> list[tuple[str, dict, dict]]:
    found = []
    for v6 in sorted(PAIRS.glob("*__v6.json")):
        v7 = v6.with_name(v6.name.replace("__v6", "__v7"))
        if not v7.exists() or v6.name[:2] in SKIP:
            continue
        a, b = json.loads(v6.read_text()), json.loads(v7.read_text())
        if a["response"]["status"] == 200 and b["response"]["status"] == 200:
            found.append((v6.name[:-5], a, b))
    return found


PAIR_LIST = pairs()


@pytest.mark.parametrize("name, v6, v7", PAIR_LIST, ids=[p[0] for p in PAIR_LIST])
async def test_pair(serve_app, start_proxy, name, v6, v7):
    fixture = V7Fixture()
    running = await start_proxy(await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena")
    fixture.queue(Reply(200, v7["response"]["body"]))
    async with aiohttp.ClientSession() as s:
        async with s.get(yarl.URL(running.url + v6["request"]["path"], encoded=True)) as resp:
            status, body = resp.status, await resp.read()
    assert status == 200
    got, want = json.loads(body), v6["response"]["body"]
    assert got == want
    if isinstance(want, dict) and isinstance(want.get("d"), list):
        assert [list(r) for r in got["d"]] == [list(r) for r in want["d"]]
