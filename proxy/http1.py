"""A small HTTP/1.1 client for the one upstream origin: pass-through requests without a body, translated requests.

Why not aiohttp's ClientSession for these: its request and response objects, connector, tracing hooks, cookie
and timer machinery cost about 300k instructions per request (callgrind, against nginx), nearly half of a
pass-through request and more than the rest of the proxy's work on it. A proxy to one origin needs little of
that: the request head goes out in one write, the answer is read from what arrived, and the connection goes back
to a pool. It sends every request whose body is known whole (the translated requests too); a client's
streamed upload keeps aiohttp's client (:mod:`proxy.upstream`).

The answer's framing follows RFC 9112 §6.3: no body for ``HEAD``, 1xx, 204 and 304; ``Transfer-Encoding``
ending in ``chunked`` is decoded (so the client can be given its own framing); another ``Transfer-Encoding``,
or no length at all, reads to the connection's end; else ``Content-Length``. A connection is reused only after
a complete answer that did not say ``Connection: close``. Broken answers raise aiohttp's own exceptions
(``ClientPayloadError``, ``SocketTimeoutError``, ``ServerDisconnectedError``), which the callers already map.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping

import aiohttp
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from .headers import connection_tokens

# A response head longer than this is refused (aiohttp's own limits allow 128 lines of 8 KiB; real heads are
# well under 4 KiB).
MAX_HEAD_BYTES = 64 * 1024
# Unread body bytes held before the connection stops reading (a client slower than the upstream).
HIGH_WATER = 256 * 1024
# An idle pooled connection older than this is closed instead of reused: servers close idle keep-alive
# connections after a while (nginx 75 s, many load balancers 60 s), and a request sent on one just as it closes
# fails (aiohttp's default keep-alive is the same 15 s).
KEEPALIVE_SECONDS = 15.0
# How long the upstream host's addresses are used before they are looked up again.
DNS_TTL_SECONDS = 60.0
# Methods for which aiohttp's client sends no ``Content-Length: 0`` when there is no body (kept as it did).
_NO_LENGTH_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_NO_BODY_STATUSES = frozenset({204, 304})
_HEX_DIGITS = b"0123456789abcdefABCDEF"


class BadResponse(aiohttp.ClientResponseError):
    """The upstream's answer is not HTTP/1.x (aiohttp raises the same class for the same cause)."""


class ConnectError(Exception):
    """No connection to the upstream: ``os_error`` says why (``dns`` when the name did not resolve)."""

    def __init__(self, host: str, port: int, os_error: OSError) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {os_error}")
        self.host = host
        self.port = port
        self.os_error = os_error
        self.dns = isinstance(os_error, socket.gaierror)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: the pieces received are kept as they came (``size`` bytes in all) until a reader
    takes them (:meth:`taken`, :meth:`peek`) or waits for more (:meth:`wait`). Kept as a list, not appended to one
    buffer: a body that came in one piece is handed on without a copy, one in several is joined once."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self._pieces: list[bytes] = []
        self.size = 0
        self.ended = False  # the peer closed its side, or the connection is lost
        self.error: BaseException | None = None
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._pieces.append(data)
        self.size += len(data)
        if self.size > HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def peek(self) -> bytes:
        """Everything received and not taken yet, as one piece (for finding a head's or a line's end)."""
        if len(self._pieces) > 1:
            self._pieces = [b"".join(self._pieces)]
        return self._pieces[0] if self._pieces else b""

    def taken(self, size: int) -> bytes:
        """The first ``size`` bytes received (at most all of them), removed."""
        if size >= self.size:  # the usual case: everything received so far
            data = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
            self._pieces = []
        else:
            whole = self.peek()
            data, self._pieces = whole[:size], [whole[size:]]
        self.size -= len(data)
        if self._paused and self.size <= HIGH_WATER // 2 and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def wait(self, idle: float | None) -> None:
        """Until more bytes arrive or the connection ends; ``SocketTimeoutError`` after ``idle`` seconds."""
        if self.ended:
            raise self._ended_error()
        waiter = self._waiter = self.loop.create_future()
        timer = None if idle is None else self.loop.call_later(idle, _time_out, waiter, idle)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _ended_error(self) -> BaseException:
        if isinstance(self.error, OSError):
            return self.error
        return aiohttp.ClientPayloadError("Response payload is not completed")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.ended = True


