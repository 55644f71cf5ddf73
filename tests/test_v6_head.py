"""HEAD on a translated /v6/ URL answers the headers v6 gave: express runs the GET route for a HEAD and sends
the headers of the body it would have sent (its Content-Length) without it, and the API's compression
middleware leaves HEAD alone. The v6 body is not the v7 one, so the proxy reads the v7 answer (a GET
upstream) and answers the v6 body's headers, the body left out."""

from __future__ import annotations

import aiohttp

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_head_answers_the_v6_bodys_headers_without_it():
    target = "/v6/device?$select=id,device_name,overall_status,should_be_running__release&$orderby=id asc"
    async with running_pair() as pair, aiohttp.ClientSession(auto_decompress=False) as s:
        plain = {**AUTH, "Accept-Encoding": "identity"}
        async with s.get(pair.proxy_url + target, headers=plain) as r:
            assert r.status == 200
            v6_body = await r.read()
        v7_target = "/v7/device?$select=id,device_name,is_pinned_on__release&$orderby=id asc"
        async with s.get(pair.simulator_url + v7_target, headers=plain) as r:
            assert len(await r.read()) != len(v6_body)  # the v7 answer's length would be wrong
        for accept in ("identity", "gzip, deflate"):  # not compressed for HEAD, as the API does
            async with s.head(pair.proxy_url + target, headers={**AUTH, "Accept-Encoding": accept}) as r:
                assert r.status == 200
                assert r.headers["Content-Length"] == str(len(v6_body))
                assert "Content-Encoding" not in r.headers
                assert r.headers["Content-Type"].startswith("application/json")
                assert await r.read() == b""
        assert len(v6_body) > 1024  # large enough that a GET accepting gzip is compressed
        async with s.get(pair.proxy_url + target, headers={**AUTH, "Accept-Encoding": "gzip"}) as r:
            assert r.headers.get("Content-Encoding") == "gzip"
    sent = {(method, path.split("?")[0]) for method, path, _ in pair.upstream_requests}
    assert ("HEAD", "/v7/device") not in sent and ("GET", "/v7/device") in sent
