"""Reads the team parser's tree (``proxy.odata``) into the simulator's query view (``query.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from proxy import odata as t

from . import query as q
from .evaluator import ODataError
from .moments import PG_FIRST_MS, from_ms


def literal(node: t.Literal) -> q.Lit:
    kind, value = node.kind, node.value
    if kind == "Text":
        return q.Lit(value, "text")
    if kind == "Real":
        return q.Lit(value, "number")
    if kind == "Boolean":
        return q.Lit(bool(value), "bool")
    if kind == "Null":
        return q.Lit(None, "null")
    if kind in ("DateTime", "Date"):
        # bound as a JS Date, read as timestamptz: before PostgreSQL's first one is "timestamp out of range"
        if value < PG_FIRST_MS:
            raise ODataError(500)
        return q.Lit(from_ms(value), "datetime")
    if kind == "Duration":
        delta = timedelta(
            days=value.get("day") or 0,
            hours=value.get("hour") or 0,
            minutes=value.get("minute") or 0,
            seconds=value.get("second") or 0,
        )
        return q.Lit(-delta if value.get("negative") else delta, "duration")
    raise ValueError(kind)


def key_of(key: t.Key | None) -> Any:
    if key is None:
        return None
    if key.value is not None:
        return value_of(key.value)
    return {nk.name.text: value_of(nk.value) for nk in key.named}


def value_of(node: Any) -> Any:
    if isinstance(node, t.Literal):
        return literal(node)
    if isinstance(node, t.AliasRef):
        return q.Alias(node.name.text)
    raise ValueError(node)


def expr(node: Any) -> Any:
    if isinstance(node, t.Group):
        return expr(node.inner)
    if isinstance(node, t.Literal):
        return literal(node)
    if isinstance(node, t.AliasRef):
        return q.Alias(node.name.text)
    if isinstance(node, t.BinOp):
        return q.Bin(node.op, [expr(o) for o in node.operands])
    if isinstance(node, t.Not):
        return q.Not(expr(node.operand))
    if isinstance(node, t.Call):
        return q.Call(node.name, [expr(a) for a in node.args])
    if isinstance(node, t.In):
        return q.In(
            expr(node.operand),
            [expr(i) if isinstance(i, (t.Literal, t.AliasRef)) else q.Lit(None, "null") for i in node.items],
        )
    if isinstance(node, t.Path):
        return path(node)
    raise ValueError(f"unsupported node {type(node).__name__}")


def path(node: t.Path) -> q.Path:
    segs = [q.Seg(s.name.text, key=key_of(s.key)) for s in node.segments]
    last = segs[-1]
    if node.count is not None:
        last.count = True
        last.count_filter = expr(node.count.filter) if node.count.filter is not None else None
    elif node.lambda_ is not None:
        lam = node.lambda_
        last.lam = q.Lambda(lam.kind, lam.var.text, expr(lam.body))
    elif node.method is not None:
        raise ValueError("resource methods in $filter are internal to the server")  # answered as a 500
    return q.Path(segs)


def options(opts: t.OptionList | None) -> q.Options:
    out = q.Options()
    if opts is None:
        return out
    select = opts.select
    if select is not None and not select.star:
        out.select = ["/".join(p.names) for p in select.items]
    expand = opts.expand
    if expand is not None:
        out.expand = [expand_item(i) for i in expand.items]
    flt = opts.filter
    if flt is not None:
        out.filter = expr(flt.expr)
    orderby = opts.orderby
    if orderby is not None:
        out.orderby = [(path(i.path), i.effective_direction) for i in orderby.items]
    top = opts.get("$top")
    if top is not None:
        out.top = top.value  # type: ignore[attr-defined]
    skip = opts.get("$skip")
    if skip is not None:
        out.skip = skip.value  # type: ignore[attr-defined]
    fmt = opts.get("$format")
    if isinstance(fmt, t.FormatOption):
        out.metadata = fmt.metadata
    for option in opts.options:
        if isinstance(option, t.CustomOption):
            out.custom[option.name] = option.value
    return out


def expand_item(item: t.ExpandItem) -> q.ExpandItem:
    out = q.ExpandItem(item.name.text, count=item.count, options=options(item.options))
    if item.tail is not None:
        names = item.tail.names
        inner = q.ExpandItem(names[-1])
        for name in reversed(names[:-1]):
            inner = q.ExpandItem(name, options=q.Options(expand=[inner]))
        out.options.expand.append(inner)
    return out


def request(url: t.ODataUrl) -> q.Request:
    segments = url.segments
    root = segments[0]
    req = q.Request(resource=root.name.text, key=key_of(root.key))
    for seg in segments[1:]:
        req.navs.append(q.Seg(seg.name.text, key=key_of(seg.key)))
    req.count = segments[-1].count
    last_query = segments[-1].query
    req.options = options(last_query)
    if last_query is not None:
        for option in last_query.options:
            if isinstance(option, t.AliasOption):
                req.aliases[option.name] = literal(option.value)
    return req
