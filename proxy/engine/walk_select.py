"""``$select`` and ``$expand`` of the request walk: response ops for selected names, nested expands and their
plans (the nested options walked by the driver, ``walk.Walk.walk_options``), derived navigations expanded
along their v7 path, and tail paths rewritten into nested expands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from proxy.engine.plan import CHILD, COERCE, CONST, COPY, DERIVE, PATH, UNWRAP, ObjectPlan, Op
from proxy.engine.texts import expression
from proxy.engine.walk_context import (
    HelperAlias,
    WalkContext,
    WalkError,
    keeps_every_member,
    keeps_the_linked_row,
)
from proxy.engine.walk_filter import FilterWalker
from proxy.engine.walk_gates import open_link, sorts_locally, wants_the_row
from proxy.engine.walk_helpers import HelperWalker
from proxy.engine.walk_orderby import along, client_read, link_op, planned_at
from proxy.engine.walk_path import PathWalker
from proxy.engine.walk_views import field_value, view_in_path, view_read, view_refusal
from proxy.odata import ExpandItem, ExpandOption, FilterOption, OptionList, Path, SelectOption
from proxy.odata import Name as TreeName
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo

OptionsWalk = Callable[[OptionList, ResourceInfo, ObjectPlan], None]
"""Walks the nested options of an expanded navigation (``walk.Walk.walk_options`` with ``top=False``)."""


@dataclass(frozen=True)
class _NestedAt:
    """Where ``client_nested_read`` expands the rest of a path (``v6_names`` from ``i`` on): inside the
    client's expansion holding ``opts`` (``plan``: its plan, the row of ``targets[i - 1]``), reached through
    the v7 links ``steps``."""

    opts: OptionList
    plan: ObjectPlan
    targets: list[ResourceInfo]
    v6_names: list[str]
    i: int
    steps: list[str]


class SelectExpandWalker:
    """Translates ``$select``/``$expand`` items into v7 ones and the response ops that undo the difference."""

    def __init__(
        self,
        ctx: WalkContext,
        paths: PathWalker,
        filters: FilterWalker,
        helpers: HelperWalker,
        nested: OptionsWalk,
    ) -> None:
        self.ctx = ctx
        self.paths = paths
        self.filters = filters
        self.helpers = helpers
        self.nested = nested

    # ------------------------------------------------------------------ plans
    def finish_plan(self, options: OptionList | None, plan: ObjectPlan, resource: ResourceInfo) -> None:
        aliases = self.ctx.helper_aliases.get(id(options), {}) if options is not None else {}
        self.helpers.rename_helper_ops(options, plan)
        consumed = set(aliases)
        links = self.ctx.sort_links.get(id(options), {}) if options is not None else {}
        if links:  # a local sort expanded a link the rows show as a reference: rebuild the reference
            plan.ops = [link_op(op, links) for op in plan.ops]
            consumed.update(links)
        for n in resource.names.values():
            if n.kind == S.DERIVED:
                consumed.update(n.derived.helpers)
                if n.v7:
                    consumed.add(n.v7)
        plan.finish(resource.hidden_v7 | frozenset(consumed))
        plan.trivial = self.is_trivial(plan, resource, aliases)

    def is_trivial(self, plan: ObjectPlan, resource: ResourceInfo, aliases: dict[str, HelperAlias]) -> bool:
        """True when the v7 objects already are the v6 ones (same keys, same order): no JSON work."""
        if plan.sort or plan.local_limit is not None or aliases or plan.padded:
            return False
        for op in plan.ops:
            if op.kind == CHILD and op.key == op.src and (op.arg is None or op.arg.trivial):
                continue
            if op.kind != COPY or op.key != op.src:
                return False
        if plan.open_ended:
            v7 = self.ctx.schema.v7graph.get(resource.v7, {})
            return not resource.hidden_v7 and resource.v7 == resource.name and resource.key_order == v7.get("key_order")
        return True

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

    # ------------------------------------------------------------------ $select
    def walk_select_item(
        self,
        path: Path,
        resource: ResourceInfo,
        select: SelectOption,
        helpers: set[str],
        *,
        options: OptionList | None = None,
    ) -> Op | None:
        name = path.names[0] if path.segments else ""
        n = self.ctx.lookup(resource, name)
        if n is None:
            select.remove(path)
            self.ctx.unknown_name(name, resource, "$select")
            return None
        if len(path.segments) != 1:
            v6_names = path.names
            op = self.walk_select_path(path, resource, select, options)
            if (
                op is not None
                and op.kind != DERIVE
                and len(v6_names) > 2
                and view_in_path(self.ctx, resource, v6_names)
            ):
                # a value v7 joins through a link to a view further along: NULL outside the view, which v7's
                # join does not spell; read from an expansion of the path (walked: it holds only the view's rows)
                far = self._far_view_value(v6_names, path, resource, select, options)
                if far is None:
                    raise WalkError(400, f"{'/'.join(v6_names)} cannot be used in a $select path through the v6 proxy")
                return far
            return self.within_view(op, name, path, resource, select, options) if op is not None else None
        return self.name_op(n, resource, select=select, path=path, helpers=helpers)

    def _far_view_value(
        self, v6_names: list[str], path: Path, resource: ResourceInfo, select: SelectOption, options: OptionList | None
    ) -> Op | None:
        """``$select=link/…/<view link>/name``: the links expanded down to the value as a derived value's are
        (the expansion of the link to the view walked with its restriction, so it holds only the view's rows:
        NULL outside it, as v6's join of the view gave), from the client's own expansion of the first link
        where it holds the row (``client_nested_read``), else the proxy's own (``_expand_for_path``). None
        where a link is not single-valued or a derived path expanded the first link already."""
        targets = self._single_links(resource, v6_names)
        first = self.ctx.lookup(resource, v6_names[0])
        if options is None or targets is None or first is None:
            return None
        v7_first = first.v7 or v6_names[0]
        if (id(options), v7_first) in self.ctx.derived_links:
            return None
        expand = options.expand
        if expand is not None and {v6_names[0], v7_first} & {i.name.text for i in expand.items}:
            nested = self.client_nested_read(options, resource, v6_names)
            if nested is None:
                return None
            select.remove(path)
            self.ctx.feature(f"{resource.name}.from_client_expand")
            return Op(v6_names[-1], DERIVE, None, nested)
        return self._expand_for_path(v6_names, path, resource, select, options, targets[0])

    def walk_select_path(
        self, path: Path, resource: ResourceInfo, select: SelectOption, options: OptionList | None = None
    ) -> Op | None:
        """``$select=nav/name``: pinejs joins ``nav`` into the query and answers the name's value under the
        name's own key. The path is renamed like a $filter path and the key renamed back."""
        ctx = self.ctx
        current = resource
        segs = path.segments
        v6_names = path.names
        n: Name | None = None
        for i, seg in enumerate(segs):
            n = ctx.lookup(current, seg.name.text)
            if n is None:
                select.remove(path)
                ctx.unknown_name(seg.name.text, current, "$select")
                return None
            last = i == len(segs) - 1
            if not last and n.kind in (S.CONST, S.EMPTY):
                select.remove(path)  # LEFT JOINed through an always-NULL link: the value is NULL
                known = len(ctx.unknown)
                self.paths.null_link(n, current, path.names, i, "$select")
                return Op(path.names[-1], CONST, None, None) if len(ctx.unknown) == known else None
            if last and n.kind == S.DERIVED and options is not None:
                derived = self.derived_at_path(v6_names, path, resource, select, options)
                if derived is not None:
                    return derived
            if last and n.kind == S.CONST:
                constant = self.constant_at_path(n, v6_names, path, current, select, options)
                if constant is not None:
                    return constant
            if (not last and not (n.kind == S.NAV and n.target)) or n.kind not in (S.FIELD, S.NAV, S.UNWRAP, S.COERCE):
                raise WalkError(400, f"{n.v6} cannot be used in a $select path through the v6 proxy")
            if n.v7 and n.v7 != n.v6:
                seg.name.rename(n.v7)
                ctx.feature(f"{current.name}.{n.v6}.rename")
            if not last and n.target:
                current = ctx.res(n.target)
        assert n is not None
        return self.name_op(n, current)

    def constant_at_path(
        self,
        n: Name,
        v6_names: list[str],
        path: Path,
        target: ResourceInfo,
        select: SelectOption,
        options: OptionList | None,
    ) -> Op | None:
        """``$select=link/…/name`` ending in a name v7 removed (a constant): pinejs answered the joined column,
        the value where the links reach a row, NULL where one is NULL. A NULL constant is NULL either way (v7
        is not asked); one with a value is read through a link to a view as its other values are
        (``view_read``: the value where the linked row is inside the view). None: the clear 400."""
        value = n.constant_value
        if value is None:
            select.remove(path)
            self.ctx.feature(f"{target.name}.{n.v6}.constant")
            return Op(n.v6, CONST, None, None)
        if options is None or len(v6_names) != 2 or not target.extra_filters:
            return None
        link = path.names[0]  # renamed to v7 by walk_select_path

        def constant(_row: dict[str, Any]) -> Any:
            return value

        read = view_read(self.ctx, options, v6_names[0], link, target, (self.ctx.key(target.v7),), constant)
        if read is None:
            return None
        select.remove(path)
        self.ctx.feature(f"{target.name}.extra_filter_value")
        return Op(n.v6, DERIVE, None, read)

    def derived_at_path(
        self, v6_names: list[str], path: Path, resource: ResourceInfo, select: SelectOption, options: OptionList
    ) -> Op | None:
        """``$select=link/…/name`` ending in a value the proxy derives: the links are expanded down to a row
        holding only that value (walked as the client's ``$expand=link($select=name)`` would be, helpers and
        view restrictions included), the value read from the planned row under the name's own key, as pinejs
        answers a path, and the expansion stripped again. Every such path through the same first link shares
        one expansion; where the client also selects the link itself, the expanded row holds its key too and
        the reference v6 shows is rebuilt from it. None (the clear 400) where the links are not all
        single-valued navigations from the row itself, or the client's expansion of the first link may not
        hold the linked row (and its helpers cannot be joined instead, ``_derived_by_columns``). Through a
        link to a view the value is read as the view's other values are (``_derived_in_view``)."""
        targets = self._single_links(resource, v6_names)
        if targets is None:
            return None
        if len(targets) == 1 and targets[0].extra_filters:
            viewed = self._derived_in_view(v6_names, targets[0], resource, options)
            if viewed is not None:
                select.remove(path)
                return viewed
        first = self.ctx.lookup(resource, v6_names[0])
        assert first is not None and first.target is not None
        v7_first = first.v7 or v6_names[0]
        shared = self.ctx.derived_links.get((id(options), v7_first))
        if shared is not None:  # an earlier path through the link expanded this one's value too
            select.remove(path)
            return Op(v6_names[-1], DERIVE, None, planned_at(shared[0], shared[1], tuple(v6_names[1:])))
        expand = options.expand
        if expand is not None and {v6_names[0], v7_first} & {i.name.text for i in expand.items}:
            read = client_read(self.ctx, options, resource, v6_names)
            nested = self.client_nested_read(options, resource, v6_names) if read is None else None
            if nested is not None:
                select.remove(path)
                self.ctx.feature(f"{resource.name}.from_client_expand")
                return Op(v6_names[-1], DERIVE, None, nested)
            if read is None:
                return self._derived_by_columns(v6_names, path, resource, select, options)
            select.remove(path)
            self.ctx.feature(f"{resource.name}.from_client_expand")
            return Op(v6_names[-1], DERIVE, None, planned_at(read[0], read[1], tuple(v6_names[1:])))
        return self._expand_for_path(v6_names, path, resource, select, options, targets[0])

    def _expand_for_path(
        self,
        v6_names: list[str],
        path: Path,
        resource: ResourceInfo,
        select: SelectOption,
        options: OptionList,
        linked: ResourceInfo,
    ) -> Op | None:
        """``derived_at_path``'s own expansion of the links (``linked``: the first link's target), shared with
        the other derived paths through the first link; where the client selects that link too, the
        expansion holds its key and the reference is rebuilt from it (not for a view: its expansion holds only
        the view's rows)."""
        first = self.ctx.lookup(resource, v6_names[0])
        assert first is not None and first.target is not None
        v7_first = first.v7 or v6_names[0]
        others = [p for p in select.items if p is not path and p.segments and p.names[0] in (v6_names[0], v7_first)]
        shown = [p for p in others if len(p.segments) == 1]
        # other derived paths through the link share the expansion; a path to a value v7 answers stays a v7
        # $select path (a join next to the expansion's subquery, as pinejs has them side by side)
        paths = [v6_names] + [p.names for p in others if len(p.segments) > 1 and self._derived_path(resource, p.names)]
        if shown and linked.extra_filters:
            return None
        item = self._expand_tree(paths, 0, resource, extra_key=bool(shown))
        for p in shown:
            select.remove(p)  # expanded instead; the reference is rebuilt from the expanded row
        expand = options.add_expand(item)
        op = self.walk_expand_item(item, resource, expand)
        select.remove(path)
        if op is None or op.kind != CHILD or op.arg is None or op.src is None:
            return None
        link = (self.ctx.key(linked.v7), first.target) if shown else None  # None: never shown as the link
        self.ctx.sort_links.setdefault(id(options), {})[op.src] = link
        self.ctx.derived_links[(id(options), v7_first)] = (op.src, op.arg, item)
        return Op(v6_names[-1], DERIVE, None, planned_at(op.src, op.arg, tuple(v6_names[1:])))

    def client_nested_read(
        self, options: OptionList, resource: ResourceInfo, v6_names: list[str]
    ) -> Callable[[Any], Any] | None:
        """``link/…/<derived name>`` (three names or more) where the client expands the first link whole
        (``WalkContext.whole_links``): down the client's own nested expansions that hold their row, then an
        expansion of the rest of the path the proxy adds inside the last of them, walked as the client's own
        would be (helpers, view restrictions); the value is read from it, and the client's rows are cut back
        (a reference they show to the link now expanded rebuilt from the expanded row). None where a link is
        not single-valued, a nested expansion of the client's may leave out its row or the client expands
        every link down to the value."""
        targets = self._single_links(resource, v6_names)
        first = self.ctx.lookup(resource, v6_names[0])
        if len(v6_names) < 3 or targets is None or first is None:
            return None
        steps = [first.v7 or v6_names[0]]
        plan = self.ctx.whole_links.get(id(options), {}).get(steps[0])
        item = next((i for i in options.expand.items if i.name.text == steps[0]), None) if options.expand else None
        for i in range(1, len(v6_names) - 1):
            if not isinstance(plan, ObjectPlan) or item is None:
                return None
            n = self.ctx.lookup(targets[i - 1], v6_names[i])
            assert n is not None
            opts = item.ensure_options()
            mine = [e for e in opts.expand.items if e.name.text == (n.v7 or v6_names[i])] if opts.expand else []
            if mine:
                child = next((o.arg for o in plan.ops if o.kind == CHILD and o.src == (n.v7 or v6_names[i])), None)
                if (
                    len(mine) > 1
                    or mine[0].count
                    or mine[0].tail is not None
                    or not keeps_the_linked_row(mine[0].options)
                ):
                    return None
                item, plan = mine[0], child
                steps.append(n.v7 or v6_names[i])
                continue
            shows = plan.open_ended or any(o.src == (n.v7 or v6_names[i]) for o in plan.ops)
            return self._nested_expansion(_NestedAt(opts, plan, targets, v6_names, i, steps), shows=shows)
        # every link down to the value is the client's own, each holding its row: read where its rows hold the
        # value (selected by the client, or added for the proxy and hidden again: prepare_client_reads)
        if not isinstance(plan, ObjectPlan) or not any(o.key == v6_names[-1] for o in plan.ops):
            return None
        kept = replace(plan, ops=list(plan.ops), builders={})
        return along(tuple(steps[:-1]), planned_at(steps[-1], kept, (v6_names[-1],)))

    def _nested_expansion(self, at: _NestedAt, *, shows: bool) -> Callable[[Any], Any] | None:
        """``client_nested_read``'s own expansion of the rest of the path inside the client's expansion
        (``at``; ``shows``: its rows show the link)."""
        opts, plan, targets, v6_names, i, steps = at.opts, at.plan, at.targets, at.v6_names, at.i, at.steps
        if shows and targets[i].extra_filters:
            return self._nested_view_read(at)
        new = self._expand_tree([v6_names[i:]], 0, targets[i - 1], extra_key=shows)
        op = self.walk_expand_item(new, targets[i - 1], opts.add_expand(new))
        if op is None or op.kind != CHILD or op.src is None or not isinstance(op.arg, ObjectPlan):
            return None
        if shows:
            plan.ops = [link_op(o, {op.src: (self.ctx.key(targets[i].v7), targets[i].name)}) for o in plan.ops]
            plan.finish(plan.known | {op.src})
        plan.trivial = False  # the rows are cut back to the client's own
        return along(tuple(steps), planned_at(op.src, op.arg, tuple(v6_names[i + 1 :])))

    def _nested_view_read(self, at: _NestedAt) -> Callable[[Any], Any] | None:
        """``_nested_expansion`` where the client's rows show the link, which leads to a view: v6 showed the
        linked key even outside the view, so the link is expanded whole and the view's restriction evaluated
        by the proxy (``view_read`` on the client's nested options, the reference rebuilt from that row). Only
        for a plain field or a derived value of plain helpers right on the view."""
        opts, plan, targets, v6_names, i, steps = at.opts, at.plan, at.targets, at.v6_names, at.i, at.steps
        view = targets[i]
        n = self.ctx.lookup(targets[i - 1], v6_names[i])
        leaf = self.ctx.lookup(view, v6_names[-1])
        if i != len(v6_names) - 2 or n is None or leaf is None:
            return None
        reads: tuple[str, ...]
        if leaf.kind == S.FIELD:
            reads, value = (leaf.v7 or leaf.v6,), field_value(leaf.v7 or leaf.v6)
        elif leaf.kind == S.DERIVED and leaf.rule is not None and not leaf.derived.helper_expands and not leaf.target:
            reads, value = tuple(leaf.derived.helpers), leaf.derived.compute
        else:
            return None
        read = view_read(self.ctx, opts, v6_names[i], n.v7 or v6_names[i], view, reads, value)
        if read is None:
            return None
        links = self.ctx.sort_links.pop(id(opts), {})
        plan.ops = [link_op(o, links) for o in plan.ops]
        plan.finish(plan.known | set(links))
        plan.trivial = False  # the rows are cut back to the client's own
        return along(tuple(steps), read)

    def _derived_by_columns(
        self, v6_names: list[str], path: Path, resource: ResourceInfo, select: SelectOption, options: OptionList
    ) -> Op | None:
        """``link/<derived name>`` where the client expands ``link`` with options that may leave out its row:
        the value computed from its helpers asked of v7 as ``$select`` paths (pinejs joins the link once for
        all of them, as v6 joined it for the path, and answers each under its own name; hidden again). Only
        where every helper is a plain field of a type the database driver hands on as pinejs answers it, and
        one of them is never NULL (NULL there: no linked row, so the value is NULL), and not through a link to
        a view. Where another column of the row has a helper's name, ``Walk.check_path_columns`` answers the
        400. None: not possible."""
        first = self.ctx.lookup(resource, v6_names[0])
        if len(v6_names) != 2 or first is None or first.target is None:
            return None
        target = self.ctx.res(first.target)
        n = self.ctx.lookup(target, v6_names[1])
        if n is None or n.target or target.extra_filters or n.derived.helper_expands or not n.derived.helpers:
            return None
        columns = self.ctx.schema.v7graph.get(target.v7, {}).get("fields", {})
        types = [str(columns.get(h, "")).split(" | ") for h in n.derived.helpers]
        if any(t[0].split(":")[0] not in _AS_ANSWERED for t in types):
            return None
        required = [h for h, t in zip(n.derived.helpers, types, strict=True) if "null" not in t[1:]]
        if not required:
            return None
        link = first.v7 or v6_names[0]
        refusal = f"{n.v6} cannot be used in a $select path through the v6 proxy"
        present = {p.serialize() for p in select.items}
        for helper in n.derived.helpers:
            if f"{link}/{helper}" not in present:
                select.add(f"{link}/{helper}")
            self.ctx.path_columns.setdefault(id(options), []).append((helper, refusal))
        select.remove(path)
        self.ctx.feature(f"{resource.name}.{n.v6}.derived")
        return Op(n.v6, DERIVE, None, _from_columns(n.derived.helpers, required, n.derived.compute))

    def _derived_in_view(
        self, v6_names: list[str], target: ResourceInfo, resource: ResourceInfo, options: OptionList
    ) -> Op | None:
        """``$select=link/<derived name>`` where ``link`` leads to a view: computed from the helpers of the
        linked row where it is inside the view, else NULL (``view_read``: the expansion every value through
        the link shares). None where the client expands the link (its expansion computes the value,
        ``client_read``) or the value needs related rows."""
        first = self.ctx.lookup(resource, v6_names[0])
        n = self.ctx.lookup(target, v6_names[1])
        assert first is not None and n is not None
        link = first.v7 or v6_names[0]
        rule = n.derived
        expand = options.expand
        mine = self.ctx.view_links.get(id(options), {}).get(link)
        if rule.helper_expands or n.target or not rule.helpers:
            return None
        if mine is None and expand is not None and {v6_names[0], link} & {i.name.text for i in expand.items}:
            return None
        read = view_read(self.ctx, options, v6_names[0], link, target, rule.helpers, rule.compute)
        if read is None:
            return None
        self.ctx.feature(f"{target.name}.extra_filter_value")
        self.ctx.feature(f"{target.name}.{n.v6}.derived")
        return Op(n.v6, DERIVE, None, read)

    def prepare_client_reads(self, options: OptionList, resource: ResourceInfo) -> list[tuple[str, str]]:
        """Before the client's $expand is walked: the single-valued links it expands whole
        (``keeps_the_linked_row``, not a count) and the collections it expands with every member
        (``keeps_every_member``) are noted (``_whole_items``), and a derived value a `$select` or `$orderby`
        path (only `$orderby` through a collection) reads through one of them (``link/<derived name>``) is
        added to that expansion's $select where the client did not select it (the value is computed there,
        with its helpers, and hidden again by :meth:`hide_client_reads`). The (v7 link, name) pairs added."""
        whole = self._whole_items(options, resource)
        if not whole:
            return []
        links = {name: self.ctx.lookup(resource, name) for name in whole}
        # the plans, once walked (note_client_reads), by v7 link
        self.ctx.whole_links[id(options)] = {(n.v7 or name): None for name, n in links.items() if n is not None}
        wanted: list[tuple[list[str], bool]] = []
        select = options.select
        if select is not None and not select.star:
            wanted += [(p.names, False) for p in select.items if len(p.segments) == 2]
        orderby = options.orderby
        if orderby is not None:
            wanted += [
                (i.path.names, True)
                for i in orderby.items
                if len(i.path.segments) == 2 and i.path.count is None and i.path.lambda_ is None
            ]
        added: list[tuple[str, str]] = []
        added += self._innermost_reads(options, resource, whole)
        for names, sorting in wanted:
            own = whole.get(names[0])
            n = self.ctx.lookup(resource, names[0])
            if own is None or n is None or n.target is None or (n.many and not sorting):
                continue
            d = self.ctx.lookup(self.ctx.res(n.target), names[1])
            if d is None or d.kind != S.DERIVED or (sorting and d.derived.order_by):
                continue
            chosen = own.options.select if own.options is not None else None
            if chosen is None or chosen.star or names[1] in {p.serialize() for p in chosen.items}:
                continue  # the client's rows hold the value already
            chosen.add(names[1])
            added.append((n.v7 or names[0], names[1]))
        return added

    def _innermost_reads(
        self, options: OptionList, resource: ResourceInfo, whole: dict[str, ExpandItem]
    ) -> list[tuple[str, str]]:
        """``prepare_client_reads`` for a longer path (``l1/l2/…/<derived name>`` in $select or $orderby) where
        the client expands every link down to the value, each holding its row: the name is added to the $select
        of the innermost expansion (read there by ``client_nested_read``). The (v7 links ``l1/l2/…``, name)
        pairs added."""
        select = options.select
        paths = [p.names for p in select.items if len(p.segments) > 2] if select is not None and not select.star else []
        orderby = options.orderby
        if orderby is not None:
            paths += [i.path.names for i in orderby.items if len(i.path.segments) > 2 and i.path.count is None]
        added: list[tuple[str, str]] = []
        for names in paths:
            item = whole.get(names[0])
            targets = self._single_links(resource, names)
            if item is None or not targets:
                continue
            n = self.ctx.lookup(targets[-1], names[-1])
            if n is None or n.kind != S.DERIVED:
                continue
            links = [self.ctx.lookup(resource, names[0])]
            for depth in range(1, len(names) - 1):
                link = self.ctx.lookup(targets[depth - 1], names[depth])
                opts = item.options if item is not None else None
                found = [e for e in opts.expand.items if e.name.text == names[depth]] if opts and opts.expand else []
                if len(found) != 1 or found[0].count or found[0].tail or not keeps_the_linked_row(found[0].options):
                    item = None
                    break
                item, links = found[0], [*links, link]
            chosen = item.options.select if item is not None and item.options is not None else None
            if item is None or chosen is None or chosen.star or names[-1] in {p.serialize() for p in chosen.items}:
                continue  # not every link is the client's, or its rows hold the value already
            chosen.add(names[-1])
            added.append(("/".join((ln.v7 or ln.v6) for ln in links if ln is not None), names[-1]))
        return added

    def _whole_items(self, options: OptionList, resource: ResourceInfo) -> dict[str, ExpandItem]:
        """The client's expansions that hold the linked row or every member, by name, after the ones the
        proxy can take over were asked whole (``_open_link``)."""
        whole: dict[str, ExpandItem] = {}
        for item in options.expand.items if options.expand is not None else []:
            n = self.ctx.lookup(resource, item.name.text)
            if n is None or n.kind != S.NAV or not n.target or item.tail is not None:
                continue
            if item.count or not self._holds_every_row(item, n):
                self._open_link(options, resource, item, n)
            if not item.count and self._holds_every_row(item, n):
                whole[item.name.text] = item
        return whole

    def _holds_every_row(self, item: ExpandItem, n: Name) -> bool:
        """Whether the client's expansion of a link holds the linked row (``keeps_the_linked_row``) or every
        member (``keeps_every_member``, or no $filter and an $orderby the proxy sorts by itself: it asks v7 for
        every member and pages them after sorting)."""
        if not n.many:
            return keeps_the_linked_row(item.options)
        opts = item.options
        if keeps_every_member(opts) or opts is None or opts.filter is not None or n.target is None:
            return keeps_every_member(opts)
        orderby = opts.orderby
        paths = [i.path.names for i in orderby.items] if orderby is not None else []
        return bool(paths) and sorts_locally(self.ctx, self.ctx.res(n.target), paths)

    def _open_link(self, options: OptionList, resource: ResourceInfo, item: ExpandItem, n: Name) -> None:
        """The client's expansion of a link that may leave out the linked row (or a member of a collection),
        where a $select or $orderby path reads a value only the proxy computes through the link, or the proxy
        sorts by a key through it: asked whole where the proxy can take over what its options leave out
        (``walk_gates``)."""
        name = item.name.text
        select = options.select
        paths = [p.names for p in select.items if len(p.segments) > 1] if select is not None else []
        orderby = options.orderby
        items = orderby.items if orderby is not None else []
        sorted_by = [i.path.names for i in items if i.path.count is None and i.path.lambda_ is None]
        count_keys = [i.path.count for i in items if i.path.count is not None and i.path.names == [name]]
        # a count key reads the client's own count only where both count the same (no $filter in either)
        same = item.count and (item.options is None or item.options.filter is None)
        counted = bool(count_keys) and not (same and all(c.filter is None for c in count_keys))
        paths = [names for names in paths + sorted_by if len(names) > 1 and names[0] == name]
        # a key through the link is read from the expansion too where the proxy sorts (its $select path's
        # column may share a name with another of the row; a count or a member needs them all)
        through = counted or any(len(k) > 1 and k[0] == name for k in sorted_by)
        local = through and sorts_locally(self.ctx, resource, [i.path.names for i in items])
        if not (paths or counted) or n.target is None or not (local or wants_the_row(self.ctx, resource, paths)):
            return
        gate = open_link(self.ctx, self.filters, item, self.ctx.res(n.target), many=n.many)
        if gate is not None:
            self.ctx.gated.setdefault(id(options), {})[n.v7 or name] = gate

    def note_client_reads(self, options: OptionList, expand_ops: list[Op]) -> None:
        """The plans of the whole expansions :meth:`prepare_client_reads` noted, by v7 link."""
        whole = self.ctx.whole_links.get(id(options))
        if whole is None:
            return
        for op in expand_ops:
            if op.kind == CHILD and op.src in whole and isinstance(op.arg, ObjectPlan):
                whole[op.src] = op.arg

    def hide_client_reads(self, added: list[tuple[str, str]], expand_ops: list[Op]) -> None:
        """The values :meth:`prepare_client_reads` added to the client's expansions leave its rows again
        (the readers hold copies of the plans that keep them)."""
        for links, name in added:
            ops = expand_ops
            child: ObjectPlan | None = None
            for link in links.split("/"):  # down the client's nested expansions (``_innermost_reads``)
                child = next((o.arg for o in ops if o.kind == CHILD and o.src == link), None)
                if not isinstance(child, ObjectPlan):
                    break
                ops = child.ops
            if isinstance(child, ObjectPlan):
                child.ops = [o for o in child.ops if o.key != name]
                child.finish(child.known)

    def _single_links(self, resource: ResourceInfo, v6_names: list[str]) -> list[ResourceInfo] | None:
        """The targets of the links of a path (all but its last name), or None where one is not a
        single-valued navigation."""
        cur = resource
        targets: list[ResourceInfo] = []
        for name in v6_names[:-1]:
            n = self.ctx.lookup(cur, name)
            if n is None or n.kind != S.NAV or n.many or not n.target:
                return None
            cur = self.ctx.res(n.target)
            targets.append(cur)
        return targets

    def _derived_path(self, resource: ResourceInfo, v6_names: list[str]) -> bool:
        """Whether a (not yet walked) $select path ends in a derived value through single-valued links."""
        targets = self._single_links(resource, v6_names)
        if not targets:
            return False
        n = self.ctx.lookup(targets[-1], v6_names[-1])
        return n is not None and n.kind == S.DERIVED

    def _expand_tree(
        self, paths: list[list[str]], level: int, resource: ResourceInfo, *, extra_key: bool
    ) -> ExpandItem:
        """``link($select=…;$expand=…)`` selecting the last name of every path at its depth (and the target's
        key where a deeper link is expanded, or ``extra_key``), the deeper links expanded alike."""
        link = paths[0][level]
        n = self.ctx.lookup(resource, link)
        assert n is not None and n.target is not None
        target = self.ctx.res(n.target)
        chosen: list[str] = []
        deeper: list[str] = []
        for names in paths:
            if len(names) == level + 2:
                if names[-1] not in chosen:
                    chosen.append(names[-1])
            elif names[level + 1] not in deeper:
                deeper.append(names[level + 1])
        if (deeper or extra_key) and self.ctx.key(target.v7) not in chosen:
            chosen.append(self.ctx.key(target.v7))
        nested = OptionList(nested=True)
        nested.add(SelectOption([Path.of(c) for c in chosen]))
        if deeper:
            below = [
                self._expand_tree(
                    [p for p in paths if len(p) > level + 2 and p[level + 1] == d], level + 1, target, extra_key=False
                )
                for d in deeper
            ]
            nested.add(ExpandOption(below))
        return ExpandItem(TreeName(link), options=nested)

    def within_view(
        self, op: Op, v6_link: str, path: Path, resource: ResourceInfo, select: SelectOption, options: OptionList | None
    ) -> Op:
        """``$select=link/name`` where ``link`` leads to a view (a resource narrowed by ``extra_filter``): the
        server joined only the view's rows, so the value is NULL where the linked row is outside it. The value
        is read from an expansion of the link holding only the view's rows (``view_read``: the client's own
        whole one, or the proxy's, stripped again) instead of the v7 join; the clear 400 where there is none."""
        if op.kind != COPY or options is None or len(path.segments) != 2:
            return op
        n = self.ctx.lookup(resource, v6_link)
        if n is None or n.kind != S.NAV or n.many or not n.target:
            return op
        target = self.ctx.res(n.target)
        if not target.extra_filters:
            return op
        link, leaf = path.names  # renamed to v7 by walk_select_path
        read = view_read(self.ctx, options, v6_link, link, target, (leaf,), field_value(leaf))
        if read is None:
            raise WalkError(400, view_refusal(f"{v6_link}/{op.key}", "a $select path"))
        select.remove(path)
        self.ctx.feature(f"{target.name}.extra_filter_value")
        return Op(op.key, DERIVE, None, read)

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
        feature = self.ctx.feature
        if kind in (S.FIELD, S.NAV, S.COERCE):
            if path is not None and n.v7 != n.v6:
                path.segments[0].name.rename(n.v7 or n.v6)
                if kind != S.COERCE:
                    feature(f"{resource.name}.{n.v6}.rename")
            if kind == S.COERCE:
                feature(f"{resource.name}.{n.v6}.coerce")
                return Op(n.v6, COERCE, n.v7, n.coerce.to_v6)
            return Op(n.v6, COPY, n.v7)
        if kind == S.UNWRAP:
            feature(f"{resource.name}.{n.v6}.unwrap")
            return Op(n.v6, UNWRAP, n.v7)
        if select is not None and path is not None:
            select.remove(path)  # the proxy answers the rest itself: v7 is not asked for them
        if kind == S.CONST:
            feature(f"{resource.name}.{n.v6}.constant")
            return Op(n.v6, CONST, None, n.constant_value)
        if kind == S.EMPTY:
            return Op(n.v6, CONST, None, [])
        if kind == S.DERIVED:
            rule = n.derived
            if helpers is not None:
                helpers.update(rule.helpers)
            feature(f"{resource.name}.{n.v6}.derived")
            return Op(n.v6, DERIVE, None, rule.compute)
        raise AssertionError(kind)

    # ------------------------------------------------------------------ $expand
    def walk_expand_item(self, item: ExpandItem, resource: ResourceInfo, expand: ExpandOption) -> Op | None:
        ctx = self.ctx
        if item.tail is not None:
            _nest_tail(item)
        name = item.name.text
        n = ctx.lookup(resource, name)
        if n is None:
            expand.remove(item)
            ctx.unknown_name(name, resource, "$expand")
            return None
        if n.kind in (S.EMPTY, S.CONST) and n.target:
            expand.remove(item)
            ctx.feature(f"{resource.name}.{name}.empty")
            return Op(name, CONST, None, 0 if item.count else [])
        if n.kind == S.NAV and n.target:
            return self._expand_navigation(item, n, resource, ctx.res(n.target))
        if n.kind == S.DERIVED and n.target:
            return self._expand_derived(item, n, resource, expand, ctx.res(n.target))
        if (n.v7 or name) in ctx.schema.v7graph.get(resource.v7, {}).get("navigation", {}):
            # a v7 reference v6 shows as a value (e.g. an unwrapped ``{"__id": n}``): it still expands in v6;
            # pass it through, the upstream answers as it does
            return Op(name, COPY, n.v7 or name)
        # any other field: only navigations expand, so v6 had no such navigation (decision 1)
        expand.remove(item)
        ctx.unknown_name(name, resource, "$expand")
        return None

    def _expand_navigation(self, item: ExpandItem, n: Name, resource: ResourceInfo, target: ResourceInfo) -> Op:
        name = item.name.text
        if n.v7 != name:
            item.name.rename(n.v7 or name)
            self.ctx.feature(f"{resource.name}.{name}.rename")
        if item.count:
            self.walk_counted_options(item.options, target)
            if target.extra_filters:
                self.restrict(item.ensure_options(), target)
            return Op(name, COPY, n.v7)
        child, options = self.child_plan(item, target)
        self.restrict(options, target)
        if not options.options:
            item.options = None
        return Op(name, CHILD, n.v7, child)

    def _expand_derived(
        self, item: ExpandItem, n: Name, resource: ResourceInfo, expand: ExpandOption, target: ResourceInfo
    ) -> Op:
        """A derived navigation expands along the v7 path its translator names (``expand_via``), each hop
        selecting only its key."""
        name = item.name.text
        via = n.derived.expand_via
        if not via:
            raise WalkError(400, f"{name} cannot be used with $expand through the v6 proxy")
        child, options = self.child_plan(item, target)
        self.restrict(options, target)
        inner = ExpandItem(TreeName(via[-1]), count=item.count, options=options if options.options else None)
        targets, at = [], resource.v7  # the v7 resource each hop of the path reaches
        for nav in via:
            at = self.ctx.schema.v7graph[at]["navigation"][nav]
            targets.append(at)
        for nav, hop in reversed(list(zip(via[:-1], targets, strict=False))):
            wrapper = OptionList(nested=True)
            wrapper.add(SelectOption([Path.of(self.ctx.key(hop))]))
            wrapper.add(ExpandOption([inner]))
            inner = ExpandItem(TreeName(nav), options=wrapper)
        expand.items[expand.items.index(item)] = inner
        self.ctx.feature(f"{resource.name}.{name}.expand_via")
        return Op(name, PATH, via[0], (tuple(via[1:]), None if item.count else child))

    def restrict(self, options: OptionList, target: ResourceInfo) -> None:
        """A navigation leads to a resource that is a v7 one narrowed by its translator's ``extra_filter`` (a
        view over a v7 resource): the rows outside it do not exist in v6, so the nested options
        filter them out as a root request of the resource would. The text is v7 and added after the client's
        $filter was walked."""
        for text in target.extra_filters:
            options.and_filter(expression(text))
        if target.extra_filters:
            self.ctx.feature(f"{target.name}.extra_filter")

    def walk_counted_options(self, options: OptionList | None, target: ResourceInfo) -> None:
        """``nav/$count(...)``: the server filters what it counts and still builds the nested $expand
        (an unknown name there fails), but ignores $select/$orderby/$top/$skip."""
        if options is None:
            return
        if options.filter is not None:
            options.filter.expr = self.filters.walk_expr(options.filter.expr, target, {})
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
        self.nested(options, target, child)
        if options.select is None or options.select.star or id(options) in self.ctx.full_selects:
            self.full_ops(target, child)
        self.finish_plan(options, child, target)
        return child, options


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


# v7 column types whose joined value (handed on by pinejs as the database driver gives it) is the value
# pinejs answers for the field itself
_AS_ANSWERED = frozenset({"Boolean", "Short Text", "Text", "Integer", "Serial", "Date Time"})


def _from_columns(
    helpers: tuple[str, ...], required: list[str], compute: Callable[[dict[str, Any]], Any]
) -> Callable[[dict[str, Any]], Any]:
    """A derived value computed from its helpers joined into the row under their own names (None where a
    helper that is never NULL is: the link is)."""

    def value(row: dict[str, Any]) -> Any:
        if any(row.get(h) is None for h in required):
            return None
        return compute({h: row.get(h) for h in helpers})

    return value
