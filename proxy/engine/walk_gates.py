"""The client's expansion of a single-valued link that may leave out the linked row (a ``$filter``, ``$top=0``
or ``$skip`` above 0 there) where a ``$select`` or ``$orderby`` path reads a value only the proxy computes
through the same link: v6 joined the link for the path, so the path saw the linked row whatever the
expansion (a subquery of its own) left out, and a v7 row holds one expansion per navigation, the client's.
Where the proxy can decide the expansion's ``$filter`` itself (it reads only fields of the linked row, of types
it compares as the database does), the expansion is asked of v7 whole and the proxy leaves the row out of it
again where the ``$filter`` does not hold (its ``$top=0``/``$skip`` never keep the row): the readers of whole
expansions (``walk_context.keeps_the_linked_row``) then read the linked row from it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxy.engine.apply import apply_rows
from proxy.engine.dates import DATE_TYPES, computable, keeps
from proxy.engine.plan import CHILD, DERIVE, ObjectPlan, Op
from proxy.engine.walk_context import WalkContext
from proxy.engine.walk_filter import FilterWalker
from proxy.engine.walk_views import evaluated, restriction_reads
from proxy.odata import ExpandItem, Expr, SkipOption, TopOption
from proxy.schema import v6schema as S
from proxy.schema.v6schema import ResourceInfo

# column types whose values the proxy compares as the database does (text by code point, as decision 2 says
# for sorting); a sample value of each, to see that the folding decides the condition for it (dates:
# ``proxy.engine.dates``)
_SAMPLES: dict[str, Any] = {"Serial": 0, "Integer": 0, "Boolean": True, "Short Text": "", "Text": "", "Enum": ""}


@dataclass(frozen=True, eq=False)
class Gate:
    """What the proxy takes over from the client's expansion ``item`` of a link: the v7 text of its
    ``$filter`` (a row is kept where it holds; None: every row) and the fields that reads; ``never``: it
    never holds the row (``$top=0``, ``$skip`` ≥ 1); ``count``: the client asked for the number of rows."""

    item: ExpandItem
    condition: str | None
    reads: tuple[str, ...] = ()
    never: bool = False
    count: bool = False
    page: tuple[int, int | None] | None = None  # a collection's ($skip, $top), applied after the $filter
    dates: tuple[str, ...] = ()  # the dates among ``reads`` (``proxy.engine.dates``)


def wants_the_row(ctx: WalkContext, resource: ResourceInfo, paths: list[list[str]]) -> bool:
    """Whether a ``$select``/``$orderby`` path (v6 names, through the link first) ends in a value the proxy
    computes from the linked row (a derived value) or passes through a link to a view."""
    return _any_path_ends(ctx, resource, paths, lambda n: n.kind == S.DERIVED)


def sorts_locally(ctx: WalkContext, resource: ResourceInfo, paths: list[list[str]]) -> bool:
    """Whether one of the sort keys (v6 names) is sorted by the proxy: a derived value v7 has no field to
    sort by, at the end of the key or a path, or a value through a link to a view."""
    return _any_path_ends(ctx, resource, paths, lambda n: n.kind == S.DERIVED and not n.derived.order_by)


def _any_path_ends(
    ctx: WalkContext, resource: ResourceInfo, paths: list[list[str]], ends_so: Callable[[S.Name], bool]
) -> bool:
    """Whether one of ``paths`` (v6 names) ends in a name for which ``ends_so`` holds, or passes through a
    link to a view (a resource with restrictions of its own) on its way."""
    for names in paths:
        cur = resource
        for i, name in enumerate(names):
            n = ctx.lookup(cur, name)
            if n is None:
                break
            if i == len(names) - 1:
                if ends_so(n):
                    return True
                break
            if n.kind != S.NAV or not n.target:
                break
            cur = ctx.res(n.target)
            if cur.extra_filters:
                return True
    return False


def open_link(
    ctx: WalkContext, filters: FilterWalker, item: ExpandItem, target: ResourceInfo, *, many: bool
) -> Gate | None:
    """The client's expansion ``item`` of a link to ``target`` made whole (its ``$filter``, and for a single-
    valued link ``$top`` and ``$skip``, taken over by the proxy), where the proxy can decide them; None
    (unchanged) else. Of a collection its ``$filter``, ``$top`` and ``$skip`` (its ``$orderby`` stays: v7
    orders the whole expansion, the proxy pages it after the ``$filter``). A count (``nav/$count``, with a ``$filter`` at most: the
    server honours nothing else there) becomes an expansion of the rows, counted by the proxy."""
    opts = item.options
    if item.count:
        if opts is not None and any(o.key != "$filter" for o in opts.options):
            return None
    elif opts is None:
        return None
    tops, skips = (opts.all("$top"), opts.all("$skip")) if opts is not None else ([], [])
    flt = opts.filter if opts is not None else None
    page = _page(opts) if many and not item.count else None
    if many and not item.count and flt is None and not tops and not skips:
        return None
    orderby = opts.orderby if opts is not None else None
    if (tops or skips) and orderby is not None and sorts_locally(ctx, target, [i.path.names for i in orderby.items]):
        return None  # the proxy sorts the expansion itself: its paging is the proxy's already
    never = not many and (
        any(isinstance(o, TopOption) and o.value == 0 for o in tops)
        or any(isinstance(o, SkipOption) and o.value >= 1 for o in skips)
    )
    condition, reads = None, None
    if not never and flt is not None:
        walked = filters.walk_expr(copy.deepcopy(flt.expr), target, {})
        reads = decided_reads(ctx, walked, target.v7)
        if reads is None:
            return None
        condition = walked.serialize()
    dates = date_columns(ctx, target.v7, reads or ())
    for opt in [*tops, *skips, *([flt] if flt is not None else [])]:
        assert opts is not None
        opts.remove(opt)
    counted, item.count = item.count, False
    ctx.feature(f"{target.name}.from_client_expand")
    return Gate(item, condition, reads or (), never=never, count=counted, page=page, dates=dates)


def _page(opts: Any) -> tuple[int, int | None]:
    """The client's ``$skip`` and ``$top`` of an expansion of a collection (the server pages its own
    subquery, ordered by the expansion's ``$orderby``, which v7 keeps doing on the whole expansion)."""
    top, skip = opts.get("$top"), opts.get("$skip")
    return (skip.value if isinstance(skip, SkipOption) else 0, top.value if isinstance(top, TopOption) else None)


