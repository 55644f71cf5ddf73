"""Access events and secrets: tokens never reach a log line or an error body."""

from __future__ import annotations

import io
import json

import aiohttp
import orjson
import pytest
from aiohttp import web
from conftest import free_port, raw_request
from yarl import URL

from proxy.errors import mask_secrets, may_hold_secret
from proxy.logs import LOG_EXTRA
from proxy.middlewares import request_context

SECRETS = ("SECRET-BEARER-123", "SECRET-APIKEY-456", "SECRET-COOKIE-789")


async def upstream_app() -> web.Application:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"d": []})

    app = web.Application()
    app.router.add_get("/{tail:.*}", ok)
    return app


async def send_with_secrets(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as client:
        async with client.get(
            url + f"/v6/device?$select=id&apikey={SECRETS[1]}",
            headers={
                "Authorization": f"Bearer {SECRETS[0]}",
                "Cookie": f"session={SECRETS[2]}",
                "User-Agent": "balena-sdk-test",
                "X-Balena-Client": "balena-cli/19.0.0",
            },
        ) as response:
            return response.status, await response.text()


async def test_access_event_has_the_fields_and_no_secrets(serve_app, start_proxy, log_output):
    proxy = await start_proxy(await serve_app(await upstream_app()), v6_mode="forward")
    status, _ = await send_with_secrets(proxy.url)
    assert status == 200
    [event] = log_output.events("request")
    assert event["method"] == "GET" and event["status"] == 200 and event["upstream_status"] == 200
    assert event["path"] == "/v6/device?$select=id&apikey=***"
    assert event["client"] == "127.0.0.1"
    assert event["user_agent"] == "balena-sdk-test" and event["balena_client"] == "balena-cli/19.0.0"
    assert len(event["credential"]) == 12
    for field in ("request_id", "duration_ms", "upstream_ms", "bytes_in", "bytes_out", "timestamp", "level"):
        assert field in event
    for secret in SECRETS:
        assert secret not in log_output.text


async def test_error_bodies_and_logs_have_no_secrets(start_proxy, log_output):
    proxy = await start_proxy(f"http://127.0.0.1:{free_port()}", v6_mode="forward")
    status, body = await send_with_secrets(proxy.url)
    assert status == 502
    for secret in SECRETS:
        assert secret not in body and secret not in log_output.text
    assert log_output.events("request")[0]["status"] == 502


async def test_handler_fields_reach_the_access_event(serve_app, log_output):
    async def handler(request: web.Request) -> web.Response:
        request[LOG_EXTRA].update(translated=True, v6_features=["x"])
        return web.Response(text="ok")

    plain = web.Application(middlewares=[request_context])
    plain.router.add_get("/t", handler)
    url = await serve_app(plain)
    async with aiohttp.ClientSession() as client:
        async with client.get(url + "/t") as r:
            assert r.status == 200
    [event] = log_output.events("request")
    assert event["translated"] is True and event["v6_features"] == ["x"]


@pytest.mark.parametrize(
    "malformed",
    [
        b"GET /v6/device HTTP/1.1\r\nHost: x\r\nAuthorization Bearer SECRET-BEARER-123\r\n\r\n",
        b"GET /v6/device?apikey=SECRET-APIKEY-456 HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
        b"GET /v6/device HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer SECRET-BEARER-123\r\nContent-Length: nope\r\n\r\n",
    ],
)
async def test_unparsable_request_does_not_echo_credentials(start_proxy, log_output, capfd, malformed):
    proxy = await start_proxy("http://127.0.0.1:9")
    raw = await raw_request(proxy.url, malformed)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert json.loads(body) == "Bad request"
    captured = capfd.readouterr()
    for secret in SECRETS:
        assert secret.encode() not in raw
        assert secret not in log_output.text and secret not in captured.out and secret not in captured.err
    assert log_output.events("bad_http_request")


def test_mask_secrets():
    assert mask_secrets("/d?apikey=abc&x=1") == "/d?apikey=***&x=1"
    assert mask_secrets("/d?x=1&APIKEY=abc") == "/d?x=1&APIKEY=***"
    assert mask_secrets("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert mask_secrets("/d?$filter=a%20eq%201") == "/d?$filter=a%20eq%201"
    # the server decodes a percent-encoded name (or "="): still the apikey
    assert mask_secrets("/d?api%6Bey=abc&x=1") == "/d?api%6Bey=***&x=1"
    assert mask_secrets("/d?%61PIKEY%3Dabc") == "/d?%61PIKEY%3D***"


def test_a_line_is_masked_whenever_one_of_its_strings_would_be():
    """The access line is checked once as a whole (may_hold_secret); it must never miss a string that
    mask_secrets would change."""
    changed = ("/d?apikey=abc", "/d?api%6bey=abc", "x Bearer t", "/d?APIKEY%3Dabc", "/d?api\u212aey=abc")
    for text in changed:
        assert mask_secrets(text) != text, text
        assert may_hold_secret(orjson.dumps({"path": text})), text
    assert not may_hold_secret(orjson.dumps({"path": "/v6/device?$filter=a%20eq%201", "status": 200}))


async def test_a_percent_encoded_apikey_is_masked_in_the_access_event(serve_app, start_proxy, log_output):
    proxy = await start_proxy(await serve_app(await upstream_app()), v6_mode="forward")
    async with aiohttp.ClientSession() as client:
        url = URL(proxy.url + f"/v7/device?api%6Bey={SECRETS[1]}&$top=1", encoded=True)  # sent as written
        async with client.get(url) as response:
            assert response.status == 200
    [event] = log_output.events("request")
    assert event["path"] == "/v7/device?api%6Bey=***&$top=1"
    assert SECRETS[1] not in log_output.text


async def test_a_broken_log_stream_does_not_fail_requests(serve_app, start_proxy):
    from conftest import test_settings

    from proxy.logs import configure_logging

    class Broken(io.StringIO):
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    configure_logging(test_settings(), stream=Broken())
    proxy = await start_proxy(await serve_app(await upstream_app()), v6_mode="forward")
    status, _ = await send_with_secrets(proxy.url)
    assert status == 200
