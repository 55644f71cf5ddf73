"""Prometheus metrics: ``GET /metrics`` (setting ``metrics_path``; empty disables it).

Uses the official ``prometheus-client``. With several ``--workers`` its multiprocess mode aggregates all of
them, so one scrape sees every process: the parent creates (and wipes) a private directory for the metric
files before it starts the workers (:func:`prepare_multiprocess`) and marks a worker that exited dead
(:func:`worker_exited`). ``prometheus_client`` is imported lazily, so that the parent sets
``PROMETHEUS_MULTIPROC_DIR`` before the library reads it.

The metrics are fed from the access event (:meth:`Metrics.observe`, one call per request, series cached so
a request costs a few dict look-ups); a single worker counts in plain numbers that a collector turns into
Prometheus families when scraped (:class:`_Series`). No label carries a path, an id, a client or a credential:
``route`` is ``v6`` or ``passthrough``, ``method`` a known HTTP method or ``other``, ``status`` the code,
``feature`` a translator rule's name (a fixed set), ``kind`` one of :data:`ERROR_KINDS`. ``/metrics`` and
the health checks are answered by the proxy and are not counted as traffic.
"""

from __future__ import annotations

import glob
import os
import shutil
import ssl
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from .errors import UpstreamError, UpstreamTimeout
from .http1 import ConnectError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "MERGE", "DELETE", "OPTIONS"})
ERROR_KINDS = ("connect", "timeout", "tls", "reset", "bad_response")
SHADOW_RESULTS = ("match", "mismatch", "error", "skipped")
NOT_TRAFFIC = frozenset({"/healthz", "/readyz", "/readyz/upstream"})
# Request durations: from a cached pass-through (ms) to a slow translated read (s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def error_kind(exc: BaseException) -> str:
    """The ``kind`` label of an upstream failure (the cause chained by :mod:`proxy.upstream`)."""
    if isinstance(exc, (UpstreamTimeout, TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    cause = exc.__cause__ if isinstance(exc, UpstreamError) and exc.__cause__ is not None else exc
    if isinstance(cause, (TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    if isinstance(cause, ConnectError):  # proxy.http1's, for requests without a body
        return "tls" if isinstance(cause.os_error, ssl.SSLError) else "connect"
    if isinstance(cause, (aiohttp.ClientSSLError, ssl.SSLError)):
        return "tls"
    if isinstance(cause, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(cause, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionResetError)):
        return "reset"
    return "bad_response"


def prepare_multiprocess() -> str | None:
    """In the parent, before the workers start: a private, empty directory for the metric files (the
    operator's ``PROMETHEUS_MULTIPROC_DIR`` when set, wiped; else a new one). Returns the directory this
    process created (to remove at exit), or None."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, mode=0o700, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        return None
    _remove_orphaned_dirs()
    created = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = created
    return created


_DIR_PREFIX = "balena-v6-proxy-metrics-"


def _remove_orphaned_dirs() -> None:
    """Directories an earlier proxy created and could not remove (it was killed): its pid, in the name, is no
    longer running. Only this user's; a directory named otherwise is left alone."""
    for path in glob.glob(os.path.join(tempfile.gettempdir(), _DIR_PREFIX + "*")):
        pid = os.path.basename(path)[len(_DIR_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or os.stat(path).st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            continue  # running, as another user


def worker_exited(pid: int | None) -> None:
    """In the parent: a worker that exited is marked dead (its live gauges are dropped; counters stay)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if pid is None or not directory:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def remove_multiprocess_dir(created: str | None) -> None:
    if created:
        shutil.rmtree(created, ignore_errors=True)


@dataclass(frozen=True)
class _Family:
    name: str
    doc: str
    labels: tuple[str, ...] = ()


REQUESTS = _Family(
    "balena_v6_proxy_requests",
    "Requests answered, by route (v6 or passthrough), method and status",
    ("route", "method", "status"),
)
FEATURES = _Family(
    "balena_v6_proxy_v6_feature_requests",
    "Translated /v6/ requests that used a v6 feature (a translator rule)",
    ("feature",),
)
DURATION = _Family(
    "balena_v6_proxy_request_duration_seconds", "Time from the request's arrival to the end of the answer"
)
UPSTREAM_DURATION = _Family(
    "balena_v6_proxy_upstream_duration_seconds",
    "Time until the upstream's response headers (buffered translated reads: its whole answer)",
)
UPSTREAM_ERRORS = _Family(
    "balena_v6_proxy_upstream_errors",
    "Upstream failures by kind (connect, timeout, tls, reset, bad_response)",
    ("kind",),
)
SHADOW_COMPARISONS = _Family(
    "balena_v6_proxy_shadow_comparisons", "Shadow comparisons by result (match, mismatch, error, skipped)", ("result",)
)
UNKNOWN_FIELDS = _Family(
    "balena_v6_proxy_unknown_fields", "Names a v6 client asked for that v6 never had (dropped or rejected)"
)
# One per live worker process: in multiprocess mode a worker that exited drops out of the sum when the parent
# marks it dead (worker_exited), so the value says how many workers serve right now.
WORKERS = _Family(
    "balena_v6_proxy_workers", "Worker processes serving (live ones; a worker that exited is not counted)"
)


class _Count:
    """A counter of this process alone: a plain number, read when scraped."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class _Buckets:
    """A histogram of this process alone: a count per bucket (``le`` inclusive, +Inf last) and the sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.counts[bisect_left(BUCKETS, amount)] += 1
        self.sum += amount


class _Series:
    """Where each series of one worker is counted.

    A single worker counts in plain numbers (:class:`_Count`, :class:`_Buckets`) that a collector turns into
    Prometheus families when scraped: prometheus-client's own metrics take a lock and several calls per
    increment, about a twentieth of a small request with a translated request's nine feature counters.
    Several workers need every increment in their shared metric files at once (a scrape may reach any
    worker), so there each series is prometheus-client's multiprocess metric, as before."""

    def __init__(self, registry: CollectorRegistry, shared: bool) -> None:
        self.shared = shared
        self.counters: dict[_Family, dict[tuple[str, ...], Any]] = {
            f: {} for f in (REQUESTS, FEATURES, UPSTREAM_ERRORS)
        }
        self.counters.update({f: {} for f in (SHADOW_COMPARISONS, UNKNOWN_FIELDS)})
        self.histograms: dict[_Family, Any] = {}
        if shared:
            from prometheus_client import Counter, Gauge, Histogram

            self._shared = {f: Counter(f.name, f.doc, list(f.labels), registry=registry) for f in self.counters}
            for family in (DURATION, UPSTREAM_DURATION):
                self.histograms[family] = Histogram(family.name, family.doc, buckets=BUCKETS, registry=registry)
            Gauge(WORKERS.name, WORKERS.doc, multiprocess_mode="livesum", registry=registry).set(1)
        else:
            self.histograms = {DURATION: _Buckets(), UPSTREAM_DURATION: _Buckets()}
            registry.register(_LocalCollector(self))

    def counter(self, family: _Family, *labels: str) -> Any:
        """The series of ``family`` with these label values, made on first use."""
        series = self.counters[family].get(labels)
        if series is None:
            if self.shared:
                metric = self._shared[family]
                series = metric.labels(*labels) if labels else metric
            else:
                series = _Count()
            self.counters[family][labels] = series
        return series


class _LocalCollector:
    """The single worker's numbers as Prometheus families, in the order the multiprocess metrics have."""

    def __init__(self, series: _Series) -> None:
        self._series = series

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        counters = self._series.counters
        for family in (REQUESTS, FEATURES):
            yield self._counter(CounterMetricFamily, family, counters[family])
        for family in (DURATION, UPSTREAM_DURATION):
            hist: _Buckets = self._series.histograms[family]
            bounds = [*(repr(float(b)) for b in BUCKETS), "+Inf"]
            cumulative = list(accumulate(hist.counts))
            out = HistogramMetricFamily(family.name, family.doc)
            out.add_metric([], list(zip(bounds, cumulative, strict=True)), hist.sum)
            yield out
        for family in (UPSTREAM_ERRORS, SHADOW_COMPARISONS, UNKNOWN_FIELDS):
            yield self._counter(CounterMetricFamily, family, counters[family])
        yield GaugeMetricFamily(WORKERS.name, WORKERS.doc, value=1)

    @staticmethod
    def _counter(kind: Any, family: _Family, series: dict[tuple[str, ...], _Count]) -> Any:
        if not family.labels:
            return kind(family.name, family.doc, value=series[()].value if () in series else 0.0)
        out = kind(family.name, family.doc, labels=list(family.labels))
        for labels, count in series.items():
            out.add_metric(list(labels), count.value)
        return out


class Metrics:
    """The proxy's metrics for one worker; :meth:`render` is the text a scrape gets (all workers)."""

    def __init__(self, metrics_path: str, multiprocess_dir: str | None) -> None:
        from prometheus_client import CollectorRegistry, disable_created_metrics

        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: they double the output and nobody graphs them
        self.path = metrics_path
        self._multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=False)
        series = self._series = _Series(self.registry, shared=multiprocess_dir is not None)
        # Series are made up front (so every one shows from the first scrape) or on first use.
        self._errors = {kind: series.counter(UPSTREAM_ERRORS, kind) for kind in ERROR_KINDS}
        self._shadow = {result: series.counter(SHADOW_COMPARISONS, result) for result in SHADOW_RESULTS}
        self._unknown = series.counter(UNKNOWN_FIELDS)
        self._duration = series.histograms[DURATION]
        self._upstream_duration = series.histograms[UPSTREAM_DURATION]
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._feature_children: dict[str, Any] = {}

    def observe(self, fields: dict[str, Any]) -> None:
        """Count one access event (``fields`` as logged)."""
        path: str = fields["path"]
        bare = path.split("?", 1)[0]
        if bare == self.path or bare in NOT_TRAFFIC:
            return
        route = "v6" if bare == "/v6" or bare.startswith("/v6/") else "passthrough"
        method = fields["method"]
        key = (route, method if method in METHODS else "other", fields["status"] or 0)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self._series.counter(REQUESTS, key[0], key[1], str(key[2]))
        child.inc()
        self._duration.observe(fields["duration_ms"] / 1000)
        upstream_ms = fields.get("upstream_ms")
        if upstream_ms is not None:
            self._upstream_duration.observe(upstream_ms / 1000)
        features = fields.get("v6_features")
        if features:
            for feature in features:
                counter = self._feature_children.get(feature)
                if counter is None:
                    counter = self._feature_children[feature] = self._series.counter(FEATURES, feature)
                counter.inc()
        unknown = fields.get("unknown_fields")
        if unknown:
            self._unknown.inc(len(unknown))
        kind = fields.get("upstream_error")
        if kind is None:
            # an exception class name (the upstream's body stopped mid-way), or client_stalled (not the upstream's)
            broken = fields.get("stream_broken")
            if broken is not None and broken != "client_stalled":
                kind = "timeout" if "Timeout" in broken else "reset"  # aiohttp's SocketTimeoutError is a timeout
            elif fields.get("upstream_invalid_json"):
                kind = "bad_response"
        if kind is not None:
            self._errors[kind if kind in self._errors else "bad_response"].inc()

    def shadow(self, result: str) -> None:
        self._shadow[result].inc()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        registry: CollectorRegistry = self.registry
        if self._multiprocess_dir:
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry(auto_describe=False)
            multiprocess.MultiProcessCollector(registry, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format, answered by the proxy (never forwarded)."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def install(app: web.Application, metrics_path: str, workers: int) -> None:
    """Add the metrics (and their endpoint) to the app; several workers share the parent's directory."""
    directory = os.environ.get(MULTIPROC_ENV) if workers > 1 else None
    app[METRICS] = Metrics(metrics_path, directory)
    app.router.add_get(metrics_path, metrics_endpoint)
