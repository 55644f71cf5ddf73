"""The pass-through's own HTTP/1.1 client (proxy/http1.py) against a scripted socket-level upstream on loopback.

Each answer is written byte by byte as a server might frame it (chunked with extensions and trailers, no length
at all, an informational answer first, ``Connection: close``, a body longer than the read buffer...), and the
test checks what the proxy's client sees and whether the next request still works, on the same pooled
connection where the answer allowed it and on a fresh one where it did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
import yarl
from conftest import RunningProxy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import proxy.http1 as http1

Script = Callable[[str, str], bytes]  # (method, target) -> the raw answer


@dataclass
class ScriptedUpstream:
    """Answers each request with ``script(method, target)``; closes the connection after an answer when the
    target asks for it (``close`` in the target), as a server that frames by closing does. ``connections``
    counts the connections the proxy's requests came on."""

    script: Script
    connections: int = 0
    open_now: int = 0  # connections open at this moment
    heads: list[str] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None

    async def start(self) -> ScriptedUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted = False  # the proxy's start-up read of /v7/$metadata goes through its other client: not counted
        self.open_now += 1
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                method, target, _ = head.split(" ", 2)
                if target != "/v7/$metadata":
                    self.heads.append(head)
                    self.connections += not counted
                    counted = True
                answer = self.script(method, target)
                for piece in (answer[:7], answer[7:]):  # the head in two writes: the client must wait for it
                    writer.write(piece)
                    await writer.drain()
                if "close" in target:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def ok(body: bytes = b'{"ok":true}', *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], asyncio.Future[ScriptedUpstream]]]:
    started: list[ScriptedUpstream] = []

    async def start(script: Script) -> ScriptedUpstream:
        upstream = await ScriptedUpstream(script).start()
        started.append(upstream)
        return upstream

    yield start  # type: ignore[misc]
    for upstream in started:
        await upstream.close()


