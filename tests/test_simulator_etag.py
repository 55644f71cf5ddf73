"""Express's weak ETags and conditional GETs (express 4 ``res.send`` with the default ``etag: 'weak'``, the
``etag`` and ``fresh`` modules), which open-balena-api leaves on: every ``res.json`` answer is tagged and a GET
whose ``If-None-Match`` names the tag is answered ``304`` with no body. The simulator tagged nothing, so the
proxy never saw a 304 from upstream in the tests.
"""

from __future__ import annotations

import aiohttp
import pytest

from balena_v7_simulator.etag import weak_etag
from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
READ = "/v7/device?$select=id&$top=2"


def test_the_tag_is_the_etag_modules() -> None:
    assert weak_etag(b"OK") == 'W/"2-nOO9QiTIwXgNtWtBJezz8kv3SLc"'  # what express sends for /ping


async def test_answers_sent_with_res_json_are_tagged_and_empty_ones_are_not() -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        async with session.get(url + READ, headers=ADMIN) as r:
            assert r.headers["ETag"] == weak_etag(await r.read())
        async with session.get(url + "/v7/device?$filter=nope eq 1", headers=ADMIN) as r:
            assert r.status == 500 and "ETag" not in r.headers  # res.end(): no body, no tag
        async with session.get(url + "/v7/device?$select=id&$filter=(", headers=ADMIN) as r:
            assert r.status == 400 and r.headers["ETag"] == weak_etag(await r.read())  # res.json of the message
        async with session.patch(url + "/v7/device(1)", json={"note": "n"}, headers=ADMIN) as r:
            assert r.status == 200 and "ETag" not in r.headers


@pytest.mark.parametrize(
    ("condition", "status"),
    [
        ({}, 200),
        ({"If-None-Match": "TAG"}, 304),
        ({"If-None-Match": '"other", TAG'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": "STRONG"}, 304),  # weak comparison
        ({"If-None-Match": '"other"'}, 200),
        ({"If-None-Match": "TAG", "Cache-Control": "no-cache"}, 200),
    ],
)
async def test_a_conditional_get_is_304_when_the_tag_matches(condition: dict[str, str], status: int) -> None:
    async with running_simulator() as (_app, url), aiohttp.ClientSession() as session:
        async with session.get(url + READ, headers=ADMIN) as r:
            tag = r.headers["ETag"]
        headers = {k: v.replace("STRONG", tag.removeprefix("W/")).replace("TAG", tag) for k, v in condition.items()}
        async with session.get(url + READ, headers={**ADMIN, **headers}) as r:
            body = await r.read()
            assert r.status == status
            if status == 304:
                assert body == b"" and "Content-Type" not in r.headers and r.headers["ETag"] == tag


async def test_a_conditional_v6_read_through_the_proxy_is_304_until_the_data_changes() -> None:
    async with running_pair() as pair, aiohttp.ClientSession() as session:
        target = pair.proxy_url + "/v6/device?$select=id,note,overall_status&$filter=id eq 1"
        async with session.get(target, headers=ADMIN) as r:
            assert r.status == 200
            tag = r.headers["ETag"]
        async with session.get(target, headers={**ADMIN, "If-None-Match": tag}) as r:
            assert (r.status, await r.read()) == (304, b"")
        pair.store.get("device", 1)["note"] = "changed"
        async with session.get(target, headers={**ADMIN, "If-None-Match": tag}) as r:
            assert r.status == 200
            assert (await r.json())["d"][0]["note"] == "changed"
        assert pair.simulator_crashes == []
