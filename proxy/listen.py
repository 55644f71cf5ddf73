"""Listening sockets with a per-process connection limit (``max_connections``).

Every accepted connection costs buffers, a protocol object and, while a request runs, a task and an upstream
connection. asyncio's own server accepts whatever arrives, so a flood of connections becomes a flood of memory.
:class:`LimitedTCPSite` accepts only while fewer than ``max_connections`` connections are open; beyond that it
stops calling ``accept()``, so new connections wait in the kernel's listen backlog (and the client's connect
timeout applies) until one closes. ``max_connections = 0`` means no limit.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .logs import get_logger

log = get_logger("proxy.listen")

BACKLOG = 1024
# accept() failures that mean "out of resources now", not "this socket is broken": back off and retry.
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_BACKOFF = 1.0


class _Listeners(asyncio.AbstractServer):
    """The bound sockets, shaped like the asyncio server aiohttp's runner expects in ``site._server``."""

    def __init__(self, sockets: list[socket.socket], tasks: list[asyncio.Task[None]]) -> None:
        self._sockets = sockets
        self._tasks = tasks

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for sock in self._sockets:
            sock.close()
        self._sockets = []

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def is_serving(self) -> bool:
        return bool(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def start_serving(self) -> None:  # pragma: no cover - started by the site
        return None

    async def serve_forever(self) -> None:  # pragma: no cover - not used by aiohttp
        await asyncio.gather(*self._tasks)


def bind_sockets(host: str, port: int, *, reuse_port: bool = False, backlog: int = BACKLOG) -> list[socket.socket]:
    """Listening sockets for every address ``host`` resolves to (as ``loop.create_server`` binds them)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[tuple[Any, ...]] = set()
    try:
        for family, kind, proto, _name, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def raise_open_files_limit(max_connections: int) -> None:
    """Lift the soft ``RLIMIT_NOFILE`` (often 1024) so ``max_connections`` client connections, as many upstream
    connections and some spare fit; warn when the hard limit does not allow it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return
    if not max_connections:
        return
    wanted = 2 * max_connections + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft < wanted:
        log.warning(
            "open_files_limit_low",
            limit=soft,
            needed=wanted,
            max_connections=max_connections,
            message="raise `ulimit -n` or lower max_connections: connections beyond the limit fail",
        )


class LimitedTCPSite(web.BaseSite):
    """A TCP site that holds at most ``max_connections`` open connections (0: no limit)."""

    __slots__ = ("_host", "_max_connections", "_open", "_port", "_reuse_port", "_room")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_connections: int = 0,
        reuse_port: bool = False,
        backlog: int = BACKLOG,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._reuse_port = reuse_port
        self._max_connections = max_connections
        self._open = 0
        self._room = asyncio.Event()
        self._room.set()

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def open_connections(self) -> int:
        return self._open

    async def start(self) -> None:
        await super().start()
        raise_open_files_limit(self._max_connections)
        sockets = bind_sockets(self._host, self._port, reuse_port=self._reuse_port, backlog=self._backlog)
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._accept_loop(sock)) for sock in sockets]
        self._server = _Listeners(sockets, tasks)

    async def stop(self) -> None:
        server = self._server
        await super().stop()  # closes the sockets and cancels the accept loops
        if isinstance(server, _Listeners):
            await server.wait_closed()

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        factory = self._runner.server
        assert factory is not None
        while True:
            await self._room.wait()  # at the limit: do not accept, new connections queue in the backlog
            try:
                conn, _address = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRORS:
                    log.warning("accept_failed", error=errno.errorcode.get(exc.errno or 0, str(exc)))
                    await asyncio.sleep(_RESOURCE_BACKOFF)
                    continue
                if isinstance(exc, ConnectionAbortedError):
                    continue
                raise
            self._opened()
            try:
                await loop.connect_accepted_socket(self._counted(factory), conn)
            except Exception:
                self._closed()
                conn.close()

    def _counted(self, factory: Callable[[], asyncio.BaseProtocol]) -> Callable[[], asyncio.BaseProtocol]:
        """The server's protocol factory, its connection's end reported back to the count."""

        def make() -> asyncio.BaseProtocol:
            protocol = factory()
            lost = protocol.connection_lost

            def connection_lost(exc: Exception | None) -> None:
                try:
                    lost(exc)
                finally:
                    self._closed()

            protocol.connection_lost = connection_lost  # type: ignore[method-assign]
            return protocol

        return make

    def _opened(self) -> None:
        self._open += 1
        if self._max_connections and self._open >= self._max_connections:
            self._room.clear()

    def _closed(self) -> None:
        self._open -= 1
        if not self._max_connections or self._open < self._max_connections:
            self._room.set()