async def fetch(proxy: RunningProxy, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as client:
        async with client.request(method, yarl.URL(proxy.url + path, encoded=True)) as reply:
            return reply.status, dict(reply.headers), await reply.read()


async def test_a_kept_alive_connection_serves_the_next_requests(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: ok())
    proxy = await start_proxy(upstream.url)
    for _ in range(3):
        assert (await fetch(proxy, "/ping"))[::2] == (200, b'{"ok":true}')
    assert upstream.connections == 1


async def test_the_request_head_is_the_clients_with_the_upstreams_host(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: ok())
    proxy = await start_proxy(upstream.url)
    await fetch(proxy, "/v7/device?$filter=device_name%20eq%20'a%2Fb'")
    await fetch(proxy, "/v7/device(1)", method="DELETE")
    await fetch(proxy, "/v7/device?")
    get, delete, empty_query = upstream.heads
    assert get.startswith("GET /v7/device?$filter=device_name%20eq%20'a%2Fb' HTTP/1.1\r\n")
    assert f"Host: {upstream.url.split('//')[1]}\r\n" in get and "Content-Length" not in get
    assert "\r\nContent-Length: 0\r\n" in delete  # as aiohttp's client sent it for a method that may have a body
    assert empty_query.startswith("GET /v7/device HTTP/1.1\r\n")  # as aiohttp's client (yarl) wrote it


async def test_chunked_answers_are_decoded_with_extensions_and_trailers(scripted, start_proxy):
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    upstream = await scripted(lambda _m, _t: chunked)
    proxy = await start_proxy(upstream.url)
    assert (await fetch(proxy, "/logs"))[::2] == (200, b"hello world")
    assert (await fetch(proxy, "/logs"))[2] == b"hello world"
    assert upstream.connections == 1  # the whole chunked answer was read: the connection is reused


async def test_chunked_with_a_content_length_is_decoded_and_not_reused(scripted, start_proxy):
    both = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nboth\r\n0\r\n\r\n"
    upstream = await scripted(lambda _m, _t: both)
    proxy = await start_proxy(upstream.url)
    assert (await fetch(proxy, "/both"))[::2] == (200, b"both")
    assert (await fetch(proxy, "/both"))[::2] == (200, b"both")
    assert upstream.connections == 2  # RFC 9112 6.3: such a connection is closed after the answer


async def test_an_answer_without_a_length_is_read_until_the_upstream_closes(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end")
    proxy = await start_proxy(upstream.url)
    assert (await fetch(proxy, "/close"))[::2] == (200, b"to the end")
    assert (await fetch(proxy, "/close"))[::2] == (200, b"to the end")
    assert upstream.connections == 2


async def test_connection_close_is_not_reused(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: ok(b"bye", "Connection: close"))
    proxy = await start_proxy(upstream.url)
    for _ in range(2):
        status, headers, body = await fetch(proxy, "/close")
        assert (status, body) == (200, b"bye") and "close" not in headers.get("Connection", "")
    assert upstream.connections == 2


async def test_head_204_304_and_informational_answers_have_no_body(scripted, start_proxy):
    def script(method: str, target: str) -> bytes:
        if method == "HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        if target == "/gone":
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        if target == "/same":
            return b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 99\r\n\r\n'
        return b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n" + ok(b"after hints")

    upstream = await scripted(script)
    proxy = await start_proxy(upstream.url)
    status, headers, body = await fetch(proxy, "/thing", method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, "1234", b"")
    assert (await fetch(proxy, "/gone"))[::2] == (204, b"")
    assert (await fetch(proxy, "/same"))[::2] == (304, b"")
    assert (await fetch(proxy, "/hints"))[::2] == (200, b"after hints")
    assert upstream.connections == 1  # none of them left a body on the connection


async def test_a_body_far_larger_than_the_read_buffer_arrives_whole(scripted, start_proxy):
    body = bytes(range(256)) * (5 * http1.HIGH_WATER // 256)  # streamed: above the buffering size
    upstream = await scripted(lambda _m, _t: ok(body))
    proxy = await start_proxy(upstream.url)
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/download") as reply:
            received = bytearray()
            async for piece in reply.content.iter_chunked(16 * 1024):
                received += piece
                await asyncio.sleep(0)  # a slow reader: the proxy's buffer fills and reading pauses
    assert received == body
    assert (await fetch(proxy, "/again"))[::2] == (200, body)
    assert upstream.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\n".encode(),
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
    ],
)
async def test_a_malformed_answer_is_a_502_and_the_next_request_is_served(scripted, start_proxy, answer):
    def script(_method: str, target: str) -> bytes:
        return answer if target == "/bad" else ok()

    upstream = await scripted(script)
    proxy = await start_proxy(upstream.url)
    status, _, body = await fetch(proxy, "/bad")
    assert status == 502 and body.startswith(b'"Upstream unavailable: ')
    assert (await fetch(proxy, "/good"))[::2] == (200, b'{"ok":true}')


@pytest.mark.parametrize("size", [b"zz", b"-3", b"0x3", b"1_0", b"", b"1" * 17])
async def test_a_bad_chunk_size_cuts_the_client_off(scripted, start_proxy, size):
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\nbad\r\n0\r\n\r\n"
    upstream = await scripted(lambda _m, _t: answer)
    proxy = await start_proxy(upstream.url, stream_idle_timeout=2.0)
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/logs") as reply:
            assert reply.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await reply.read()


async def test_an_idle_pooled_connection_past_its_keep_alive_is_not_reused(scripted, start_proxy, monkeypatch):
    upstream = await scripted(lambda _m, _t: ok())
    proxy = await start_proxy(upstream.url)
    await fetch(proxy, "/one")
    monkeypatch.setattr(http1, "KEEPALIVE_SECONDS", 0.0)
    await fetch(proxy, "/two")
    assert upstream.connections == 2


async def test_a_bursts_connections_are_closed_once_past_their_keep_alive(scripted, start_proxy, monkeypatch):
    upstream = await scripted(lambda _m, _t: ok())
    proxy = await start_proxy(upstream.url)
    async with aiohttp.ClientSession() as client:

        async def one() -> None:
            async with client.get(proxy.url + "/burst") as reply:
                await reply.read()

        await asyncio.gather(*(one() for _ in range(5)))
        assert upstream.open_now == 5
        monkeypatch.setattr(http1, "KEEPALIVE_SECONDS", 0.25)
        for _ in range(4):  # light traffic reuses the most recent connection; the rest go stale meanwhile
            await asyncio.sleep(0.1)
            await one()
    await asyncio.sleep(0.1)
    assert upstream.open_now == 1


async def test_a_pooled_connection_the_upstream_closed_is_replaced(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: ok())
    proxy = await start_proxy(upstream.url)
    await fetch(proxy, "/close")  # the upstream closes after a complete, kept-alive answer
    await asyncio.sleep(0.05)
    assert (await fetch(proxy, "/next"))[::2] == (200, b'{"ok":true}')
    assert upstream.connections == 2


async def test_a_head_with_bare_line_feeds_is_read(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    proxy = await start_proxy(upstream.url)
    assert (await fetch(proxy, "/lf"))[::2] == (200, b"ok")


async def test_non_ascii_header_values_pass_unchanged(scripted, start_proxy):
    upstream = await scripted(lambda _m, _t: ok(b"{}", "X-Name: caf\u00e9"))
    proxy = await start_proxy(upstream.url)
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/x") as reply:
            assert (b"X-Name", "café".encode()) in reply.raw_headers


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


ROWS = {"d": [{"id": n} for n in range(1, 201)]}
TRANSLATED = "/v6/application?$select=id"


async def translated(proxy: RunningProxy, path: str = TRANSLATED) -> tuple[int, object]:
    async with aiohttp.ClientSession() as client:
        async with client.get(yarl.URL(proxy.url + path, encoded=True)) as reply:
            return reply.status, await reply.json()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),  # raw deflate, as some servers send "deflate"
        ("identity", bytes),
    ],
)
async def test_an_encoded_upstream_answer_is_decoded_and_translated(scripted, start_proxy, encoding, encode):
    document = json.dumps(ROWS).encode()
    upstream = await scripted(lambda _m, _t: ok(encode(document), f"Content-Encoding: {encoding}"))
    proxy = await start_proxy(upstream.url)
    assert await translated(proxy) == (200, ROWS)
    assert "Accept-Encoding: gzip, deflate\r\n" in upstream.heads[-1]  # only what the proxy can decode


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [
        ("gzip", b"\x1f\x8b not gzip at all", "the answer's gzip encoding is broken"),
        ("gzip", gzip.compress(b'{"d":[]}')[:-6], "the answer's gzip encoding is broken"),  # cut short
        ("br", b"\x0b\x02\x80{}\x03", "the answer is in an encoding the proxy did not ask for (br)"),
    ],
)
async def test_an_answer_the_proxy_cannot_decode_is_a_502_naming_why(scripted, start_proxy, encoding, body, message):
    upstream = await scripted(lambda _m, _t: ok(body, f"Content-Encoding: {encoding}"))
    proxy = await start_proxy(upstream.url)
    assert await translated(proxy) == (502, f"Upstream unavailable: {message}")


