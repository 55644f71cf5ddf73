"""The helpers of derived values: the v7 navigations a translator's compute function reads (``helper_expands``)
are expanded under a spelling the client did not use and handed to the function under the translator's key;
when the client expands every spelling itself, the helper is computed from the client's own rows where that
is exact."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from proxy.engine.logic import compare_constant
from proxy.engine.plan import CHILD, DERIVE, ObjectPlan, Op
from proxy.engine.texts import expression, helper_item
from proxy.engine.walk_context import HelperAlias, WalkContext, WalkError
from proxy.odata import BinOp, Expr, Group, Literal, Not, OptionList, Path, iter_nodes
from proxy.schema.v6schema import ResourceInfo
from translators import HelperExpand

Row = dict[str, Any]
RowTest = Callable[[Row], bool]


class HelperWalker:
    """Adds and names the helper navigations of derived values."""

    def __init__(self, ctx: WalkContext) -> None:
        self.ctx = ctx

    def add_helper_expand(
        self,
        options: OptionList,
        resource: ResourceInfo,
        key: str,
        helper: HelperExpand,
        expand_ops: list[Op],
    ) -> None:
        """Expand a helper navigation under a spelling the client did not use; the response plan
        renames it to the helper key the translator's compute function reads. When the client uses every
        spelling, the helper is computed from the client's own expanded rows where that is exact."""
        expand = options.expand
        used = {i.name.text for i in expand.items} if expand is not None else set()
        v7 = self.ctx.schema.v7graph.get(resource.v7, {}).get("navigation", {})
        for nav in helper.navigations:
            if nav in v7 and nav not in used:
                break
        else:
            if not self.helper_from_client(options, key, helper, expand_ops):
                raise WalkError(400, f"{key} cannot be computed with this $expand through the v6 proxy")
            return
        item = helper_item(nav, helper)
        options.add_expand(item)
        self.ctx.helper_aliases.setdefault(id(options), {})[nav] = HelperAlias(key)

    def helper_from_client(self, options: OptionList, key: str, helper: HelperExpand, expand_ops: list[Op]) -> bool:
        """The helper ``key`` read from an expansion the client asked for itself: one of the helper's spellings
        expanded with every row (no $filter/$top/$skip, not a count), its $select widened by the names the
        helper reads (the rows the client sees keep only what it selected). A counted helper counts the rows
        its filter keeps (eq/ne/and/or/not over names and literals, as the server evaluates them)."""
        reading = _reading(helper)
        if reading is None:
            return False
        needed, compute = reading
        children = {op.src: op.arg for op in expand_ops if op.kind == CHILD}
        for item in options.expand.items if options.expand is not None else []:
            name = item.name.text
            if name not in helper.navigations or item.count or item.tail is not None or name not in children:
                continue
            opts = item.options
            if opts is not None and any(opts.get(k) is not None for k in ("$filter", "$top", "$skip")):
                continue
            select = opts.select if opts is not None else None
            if select is not None and not select.star:
                present = {p.serialize() for p in select.items}
                for f in needed:
                    if f not in present:
                        select.add(f)
                children[name].trivial = False  # the widened rows are cut back to the client's $select
            self.ctx.helper_aliases.setdefault(id(options), {})[name] = HelperAlias(key, compute)
            self.ctx.feature(f"{key}.from_client_expand")
            return True
        return False

    def rename_helper_ops(self, options: OptionList | None, plan: ObjectPlan) -> None:
        """Derived values read their helper navigation under the translator's key: wrap compute."""
        aliases = self.ctx.helper_aliases.get(id(options), {}) if options is not None else {}
        if not aliases:
            return
        plan.ops = [
            Op(op.key, DERIVE, None, _reading_helpers(op.arg, aliases)) if op.kind == DERIVE else op for op in plan.ops
        ]
        plan.sort = tuple(
            replace(sk, src=None, compute=_reading_helpers(sk.compute, aliases)) if sk.compute is not None else sk
            for sk in plan.sort
        )


def _reading(helper: HelperExpand) -> tuple[list[str], Callable[[Any], Any]] | None:
    """The names a helper's rows need and the helper's value computed from the rows; None when the client's
    rows cannot give it exactly."""
    if helper.count:
        where = expression(helper.count_where) if helper.count_where is not None else None
        pred: RowTest | None = _row_predicate(where) if where is not None else (lambda row: True)
        if pred is None:
            return None
        test: RowTest = pred
        needed = sorted({n.names[0] for n in iter_nodes(where) if isinstance(n, Path)}) if where is not None else []

        def count(rows: Any) -> Any:
            return sum(1 for r in rows if isinstance(r, dict) and test(r)) if isinstance(rows, list) else 0

        return needed, count

    def same(rows: Any) -> Any:
        return rows

    return list(helper.select), same


_ABSENT = object()


def _reading_helpers(fn: Any, aliases: dict[str, HelperAlias]) -> Callable[[Row], Any]:
    """``fn`` reading helper navigations under the keys the translator declared (``aliases``: nav → key)."""

    reads = tuple(aliases.items())

    def compute(row: Row) -> Any:
        # The helper values are set on the row itself for the call and taken off again: a copy of the whole
        # row per call (to add one key) was most of a derived value's cost on every row of an answer.
        saved: list[tuple[str, Any]] = []
        for nav, alias in reads:
            if nav in row:
                saved.append((alias.key, row.get(alias.key, _ABSENT)))
                row[alias.key] = alias.from_rows(row[nav]) if alias.from_rows is not None else row[nav]
        try:
            return fn(row)
        finally:
            for key, old in reversed(saved):
                if old is _ABSENT:
                    del row[key]
                else:
                    row[key] = old

    return compute


def _row_predicate(expr: Expr) -> RowTest | None:
    """A translator's filter (eq/ne/and/or/not over names and literals) as a function of a v7 row, with the
    server's NULL rules (``x eq v`` is FALSE where x is NULL); None when the filter uses anything else."""
    if isinstance(expr, Group):
        return _row_predicate(expr.inner)
    if isinstance(expr, Not):
        inner = _row_predicate(expr.operand)
        return None if inner is None else (lambda row: not inner(row))
    if isinstance(expr, BinOp) and expr.op in ("and", "or"):
        parts = [_row_predicate(o) for o in expr.operands]
        tests = [p for p in parts if p is not None]
        if len(tests) != len(parts):
            return None
        if expr.op == "and":
            return lambda row: all(p(row) for p in tests)
        return lambda row: any(p(row) for p in tests)
    if isinstance(expr, BinOp) and expr.op in ("eq", "ne") and len(expr.operands) == 2:
        return _comparison_predicate(expr)
    return None


def _comparison_predicate(expr: BinOp) -> RowTest | None:
    left, right = expr.operands
    if isinstance(right, Path) and isinstance(left, Literal):
        left, right = right, left
    if (
        isinstance(left, Path)
        and len(left.segments) == 1
        and left.lambda_ is None
        and left.count is None
        and isinstance(right, Literal)
    ):
        name, op, literal = left.names[0], expr.op, right
        return lambda row: compare_constant(row.get(name), op, literal) is True
    return None
