"""Reading access logs and counting them into the usage report (the JSON shape; text and HTML render it).

Input: JSON lines as the proxy writes them (stdout or ``log_file``), from several files, rotated and
gzipped ones (recognised by their magic bytes, whatever their name) or ``-`` (stdin). A line that is not
a JSON object is counted in ``skipped_lines`` and skipped; events other than ``request`` are not traffic
(``shadow`` events feed the shadow summary) and are not skipped lines.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from .migration import MigrationTexts
from .shapes import shapes

NOT_TRANSLATED = "(not translated)"  # forwarded to the upstream's own /v6/
ANSWERED_LOCALLY = "(no v7 request: answered by the proxy)"  # $metadata, gateway_download (decision 5)
REFUSED = "(no v7 request: refused by the proxy)"  # a 4xx the translation answered, e.g. an unknown $filter field


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or date-time; UTC unless it names a zone."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(event: dict[str, Any]) -> datetime | None:
    value = event.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        return parse_since(value)
    except ValueError:
        return None


def open_input(name: str) -> IO[bytes]:
    """A file (gunzipped when it is gzip data) or stdin for ``-``."""
    raw: IO[bytes] = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115 - closed by the caller
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


class InputErrors:
    """Inputs that broke off mid-way (a gzipped log cut short while being rotated or copied): what was read
    before the break counts, the break is one skipped line and one warning, never a failed report."""

    def __init__(self) -> None:
        self.messages: list[str] = []


def read_lines(names: Iterable[str], errors: InputErrors | None = None) -> Iterator[bytes]:
    """The lines of every input in turn. A file that cannot be opened raises (the operator named it); one
    that breaks while being read is noted in ``errors`` and yields one unparseable line in its place."""
    for name in names:
        handle = open_input(name)
        try:
            yield from handle
        except (EOFError, OSError, zlib.error) as exc:
            if errors is None:
                raise
            reason = "compressed data ends early" if isinstance(exc, EOFError) else str(exc) or type(exc).__name__
            errors.messages.append(f"{'stdin' if name == '-' else name}: {reason}; read up to there")
            yield b"\x00 (unreadable rest of input)\n"  # counted as one skipped line
        finally:
            if name != "-":
                handle.close()


@dataclass
class ClientEntry:
    client: str
    credential: str | None
    requests: int = 0
    v6_requests: int = 0
    first_seen: str | None = None
    last_seen: str | None = None
    features: Counter[str] = field(default_factory=Counter)
    unknown_fields: Counter[str] = field(default_factory=Counter)
    queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    v6_days: Counter[str] = field(default_factory=Counter)


@dataclass
class ShadowSummary:
    results: Counter[str] = field(default_factory=Counter)
    pointers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (resource, JSON pointer)


@dataclass
class Usage:
    """Everything counted from the logs; :meth:`as_json` is the report's JSON document."""

    requests: int = 0
    v6_requests: int = 0
    skipped_lines: int = 0
    first: str | None = None
    last: str | None = None
    clients: dict[tuple[str, str | None], ClientEntry] = field(default_factory=dict)
    shadow: ShadowSummary = field(default_factory=ShadowSummary)
    migrations: dict[str, str] = field(default_factory=dict)

    def sorted_clients(self) -> list[ClientEntry]:
        return sorted(self.clients.values(), key=lambda c: (-c.v6_requests, -c.requests, c.client, c.credential or ""))

    def feature_totals(self) -> dict[str, dict[str, Any]]:
        totals: dict[str, dict[str, Any]] = {}
        for entry in self.clients.values():
            for feature, count in entry.features.items():
                item = totals.setdefault(feature, {"requests": 0, "clients": 0, "migration": self.migrations[feature]})
                item["requests"] += count
                item["clients"] += 1
        return dict(sorted(totals.items(), key=lambda kv: (-kv[1]["requests"], kv[0])))

    def as_json(self) -> dict[str, Any]:
        return {
            "period": {"first": self.first, "last": self.last},
            "requests": self.requests,
            "v6_requests": self.v6_requests,
            "skipped_lines": self.skipped_lines,
            "clients": [
                {
                    "client": c.client,
                    "credential": c.credential,
                    "requests": c.requests,
                    "v6_requests": c.v6_requests,
                    "first_seen": c.first_seen,
                    "last_seen": c.last_seen,
                    "features": dict(_ranked(c.features)),
                    "unknown_fields": dict(_ranked(c.unknown_fields)),
                    "queries": [{"v6": v6, "v7": v7, "count": n} for (v6, v7), n in _ranked(c.queries)],
                }
                for c in self.sorted_clients()
            ],
            "features": self.feature_totals(),
        }


