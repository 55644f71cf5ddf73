"""Shadow comparison: for a share of ``GET /v6/`` requests, run the other path in the background and compare.

In ``translate`` mode the other path is the same request sent untouched to the upstream's own ``/v6/``
(open-balena serves it; balenaCloud during its deprecation window); in ``forward`` mode it is the
translated request. The two answers are compared structurally (key order ignored, the field names in
``shadow_ignore`` ignored at any depth, a different status is a difference at path ``""``) and each
comparison logs one ``shadow`` event: ``request_id``, ``result`` (``match``, ``mismatch`` or ``error``),
``differences`` (at most 20 ``{path, primary, shadow}``, ``path`` a JSON Pointer, values cut to 200
characters, secrets masked) and ``shadow_ms``.

The client never waits: the comparison runs in a task started after the client's answer is ready, and a
shadow failure only becomes an ``error`` result. Calls are bounded (``shadow_max_in_flight``; beyond it a
request is skipped and only counted in the metrics), a 429, 404 or 410 from the upstream's ``/v6/`` pauses
shadowing for :data:`PAUSE_SECONDS` (logged once), and writes are never shadowed. The deliberate differences
of the product decisions are not differences: under a navigation to ``gateway_download`` (decision 5, answered
empty; ``/v6/gateway_download`` itself is not shadowed) and, for a request whose unknown names the proxy
dropped (decision 1), a different status (open-balena's v6 answers 500 there, balenaCloud's ignored them).

In ``forward`` mode the sampled request goes through the one forwarder (:func:`proxy.forward.forward`) with a
:class:`KeptBody` hook that keeps the chunks it streams to the client, so a sampled client gets exactly what
an unsampled one gets (redirects rewritten, stalls cut) and the pass-through route does no extra work.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from translators import EmptyNavigation
from translators.registry import load_translators

from .appkeys import UPSTREAM
from .engine import Engine, WalkError
from .engine.apply import LocalSortOverflow, apply_plan
from .errors import UpstreamError, mask_secrets
from .headers import request_headers_for_upstream
from .logs import LOG_EXTRA, REQUEST_ID, get_logger
from .metrics import METRICS
from .odata import ODataSyntaxError
from .settings import Settings

log = get_logger("proxy.shadow")

PAUSE_SECONDS = 300.0  # after the upstream's /v6/ said 429/404/410: it is gone or busy, try again later
PAUSE_STATUSES = frozenset({429, 404, 410})
MAX_DIFFERENCES = 20
MAX_VALUE_CHARS = 200
MAX_KEPT_BYTES = 8 * 1024 * 1024  # a forwarded answer larger than this is not compared
MISSING = "(missing)"


@dataclass(frozen=True)
class Deliberate:
    """What of one request differs from v6 on purpose. Decision 5: the proxy answers navigations to
    ``gateway_download`` empty, so differences under those keys are not differences (``keys``). Decision 1:
    unknown names are dropped where v6 servers disagree (balenaCloud ignored them, open-balena answers 500), so
    the request is compared only when both answers have the same status (``unknown``)."""

    keys: frozenset[str] = frozenset()
    unknown: bool = False


NOTHING_DELIBERATE = Deliberate()


class Shadow:
    """Per worker: samples requests, bounds and runs the background comparisons."""

    def __init__(self, settings: Settings, engine: Engine, excluded_features: dict[str, str]) -> None:
        self.share = settings.shadow_share
        self.ignore = frozenset(settings.shadow_ignore)
        self.max_in_flight = settings.shadow_max_in_flight
        self.engine = engine
        self.excluded_features = excluded_features
        self.pause_seconds = PAUSE_SECONDS
        self.paused_until = 0.0
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def pick(self, request: web.Request) -> bool:
        """Whether this request is sampled (a read, within the share). Bounds are checked at :meth:`start`."""
        return request.method == "GET" and random.random() < self.share

    def start(self, request: web.Request, mode: str, status: int, body: bytes | None) -> None:
        """Start the comparison of the client's answer (``status``, decoded ``body``) in the background."""
        if body is None:
            return  # not comparable (streamed beyond the limit, or broken)
        extra = request[LOG_EXTRA]
        deliberate = NOTHING_DELIBERATE
        if mode == "translate":
            found = self._deliberate(extra.get("v6_features"), extra.get("unknown_fields"))
            if found is None:
                return
            deliberate = found
        if time.monotonic() < self.paused_until or self.in_flight >= self.max_in_flight:
            self._count(request.app, "skipped")
            return
        headers = request_headers_for_upstream(request)
        for name in ("Content-Length", "Content-Type", "Content-Encoding", "Accept-Encoding"):
            headers.popall(name, None)
        job = self._compare(request.app, request[REQUEST_ID], mode, request.raw_path, headers, status, body, deliberate)
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(job)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.in_flight -= 1

    def _deliberate(self, features: Any, unknown: Any) -> Deliberate | None:
        """Decisions 1 and 5 for one request (:class:`Deliberate`); None when the whole answer is the proxy's
        own on purpose (``/v6/gateway_download`` itself): not compared at all."""
        keys: set[str] = set()
        for feature in features or ():
            if not isinstance(feature, str):
                continue
            if feature.endswith(".local_empty"):
                return None
            key = self.excluded_features.get(feature)
            if key is not None:
                keys.add(key)
        if not keys and not unknown:
            return NOTHING_DELIBERATE
        return Deliberate(frozenset(keys), bool(unknown))

    @staticmethod
    def _count(app: web.Application, result: str) -> None:
        metrics = app.get(METRICS)
        if metrics is not None:
            metrics.shadow(result)

    async def _compare(
        self,
        app: web.Application,
        request_id: str,
        mode: str,
        raw_path: str,
        headers: CIMultiDict[str],
        primary_status: int,
        primary_body: bytes,
        deliberate: Deliberate,
    ) -> None:
        started = time.perf_counter()
        shadow_body: bytes | bytearray
        try:
            if mode == "translate":
                reply = await app[UPSTREAM].fetch("GET", raw_path, headers)
                shadow_status, shadow_body = reply.status, reply.body
            else:
                answer = await self._translated(app, raw_path, headers)
                if answer is None:
                    return  # the proxy's own answer on purpose (decisions 5, 9) or a document that is not JSON
                shadow_status, shadow_body, deliberate = answer
        except (UpstreamError, TimeoutError, aiohttp.ClientError, OSError):
            self._report(app, request_id, "error", [], started)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a shadow failure must never surface anywhere else
            log.warning("shadow_failed", request_id=request_id, error=exc.__class__.__name__)
            self._report(app, request_id, "error", [], started)
            return
        if self._should_pause(mode, shadow_status, primary_status):
            self._report(app, request_id, "error", [], started)
            return
        if deliberate.unknown and shadow_status != primary_status:
            return  # decision 1: v6 failed where the proxy drops the unknown names (not compared, not counted)
        differences = list(self.differences(primary_status, primary_body, shadow_status, shadow_body, deliberate.keys))
        self._report(app, request_id, "mismatch" if differences else "match", differences, started)

    def _should_pause(self, mode: str, shadow_status: int, primary_status: int) -> bool:
        """A 429 (busy), or a 404/410 where the client got an answer (the upstream's /v6/ is gone)."""
        if shadow_status not in PAUSE_STATUSES or (mode == "forward" and shadow_status != 429):
            return False
        if shadow_status != 429 and primary_status == shadow_status:
            return False  # both say "not found": a real answer, compared as such
        if time.monotonic() >= self.paused_until:
            log.warning(
                "shadow_paused",
                upstream_status=shadow_status,
                seconds=self.pause_seconds,
                message=f"the shadow path answered {shadow_status}: shadowing paused",
            )
        self.paused_until = time.monotonic() + self.pause_seconds
        return True

    async def _translated(
        self, app: web.Application, raw_path: str, headers: CIMultiDict[str]
    ) -> tuple[int, bytes | bytearray, Deliberate] | None:
        """The answer the translation gives for a forwarded read (as :mod:`proxy.v6` would answer it)."""
        target = raw_path[3:] or "/"
        try:
            tr = self.engine.translate("GET", target)
        except ODataSyntaxError:
            return None  # malformed: v6 and the proxy word that 400 differently (decision 9)
        except WalkError as exc:
            return exc.status, orjson.dumps(exc.message) if exc.message is not None else b"", NOTHING_DELIBERATE
        deliberate = self._deliberate(tr.features, tr.unknown)
        if deliberate is None or tr.local_kind == "metadata":
            return None
        if tr.local_status is not None:
            return tr.local_status, orjson.dumps(tr.local_body), deliberate
        reply = await app[UPSTREAM].fetch("GET", "/v7" + (tr.v7_target or ""), headers)
        if 200 <= reply.status < 300 and reply.body and tr.plan is not None:
            try:
                return reply.status, apply_plan(tr.plan, reply.body), deliberate
            except LocalSortOverflow:
                return 400, b"", deliberate
        return reply.status, reply.body, deliberate

    def _report(
        self, app: web.Application, request_id: str, result: str, differences: list[dict[str, Any]], started: float
    ) -> None:
        self._count(app, result)
        log.info(
            "shadow",
            request_id=request_id,
            result=result,
            differences=differences,
            shadow_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    # -- comparison ------------------------------------------------------------------------------------------------
    def differences(
        self,
        primary_status: int,
        primary_body: bytes,
        shadow_status: int,
        shadow_body: bytes | bytearray,
        deliberate_keys: frozenset[str] = frozenset(),
    ) -> Iterator[dict[str, Any]]:
        """At most :data:`MAX_DIFFERENCES` differences between the two answers (``shadow_ignore`` and the
        ``deliberate_keys`` of decision 5 ignored at any depth)."""
        if primary_status != shadow_status:
            yield _difference("", primary_status, shadow_status)
            return
        try:
            primary, shadow = orjson.loads(primary_body or b"null"), orjson.loads(shadow_body or b"null")
        except orjson.JSONDecodeError:
            if primary_body != shadow_body:
                yield _difference("", primary_body.decode(errors="replace"), shadow_body.decode(errors="replace"))
            return
        ignore = self.ignore | deliberate_keys if deliberate_keys else self.ignore
        for count, difference in enumerate(self._walk("", primary, shadow, ignore), 1):
            yield difference
            if count >= MAX_DIFFERENCES:
                return

    def _walk(self, path: str, primary: Any, shadow: Any, ignore: frozenset[str]) -> Iterator[dict[str, Any]]:
        if isinstance(primary, dict) and isinstance(shadow, dict):
            for key in sorted(primary.keys() | shadow.keys()):
                if key in ignore:
                    continue
                where = f"{path}/{_escape(key)}"
                if key not in shadow:
                    yield _difference(where, primary[key], MISSING)
                elif key not in primary:
                    yield _difference(where, MISSING, shadow[key])
                else:
                    yield from self._walk(where, primary[key], shadow[key], ignore)
        elif isinstance(primary, list) and isinstance(shadow, list):
            for index in range(max(len(primary), len(shadow))):
                where = f"{path}/{index}"
                if index >= len(shadow):
                    yield _difference(where, primary[index], MISSING)
                elif index >= len(primary):
                    yield _difference(where, MISSING, shadow[index])
                else:
                    yield from self._walk(where, primary[index], shadow[index], ignore)
        elif primary != shadow or type(primary) is not type(shadow):
            yield _difference(path, primary, shadow)


def _escape(key: str) -> str:
    """A JSON Pointer reference token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _difference(path: str, primary: Any, shadow: Any) -> dict[str, Any]:
    return {"path": path, "primary": _shown(primary), "shadow": _shown(shadow)}


def _shown(value: Any) -> Any:
    """A value as logged: secrets masked, text cut to 200 characters (a long object or array becomes its cut
    JSON text)."""
    if isinstance(value, str):
        return mask_secrets(value)[:MAX_VALUE_CHARS]
    if isinstance(value, (dict, list)):
        text = mask_secrets(orjson.dumps(value).decode())
        return text[:MAX_VALUE_CHARS] if len(text) > MAX_VALUE_CHARS else orjson.loads(text)
    return value


def decoded(body: bytes, encoding: str | None) -> bytes | None:
    """A response body without its Content-Encoding (gzip, deflate), or None when it cannot be decoded."""
    if not encoding or encoding == "identity":
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError):
        return None
    return None


class KeptBody:
    """The ``keep`` hook of :func:`proxy.forward.forward` for a sampled read: the chunks it streams to the
    client, up to :data:`MAX_KEPT_BYTES` (a larger answer is not compared)."""

    __slots__ = ("chunks", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0

    def __call__(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size <= MAX_KEPT_BYTES:
            self.chunks.append(chunk)


def client_answer(request: web.Request, response: web.StreamResponse, kept: KeptBody | None = None) -> bytes | None:
    """The (decoded) body the client got, or None when it cannot be compared: cut off mid-way, streamed
    without ``kept``, over :data:`MAX_KEPT_BYTES`, or in an encoding :func:`decoded` does not know."""
    if request[LOG_EXTRA].get("stream_broken") is not None:
        return None
    if isinstance(response, web.Response):
        raw = response.body
        if not isinstance(raw, (bytes, bytearray)):
            return None
        body = bytes(raw)
    elif kept is not None and kept.size <= MAX_KEPT_BYTES:
        body = b"".join(kept.chunks)
    else:
        return None
    return decoded(body, response.headers.get("Content-Encoding"))


SHADOW: web.AppKey[Shadow] = web.AppKey("shadow", Shadow)


async def _stop_shadows(app: web.Application) -> None:
    """At shutdown: comparisons still running are abandoned (they never matter to a client)."""
    shadow = app.get(SHADOW)
    if shadow is None:
        return
    for task in list(shadow.tasks):
        task.cancel()
    if shadow.tasks:
        await asyncio.gather(*shadow.tasks, return_exceptions=True)


def deliberate_differences(flavour: str) -> dict[str, str]:
    """Features of decision 5 -> the key they name: navigations to a resource the proxy answers itself
    (``gateway_download``), always empty in the proxy's answer whatever the upstream's v6 holds."""
    translators = load_translators(flavour)
    local = {t.resource for t in translators if t.local is not None}
    return {
        f"{t.resource}.{rule.name}.{what}": rule.name
        for t in translators
        for rule in t.rules
        if isinstance(rule, EmptyNavigation) and rule.target in local
        for what in ("empty", "empty_lambda", "navigation_path")
    }


def install(app: web.Application, settings: Settings, engine: Engine) -> None:
    """Enable shadowing on ``app`` (``shadow_share > 0``); the v6 entry (:mod:`proxy.rollout`) calls it."""
    app[SHADOW] = Shadow(settings, engine, deliberate_differences(settings.upstream_flavour))
    app.on_shutdown.append(_stop_shadows)
