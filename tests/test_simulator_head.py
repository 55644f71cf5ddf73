"""HEAD on an OData path: express hands it to pinejs's GET route with the method kept, and pinejs has no HEAD
(sbvr-utils runRequest/respond switch over GET/POST/PUT/PATCH/MERGE/DELETE/OPTIONS only; odata-to-abstract-sql
``match`` throws ``Unknown method "HEAD"``, which uri-parser makes a TranslationError: 500, empty body). The
simulator used to answer it as a GET without the body, so a proxy that turned a v6 HEAD into a 200 looked
right. Through the proxy the v6 client gets the API's own answer."""

from __future__ import annotations

import aiohttp

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_head_is_the_translators_500_on_the_api_and_through_the_proxy():
    async with running_pair() as pair, aiohttp.ClientSession() as s:
        for url in (pair.simulator_url + "/v7/device?$select=id", pair.proxy_url + "/v6/device?$select=id"):
            async with s.head(url, headers=AUTH) as r:
                assert (r.status, await r.read()) == (500, b""), url
            async with s.get(url, headers=AUTH) as r:  # the same URL read is fine
                assert r.status == 200, url
        assert pair.simulator_crashes == []
        sent = [(method, path.split("?")[0]) for method, path, _ in pair.upstream_requests]
        assert ("HEAD", "/v7/device") in sent  # the proxy asked the API's answer, it did not make one up


async def test_head_needs_a_caller_and_a_known_resource_first():
    async with running_pair() as pair, aiohttp.ClientSession() as s:
        async with s.head(pair.simulator_url + "/v7/device?$select=id") as r:
            assert r.status == 401
        async with s.head(pair.simulator_url + "/v7/device?$filter=(", headers=AUTH) as r:
            assert r.status == 400  # parsed before it is translated
