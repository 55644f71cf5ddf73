"""What a v6 client gets when the upstream's answer to a translated request is broken or redirects."""

from __future__ import annotations

import aiohttp
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
