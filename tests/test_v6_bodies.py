"""Write bodies through the running proxy against the simulator: read whole however they arrive, capped while
they are read, and refused clearly when they are not JSON."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair

LIMIT = 4096


@pytest.fixture
async def pair():
    async with running_pair(proxy_overrides={"max_body_bytes": LIMIT}) as p:
        yield p


async def send_in_pieces(url: str, head: bytes, pieces: list[bytes], pause: float = 0.3) -> tuple[int, bytes]:
    """Send ``head`` then each piece in its own socket write, ``pause`` seconds apart; (status, body)."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        for piece in pieces:
            await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:  # the proxy may answer and close before the last piece is written
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head_part, _, body = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head_part.lower():
        body = _dechunk(body)
    return status, body


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return out


def request_head(method: str, path: str, extra: str) -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
        f"Content-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
    ).encode()


async def get_note(url: str, device: int) -> str | None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
        async with s.get(f"{url}/v6/device({device})?$select=note") as resp:
            return (await resp.json())["d"][0]["note"]


async def test_a_body_arriving_in_several_segments_is_forwarded_whole(pair):
    body = json.dumps({"note": "written in two pieces " + "y" * 40}).encode()
    head = request_head("PATCH", "/v6/device(1)", f"Content-Length: {len(body)}\r\n")
    status, answer = await send_in_pieces(pair.proxy_url, head + body[:20], [body[20:]])
    assert (status, json.loads(answer)) == (200, "OK")
    assert await get_note(pair.proxy_url, 1) == "written in two pieces " + "y" * 40


async def test_a_chunked_body_in_several_segments_is_forwarded_whole(pair):
    body = json.dumps({"note": "chunked"}).encode()
    chunks = [f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:5], body[5:])] + [b"0\r\n\r\n"]
    head = request_head("PATCH", "/v6/device(2)", "Transfer-Encoding: chunked\r\n")
    status, answer = await send_in_pieces(pair.proxy_url, head, chunks, pause=0.1)
    assert (status, json.loads(answer)) == (200, "OK")
    assert await get_note(pair.proxy_url, 2) == "chunked"


async def test_a_chunked_body_over_the_cap_is_413_and_never_forwarded(pair):
    before = len(pair.upstream_requests)
    big = json.dumps({"note": "z" * (LIMIT * 3)}).encode()
    parts = [big[i : i + 1024] for i in range(0, len(big), 1024)]
    chunks = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts] + [b"0\r\n\r\n"]
    head = request_head("PATCH", "/v6/device(1)", "Transfer-Encoding: chunked\r\n")
    status, answer = await send_in_pieces(pair.proxy_url, head, chunks, pause=0.01)
    assert status == 413
    assert json.loads(answer) == f"Request body too large: the limit is {LIMIT} bytes"
    assert [r for r in pair.upstream_requests[before:] if r[0] == "PATCH"] == []


async def test_a_declared_length_over_the_cap_is_413_with_a_message(pair):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
        async with s.patch(
            f"{pair.proxy_url}/v6/device(1)",
            data=b'{"note":"' + b"x" * LIMIT + b'"}',
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 413
            assert await resp.json() == f"Request body too large: the limit is {LIMIT} bytes"


async def test_a_body_that_is_not_json_is_a_clear_400(pair):
    before = len(pair.upstream_requests)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as s:
        async with s.patch(
            f"{pair.proxy_url}/v6/device(1)",
            data=b'{"note": "unterminated',
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
            assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
            message = await resp.json()
    assert message.startswith("Request body is not valid JSON: ")
    assert [r for r in pair.upstream_requests[before:] if r[0] == "PATCH"] == []


# ------------------------------------------------------------------ look-ups of body hooks
@pytest.fixture
async def recorded(serve_app, start_proxy):
    """The proxy in front of the recording fixture upstream, whose look-up answers each test sets."""
    from fixtures.engine.upstream import V7Fixture

    fixture = V7Fixture()
    running = await start_proxy(await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena")
    return running.url, fixture


async def post(url: str, path: str, body: dict) -> tuple[int, object]:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer user-token"}) as s:
        async with s.post(url + path, json=body) as resp:
            data = await resp.read()
            return resp.status, (json.loads(data) if data else None)


BAD_LOOKUP_ANSWERS = [
    pytest.param(200, b"<html>gateway</html>", "answered a body that is not JSON", id="not-json"),
    pytest.param(503, b"", "answered 503", id="server-error"),
    pytest.param(200, b'{"d": "nope"}', "answered an unexpected body", id="unexpected-shape"),
]


@pytest.mark.parametrize("status, raw, detail", BAD_LOOKUP_ANSWERS)
async def test_a_failed_device_type_look_up_is_502(recorded, log_output, status, raw, detail):
    from fixtures.engine.upstream import Reply

    url, fixture = recorded
    fixture.route("/v7/device_type", Reply(status, raw=raw, headers={"Content-Type": "application/json"}))
    got = await post(url, "/v6/device", {"uuid": "abc", "device_type": "raspberrypi3", "belongs_to__application": 1})
    assert got == (502, f"Upstream unavailable: the look-up of /v7/device_type {detail}")
    assert not [r for r in fixture.v7 if r.method == "POST"]
    assert "Traceback" not in log_output.text and "Internal proxy error" not in log_output.text


@pytest.mark.parametrize("status, raw, detail", BAD_LOOKUP_ANSWERS)
async def test_a_failed_organization_look_up_is_502(recorded, log_output, status, raw, detail):
    from fixtures.engine.upstream import Reply

    url, fixture = recorded
    fixture.route("/v7/organization", Reply(status, raw=raw, headers={"Content-Type": "application/json"}))
    got = await post(url, "/v6/application", {"app_name": "a", "is_for__device_type": 1})
    assert got == (502, f"Upstream unavailable: the look-up of /v7/organization {detail}")
    assert "Traceback" not in log_output.text and "Internal proxy error" not in log_output.text
