"""Serving state shared by the request middleware and the shutdown sequence of one worker process.

Readiness (``/readyz``) is this process's own: ``started`` once the application's start-up ran (upstream
session open, model loaded), withdrawn (``draining``) as soon as SIGTERM arrives, while the proxy still serves
for ``shutdown_delay`` so that load balancers stop sending traffic before it stops accepting.

Shutdown must end within ``shutdown_timeout`` (plus a moment to close what is left): the sequence stops
accepting, waits here until the requests in flight are done or the time is up, then cuts the rest. The
middleware counts requests in and out and, once ``stopping`` is set, logs a request cut by the shutdown as
``status: 503, cut: "shutdown"`` instead of a client that went away (499).
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class Lifecycle:
    """Requests in flight, whether the process is ready, and whether it is shutting down."""

    def __init__(self) -> None:
        self.started = False  # start-up done (set by the application's last on_startup handler)
        self.draining = False  # SIGTERM arrived: readiness withdrawn, requests still served
        self.stopping = False  # the listener is closed: what is still in flight gets cut at the deadline
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def ready(self) -> bool:
        """Whether this process wants new traffic."""
        return self.started and not (self.draining or self.stopping)

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight <= 0:
            self.in_flight = 0
            self._idle.set()

    async def drained(self, within: float) -> bool:
        """Wait until no request is in flight or ``within`` seconds passed; True when drained."""
        try:
            async with asyncio.timeout(within):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


LIFECYCLE: web.AppKey[Lifecycle] = web.AppKey("lifecycle", Lifecycle)
