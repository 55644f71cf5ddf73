"""The applier of a response plan: orjson in, one v6 object built per v7 object, orjson out.

Rows are built by functions compiled once per plan and row shape (:mod:`proxy.engine.rowbuild`);
:func:`interpret` applies the ops one by one and is what those functions must agree with. A list answer
whose rows have the shape its plan's first answer had goes a faster way: decoded by msgspec into struct
rows, fixed up and encoded by msgspec (:mod:`proxy.engine.structbuild`), byte for byte the same answer.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from proxy.engine.plan import CHILD, COERCE, CONST, COPY, DERIVE, PATH, UNWRAP, ObjectPlan, Op, ResponsePlan, SortKey
from proxy.engine.rowbuild import MAX_SHAPES, RowBuilder, compile_row, needs_interpreter
from proxy.engine.structbuild import RowClasses, compile_rows, handles

_MISSING = object()
_UNCHANGED = object()
_NO_NAMES: dict[str, str] = {}  # shared, never written
_URI = re.compile(r"^/v7/([A-Za-z0-9_]+)")


class LocalSortOverflow(Exception):
    """More rows than the local sort may hold."""


def _rewrite_uri(uri: Any, names: dict[str, str], own: tuple[str, str] | None = None) -> Any:
    """A ``/v7/<resource>…`` URI as v6 spells it; ``own`` (v7, v6) names the row's own resource, which may
    be a view over a v7 resource other v6 resources also read (a row's URI names the resource it was read as)."""
    if not isinstance(uri, str):
        return uri
    m = _URI.match(uri)
    if not m:
        return uri
    name = m.group(1)
    v6 = own[1] if own is not None and own[0] == name else names.get(name, name)
    return "/v6/" + v6 + uri[m.end() :]


def _rewrite_deferred(value: Any, names: dict[str, str]) -> Any:
    """``{"__deferred": {"uri": "/v7/…"}}`` (``odata.metadata=full``) with a v6 URI."""
    if names and isinstance(value, dict) and isinstance(value.get("__deferred"), dict):
        return {
            **value,
            "__deferred": {**value["__deferred"], "uri": _rewrite_uri(value["__deferred"].get("uri"), names)},
        }
    return value


def _null_last_key(value: Any, descending: bool) -> tuple[Any, ...]:
    # PostgreSQL: NULLs last ascending, first descending; text by code point (C collation).
    if value is None:
        return (1,)
    if isinstance(value, bool):
        return (0, 0, int(value))
    if isinstance(value, (int, float)):
        return (0, 0, value)
    return (0, 1, str(value))


def fanned_out(rows: list[Any], keys: tuple[SortKey, ...]) -> list[Any]:
    """The rows joined to each collection a sort key reads through (SQL's LEFT JOINs, the first outermost):
    one copy per member, holding only that member (in place of the collection, or under ``fan_into`` beside
    it); a row without members stays as it is. A collection further along (``a/b``: the members of ``b`` of
    the one ``a`` each copy holds) is joined after every step before it."""
    joins: dict[tuple[str, str], None] = {}
    for sk in keys:
        if sk.fan_out is not None:
            steps = sk.fan_out.split("/")
            joins.update(dict.fromkeys(("/".join(steps[:i]), "/".join(steps[:i])) for i in range(1, len(steps))))
            joins[(sk.fan_out, sk.fan_into or sk.fan_out)] = None
    for nav, into in joins:
        if "/" in nav:
            path = nav.split("/")
            rows = [copy for row in rows for copy in _joined_at(row, path)]
            continue
        out: list[Any] = []
        for row in rows:
            members = row.get(nav) if isinstance(row, dict) else None
            if isinstance(members, list) and members:
                out.extend({**row, into: [m]} for m in members)
            else:
                out.append(row)
        rows = out
    return rows


def _joined_at(row: Any, path: list[str]) -> list[Any]:
    """Copies of ``row``, one per member of the collection at the end of ``path`` (the links before it hold
    one row each, joined already), that member in place; ``row`` itself where there is none."""
    value = row.get(path[0]) if isinstance(row, dict) else None
    if len(path) == 1:
        return [{**row, path[0]: [m]} for m in value] if isinstance(value, list) and value else [row]
    first = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else None
    return [{**row, path[0]: [inner]} for inner in _joined_at(first, path[1:])] if first is not None else [row]


def sort_rows(rows: list[Any], keys: tuple[SortKey, ...]) -> list[Any]:
    """Stable multi-key sort, last key first (in place; joined first where a key reads through a collection)."""
    if any(sk.fan_out is not None for sk in keys):
        rows[:] = fanned_out(rows, keys)
    for sk in reversed(keys):

        def key(row: dict[str, Any], sk: SortKey = sk) -> tuple[Any, ...]:
            value = (
                sk.compute(row)
                if sk.compute
                else row.get(sk.src)
                if isinstance(row, dict) and sk.src is not None
                else None
            )
            return _null_last_key(value, sk.descending)

        rows.sort(key=key, reverse=sk.descending)
    return rows


def apply_object(plan: ObjectPlan, row: Any, names: dict[str, str]) -> Any:
    """The v6 object for one v7 object. Without URIs to rewrite (``names``), a builder compiled for the
    row's shape does it in one step; :func:`interpret` is the definition it follows."""
    if not isinstance(row, dict):
        return row
    if names:
        return interpret(plan, row, names)
    build = plan.builders.get(len(row)) or _builder(plan, row)
    return build(row)


def interpret(plan: ObjectPlan, row: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Apply the ops one by one (URI rewriting, ``__metadata``, and shapes no builder covers)."""
    out: dict[str, Any] = {}
    for op in plan.ops:
        _apply_op(op, row, out, names)
    if plan.open_ended and len(row) > 0:
        extra = [k for k in row if k not in plan.known]
        if extra:
            out = _place_extra(plan, row, out, extra)
    if "__metadata" in row:
        meta = dict(row["__metadata"]) if isinstance(row["__metadata"], dict) else row["__metadata"]
        if isinstance(meta, dict) and "uri" in meta:
            meta["uri"] = _rewrite_uri(meta["uri"], names, (plan.v7_resource, plan.resource))
        out["__metadata"] = meta  # pinejs adds it to each row after its fields (odata-response.ts `process`)
    return out


def _builder(plan: ObjectPlan, row: dict[str, Any]) -> RowBuilder:
    """The builder for ``row``'s shape, compiled and kept on the plan (at most MAX_SHAPES lengths)."""

    def other(r: dict[str, Any]) -> Any:
        return interpret(plan, r, _NO_NAMES)

    if needs_interpreter(plan, row):
        return other
    build = compile_row(plan, row, other, _child_rows, _plain_path_value)
    if len(plan.builders) < MAX_SHAPES:
        plan.builders[len(row)] = build
    return build


def _child_rows(plan: ObjectPlan | None, value: Any) -> Any:
    return apply_rows(plan, value, _NO_NAMES) if plan is not None and isinstance(value, list) else value


def _plain_path_value(op: Op, row: Any) -> Any:
    return _path_value(op, row, _NO_NAMES)


def _apply_op(op: Any, row: dict[str, Any], out: dict[str, Any], names: dict[str, str]) -> None:
    kind = op.kind
    if kind == COPY:
        value = row.get(op.src, _MISSING)
        if value is not _MISSING:
            out[op.key] = _rewrite_deferred(value, names)
    elif kind == CONST:
        out[op.key] = op.arg
    elif kind == DERIVE:
        out[op.key] = _rewrite_deferred(op.arg(row), names)
    elif kind == UNWRAP:
        value = row.get(op.src, _MISSING)
        if value is not _MISSING:
            out[op.key] = value.get("__id") if isinstance(value, dict) and "__id" in value else value
    elif kind == COERCE:
        value = row.get(op.src, _MISSING)
        if value is not _MISSING:
            out[op.key] = op.arg(value)
    elif kind == CHILD:
        value = row.get(op.src, _MISSING)
        if value is _MISSING:
            return
        if isinstance(value, list) and op.arg is not None:
            out[op.key] = apply_rows(op.arg, value, names)
        else:
            out[op.key] = value
    elif kind == PATH:
        out[op.key] = _path_value(op, row, names)


def _path_value(op: Op, row: dict[str, Any], names: dict[str, str]) -> Any:
    """The value at the end of an expand path: single-valued steps, then rows planned by a child plan."""
    value = row.get(op.src) if op.src is not None else None
    steps, child = op.arg
    for step in steps:
        value = value[0].get(step, []) if isinstance(value, list) and value and isinstance(value[0], dict) else []
    if child is None:  # `nav/$count`: the number at the end of the path (no row on the way: 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    return apply_rows(child, value, names) if isinstance(value, list) else []


def _place_extra(plan: ObjectPlan, row: dict[str, Any], out: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """Keys the graph does not name (balenaCloud-only fields) keep their place after the known key
    that precedes them upstream (decision 11); they never replace a key the plan wrote."""
    extra_set = set(extra)
    key_of = plan.key_of_src
    after: dict[str | None, list[str]] = {}
    previous: str | None = None
    for k in row:
        if k in extra_set:
            if k != "__metadata" and k not in out:
                after.setdefault(previous, []).append(k)
        elif k in key_of:
            previous = key_of[k]
    result: dict[str, Any] = {}
    for k in after.get(None, []):
        result[k] = row[k]
    for k, v in out.items():
        result[k] = v
        for e in after.get(k, []):
            result[e] = row[e]
    return result


def apply_rows(plan: ObjectPlan, rows: list[Any], names: dict[str, str], *, in_place: bool = False) -> list[Any]:
    """The v6 rows; ``in_place`` replaces each v7 row in ``rows`` as soon as its v6 row exists, so the
    two copies of a large answer never coexist (only for a list nothing else reads: the top-level rows)."""
    if plan.sort:
        sort_rows(rows, plan.sort)
        if plan.skip:
            rows = rows[plan.skip :]
        if plan.top is not None:
            rows = rows[: plan.top]
    if plan.trivial and not names:
        return rows
    if names:
        return [apply_object(plan, r, names) for r in rows]
    builders = plan.builders  # apply_object's dispatch, inlined: this loop runs once per row
    if not in_place:
        return [(builders.get(len(r)) or _builder(plan, r))(r) if isinstance(r, dict) else r for r in rows]
    for i, row in enumerate(rows):
        if isinstance(row, dict):
            rows[i] = (builders.get(len(row)) or _builder(plan, row))(row)
    return rows


def local_rows(plan: ObjectPlan, rows: list[Any]) -> int:
    """How many rows of the answer the proxy sorts itself: the rows of every list whose plan sorts locally,
    at any depth of $expand (decision 2: ``max_local_sort_rows`` bounds the whole answer)."""
    total = (len(fanned_out(rows, plan.sort)) if any(sk.fan_out for sk in plan.sort) else len(rows)) if plan.sort else 0
    children = [op for op in plan.ops if op.kind in (CHILD, PATH) and op.arg is not None]
    if not children:
        return total
    for row in rows:
        if not isinstance(row, dict):
            continue
        for op in children:
            value = row.get(op.src)
            if op.kind == PATH:
                steps, child = op.arg
                if child is None:
                    continue
                for step in steps:
                    first = value[0] if isinstance(value, list) and value else None
                    value = first.get(step) if isinstance(first, dict) else None
            else:
                child = op.arg
            if isinstance(child, ObjectPlan) and isinstance(value, list):
                total += local_rows(child, value)
    return total


STATUS_TEXT = {200: "OK", 201: "Created"}  # what a write answered with an empty body says in v6
JSON_TYPE = "application/json; charset=utf-8"


class UpstreamNotJSON(ValueError):
    """The upstream's answer is not JSON although the plan has to rewrite it (the handler answers 502)."""


class UpstreamValueUnreadable(UpstreamNotJSON):
    """A value the plan reads is not of its column's kind (a date that is no date: pinejs never answers one so),
    so the rows cannot be made: a bad upstream answer as well, the message its cause."""


def client_location(plan: ResponsePlan, location: str) -> str:
    """The upstream's ``Location`` (``/v7/<resource>...``) as a v6 client follows it."""
    v7, v6 = plan.v7_spelling, plan.v6_spelling
    if v7 is None:
        return location
    prefix = "/v7/" + v7
    if location.startswith(prefix):
        return "/v6/" + (v6 or v7) + location[len(prefix) :]
    if location.startswith("/v7/"):
        return "/v6/" + location[4:]
    return location


def client_body(
    plan: ResponsePlan, method: str, status: int, body: bytes | bytearray
) -> tuple[bytes | bytearray, str | None]:
    """The v6 body for the upstream's answer, and its Content-Type when that is not the upstream's.

    Only 2xx answers change: an empty one to a write says ``"OK"``/``"Created"`` as v6 did, any other is
    rewritten by the plan (:func:`apply_plan`). Raises :class:`UpstreamNotJSON` and
    :class:`LocalSortOverflow`.
    """
    if not 200 <= status < 300:
        return body, None
    if not body:
        if status in STATUS_TEXT and method not in ("GET", "HEAD"):
            return orjson.dumps(STATUS_TEXT[status]), JSON_TYPE
        return body, None
    return apply_plan(plan, body), None


def changes_body(plan: ResponsePlan) -> bool:
    """Whether the plan rewrites a (non-empty, 2xx) answer at all: when not, its bytes go out untouched."""
    if plan.kind == "raw":
        return False
    trivial = plan.objects is not None and plan.objects.trivial
    return not (trivial and not plan.resource_names and plan.max_local_rows is None and plan.unwrap is None)


def apply_plan(plan: ResponsePlan, body: bytes | bytearray) -> bytes | bytearray:
    """The v6 body for the v7 ``body`` (a 2xx JSON answer); raises :class:`UpstreamNotJSON`."""
    if not body or not changes_body(plan):
        return body
    with _collector_paused():
        structs = _structs_for(plan, body)
        if len(body) >= (SLICE_MIN_BYTES if structs is None else STRUCT_SLICE_MIN_BYTES) and _sliceable(plan):
            sliced = _rewrite_sliced(plan, body, structs)
            if sliced is not None:
                return sliced
        return _rewrite(plan, body, structs)


# A list answer of more than two slices is parsed, rewritten and written a slice of rows at a time. Parsed
# whole, its tree (3.3 x the body) and orjson's working copy (sized for the whole input) came to 8-15 x the
# body in peak memory (bench/PROFILES.md); sliced, 1.3 x, and a 4.7 MB answer takes half the time.
SLICE_BYTES = 64 * 1024
# orjson's parser sizes its working memory by its input (about 8 x): from 128 KiB on, a whole answer's would
# pass the 1 MiB above which the process maps and unmaps memory afresh (proxy.memory), faulting it in on every
# request (+28 % CPU on a 230 KB answer); in slices it stays below (+5 %).
SLICE_MIN_BYTES = 2 * SLICE_BYTES
# msgspec decodes struct rows without a working copy of its input: a whole answer is faster up to about 1 MB
# (228 KB: 612 vs 637 µs sliced; 1 MB: even; 1.8 MB: 8.0 vs 6.2 ms), and its rows take less memory than dicts.
STRUCT_SLICE_MIN_BYTES = 1024 * 1024
# Cuts tried inside one slice (each a failed parse of up to SLICE_BYTES) before the rest is parsed whole.
SLICE_MAX_MISSES = 4
_ROWS_OPEN = b'{"d":['
_ROWS_CLOSE = b"]}"
_ROW_GAP = b"},{"
_WHITESPACE = b" \t\r\n"


def _sliceable(plan: ResponsePlan) -> bool:
    """Rows rewritten one by one, nothing that needs the whole list at once (a local sort, its limit, the
    first row's navigation as the answer)."""
    objects = plan.objects
    return (
        plan.kind == "rows"
        and objects is not None
        and plan.unwrap is None
        and plan.max_local_rows is None
        and not objects.sort
    )


def _rewrite_sliced(plan: ResponsePlan, body: bytes | bytearray, structs: _Structs | None) -> bytearray | None:
    """``_rewrite`` of a compact ``{"d":[...]}`` answer (what pinejs writes), a slice of whole rows at a time;
    None for any other framing, or a body that is not valid JSON (the whole parse then answers that).

    A slice ends before a ``},{`` that separates two rows. Such bytes inside a string or a nested array are
    no cut: the slice up to them does not parse as a list of values (an open string or bracket), so the next
    ``},{`` is tried. orjson and msgspec write a list as its values joined by commas, so the slices' output,
    joined by commas, is byte for byte what one ``orjson.dumps`` of the whole answer writes. Slices go the
    struct way while their rows have the plan's struct shape, the dict way from the first that has not."""
    assert plan.objects is not None
    end = len(body)
    while end and body[end - 1] in _WHITESPACE:
        end -= 1
    rows_end = end - len(_ROWS_CLOSE)
    if not body.startswith(_ROWS_OPEN) or rows_end < len(_ROWS_OPEN) or body[rows_end:end] != _ROWS_CLOSE:
        return None
    ready = structs.ready if structs is not None else None
    out = bytearray(_ROWS_OPEN)
    start = len(_ROWS_OPEN)
    while start < rows_end:
        text: bytes | None = None
        if structs is not None and ready is not None:
            stop, text = _struct_slice(structs, ready, body, start, rows_end)
            if text is None:
                ready = None  # this slice and the rest the dict way
        if text is None:
            parsed = _parse_slice(body, start, rows_end, orjson.loads, orjson.JSONDecodeError)
            if parsed is None:
                return None
            stop, rows = parsed
            _learn(plan, rows, len(body))
            text = orjson.dumps(apply_rows(plan.objects, rows, plan.resource_names, in_place=True))
            del rows
        if len(out) > len(_ROWS_OPEN):
            out += b","
        out += memoryview(text)[1:-1]
        start = stop + 1  # past the comma between two rows
    out += _ROWS_CLOSE
    return out


def _struct_slice(
    structs: _Structs, ready: _Ready, body: bytes | bytearray, start: int, rows_end: int
) -> tuple[int, bytes | None]:
    """The end of the slice starting at ``start`` and its rows rewritten the struct way; None for the text when
    they are not struct rows of the plan's shape (or do not parse: the dict way decides what that means)."""
    try:
        parsed = _parse_slice(body, start, rows_end, ready.part.decode, msgspec.DecodeError)
        if parsed is None:
            return start, None
        stop, rows = parsed
        text: bytes = _ENCODER.encode(ready.fix(rows))
    except Exception:  # another shape, a value the fix-ups do not expect: the dict way is the definition
        structs.miss()
        return start, None
    structs.hits += 1
    return stop, text


def _parse_slice(
    body: bytes | bytearray,
    start: int,
    rows_end: int,
    loads: Callable[[bytes], Any],
    not_a_cut: type[Exception],
) -> tuple[int, Any] | None:
    """The end of the slice of rows starting at ``start`` and those rows parsed, or None when the rest does
    not parse (``not_a_cut``: the error of a slice that ends inside a row; any other error is raised)."""
    cut = body.find(_ROW_GAP, start + SLICE_BYTES, rows_end)
    misses = 0
    while True:
        stop = rows_end if cut < 0 else cut + 1
        try:
            rows = loads(b"[" + body[start:stop] + b"]")
        except not_a_cut as exc:
            if isinstance(exc, msgspec.ValidationError):  # whole rows of another shape
                raise
            if cut < 0:
                return None
            misses += 1
            cut = -1 if misses >= SLICE_MAX_MISSES else body.find(_ROW_GAP, cut + 1, rows_end)
            continue
        return stop, rows


def _rewrite(plan: ResponsePlan, body: bytes | bytearray, structs: _Structs | None) -> bytes | bytearray:
    if structs is not None and structs.ready is not None:
        try:
            answer = structs.ready.whole.decode(body)
            structs.ready.fix(answer.d)
            text: bytes = _ENCODER.encode(answer)
        except Exception:  # another shape, not JSON, a value the fix-ups do not expect: the dict way decides
            structs.miss()
        else:
            structs.hits += 1
            return text
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise UpstreamNotJSON(str(exc)) from exc
    if plan.kind == "rows" and isinstance(data, dict) and isinstance(data.get("d"), list):
        _learn(plan, data["d"], len(body))
    data = _apply_document(plan, data)
    return body if data is _UNCHANGED else orjson.dumps(data)


# Struct rows (proxy.engine.structbuild). A plan's first answer is parsed the dict way and its rows' shape
# compiled; later answers are decoded straight into struct rows of that shape. An answer that is not of that
# shape (or not JSON, or holds a value a fix-up does not expect) is a miss: it is parsed again the dict way,
# and the shape is learnt again from it. After STRUCT_MAX_MISSES misses, when they are more than one per
# STRUCT_MISS_RATIO answers, the plan's answers go the dict way only: an upstream whose rows vary never pays
# two parses every time.
STRUCT_MAX_MISSES = 4
# A plan's struct rows are learnt from an answer of at least this many bytes: a list (one 58-field row is
# 2 KB) where they pay off (one row: 12 -> 8 us; 100: 1,020 -> 600 us), not every single-row read a plan
# cache of 1,024 entries holds (compiled, the benchmark's list plan takes 61 KiB, its dict builders 11 KiB).
STRUCT_LEARN_MIN_BYTES = 16 * 1024
STRUCT_MISS_RATIO = 16
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True)
class _Ready:
    """Compiled struct rows: the fix-up and the decoders of a whole answer and of a slice of rows."""

    fix: Callable[[list[Any]], list[Any]]
    whole: msgspec.json.Decoder[Any]
    part: msgspec.json.Decoder[Any]


class _Structs:
    """A plan's struct rows (when compiled) and its hits and misses."""

    __slots__ = ("hits", "misses", "off", "ready")

    def __init__(self, usable: bool) -> None:
        self.ready: _Ready | None = None
        self.hits = self.misses = 0
        self.off = not usable

    def learnt(self, rows: RowClasses) -> None:
        answer = msgspec.defstruct("answer", [("d", list[rows.v7])], forbid_unknown_fields=True, gc=False)  # type: ignore[name-defined]
        part = list[rows.v7]  # type: ignore[name-defined]
        self.ready = _Ready(rows.fix, _decoder(answer), _decoder(part))

    def miss(self) -> None:
        self.ready = None  # learnt again from the answer the dict way parses
        self.misses += 1
        if self.misses >= STRUCT_MAX_MISSES and self.misses * STRUCT_MISS_RATIO > self.hits:
            self.off = True


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(kind, float_hook=_float)


def _float(text: str) -> float:
    """A JSON float as orjson reads it; one msgspec would write differently (``1e16``, orjson ``1e+16``) is
    refused, and the answer goes the dict way."""
    value = float(text)
    if not -1e16 < value < 1e16:
        raise ValueError("written with an exponent")
    return value


def _structs_for(plan: ResponsePlan, body: bytes | bytearray) -> _Structs | None:
    """The plan's struct rows when they are compiled and may rewrite ``body``."""
    structs: _Structs | None = plan.structs
    if structs is None:
        structs = plan.structs = _Structs(_struct_plan(plan))
    if structs.ready is None or structs.off:
        return None
    if b"+" in body and (b"e+" in body or b"E+" in body):  # an exponent (1e+21), written 1e21 by msgspec
        return None
    return structs


def _struct_plan(plan: ResponsePlan) -> bool:
    """Whether the plan's answers can be struct rows: a list of rows rewritten one by one, no URIs."""
    objects = plan.objects
    return (
        plan.kind == "rows"
        and objects is not None
        and not plan.resource_names
        and plan.unwrap is None
        and plan.max_local_rows is None
        and handles(objects)
    )


def _learn(plan: ResponsePlan, rows: list[Any], body_bytes: int) -> None:
    """Compile the plan's struct rows from the rows of an answer parsed the dict way (before they change),
    when the answer is large enough for them to pay off."""
    structs = plan.structs
    if not isinstance(structs, _Structs) or structs.off or structs.ready is not None or plan.objects is None:
        return
    if body_bytes < STRUCT_LEARN_MIN_BYTES:
        return
    compiled = compile_rows(plan.objects, rows, _child_rows, _plain_path_value) if rows else None
    if compiled is None:
        if rows:
            structs.miss()
        return
    structs.learnt(compiled)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while an answer is parsed and rewritten: a JSON tree holds no cycles,
    and the collector's passes over its tens of thousands of new objects were a tenth of the work. The
    tree must be gone (``_rewrite`` has returned) before the collector is back, or its first pass scans it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _apply_document(plan: ResponsePlan, data: Any) -> Any:
    """The v6 document for the parsed v7 one (its rows rewritten in place), or ``_UNCHANGED``."""
    names = plan.resource_names
    if plan.kind == "rows" and isinstance(data, dict) and isinstance(data.get("d"), list):
        rows = data["d"]
        limit = plan.max_local_rows
        if limit is not None and plan.objects is not None and local_rows(plan.objects, rows) > limit:
            raise LocalSortOverflow(limit)
        data["d"] = apply_rows(plan.objects, rows, names, in_place=True) if plan.objects else rows
        if plan.unwrap is not None:  # the navigation's rows (or count) of the one keyed row
            first = data["d"][0] if data["d"] and isinstance(data["d"][0], dict) else {}
            data = {"d": first.get(plan.unwrap, 0 if plan.unwrap_count else [])}
    elif plan.kind == "entity" and isinstance(data, dict) and plan.objects is not None:
        if plan.entity_key is not None and list(data) == [plan.entity_key]:
            return _UNCHANGED  # the read-back failed or was not asked for: v6 answers the bare key too (spec §4.5)
        data = apply_object(plan.objects, data, names)
    return data