def _ranked(counter: Counter[Any]) -> list[tuple[Any, int]]:
    """Most frequent first; ties in a stable, readable order."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def is_v6(path: str) -> bool:
    return path == "/v6" or path.startswith(("/v6/", "/v6?"))


def build_usage(lines: Iterable[bytes], texts: MigrationTexts, since: datetime | None = None) -> Usage:
    usage = Usage()
    request_resources: dict[str, str] = {}
    shadows: list[dict[str, Any]] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            usage.skipped_lines += 1
            continue
        if not isinstance(event, dict):
            usage.skipped_lines += 1
            continue
        kind = event.get("event")
        if kind not in ("request", "shadow"):
            continue
        if since is not None:
            moment = _timestamp(event)
            if moment is None or moment < since:
                continue
        if kind == "shadow":
            shadows.append(event)
            continue
        _count_request(usage, event, texts, request_resources)
    for event in shadows:
        result = str(event.get("result"))
        usage.shadow.results[result] += 1
        if result == "mismatch":
            resource = request_resources.get(str(event.get("request_id")), "")
            for difference in event.get("differences") or ():
                if isinstance(difference, dict):
                    usage.shadow.pointers[(resource, str(difference.get("path")))] += 1
    return usage


def _count_request(usage: Usage, event: dict[str, Any], texts: MigrationTexts, resources: dict[str, str]) -> None:
    path = str(event.get("path") or "")
    stamp = event.get("timestamp") if isinstance(event.get("timestamp"), str) else None
    client = event.get("balena_client") or event.get("user_agent") or ""
    credential = event.get("credential")
    key = (str(client), credential if isinstance(credential, str) else None)
    entry = usage.clients.get(key)
    if entry is None:
        entry = usage.clients[key] = ClientEntry(*key)
    usage.requests += 1
    entry.requests += 1
    if stamp is not None:
        if usage.first is None or stamp < usage.first:
            usage.first = stamp
        if usage.last is None or stamp > usage.last:
            usage.last = stamp
        if entry.first_seen is None or stamp < entry.first_seen:
            entry.first_seen = stamp
        if entry.last_seen is None or stamp > entry.last_seen:
            entry.last_seen = stamp
    if not is_v6(path):
        return
    usage.v6_requests += 1
    entry.v6_requests += 1
    if stamp is not None:
        entry.v6_days[stamp[:10]] += 1
    if isinstance(event.get("request_id"), str):
        resources[event["request_id"]] = str(event.get("resource") or "")
    for feature in event.get("v6_features") or ():
        feature = str(feature)
        entry.features[feature] += 1
        if feature not in usage.migrations:
            usage.migrations[feature] = texts.text(feature)
    for name in event.get("unknown_fields") or ():
        entry.unknown_fields[str(name)] += 1
    method = str(event.get("method") or "GET")
    translated = event.get("v6_mode", "translate") == "translate"
    v7_target = event.get("v7_target") if translated else None
    v6_shape, v7_shape = shapes(path, v7_target if isinstance(v7_target, str) else None)
    if v7_shape is not None:
        v7 = f"{method} {v7_shape}"
    elif translated:  # translated, but no v7 request went out: answered or refused by the proxy itself
        status = event.get("status")
        v7 = ANSWERED_LOCALLY if isinstance(status, int) and status < 400 else f"{REFUSED} ({status})"
    else:
        v7 = NOT_TRANSLATED
    entry.queries[(f"{method} {v6_shape}", v7)] += 1
