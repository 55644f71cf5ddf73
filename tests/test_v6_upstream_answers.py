"""What a v6 client gets when the upstream's answer to a translated request is broken or redirects."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from aiohttp import web

TRUNCATED = b'{"d": [{"id": 1, "is_pinned_on__release": {"__id": 3}, "device_na'


def broken_upstream(body: bytes, content_type: str = "application/json") -> web.Application:
    """Answers every /v7/ read with ``body`` (a correct Content-Length, so nothing looks cut on the wire)."""

    async def v7(request: web.Request) -> web.Response:
        if request.path == "/v7/$metadata":
            return web.Response(status=401)
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_route("*", "/v7/{tail:.*}", v7)
    return app


@pytest.mark.parametrize("body", [TRUNCATED, b"<html>oops</html>", b'{"d": [1, 2,]}'])
async def test_a_broken_json_answer_is_a_502_naming_the_cause(serve_app, start_proxy, log_output, body):
    proxy = await start_proxy(await serve_app(broken_upstream(body)), upstream_flavour="balena-cloud")
    async with aiohttp.ClientSession() as client:
        url = proxy.url + "/v6/device?$select=id,should_be_running__release"
        async with client.get(url) as response:
            assert response.status == 502
            message = await response.json()
    assert message.startswith("Bad upstream answer: the upstream answer is not valid JSON (")
    assert "device_na" not in message  # the cause, never the partial document
    [event] = log_output.events("request")
    assert event["status"] == 502 and event["upstream_status"] == 200 and event["upstream_invalid_json"] is True


async def test_a_date_that_is_no_date_where_the_proxy_decides_a_filter_is_a_502(serve_app, start_proxy, log_output):
    """The proxy decides a client's date `$filter` itself (`proxy/engine/dates.py`, next to a count key it
    sorts by); an upstream answering something else than a date there is a bad upstream answer, never the
    client's 400 and never a guess."""
    answer = {"d": [{"id": 1, "image_install": [{"id": 7, "install_date": 5}]}]}
    proxy = await start_proxy(await serve_app(broken_upstream(orjson.dumps(answer))), upstream_flavour="open-balena")
    expand = "$expand=image_install($select=id,install_date;$filter=install_date gt datetime'2026-01-01')"
    async with aiohttp.ClientSession() as client:
        url = proxy.url + f"/v6/device?$select=id&{expand}&$orderby=image_install/$count desc,overall_status asc,id asc"
        async with client.get(url) as response:
            assert response.status == 502
            message = await response.json()
    assert message == (
        "Bad upstream answer: a $filter the proxy decides compares install_date, where the v7 answer holds no date"
    )
    [event] = log_output.events("request")
    assert event["status"] == 502 and event["upstream_invalid_json"] is True
