"""``$select`` and ``$expand`` of the request walk: response ops for selected names, nested expands and their
plans, helper fields and navigations of derived values, and tail paths rewritten into nested expands.

``SelectExpandWalk`` is a part of ``proxy.engine.walk.Walker`` (its state lives there); split out so each
option has a module of its own."""

from __future__ import annotations

from typing import Any

from proxy.engine.plan import CHILD, COERCE, CONST, COPY, DERIVE, PATH, UNWRAP, ObjectPlan, Op, SortKey
from proxy.engine.walk_support import WalkError, _compare_constant, _expand_item, expression
from proxy.odata import (
    BinOp,
    ExpandItem,
    ExpandOption,
    Expr,
    FilterOption,
    Group,
    Literal,
    Not,
    OptionList,
    Path,
    SelectOption,
    iter_nodes,
)
from proxy.odata import Name as TreeName
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo


class SelectExpandWalk:
    """$select/$expand methods of ``Walker``."""

    def finish_plan(self, options: OptionList | None, plan: ObjectPlan, resource: ResourceInfo) -> None:
        aliases = self.helper_aliases.get(id(options), {}) if options is not None else {}
        self.rename_helper_ops(options, plan)
        consumed = set(aliases)
        for n in resource.names.values():
            if n.kind == S.DERIVED:
                consumed.update(n.rule.helpers)
                if n.v7:
                    consumed.add(n.v7)
        plan.finish(resource.hidden_v7 | frozenset(consumed))
        plan.trivial = self.is_trivial(plan, resource, aliases)

    def is_trivial(self, plan: ObjectPlan, resource: ResourceInfo, aliases: dict) -> bool:
        """True when the v7 objects already are the v6 ones (same keys, same order): no JSON work."""
        if plan.sort or plan.local_limit is not None or aliases or plan.padded:
            return False
        for op in plan.ops:
            if op.kind == CHILD and op.key == op.src and (op.arg is None or op.arg.trivial):
                continue
            if op.kind != COPY or op.key != op.src:
                return False
        if plan.open_ended:
            v7 = self.schema.v7graph.get(resource.v7, {})
            return not resource.hidden_v7 and resource.v7 == resource.name and resource.key_order == v7.get("key_order")
        return True

    def add_helper_expand(
        self, options: OptionList, resource: ResourceInfo, key: str, navs: tuple, text: str, expand_ops: list[Op] = ()
    ) -> None:
        """Expand a helper navigation under a spelling the client did not use; the response plan
        renames it to the helper key the translator's compute function reads. When the client uses every
        spelling, the helper is computed from the client's own expanded rows where that is exact."""
        expand = options.expand
        used = {i.name.text for i in expand.items} if expand is not None else set()
        v7 = self.schema.v7graph.get(resource.v7, {}).get("navigation", {})
        for nav in navs:
            if nav in v7 and nav not in used:
                break
        else:
            if not self.helper_from_client(options, key, navs, text, expand_ops):
                raise WalkError(400, f"{key} cannot be computed with this $expand through the v6 proxy")
            return
        item = _expand_item(nav, text)
        if expand is None:
            from proxy.odata import ExpandOption

            expand = options.add(ExpandOption([item]))  # type: ignore[assignment]
        else:
            expand.items.append(item)
        self.helper_aliases.setdefault(id(options), {})[nav] = key

    def helper_from_client(self, options: OptionList, key: str, navs: tuple, text: str, expand_ops: list[Op]) -> bool:
        """The helper ``key`` read from an expansion the client asked for itself: one of the helper's spellings
        expanded with every row (no $filter/$top/$skip, not a count), its $select widened by the names the
        helper reads (the rows the client sees keep only what it selected). A counted helper counts the rows
        its filter keeps (eq/ne/and/or/not over names and literals, as the server evaluates them)."""
        spec = _expand_item("x", text)
        spec_opts = spec.options.options if spec.options is not None else []
        if spec.count:
            filt = spec.options.filter if spec.options is not None else None
            pred = _row_predicate(filt.expr) if filt is not None else (lambda row: True)
            if pred is None or any(o is not filt for o in spec_opts):
                return False
            needed = sorted({n.names[0] for n in iter_nodes(filt.expr) if isinstance(n, Path)}) if filt else []

            def compute(rows: Any) -> Any:
                return sum(1 for r in rows if isinstance(r, dict) and pred(r)) if isinstance(rows, list) else 0
        else:
            select = spec.options.select if spec.options is not None else None
            if any(o is not select for o in spec_opts):
                return False
            needed = [p.names[0] for p in select.items] if select is not None and not select.star else []

            def compute(rows: Any) -> Any:
                return rows

        children = {op.src: op.arg for op in expand_ops if op.kind == CHILD}
        for item in options.expand.items if options.expand is not None else []:
            name = item.name.text
            if name not in navs or item.count or item.tail is not None or name not in children:
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
            self.helper_aliases.setdefault(id(options), {})[name] = (key, compute)
            self.feature(f"{key}.from_client_expand")
            return True
        return False

    def walk_select_item(
        self, path: Path, resource: ResourceInfo, select: SelectOption, helpers: set[str]
    ) -> Op | None:
        name = path.names[0] if path.segments else ""
        n = self.lookup(resource, name)
        if n is None:
            select.remove(path)
            self.unknown_name(name, resource, "$select")
            return None
        if len(path.segments) != 1:
            return self.walk_select_path(path, resource, select)
        return self.name_op(n, resource, select=select, path=path, helpers=helpers)

    def walk_select_path(self, path: Path, resource: ResourceInfo, select: SelectOption) -> Op | None:
        """``$select=nav/name``: pinejs joins ``nav`` into the query and answers the name's value under the
        name's own key. The path is renamed like a $filter path and the key renamed back."""
        current = resource
        segs = path.segments
        for i, seg in enumerate(segs):
            n = self.lookup(current, seg.name.text)
            if n is None:
                select.remove(path)
                self.unknown_name(seg.name.text, current, "$select")
                return None
            last = i == len(segs) - 1
            if not last and n.kind in (S.CONST, S.EMPTY):
                select.remove(path)  # LEFT JOINed through an always-NULL link: the value is NULL
                known = len(self.unknown)
                self.null_link(n, current, path.names, i, "$select")
                return Op(path.names[-1], CONST, None, None) if len(self.unknown) == known else None
            if (not last and not (n.kind == S.NAV and n.target)) or n.kind not in (S.FIELD, S.NAV, S.UNWRAP, S.COERCE):
                raise WalkError(400, f"{n.v6} cannot be used in a $select path through the v6 proxy")
            if n.v7 and n.v7 != n.v6:
                seg.name.rename(n.v7)
                self.feature(f"{current.name}.{n.v6}.rename")
            if not last:
                current = self.res(n.target)  # type: ignore[arg-type]
        return self.name_op(n, current)

    def name_op(
        self,
        n: Name,
        resource: ResourceInfo,
        *,
        select: SelectOption | None = None,
        path: Path | None = None,
        helpers: set[str] | None = None,
    ) -> Op:
        """The response op for a selected (or, without $select, listed) v6 name; edits $select."""
        kind = n.kind
        if kind in (S.FIELD, S.NAV):
            if path is not None and n.v7 != n.v6:
                path.segments[0].name.rename(n.v7)
                self.feature(f"{resource.name}.{n.v6}.rename")
            return Op(n.v6, COPY, n.v7)
        if kind == S.UNWRAP:
            self.feature(f"{resource.name}.{n.v6}.unwrap")
            return Op(n.v6, UNWRAP, n.v7)
        if kind == S.COERCE:
            if path is not None and n.v7 != n.v6:
                path.segments[0].name.rename(n.v7)
            self.feature(f"{resource.name}.{n.v6}.coerce")
            return Op(n.v6, COERCE, n.v7, n.rule.to_v6)
        if kind == S.CONST:
            if select is not None and path is not None:
                select.remove(path)
            self.feature(f"{resource.name}.{n.v6}.constant")
            return Op(n.v6, CONST, None, n.rule.value if n.rule is not None else None)
        if kind == S.EMPTY:
            if select is not None and path is not None:
                select.remove(path)
            return Op(n.v6, CONST, None, [])
        if kind == S.DERIVED:
            rule = n.rule
            if select is not None and path is not None:
                select.remove(path)
            if helpers is not None:
                helpers.update(rule.helpers)
            self.feature(f"{resource.name}.{n.v6}.derived")
            return Op(n.v6, DERIVE, None, rule.compute)
        raise AssertionError(kind)

    def full_ops(self, resource: ResourceInfo, plan: ObjectPlan) -> None:
        """No $select: every v6 key in v6 key order (decision 11); unknown upstream keys keep their place."""
        expanded = plan.ops[: plan.expand_count]
        taken = {op.key for op in expanded}
        ops = list(expanded)
        for key in resource.key_order:
            if key in taken:
                continue
            n = resource.names.get(key)
            if n is None:
                continue
            ops.append(self.name_op(n, resource))
        plan.ops = ops
        plan.open_ended = True

    # ------------------------------------------------------------------ $expand
    def walk_expand_item(self, item: ExpandItem, resource: ResourceInfo, expand) -> Op | None:
        if item.tail is not None:
            _nest_tail(item)
        name = item.name.text
        n = self.lookup(resource, name)
        if n is None:
            expand.remove(item)
            self.unknown_name(name, resource, "$expand")
            return None
        if n.kind in (S.EMPTY, S.CONST) and n.target:
            expand.remove(item)
            self.feature(f"{resource.name}.{name}.empty")
            return Op(name, CONST, None, 0 if item.count else [])
        if n.kind == S.NAV and n.target:
            if n.v7 != name:
                item.name.rename(n.v7)
                self.feature(f"{resource.name}.{name}.rename")
            if item.count:
                self.walk_counted_options(item.options, self.res(n.target))
                if self.res(n.target).extra_filters:
                    self.restrict(item.ensure_options(), self.res(n.target))
                return Op(name, COPY, n.v7)
            child, options = self.child_plan(item, self.res(n.target))
            self.restrict(options, self.res(n.target))
            if not options.options:
                item.options = None
            return Op(name, CHILD, n.v7, child)
        if n.kind == S.DERIVED and n.target:
            via = n.rule.expand_via
            if not via:
                raise WalkError(400, f"{name} cannot be used with $expand through the v6 proxy")
            child, options = self.child_plan(item, self.res(n.target))
            self.restrict(options, self.res(n.target))
            inner = ExpandItem(TreeName(via[-1]), count=item.count, options=options if options.options else None)
            targets, at = [], resource.v7  # the v7 resource each hop of the path reaches
            for nav in via:
                at = self.schema.v7graph[at]["navigation"][nav]
                targets.append(at)
            for nav, target in reversed(list(zip(via[:-1], targets))):
                wrapper = OptionList(nested=True)
                wrapper.add(SelectOption([Path.of(self.key(target))]))
                wrapper.add(ExpandOption([inner]))
                inner = ExpandItem(TreeName(nav), options=wrapper)
            expand.items[expand.items.index(item)] = inner
            self.feature(f"{resource.name}.{name}.expand_via")
            return Op(name, PATH, via[0], (tuple(via[1:]), None if item.count else child))
        if (n.v7 or name) in self.schema.v7graph.get(resource.v7, {}).get("navigation", {}):
            # a v7 reference v6 shows as a value (e.g. an unwrapped ``{"__id": n}``): it still expands in v6;
            # pass it through, the upstream answers as it does
            return Op(name, COPY, n.v7 or name)
        # any other field: only navigations expand, so v6 had no such navigation (decision 1)
        expand.remove(item)
        self.unknown_name(name, resource, "$expand")
        return None

    def restrict(self, options: OptionList, target: ResourceInfo) -> None:
        """A navigation leads to a resource that is a v7 one narrowed by its translator's ``extra_filter`` (a
        view over a v7 resource): the rows outside it do not exist in v6, so the nested options
        filter them out as a root request of the resource would. The text is v7 and added after the client's
        $filter was walked."""
        for text in target.extra_filters:
            options.and_filter(expression(text))
        if target.extra_filters:
            self.feature(f"{target.name}.extra_filter")

    def walk_counted_options(self, options: OptionList | None, target: ResourceInfo) -> None:
        """``nav/$count(...)``: the server filters what it counts and still builds the nested $expand
        (an unknown name there fails), but ignores $select/$orderby/$top/$skip."""
        if options is None:
            return
        if options.filter is not None:
            options.filter.expr = self.walk_expr(options.filter.expr, target, {})
        expand = options.expand
        if expand is not None:
            for sub in list(expand.items):
                self.walk_expand_item(sub, target, expand)
            if not expand.items:
                options.remove(expand)

    def child_plan(self, item: ExpandItem, target: ResourceInfo) -> tuple[ObjectPlan, OptionList]:
        """The plan of the rows an expanded navigation holds, walking its nested options."""
        child = ObjectPlan(resource=target.name, v7_resource=target.v7)
        options = item.ensure_options()
        self.walk_options(options, target, child, top=False)
        if options.select is None or options.select.star:
            self.full_ops(target, child)
        self.finish_plan(options, child, target)
        return child, options

    def rename_helper_ops(self, options: OptionList | None, plan: ObjectPlan) -> None:
        """Derived values read their helper navigation under the translator's key: wrap compute."""
        aliases = self.helper_aliases.get(id(options), {}) if options is not None else {}
        if not aliases:
            return
        plan.ops = [
            Op(op.key, DERIVE, None, _reading_helpers(op.arg, aliases)) if op.kind == DERIVE else op for op in plan.ops
        ]
        plan.sort = tuple(
            SortKey(None, _reading_helpers(sk.compute, aliases), sk.descending) if sk.compute is not None else sk
            for sk in plan.sort
        )