def decided_reads(ctx: WalkContext, expr: Expr, target: str) -> tuple[str, ...] | None:
    """The fields of a row of the v7 resource ``target`` the v7 condition ``expr`` reads, where the proxy
    computes it as the server does: only fields of the row, of types in ``_SAMPLES``, folding to TRUE, FALSE or
    NULL for them; None otherwise."""
    reads = restriction_reads(expr)
    if reads is None or reads.navs:
        return None
    columns = ctx.schema.v7graph.get(target, {}).get("fields", {})
    kinds = [_kind(columns.get(name)) for name in reads.fields]
    samples = {name: _SAMPLES[k] for name, k in zip(reads.fields, kinds, strict=True) if k in _SAMPLES}
    dates = date_columns(ctx, target, reads.fields)
    if len(samples) + len(dates) != len(reads.fields):
        return None
    if dates:
        return reads.fields if computable(expr, dates, samples) else None
    nulls = dict.fromkeys(reads.fields)
    if evaluated(expr, nulls) is None or evaluated(expr, samples) is None:
        return None
    return reads.fields


def date_columns(ctx: WalkContext, target: str, fields: tuple[str, ...]) -> tuple[str, ...]:
    """Which of ``fields`` of the v7 resource ``target`` are dates the server compares by their millisecond
    (``proxy.engine.dates``)."""
    columns = ctx.schema.v7graph.get(target, {}).get("fields", {})
    return tuple(name for name in fields if _kind(columns.get(name)) in DATE_TYPES)


def _kind(column: Any) -> str | None:
    if not isinstance(column, str):
        return None
    kind = column.split(" | ")[0]
    return "Enum" if kind.startswith("Enum:") else kind


def gate_ops(ctx: WalkContext, options_id: int, expand_ops: list[Op]) -> None:
    """The client's gated expansions of the options written as the client asked for them: the op of each
    reads the whole expansion and keeps the row only where the gate lets it through; the raw link is hidden."""
    gates: dict[str, Gate] = ctx.gated.pop(options_id, {})
    for i, op in enumerate(expand_ops):
        gate = gates.get(op.src) if op.kind == CHILD and op.src is not None else None
        if gate is None or op.src is None or not isinstance(op.arg, ObjectPlan):
            continue
        expand_ops[i] = Op(op.key, DERIVE, None, _gated(op.src, op.arg, gate, ctx.schema.v7_to_v6_resource))
        select = gate.item.options.select if gate.item.options is not None else None
        if select is not None and not select.star:
            for name in gate.reads:
                if name not in {p.serialize() for p in select.items}:
                    select.add(name)
        op.arg.trivial = False  # the rows may hold fields the gate reads: cut back to the client's $select
        ctx.sort_links.setdefault(options_id, {}).setdefault(op.src, None)


def _gated(link: str, child: ObjectPlan, gate: Gate, names: dict[str, str]) -> Callable[[Any], Any]:
    """The client's rows of the expanded ``link`` (or their number): the rows where the gate lets them
    through."""
    never, count, page = gate.never, gate.count, gate.page
    holds = keeps(gate.condition, gate.dates) if gate.condition else None

    def compute(row: Any) -> Any:
        rows = row.get(link)
        if not isinstance(rows, list):
            return rows
        kept = [] if never else [r for r in rows if isinstance(r, dict) and (holds is None or holds(r))]
        if page is not None:
            kept = kept[page[0] :] if page[1] is None else kept[page[0] : page[0] + page[1]]
        if count:
            return len(kept)
        return apply_rows(child, kept, dict(names) if kept and "__metadata" in kept[0] else {})

    return compute
