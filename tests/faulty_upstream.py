"""A misbehaving upstream for fault tests: a socket-level HTTP/1.1 server on loopback whose next answers are
scripted faults (reset mid-body, truncated JSON, silence, ...).

``FaultyUpstream.faults`` is a queue: each request takes the next fault, or ``"ok"`` when it is empty;
``by_path`` (path prefix -> fault) picks the fault by the request's path instead, for concurrent use (soak). An
``ok`` answer is a small valid JSON document, ``{"d": []}`` for ``/v7/...`` reads (what a translated v6 read
expects) and ``{"ok": true}`` otherwise, on a keep-alive connection. ``GET /v7/$metadata`` is always 401 (the
proxy reads it at start-up; open-balena answers the same), so start-up never takes a scripted fault.

Written at the socket level because the faults are exactly what a well-behaved server framework won't do.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

OK_ROWS = b'{"d":[]}'
OK_OTHER = b'{"ok":true}'
TRUNCATED = b'{"d":[{"id":1,"device_name":"trunc'  # a correct Content-Length, an incomplete document
NOT_JSON = b"<html><body>502 Bad Gateway</body></html>"
SLOW = 30.0  # "forever" for a test: every proxy timeout in the fault tests is far shorter


def _head(status: str, length: int | None, content_type: str = "application/json") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of an orderly FIN: a crashed or killed upstream."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class FaultyUpstream:
    """Start with ``await FaultyUpstream().start()``; ``url`` is its base URL; ``close()`` stops it."""

    faults: list[str] = field(default_factory=list)
    by_path: dict[str, str] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, target) of every request
    served: dict[str, int] = field(default_factory=dict)  # fault (or "ok") -> times answered
    url: str = ""
    _server: asyncio.Server | None = None
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self, port: int = 0) -> FaultyUpstream:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.transport.abort()
            await self._server.wait_closed()

    def _fault_for(self, target: str) -> str:
        for prefix, fault in self.by_path.items():
            if target.startswith(prefix):
                return fault
        return self.faults.pop(0) if self.faults else "ok"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, target, headers = _parse(head)
                await _read_body(reader, headers)
                self.seen.append((method, target))
                if method == "GET" and target.split("?", 1)[0] == "/v7/$metadata":
                    writer.write(_head("401 Unauthorized", 0))
                    await writer.drain()
                    continue
                fault = self._fault_for(target)
                self.served[fault] = self.served.get(fault, 0) + 1
                keep_open = await FAULTS[fault](writer, target)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._open.discard(writer)
            if not writer.transport.is_closing():
                writer.close()


def _parse(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> None:
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return


async def _ok(writer: asyncio.StreamWriter, target: str) -> bool:
    body = OK_ROWS if target.startswith("/v7/") else OK_OTHER
    writer.write(_head("200 OK", len(body)) + body)
    await writer.drain()
    return True


async def _refuse_after_head(writer: asyncio.StreamWriter, target: str) -> bool:
    """Read the request, then reset without answering (a crash before the status line)."""
    _reset(writer)
    return False


async def _reset_mid_body(writer: asyncio.StreamWriter, target: str) -> bool:
    body = b'{"d":[' + b'{"id":1},' * 200
    writer.write(_head("200 OK", len(body) + 1000) + body)  # promises 1000 bytes more than it sends
    await writer.drain()
    await asyncio.sleep(0.05)
    _reset(writer)
    return False


async def _truncated_json(writer: asyncio.StreamWriter, target: str) -> bool:
    writer.write(_head("200 OK", len(TRUNCATED)) + TRUNCATED)
    await writer.drain()
    return True


async def _invalid_json(writer: asyncio.StreamWriter, target: str) -> bool:
    writer.write(_head("200 OK", len(NOT_JSON)) + NOT_JSON)
    await writer.drain()
    return True


async def _slow_first_byte(writer: asyncio.StreamWriter, target: str) -> bool:
    await asyncio.sleep(SLOW)
    return False


async def _stall(writer: asyncio.StreamWriter, target: str) -> bool:
    """Headers and the first chunk of a chunked body, then silence."""
    writer.write(_head("200 OK", None) + b"6\r\n" + b'{"d":[' + b"\r\n")
    await writer.drain()
    await asyncio.sleep(SLOW)
    return False


async def _stream(writer: asyncio.StreamWriter, target: str) -> bool:
    """An endless chunked stream of log lines (until the reader goes away)."""
    writer.write(_head("200 OK", None, "application/x-ndjson"))
    line = b'{"message":"tick"}\n'
    while True:
        writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)


FAULTS: dict[str, Callable[[asyncio.StreamWriter, str], Awaitable[bool]]] = {
    "ok": _ok,
    "reset_before_status": _refuse_after_head,
    "reset_mid_body": _reset_mid_body,
    "truncated_json": _truncated_json,
    "invalid_json": _invalid_json,
    "slow_first_byte": _slow_first_byte,
    "stall": _stall,
    "stream": _stream,
}