TOKEN = st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True)
VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


@st.composite
def framed_answers(draw: st.DrawFn) -> tuple[int, list[tuple[str, str]], bytes, str, list[bytes]]:
    """A status, headers, a body and its framing, and the answer's bytes cut into the pieces a server writes."""
    status = draw(st.sampled_from([200, 201, 400, 404, 500]))
    body = draw(st.binary(max_size=2000)) * draw(st.sampled_from([1, 1, 40]))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    headers = draw(st.lists(st.tuples(TOKEN, VALUE), max_size=5))
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
        payload = body
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=6)))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True) if b > a]
        ext = draw(st.sampled_from(["", ";a=b", " ;x"]))
        payload = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext.encode(), p) for p in parts) + b"0\r\n\r\n"
    else:
        payload = body
    head = f"HTTP/1.1 {status} Whatever\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    raw = head.encode() + payload
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(raw) - 1)), max_size=4)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True) if b > a]
    return status, headers, body, framing, pieces


async def _round_trip(
    status: int, headers: list[tuple[str, str]], body: bytes, framing: str, pieces: list[bytes]
) -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                for piece in pieces:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0)
                if framing == "close":
                    break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = http1.Http1Pool(yarl.URL(f"http://127.0.0.1:{port}"), False, 5.0, idle=5.0)
    try:
        for _ in range(2):
            answer = await pool.request("GET", "/x", {})
            try:
                assert (answer.status, list(answer.headers.items()), await answer.read()) == (status, headers, body)
            finally:
                answer.release()
        assert connections == (2 if framing == "close" else 1)
    finally:
        pool.close()
        server.close()
        await server.wait_closed()


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(answer=framed_answers())
def test_any_framing_cut_anywhere_reads_back_what_was_sent(answer):
    asyncio.run(_round_trip(*answer))


async def test_a_declared_length_far_beyond_what_comes_is_a_502_not_a_reservation(scripted, start_proxy):
    lying = b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n" + b'{"d":[]}'

    def script(_method: str, target: str) -> bytes:
        return lying if "lie" in target else ok()

    upstream = await scripted(script)
    proxy = await start_proxy(upstream.url, stream_idle_timeout=2.0)
    # the upstream sends 8 bytes and closes ("close" in the target)
    assert await translated(proxy, "/v6/application?$select=id&$filter=app_name%20eq%20'lie-close'") == (
        502,
        "Upstream unavailable: the connection closed before the response was complete",
    )
    assert (await fetch(proxy, "/after"))[::2] == (200, b'{"ok":true}')


async def test_the_upstream_host_is_looked_up_once_for_many_connections_and_again_after_its_ttl(
    scripted, start_proxy, monkeypatch
):
    upstream = await scripted(lambda _m, _t: ok())
    loop = asyncio.get_running_loop()
    looked_up: list[str] = []
    real_lookup = loop.getaddrinfo

    async def slow_counted_lookup(host, *args, **kwargs):  # the real look-up, counted, taking a while
        looked_up.append(host)
        await asyncio.sleep(0.2)
        return await real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", slow_counted_lookup)
    monkeypatch.setattr(http1, "DNS_TTL_SECONDS", 0.0)  # each look-up stale as soon as it is done
    # "localhost" may resolve to ::1 first, where nothing listens: each address is tried in turn
    proxy = await start_proxy(upstream.url.replace("127.0.0.1", "localhost"))
    looked_up.clear()  # start-up's own

    async def one() -> int:
        return (await fetch(proxy, "/each?close"))[0]  # the upstream closes: every request a new connection

    assert await asyncio.gather(*(one() for _ in range(8))) == [200] * 8
    assert looked_up == ["localhost"]  # one look-up for the eight connections opened while it ran
    await one()
    assert len(looked_up) == 2  # stale: looked up again
    monkeypatch.setattr(http1, "DNS_TTL_SECONDS", 60.0)
    await one()
    await one()
    assert len(looked_up) == 3  # fresh for a minute
