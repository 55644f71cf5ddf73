"""The first, simple applier of a response plan: orjson in, walk the objects, orjson out."""

from __future__ import annotations

import re
from typing import Any

import orjson

from proxy.engine.plan import CHILD, COERCE, CONST, COPY, DERIVE, PATH, UNWRAP, ObjectPlan, ResponsePlan, SortKey

_MISSING = object()
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


def _null_last_key(value: Any, descending: bool) -> tuple:
    # PostgreSQL: NULLs last ascending, first descending; text by code point (C collation).
    if value is None:
        return (1,) if not descending else (1,)
    if isinstance(value, bool):
        return (0, 0, int(value))
    if isinstance(value, (int, float)):
        return (0, 0, value)
    return (0, 1, str(value))


def sort_rows(rows: list, keys: tuple[SortKey, ...]) -> list:
    """Stable multi-key sort, last key first."""
    for sk in reversed(keys):

        def key(row: dict, sk: SortKey = sk) -> tuple:
            value = sk.compute(row) if sk.compute else row.get(sk.src) if isinstance(row, dict) else None
            return _null_last_key(value, sk.descending)

        rows.sort(key=key, reverse=sk.descending)
    return rows


def compile_object(plan: ObjectPlan) -> Any:
    """A specialised function for one object plan (generated Python; keys are written with repr), so each
    row costs one dict build instead of a loop over the ops. Used when no URI needs rewriting."""
    lines = ["def apply(row, _M=_M, _ops=_ops, _rows=_rows, _names=_names):", "    out = {}"]
    for i, op in enumerate(plan.ops):
        key, src = repr(op.key), repr(op.src)
        if op.kind == CONST:
            lines.append(f"    out[{key}] = _ops[{i}].arg")
        elif op.kind == DERIVE:
            lines.append(f"    out[{key}] = _ops[{i}].arg(row)")
        else:
            lines.append(f"    v = row.get({src}, _M)")
            if op.kind == COPY:
                lines.append(f"    if v is not _M: out[{key}] = v")
            elif op.kind == UNWRAP:
                lines.append(
                    f"    if v is not _M: out[{key}] = v.get('__id') if v.__class__ is dict and '__id' in v else v"
                )
            elif op.kind == COERCE:
                lines.append(f"    if v is not _M: out[{key}] = _ops[{i}].arg(v)")
            else:  # CHILD / PATH: the generic code
                lines.append(f"    out[{key}] = _one(_ops[{i}], row, out)")
                lines.append(f"    if out[{key}] is _M: del out[{key}]")
    lines.append("    return out")
    scope: dict[str, Any] = {"_M": _MISSING, "_ops": plan.ops, "_rows": apply_rows, "_names": {}, "_one": _one_op}
    exec("\n".join(lines), scope)
    return scope["apply"]


def _one_op(op: Any, row: dict, out: dict) -> Any:
    tmp: dict = {}
    _apply_op(op, row, tmp, {})
    return tmp.get(op.key, _MISSING)


def apply_object(plan: ObjectPlan, row: Any, names: dict[str, str]) -> Any:
    if not isinstance(row, dict):
        return row
    if not names and "__metadata" not in row:
        fn = plan.compiled
        if fn is None:
            fn = plan.compiled = compile_object(plan)
        out = fn(row)
        if plan.open_ended:
            extra = [k for k in row if k not in plan.known]
            if extra:
                out = _place_extra(plan, row, out, extra)
        return out
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


def _apply_op(op: Any, row: dict, out: dict, names: dict[str, str]) -> None:
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
        value = row.get(op.src)
        steps, child = op.arg
        for step in steps:
            value = value[0].get(step, []) if isinstance(value, list) and value and isinstance(value[0], dict) else []
        if child is None:  # `nav/$count`: the number at the end of the path (no row on the way: 0)
            out[op.key] = value if isinstance(value, int) and not isinstance(value, bool) else 0
        else:
            out[op.key] = apply_rows(child, value, names) if isinstance(value, list) else []


def _place_extra(plan: ObjectPlan, row: dict, out: dict, extra: list[str]) -> dict:
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


def apply_rows(plan: ObjectPlan, rows: list, names: dict[str, str]) -> list:
    if plan.sort:
        sort_rows(rows, plan.sort)
        if plan.skip:
            rows = rows[plan.skip :]
        if plan.top is not None:
            rows = rows[: plan.top]
    if plan.trivial and not names:
        return rows
    return [apply_object(plan, r, names) for r in rows]


def local_rows(plan: ObjectPlan, rows: list[Any]) -> int:
    """How many rows of the answer the proxy sorts itself: the rows of every list whose plan sorts locally,
    at any depth of $expand (decision 2: ``max_local_sort_rows`` bounds the whole answer)."""
    total = len(rows) if plan.sort else 0
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


def apply_plan(plan: ResponsePlan, body: bytes) -> bytes:
    """The v6 body for the v7 ``body`` (a 2xx JSON answer)."""
    if plan.kind == "raw" or not body:
        return body
    if (
        plan.objects is not None
        and plan.objects.trivial
        and not plan.resource_names
        and plan.max_local_rows is None
        and plan.unwrap is None
    ):
        return body  # the fast path: nothing to change
    data = orjson.loads(body)
    names = plan.resource_names
    if plan.kind == "rows" and isinstance(data, dict) and isinstance(data.get("d"), list):
        rows = data["d"]
        limit = plan.max_local_rows
        if limit is not None and plan.objects is not None and local_rows(plan.objects, rows) > limit:
            raise LocalSortOverflow(limit)
        data["d"] = apply_rows(plan.objects, rows, names) if plan.objects else rows
        if plan.unwrap is not None:  # the navigation's rows (or count) of the one keyed row
            first = data["d"][0] if data["d"] and isinstance(data["d"][0], dict) else {}
            data = {"d": first.get(plan.unwrap, 0 if plan.unwrap_count else [])}
    elif plan.kind == "entity" and isinstance(data, dict) and plan.objects is not None:
        if plan.entity_key is not None and list(data) == [plan.entity_key]:
            return body  # the read-back failed or was not asked for: v6 answers the bare key too (spec §4.5)
        data = apply_object(plan.objects, data, names)
    return orjson.dumps(data)