def _nest_tail(item: ExpandItem) -> None:
    """Rewrite ``a(opts)/b/c`` into ``a(opts;$expand=b($expand=c))``.

    A tail path in ``$expand`` means "expand a, and inside it expand b" (odata-dialect.md §2). The server
    (odata-to-abstract-sql ``Expands``) treats the tail exactly like a nested ``$expand`` item placed before
    a's own nested ``$expand`` items: same query, same key order. Translating a tail in place would need its
    own copy of every nested-expand rule (renames, removed, unknown and always-empty navigations, helper
    expands, response plans), so the walk rewrites it into the nested form and translates that. A key on a
    tail segment (``a/b(1)``) is dropped: the server never reads it there.
    """
    tail = item.tail
    assert tail is not None
    item.tail = None
    segments = tail.segments
    inner_options = None
    if tail.count is not None and tail.count.filter is not None:
        inner_options = OptionList(nested=True)
        inner_options.add(FilterOption(tail.count.filter))
    inner = ExpandItem(TreeName(segments[-1].name.text), count=tail.count is not None, options=inner_options)
    for seg in reversed(segments[:-1]):
        wrapper = OptionList(nested=True)
        wrapper.add(ExpandOption([inner]))
        inner = ExpandItem(TreeName(seg.name.text), options=wrapper)
    options = item.ensure_options()
    expand = options.expand
    if expand is None:
        options.add(ExpandOption([inner]))
    else:
        expand.items.insert(0, inner)


