"""The pooled connections to the upstream API, and the two ways to use them.

* :meth:`Upstream.open` streams: the response body is not decompressed and is read by the caller chunk by
  chunk (pass-through, log streams). A request without a body goes through the proxy's own small HTTP/1.1
  client (:mod:`proxy.http1`, a third of the cost per request); one with a body (a client's upload, streamed)
  through aiohttp's client session.
* :meth:`Upstream.fetch` buffers: the body is read whole and decompressed, for responses that will be
  translated (always through :mod:`proxy.http1`: its request body, if any, is known whole).

Paths and query strings are sent byte-exact (``yarl.URL(..., encoded=True)``): re-encoding changes what the
server parses (``%2F``, ``%27``, ``+`` and aliases, see the OData dialect notes). Failures become
:class:`UpstreamUnavailable` (502) or :class:`UpstreamTimeout` (504).

Timeouts: ``connect_timeout`` for the TCP/TLS connection, ``first_byte_timeout`` until the response
headers arrive, then ``stream_idle_timeout`` between two body reads; there is no total timeout, so a log
stream may run for as long as the upstream keeps sending.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import yarl
from aiohttp import hdrs
from aiohttp.web_protocol import RequestPayloadError
from multidict import CIMultiDict, CIMultiDictProxy

from .errors import ClientBodyError, UpstreamTimeout, UpstreamUnavailable
from .http1 import ConnectError, Http1Pool
from .logs import get_logger
from .settings import Settings

log = get_logger("proxy.upstream")

# Methods we may safely re-send once when a pooled keep-alive connection turned out to be closed.
_RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS"})
DECODABLE_ENCODINGS = "gzip, deflate"
# Headers aiohttp would otherwise invent; a faithful proxy sends only what the client sent.
_NEVER_INVENTED: CIMultiDict[None] = CIMultiDict(
    (name, None) for name in (hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE)
)


class ForwardedRequest(aiohttp.ClientRequest):
    """A client request that sends the headers it is given and invents none (no ``Accept``,
    ``Accept-Encoding``, ``User-Agent``, nor a ``Content-Type`` for a body).

    The same as the session's ``skip_auto_headers``, without building and merging a copy of every request's
    headers to find that out (a tenth of the proxy's own work on a pass-through request)."""

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        self._skip_auto_headers = _NEVER_INVENTED


class _Deadline:
    """``asyncio.timeout(delay)`` for one wait, on a loop known in advance.

    asyncio.timeout asks for the running loop and the current task, and on Python 3.11 each asking is a
    ``getpid`` system call: three per upstream request, with the timer, a few per cent of a pass-through
    request. This keeps its semantics (the task is cancelled at the deadline, the cancellation becomes
    ``TimeoutError`` unless someone else cancelled the task too) without asking."""

    __slots__ = ("_cancelling", "_delay", "_expired", "_handle", "_loop", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._loop = loop
        self._delay = delay
        self._expired = False

    async def __aenter__(self) -> None:
        task = asyncio.current_task(self._loop)
        if task is None:  # pragma: no cover - always awaited inside a task
            raise RuntimeError("_Deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = self._loop.call_later(self._delay, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> None:
        self._handle.cancel()
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


class StreamedReply(Protocol):
    """What :meth:`Upstream.open` gives: status and headers, the body (still compressed as sent) read whole or
    in pieces; reading it may raise ``aiohttp.ClientPayloadError`` or ``TimeoutError`` (the stream went idle)."""

    status: int
    reason: str | None
    headers: CIMultiDictProxy[str]

    @property
    def content_length(self) -> int | None: ...

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...


class _SessionReply:
    """An aiohttp client response as a :class:`StreamedReply` (requests with a body go through the session)."""

    __slots__ = ("_response", "headers", "reason", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers

    @property
    def content_length(self) -> int | None:
        return self._response.content_length

    async def read(self) -> bytes:
        return await self._response.read()

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    def release(self) -> None:
        self._response.release()


_Sent = TypeVar("_Sent")


@dataclass(frozen=True)
class UpstreamReply:
    """A buffered upstream response; ``body`` is decompressed and the headers say so."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes | bytearray  # a bytearray when it was read into one buffer (see _read_whole)


def ssl_context(settings: Settings) -> ssl.SSLContext | bool:
    """System trust store, plus ``ca_bundle`` when set; ``False`` (no verification) when ``insecure``."""
    if settings.insecure:
        return False
    context = ssl.create_default_context()
    if settings.ca_bundle:
        context.load_verify_locations(cafile=settings.ca_bundle)
    return context


class Upstream:
    """Wraps the pooled :class:`aiohttp.ClientSession`; create it in ``cleanup_ctx`` (see ``proxy.app``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        base = yarl.URL(settings.upstream)
        self.base_url = str(base.origin())
        self.base_path = base.raw_path.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._pool: Http1Pool | None = None  # every request but a streamed upload (see proxy.http1)
        self._first_byte = settings.first_byte_timeout
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        if self.settings.insecure:
            log.warning(
                "upstream_tls_verification_disabled",
                upstream=self.settings.upstream,
                message="insecure=true: upstream TLS certificates are NOT verified",
            )
        self._loop = asyncio.get_running_loop()
        connector = aiohttp.TCPConnector(ssl=ssl_context(self.settings), limit=0, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            request_class=ForwardedRequest,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=self.settings.connect_timeout,
                sock_read=self.settings.stream_idle_timeout,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
        )
        self._pool = Http1Pool(
            yarl.URL(self.base_url),
            ssl_context(self.settings),
            self.settings.connect_timeout,
            idle=self.settings.stream_idle_timeout,
        )

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("Upstream session is not started (is the app running?)")
        return self._loop

    @property
    def pool(self) -> Http1Pool:
        if self._pool is None:
            raise RuntimeError("Upstream session is not started (is the app running?)")
        return self._pool

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Upstream session is not started (is the app running?)")
        return self._session

    def target(self, path_qs: str) -> str:
        """The request target sent upstream for a raw one: as given, under the upstream's base path, less a
        fragment and an empty query (as aiohttp's client wrote a URL, so both clients send the same)."""
        target = self.base_path + path_qs
        if "#" in target:
            target = target.split("#", 1)[0]
        if target[-1:] == "?" and target.index("?") == len(target) - 1:
            target = target[:-1]
        return target

    def url(self, path_qs: str) -> yarl.URL:
        """The upstream URL for a raw request target, without any re-encoding."""
        return yarl.URL(self.base_url + self.base_path + path_qs, encoded=True)

    async def _request(
        self, method: str, path_qs: str, headers: Mapping[str, str], body: Any
    ) -> aiohttp.ClientResponse:
        url = self.url(path_qs)
        session = self.session
        return await self._sent(
            method,
            body is None,
            lambda: session.request(method, url, headers=headers, data=body, allow_redirects=False),
        )

    async def _sent(self, method: str, no_body: bool, send: Callable[[], Awaitable[_Sent]]) -> _Sent:
        """``send()`` within the first-byte deadline, its failures as the API-style errors; a request that is
        safe to repeat is sent once more when a pooled connection turned out to be closed."""
        attempts = 2 if method in _RETRYABLE and no_body else 1
        for attempt in range(attempts):
            try:
                async with _Deadline(self.loop, self._first_byte):
                    return await send()
            except aiohttp.ServerDisconnectedError as exc:
                if attempt + 1 < attempts:
                    continue  # a pooled connection closed by the upstream while idle: try a fresh one
                raise UpstreamUnavailable(f"connection closed by upstream ({exc.__class__.__name__})") from exc
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise UpstreamTimeout(_timeout_message(exc, self.settings)) from exc
            except aiohttp.ClientConnectorDNSError as exc:
                raise UpstreamUnavailable(f"cannot resolve {exc.host} ({_reason(exc)})") from exc
            except aiohttp.ClientConnectorError as exc:
                raise UpstreamUnavailable(f"cannot connect to {exc.host}:{exc.port} ({_reason(exc)})") from exc
            except ConnectError as exc:
                raise UpstreamUnavailable(_connect_failure(exc)) from exc
            except aiohttp.ClientError as exc:
                if _client_body_broke(exc):
                    raise ClientBodyError("the request body could not be read") from exc
                raise UpstreamUnavailable(_reason(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def open(self, method: str, path_qs: str, headers: Mapping[str, str], body: Any = None) -> _Streaming:
        """``async with upstream.open(...) as response``: send a request, get the streaming response (body
        still compressed as sent); leaving the block releases the connection.

        ``body`` may be None, bytes, or a stream such as ``request.content``. Reading the body may raise
        ``aiohttp.ClientPayloadError`` / ``asyncio.TimeoutError`` (idle stream); the caller decides what to do
        once the response has started.
        """
        if body is None:
            pool = self.pool
            target = self.target(path_qs)
            return _Streaming(self._sent(method, True, lambda: pool.request(method, target, headers)))
        return _Streaming(self._session_reply(method, path_qs, headers, body))

    async def _session_reply(self, method: str, path_qs: str, headers: Mapping[str, str], body: Any) -> _SessionReply:
        return _SessionReply(await self._request(method, path_qs, headers, body))

    async def fetch(
        self, method: str, path_qs: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> UpstreamReply:
        """Send a request and read the whole response, decompressed.

        ``Accept-Encoding`` is replaced by the encodings decoded here, whatever the client accepts: the body
        is decoded for translation and re-encoded (or not) by the caller.
        """
        headers = CIMultiDict(headers)
        headers[hdrs.ACCEPT_ENCODING] = DECODABLE_ENCODINGS
        pool = self.pool
        target = self.target(path_qs)
        reply = await self._sent(method, body is None, lambda: pool.request(method, target, headers, body))
        try:
            data = _decoded(await _read_whole(reply), reply.headers.get(hdrs.CONTENT_ENCODING))
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:  # headers came, then the body went silent
            raise UpstreamTimeout(f"the response stalled for {self.settings.stream_idle_timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(_reason(exc)) from exc
        finally:
            reply.release()
        reply_headers = CIMultiDict(reply.headers)
        reply_headers.popall(hdrs.CONTENT_ENCODING, None)
        reply_headers.popall(hdrs.CONTENT_LENGTH, None)
        return UpstreamReply(status=reply.status, headers=CIMultiDictProxy(reply_headers), body=data)


def _decoded(body: bytes | bytearray, encoding: str | None) -> bytes | bytearray:
    """The body without its ``Content-Encoding`` (one of :data:`DECODABLE_ENCODINGS`, as asked)."""
    if encoding is None:
        return body
    coding = encoding.strip().lower()
    try:
        if coding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if coding == "deflate":  # zlib-wrapped as RFC 9110 says, or raw deflate as some servers send it
            wrapped = len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] * 256 + body[1]) % 31 == 0
            return zlib.decompress(body, zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
    except (OSError, EOFError, zlib.error) as exc:
        raise UpstreamUnavailable(f"the answer's {coding} encoding is broken") from exc
    if coding == "identity":
        return body
    raise UpstreamUnavailable(f"the answer is in an encoding the proxy did not ask for ({encoding})")


# A plain body of at least this declared length is read into one buffer of that size: read whole, aiohttp
# keeps every chunk until it joins them, two copies of the answer at once and a heap left holding the chunks.
PREALLOCATE_MIN_BYTES = 1024 * 1024
# ... and at most this long: a declared length is only a claim (an upstream declaring a terabyte must not make
# the proxy reserve it); a longer body is kept as it arrives and joined once at its end.
PREALLOCATE_MAX_BYTES = 256 * 1024 * 1024


async def _read_whole(reply: StreamedReply) -> bytes | bytearray:
    """The whole body; a large one of known length, not compressed, into a buffer of its size, chunk by chunk."""
    length = reply.content_length
    if (
        length is None
        or not PREALLOCATE_MIN_BYTES <= length <= PREALLOCATE_MAX_BYTES
        or hdrs.CONTENT_ENCODING in reply.headers
    ):
        return await reply.read()
    buffer = bytearray(length)
    view = memoryview(buffer)
    filled = 0
    async for chunk in reply.chunks():
        end = filled + len(chunk)
        if end > length:  # more than declared: the parser does not let that happen; never write past it
            raise aiohttp.ClientPayloadError("the response is longer than its Content-Length")
        view[filled:end] = chunk
        filled = end
    view.release()
    if filled != length:
        raise aiohttp.ClientPayloadError("the connection closed before the response was complete")
    return buffer


class _Streaming:
    """The context manager :meth:`Upstream.open` returns: a small class, not ``@asynccontextmanager``, whose
    generator and wrapper objects cost a few µs on every pass-through request."""

    __slots__ = ("_response", "_sending")

    def __init__(self, sending: Coroutine[Any, Any, StreamedReply]) -> None:
        self._sending = sending
        self._response: StreamedReply | None = None

    async def __aenter__(self) -> StreamedReply:
        self._response = await self._sending
        return self._response

    async def __aexit__(self, *_exc: object) -> None:
        if self._response is not None:
            self._response.release()


def _client_body_broke(exc: BaseException) -> bool:
    """Sending failed because reading the *client's* streamed body failed (bad framing), not the upstream."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, RequestPayloadError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    """A short cause for the client: aiohttp's own texts nest reprs of inner errors (fault tests)."""
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection closed before the response was complete"
    if isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientConnectorError) and exc.errno == errno.ECONNRESET:
        return "connection reset by upstream"
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        text = exc.os_error.strerror or str(exc.os_error) or text
    return text


def _connect_failure(exc: ConnectError) -> str:
    """As aiohttp's connector errors read (:func:`_reason`): the host, and the operating system's reason."""
    error = exc.os_error
    reason = "connection refused" if isinstance(error, ConnectionRefusedError) else (error.strerror or str(error))
    if exc.dns:
        return f"cannot resolve {exc.host} ({reason})"
    return f"cannot connect to {exc.host}:{exc.port} ({reason})"


def _timeout_message(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"no connection within {settings.connect_timeout:g} s"
    return f"no response within {settings.first_byte_timeout:g} s"