def _time_out(waiter: asyncio.Future[None], idle: float) -> None:
    if not waiter.done():
        waiter.set_exception(aiohttp.SocketTimeoutError(f"Timeout on reading data from socket ({idle:g} s)"))


class Answer:
    """The upstream's answer: status and headers at once, the body read whole (:meth:`read`) or as it comes
    (:meth:`chunks`); :meth:`release` gives the connection back (or closes it if the body was not all read)."""

    def __init__(
        self,
        pool: Http1Pool,
        conn: _Connection,
        status: int,
        reason: str,
        headers: CIMultiDict[str],
        framing: int | str,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.reason: str | None = reason
        self.headers = CIMultiDictProxy(headers)
        self._pool = pool
        self._conn = conn
        self._framing = framing  # bytes left (int), "chunked" or "close"
        self._keep_alive = keep_alive
        self._done = framing == 0
        self._released = False

    @property
    def content_length(self) -> int | None:
        """The declared ``Content-Length`` (as aiohttp's response gives it), None when absent or invalid."""
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and _is_number(value) else None

    async def read(self) -> bytes:
        """The whole body."""
        framing, conn = self._framing, self._conn
        if isinstance(framing, int) and conn.size >= framing:  # usual: it came with the head
            self._done = True
            return conn.taken(framing)
        return b"".join([chunk async for chunk in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body in pieces as they arrive (each at most what one wait brought), ``idle`` seconds apart at most."""
        if self._done:
            return
        if isinstance(self._framing, int):
            pieces = self._counted(self._framing)
        elif self._framing == "chunked":
            pieces = self._dechunked()
        else:
            pieces = self._to_the_end()
        async for piece in pieces:
            yield piece
        self._done = True

    async def _counted(self, left: int) -> AsyncIterator[bytes]:
        conn = self._conn
        while left:
            if not conn.size:
                await self._wait_in_body()
                continue
            piece = conn.taken(left)
            left -= len(piece)
            yield piece

    async def _to_the_end(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            if conn.size:
                yield conn.taken(conn.size)
            elif conn.ended:
                if isinstance(conn.error, OSError):  # a reset, not the end of the body
                    raise aiohttp.ClientPayloadError("Response payload is not completed") from conn.error
                return
            else:
                await self._wait_in_body()

    async def _line(self) -> bytes:
        conn = self._conn
        while (end := conn.peek().find(b"\n")) < 0:
            if conn.size > 4096:
                raise aiohttp.ClientPayloadError("Response payload is not completed: chunk line too long")
            await self._wait_in_body()
        return conn.taken(end + 1).rstrip(b"\r\n")

    async def _wait_in_body(self) -> None:
        """More body bytes; the connection's end or reset before the body's end is ``ClientPayloadError``
        (never a bare ``ConnectionResetError``, which the forwarder reads as the client leaving)."""
        try:
            await self._conn.wait(self._pool.idle)
        except TimeoutError:
            raise  # the stream went idle (SocketTimeoutError is an OSError too)
        except OSError as exc:
            raise aiohttp.ClientPayloadError("Response payload is not completed") from exc

    async def _dechunked(self) -> AsyncIterator[bytes]:
        while True:
            size_text = (await self._line()).split(b";", 1)[0].strip(b" \t")
            if not size_text or size_text.strip(_HEX_DIGITS) or len(size_text) > 16:  # int() takes "-1", "0x1", "1_0"
                raise aiohttp.ClientPayloadError("Response payload is not completed: bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                while await self._line():  # trailer fields, then the empty line
                    pass
                return
            async for piece in self._counted(size):
                yield piece
            if await self._line():
                raise aiohttp.ClientPayloadError("Response payload is not completed: no end of chunk")

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._done and self._keep_alive and not self._conn.size and not self._conn.ended:
            self._pool.keep(self._conn)
        else:
            self._conn.close()


class Http1Pool:
    """Keep-alive connections to one origin (``http`` or ``https``), unlimited in number as the session's."""

    def __init__(
        self, origin: yarl.URL, ssl_context: ssl.SSLContext | bool, connect_timeout: float, idle: float | None
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.idle = idle
        self._host = origin.raw_host or ""
        self._port = origin.port or (443 if origin.scheme == "https" else 80)
        self._host_header = origin.host_port_subcomponent or self._host
        self._ssl = _client_ssl(ssl_context) if origin.scheme == "https" else None
        self._connect_timeout = connect_timeout
        self._resolver = _Resolver(self.loop, self._host, self._port)
        self._idle: deque[_Connection] = deque()  # most recently used last
        self._closed = False

    async def request(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None = None) -> Answer:
        """Send a request (its body, if any, given whole); the answer once its head is in. A pooled connection
        the server closed meanwhile fails with ``ServerDisconnectedError`` (the caller may send it once more)."""
        conn = self._pooled() or await self._connect()
        try:
            head = self._head(method, target, headers, body)
            if body:
                conn.transport.writelines((head, body))  # type: ignore[union-attr]
            else:
                conn.transport.write(head)  # type: ignore[union-attr]
            return await self._answer(conn, method)
        except BaseException:
            conn.close()
            raise

    def _head(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self._host_header}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if "Content-Length" not in headers and (body is not None or method not in _NO_LENGTH_METHODS):
            lines.append(f"Content-Length: {len(body or b'')}\r\n")  # as aiohttp's client sends it
        lines.append("\r\n")
        return "".join(lines).encode("utf-8", "surrogateescape")

    async def _answer(self, conn: _Connection, method: str) -> Answer:
        while True:
            status, reason, headers, http11 = await _read_head(conn)
            if status >= 200:
                break
            if status == 101:  # the proxy drops Upgrade: an upstream switching anyway is broken
                raise _bad("a protocol switch that was not asked for")
            # other 1xx informational answers (103 Early Hints) are skipped, as aiohttp's client does
        tokens = connection_tokens(headers)
        keep_alive = "close" not in tokens if http11 else "keep-alive" in tokens
        framing = _framing(method, status, headers)
        if "Content-Length" in headers and "Transfer-Encoding" in headers:
            headers.popall("Content-Length")  # the coding frames the body; the length is not passed on (§6.3)
            keep_alive = False  # and the connection is not reused
        if framing == "close":
            keep_alive = False
        return Answer(self, conn, status, reason, headers, framing, keep_alive)

    def _pooled(self) -> _Connection | None:
        now = self.loop.time()
        while self._idle:
            conn = self._idle.pop()
            if not conn.ended and now - conn.idle_since < KEEPALIVE_SECONDS:
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await self._connected()
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {self._host}") from exc
        except OSError as exc:
            raise ConnectError(self._host, self._port, exc) from exc

    async def _connected(self) -> _Connection:
        """A new connection: to each of the host's addresses in turn until one answers (as
        ``create_connection`` tries them), the addresses looked up at most once a minute."""
        failure: OSError | None = None
        for family, address in await self._resolver.addresses():
            try:
                _transport, conn = await self.loop.create_connection(
                    lambda: _Connection(self.loop),
                    address,
                    self._port,
                    family=family,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None,
                )
                return conn
            except OSError as exc:
                failure = exc
        raise failure or OSError(f"no address for {self._host}")

    def keep(self, conn: _Connection) -> None:
        if self._closed:
            conn.close()
            return
        now = conn.idle_since = self.loop.time()
        idle = self._idle
        idle.append(conn)
        # The least recently used come first: close those past their keep-alive (or closed by the server), so a
        # burst's connections do not stay open in the pool after it.
        while len(idle) > 1 and (idle[0].ended or now - idle[0].idle_since >= KEEPALIVE_SECONDS):
            idle.popleft().close()

    def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()


class _Resolver:
    """The upstream host's addresses, looked up once per :data:`DNS_TTL_SECONDS` (aiohttp's session cached them
    as long) and once for any number of connections opened meanwhile; an IP address is not looked up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        self._loop = loop
        self._host = host
        self._port = port
        self._addresses: list[tuple[int, str]] = []
        self._fresh_until = 0.0
        self._pending: asyncio.Task[list[tuple[int, str]]] | None = None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return
        self._addresses = [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, host)]
        self._fresh_until = math.inf

    async def addresses(self) -> list[tuple[int, str]]:
        """(family, address) pairs, in the resolver's order."""
        if self._loop.time() < self._fresh_until:
            return self._addresses
        if self._pending is None:
            self._pending = self._loop.create_task(self._lookup())
            self._pending.add_done_callback(_retrieved)
        return await asyncio.shield(self._pending)

    async def _lookup(self) -> list[tuple[int, str]]:
        try:
            found = await self._loop.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM)
            addresses = list(dict.fromkeys((int(family), str(sockaddr[0])) for family, *_, sockaddr in found))
            self._addresses, self._fresh_until = addresses, self._loop.time() + DNS_TTL_SECONDS
            return addresses
        finally:
            self._pending = None


def _retrieved(task: asyncio.Task[list[tuple[int, str]]]) -> None:
    """A look-up's failure is its waiters' to report; read here too, for when all of them were cancelled."""
    if not task.cancelled():
        task.exception()


def _client_ssl(context: ssl.SSLContext | bool) -> ssl.SSLContext:
    if isinstance(context, ssl.SSLContext):
        return context
    unverified = ssl.create_default_context()
    if context is False:
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
    return unverified


async def _read_head(conn: _Connection) -> tuple[int, str, CIMultiDict[str], bool]:
    """Status, reason, headers and whether it is HTTP/1.1, once the head is in (taken from what arrived)."""
    while (ends := _head_end(conn.peek())) is None:
        if conn.size > MAX_HEAD_BYTES:
            raise _bad("the response head is too long")
        if conn.ended:
            if isinstance(conn.error, OSError):
                raise aiohttp.ClientOSError(conn.error.errno, conn.error.strerror) from conn.error
            raise aiohttp.ServerDisconnectedError()
        await conn.wait(None)  # the caller's first-byte deadline bounds this wait
    text = conn.taken(ends[1])[: ends[0]].decode("utf-8", "surrogateescape")
    lines = text.split("\r\n") if ends[1] - ends[0] == 4 else [line.rstrip("\r") for line in text.split("\n")]
    version, _, rest = lines[0].partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not _is_number(code):
        raise _bad(f"invalid status line {lines[0][:100]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name[-1] in " \t" or name[0] in " \t":
            raise _bad(f"invalid header line {line[:100]!r}")
        headers.add(name, value.strip(" \t"))
    return int(code), reason, headers, version == "HTTP/1.1"


def _head_end(buffer: bytes) -> tuple[int, int] | None:
    """Where the head's text ends and its blank line ends; lines ended by a bare LF are read too, as
    aiohttp's lenient parser read them."""
    end = buffer.find(b"\r\n\r\n")
    if end >= 0:
        return end, end + 4
    end = buffer.find(b"\n\n")
    return (end, end + 2) if end >= 0 else None


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()  # str.isdigit alone takes "²" and other digits int() refuses


def _framing(method: str, status: int, headers: CIMultiDict[str]) -> int | str:
    """How the body is delimited: its length in bytes, ``"chunked"`` or ``"close"`` (RFC 9112 §6.3)."""
    if method == "HEAD" or status in _NO_BODY_STATUSES or status < 200:
        return 0
    coding = headers.get("Transfer-Encoding")
    if coding is not None:
        return "chunked" if coding.rsplit(",", 1)[-1].strip().lower() == "chunked" else "close"
    lengths = set(headers.getall("Content-Length", ()))
    if not lengths:
        return "close"
    length = lengths.pop().strip()
    if lengths or not _is_number(length):
        raise _bad("invalid Content-Length")
    return int(length)


def _bad(message: str) -> BadResponse:
    info = aiohttp.RequestInfo(yarl.URL("/"), "GET", CIMultiDictProxy(CIMultiDict()))
    return BadResponse(info, (), status=400, message=f"Invalid HTTP response: {message}")
