"""The upstream's /v7/$metadata: with upstream_api_key set, a failed read is a warning and is retried in the
background until it succeeds; without a key, one attempt and an info line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
from aiohttp import web

import proxy.v6

XML = (Path(__file__).parent / "fixtures" / "engine" / "v6-metadata.xml").read_text(encoding="utf-8")
WITH_NEW_FIELD = XML.replace(
    '<Property Name="note" Type="Edm.String" Nullable="true" />',
    '<Property Name="note" Type="Edm.String" Nullable="true" />\n'
    '<Property Name="brand_new_field" Type="Edm.String" Nullable="true" />',
    1,
)


def flaky_upstream(failures: int) -> tuple[web.Application, list[str | None]]:
    """``/v7/$metadata`` answers 503 ``failures`` times, then the document; devices have a field v7 just added."""
    seen: list[str | None] = []

    async def metadata(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        if len(seen) <= failures:
            return web.Response(status=503)
        return web.Response(body=json.dumps(WITH_NEW_FIELD).encode(), headers={"Content-Type": "xml"})

    async def device(request: web.Request) -> web.Response:
        selected = request.query.get("$select", "").split(",")  # what the proxy asked for, as pinejs would
        return web.json_response({"d": [{k: v for k, v in {"id": 1, "brand_new_field": "x"}.items() if k in selected}]})

    app = web.Application()
    app.router.add_get("/v7/$metadata", metadata)
    app.router.add_get("/v7/device", device)
    return app, seen


async def read(url: str) -> object:
    async with aiohttp.ClientSession() as client:
        async with client.get(url + "/v6/device?$select=id,brand_new_field") as response:
            return await response.json()


async def test_a_failed_read_with_a_key_is_retried_until_it_succeeds(serve_app, start_proxy, log_output, monkeypatch):
    monkeypatch.setattr(proxy.v6, "METADATA_RETRY_FIRST", 0.1)
    app, seen = flaky_upstream(failures=3)
    running = await start_proxy(await serve_app(app), upstream_flavour="open-balena", upstream_api_key="meta-key")
    assert await read(running.url) == {"d": [{"id": 1}]}  # the bundled model serves meanwhile
    for _ in range(100):
        if log_output.events("upstream_metadata_merged"):
            break
        await asyncio.sleep(0.05)
    warnings = log_output.events("upstream_metadata_unavailable")
    assert [w["level"] for w in warnings] == ["warning"] * 3
    assert warnings[0]["reason"] == "status 503" and [w.get("attempt") for w in warnings] == [None, 2, 3]
    assert len(log_output.events("upstream_metadata_merged")) == 1 and seen == ["Bearer meta-key"] * 4
    assert await read(running.url) == {"d": [{"id": 1, "brand_new_field": "x"}]}


async def test_without_a_key_one_attempt_and_an_info_line(serve_app, start_proxy, log_output, monkeypatch):
    monkeypatch.setattr(proxy.v6, "METADATA_RETRY_FIRST", 0.05)
    app, seen = flaky_upstream(failures=1)
    await start_proxy(await serve_app(app), upstream_flavour="open-balena")
    await asyncio.sleep(0.5)
    [event] = log_output.events("upstream_metadata_unavailable")
    assert event["level"] == "info" and event["reason"] == "status 503"
    assert seen == [None]


async def test_an_unreachable_upstream_names_the_reason(start_proxy, log_output):
    await start_proxy("http://127.0.0.1:9", upstream_flavour="open-balena", upstream_api_key="k")
    [event] = log_output.events("upstream_metadata_unavailable")
    assert event["level"] == "warning" and event["reason"].startswith(
        "Upstream unavailable: cannot connect to 127.0.0.1:9"
    )