def _reading_helpers(fn: Any, aliases: dict[str, str]) -> Any:
    """``fn`` reading helper navigations under the keys the translator declared (``aliases``: nav → key)."""

    def compute(row: dict) -> Any:
        view = dict(row)
        for nav, key in aliases.items():
            if nav in row:
                if isinstance(key, tuple):  # (key, function of the client's expanded rows)
                    view[key[0]] = key[1](row[nav])
                else:
                    view[key] = row[nav]
        return fn(view)

    return compute


def _row_predicate(expr: Expr) -> Any:
    """A translator's filter (eq/ne/and/or/not over names and literals) as a function of a v7 row, with the
    server's NULL rules (``x eq v`` is FALSE where x is NULL); None when the filter uses anything else."""
    if isinstance(expr, Group):
        return _row_predicate(expr.inner)
    if isinstance(expr, Not):
        inner = _row_predicate(expr.operand)
        return None if inner is None else (lambda row: not inner(row))
    if isinstance(expr, BinOp) and expr.op in ("and", "or"):
        parts = [_row_predicate(o) for o in expr.operands]
        if any(p is None for p in parts):
            return None
        if expr.op == "and":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if isinstance(expr, BinOp) and expr.op in ("eq", "ne") and len(expr.operands) == 2:
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
            return lambda row: _compare_constant(row.get(name), op, literal) is True
    return None
