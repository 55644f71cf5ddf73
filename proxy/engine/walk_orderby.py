"""``$orderby`` of the request walk: renamed and derived sort keys, constants dropped, and the local sort the
proxy does itself (decision 2) when v7 has no field that sorts like a derived value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from proxy.engine.apply import apply_rows
from proxy.engine.dates import keeps
from proxy.engine.plan import CHILD, COPY, DERIVE, ObjectPlan, Op, SortKey
from proxy.engine.walk_context import (
    WalkContext,
    WalkError,
    keeps_every_member,
    keeps_the_linked_row,
    member_slot,
)
from proxy.engine.walk_gates import date_columns, decided_reads
from proxy.engine.walk_path import ConstantEnd, DerivedEnd, MemberEnd, PathEnd, PathWalker
from proxy.engine.walk_views import (
    field_value,
    outer_paths,
    view_in_path,
    view_read,
    view_refusal,
)
from proxy.odata import (
    ExpandItem,
    ExpandOption,
    Expr,
    FilterOption,
    OptionList,
    OrderByOption,
    OrderItem,
    SelectOption,
    SkipOption,
    TopOption,
    iter_nodes,
)
from proxy.odata import Name as TreeName
from proxy.odata import Path as TreePath
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo


@dataclass(frozen=True)
class _Sorting:
    """What the keys of one local sort are read with (``OrderByWalker._local_sort``)."""

    options: OptionList
    resource: ResourceInfo
    helpers: set[str]
    local: list[tuple[OrderItem, Name]]
    v6_paths: dict[int, str]
    walked: dict[int, PathEnd]
    children: dict[str, ObjectPlan | None]
    views: dict[int, str]
    label: str


def _item_context(item: OrderItem, sorting: _Sorting) -> tuple[PathEnd | None, str, OptionList, ResourceInfo, bool]:
    """What a path key's readers start from: walk_path's answer, its v6 path, the options and resource it
    sorts, and whether it sorts descending."""
    desc = item.effective_direction == "desc"
    return sorting.walked.get(id(item)), sorting.v6_paths[id(item)], sorting.options, sorting.resource, desc


class OrderByWalker:
    """Translates ``$orderby``; what v7 cannot sort becomes the plan's local sort."""

    def __init__(self, ctx: WalkContext, paths: PathWalker) -> None:
        self.ctx = ctx
        self.paths = paths
        # walks an $expand item the proxy adds (the select walker's, set by the driver)
        self.expand_item: Callable[[ExpandItem, ResourceInfo, ExpandOption], Op | None] | None = None
        # reads a derived value at the end of a longer path through the client's own expansion of its first
        # link (the select walker's ``client_nested_read``, set by the driver)
        self.nested_read: Callable[[OptionList, ResourceInfo, list[str]], Callable[[Any], Any] | None] | None = None
        self.derived_paths: set[int] = set()  # id(item) of local keys ending in a derived value along a path
        self._derived_through: set[str] = set()  # first names (v6) of the $orderby's derived path keys
        # (id(options), v7 collection) → the expansion the proxy joins for a sort key through it (_fan_out_key)
        self._joined: dict[tuple[int, str], ExpandItem] = {}
        # (id(options), v7 collection) joined beside the whole collection, a count key reading it (_counted_beside)
        self._slotted: set[tuple[int, str]] = set()

    def walk_orderby(
        self,
        orderby: OrderByOption,
        options: OptionList,
        resource: ResourceInfo,
        plan: ObjectPlan,
        helpers: set[str],
        *,
        top: bool,
        children: dict[str, ObjectPlan | None] | None = None,
    ) -> None:
        """Rename the sort keys in place; keys only the proxy can sort by make the plan's ``sort``
        (``children``: the plans of the client's own expansions, by v7 navigation)."""
        local: list[tuple[OrderItem, Name]] = []
        v6_paths = {id(item): "/".join(item.path.names) for item in orderby.items}
        walked: dict[int, PathEnd] = {}  # id(item) → walk_path's answer for a multi-name item
        for item in list(orderby.items):
            found = self._walk_item(item, orderby, resource, local)
            if found is not None:
                walked[id(item)] = found
        views = self._view_keys(orderby, options, resource, v6_paths, walked)
        if not local and not views:
            if not orderby.items:
                options.remove(orderby)
            return
        if top and self.ctx.kind != "rows":
            label = local[0][1].v6 if local else next(iter(views.values()))
            self._drop_local(orderby, options, resource, label)
            return
        self._local_sort(
            orderby,
            options,
            resource,
            plan,
            helpers,
            local,
            v6_paths,
            walked,
            top=top,
            children=children or {},
            views=views,
        )

    def _view_keys(
        self,
        orderby: OrderByOption,
        options: OptionList,
        resource: ResourceInfo,
        v6_paths: dict[int, str],
        walked: dict[int, PathEnd],
    ) -> dict[int, str]:
        """Sort keys ``link/name`` where ``link`` leads to a view (a resource narrowed by ``extra_filter``):
        the server joined only the view's rows, so the key is NULL where the linked row is outside it, which no
        v7 sort key spells. Such keys are sorted by the proxy, read from an expansion of the link holding only
        the view's rows (``view_read``). id(item) → the key's v6 path."""
        found: dict[int, str] = {}
        # whether the order matters: rows, or a write paged by it (a count or an unpaged write drops it)
        ordered = self.ctx.kind == "rows" or any(options.get(k) is not None for k in ("$top", "$skip"))
        for item in orderby.items:
            end = walked.get(id(item))
            names = v6_paths[id(item)].split("/")
            if len(names) > 2 and isinstance(end, MemberEnd) and view_in_path(self.ctx, resource, names) and ordered:
                # a value v7 joins through a link to a view further along: NULL outside the view, which no v7
                # sort key spells; read as a derived value along a path is (derived_path_key: the walked
                # expansion of the link to the view holds only the view's rows)
                if self.expand_item is None or self.ctx.kind != "rows":
                    raise WalkError(400, f"{v6_paths[id(item)]} cannot be used in $orderby through the v6 proxy")
                self.derived_paths.add(id(item))
                found[id(item)] = v6_paths[id(item)]
                continue
            if len(names) != 2 or len(item.path.segments) != 2 or item.path.segments[0].key is not None:
                continue
            plain = isinstance(end, MemberEnd) and end.name is not None and end.name.kind == S.FIELD
            if not plain and not isinstance(end, ConstantEnd):
                continue
            link = self.ctx.lookup(resource, names[0])
            if link is None or link.kind != S.NAV or link.many or not link.target:
                continue
            if self.ctx.res(link.target).extra_filters:
                found[id(item)] = v6_paths[id(item)]
        return found

    def _view_sort_key(self, item: OrderItem, options: OptionList, resource: ResourceInfo, v6_path: str) -> SortKey:
        """The local sort key of ``_view_keys`` (NULL where the linked row is outside the view), or the clear
        400 where no expansion of the link can hold it (``view_read``)."""
        link, leaf = item.path.names  # renamed to v7 by walk_path
        v6_link = v6_path.split("/")[0]
        n = self.ctx.lookup(resource, v6_link)
        assert n is not None and n.target is not None
        target = self.ctx.res(n.target)
        end = self.ctx.lookup(target, v6_path.split("/")[1])
        if end is not None and end.kind == S.CONST:  # the constant where the linked row is inside the view
            reads, value = (self.ctx.key(target.v7),), _constant(end.constant_value)
        else:
            reads, value = (leaf,), field_value(leaf)
        read = view_read(self.ctx, options, v6_link, link, target, reads, value)
        if read is None:
            raise WalkError(400, view_refusal(v6_path, "$orderby"))
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, read, item.effective_direction == "desc")

    def _walk_item(
        self, item: OrderItem, orderby: OrderByOption, resource: ResourceInfo, local: list[tuple[OrderItem, Name]]
    ) -> PathEnd | None:
        """One sort key renamed (or removed, or listed in ``local``); walk_path's answer for a path item."""
        ctx = self.ctx
        names = item.path.names
        if item.path.count is not None or item.path.lambda_ is not None:
            counted = self.paths.walk_path(item.path, resource, {}, "$orderby")
            if isinstance(counted, (ConstantEnd, DerivedEnd)):
                orderby.remove(item)  # a constant count orders nothing
            return None
        if len(names) == 1:
            n = ctx.require(resource, names[0], "$orderby")
            if n.kind == S.CONST or n.kind == S.EMPTY:
                orderby.remove(item)
                ctx.feature(f"{resource.name}.{n.v6}.orderby_constant")
                return None
            if n.kind == S.DERIVED:
                order_by = n.derived.order_by
                if order_by:
                    item.path.segments[0].name.rename(order_by)
                    ctx.feature(f"{resource.name}.{n.v6}.orderby")
                    return None
                local.append((item, n))
                return None
        found = self.paths.walk_path(item.path, resource, {}, "$orderby")
        if isinstance(found, ConstantEnd):
            self._constant_key(item, names, found, orderby, resource)
        elif isinstance(found, DerivedEnd):
            n = found.name
            order_by = n.derived.order_by
            if not order_by:
                if ctx.kind == "rows" and self.expand_item is not None:
                    local.append((item, n))  # sorted by the proxy, the value read along the path
                    self.derived_paths.add(id(item))
                    return found
                raise WalkError(400, f"{n.v6} cannot be used with $orderby on a navigation path through the v6 proxy")
            item.path.segments[-1].name.rename(order_by)
            ctx.feature(f"{found.owner.name}.{n.v6}.orderby")
            # from here on the key is the v7 field that sorts alike (a local sort reads that field too)
            return MemberEnd(Name(S.FIELD, order_by, order_by), found.owner)
        return found

    def _constant_key(
        self, item: OrderItem, names: list[str], found: ConstantEnd, orderby: OrderByOption, resource: ResourceInfo
    ) -> None:
        """A path key ending in a constant. NULL on every row orders nothing: dropped. A constant with a value
        is NULL where a link on the way is, so it orders the rows by that: sorted by the proxy through a link
        to a view (``_view_keys``), else the clear 400 (``names``: the key's v6 path)."""
        if not found.at_end or found.name.constant_value is None:
            orderby.remove(item)
            self.ctx.feature(f"{resource.name}.{found.name.v6}.orderby_constant")
            return
        link = self.ctx.lookup(resource, names[0])
        target = self.ctx.res(link.target) if link is not None and link.target else None
        if len(names) != 2 or target is None or not target.extra_filters:
            raise WalkError(400, f"{'/'.join(names)} cannot be used in $orderby through the v6 proxy")

    def _drop_local(self, orderby: OrderByOption, options: OptionList, resource: ResourceInfo, label: str) -> None:
        """Only row reads are sorted and paged by the proxy. A count, or a write without $top/$skip, touches
        the same rows in any order: the ordering is dropped. A write paged by the order cannot be done exactly
        (the proxy would have to read and pick the rows itself)."""
        ctx = self.ctx
        if ctx.kind != "count" and (options.get("$top") is not None or options.get("$skip") is not None):
            raise WalkError(400, f"{label} cannot be used with $orderby on a {ctx.method} through the v6 proxy")
        options.remove(orderby)
        ctx.feature(f"{resource.name}.{label}.orderby_dropped")

    def _local_sort(
        self,
        orderby: OrderByOption,
        options: OptionList,
        resource: ResourceInfo,
        plan: ObjectPlan,
        helpers: set[str],
        local: list[tuple[OrderItem, Name]],
        v6_paths: dict[int, str],
        walked: dict[int, PathEnd],
        *,
        top: bool,
        children: dict[str, ObjectPlan | None],
        views: dict[int, str],
    ) -> None:
        """Ordering the proxy must do itself (decision 2): all items sort locally, in order (from a key the
        proxy cannot read onwards, v7 may sort the rest: ``_rest_upstream``)."""
        label = local[0][1].v6 if local else next(v6_paths[id(i)] for i in orderby.items if id(i) in views)
        keys: list[SortKey] = []
        local_ids = {id(it) for it, _ in local} | set(views) | self.derived_paths
        self._derived_through = {v6_paths[id(i)].split("/")[0] for i in orderby.items if id(i) in self.derived_paths}
        last_local = max(i for i, item in enumerate(orderby.items) if id(item) in local_ids)
        upstream: list[OrderItem] = []  # the keys after the last proxy-only key that v7 sorts (see _rest_upstream)
        sorting = _Sorting(options, resource, helpers, local, v6_paths, walked, children, views, label)
        # a derived key through a link and then a collection joins them first: a key before it through the same
        # links reads the same joined rows (as pinejs joins a navigation path once), not a join of its own
        # (and one through a collection a count key counts: joined beside it, so the count reads every member)
        counted = {i.path.names[0] for i in orderby.items if i.path.count is not None and len(i.path.segments) == 1}
        beside = [i for i in orderby.items if id(i) in self.derived_paths and self._counted_beside(i, counted, sorting)]
        self._slotted |= {(id(options), i.path.names[0]) for i in beside}
        early = {
            id(item): self._own_key(item, sorting)
            for item in orderby.items
            if item in beside
            or (id(item) in self.derived_paths and self._later_collection(resource, v6_paths[id(item)]))
        }
        for index, item in enumerate(orderby.items):
            key = early[id(item)] if id(item) in early else self._own_key(item, sorting)
            if key is None:
                upstream = self._rest_upstream(orderby.items[index:], index > last_local, keys)
                if upstream:
                    break
                key = self._fallback_key(item, sorting, keys)
            keys.append(key)
        self._finish_local_sort(orderby, plan, sorting, keys, upstream, top=top)

    def _counted_beside(self, item: OrderItem, counted: set[str], sorting: _Sorting) -> bool:
        """Whether a derived key reads through one collection (its first link, no other) that a count key of
        the same ``$orderby`` counts: its join then keeps the collection whole beside the joined member
        (``SortKey.fan_into``), so the count reads every member (``count_sort_key``)."""
        reached = self._link_targets(sorting.resource, sorting.v6_paths[id(item)].split("/"))
        return (
            reached is not None
            and reached[1] == 0
            and reached[2] == item.path.names[0]
            and item.path.names[0] in counted
            and not _client_item(sorting.options, item.path.names[0])
        )

    def _later_collection(self, resource: ResourceInfo, v6_path: str) -> bool:
        """Whether a path's first link is single-valued and a later one leads to many rows."""
        reached = self._link_targets(resource, v6_path.split("/"))
        return reached is not None and reached[1] > 0

    def _own_key(self, item: OrderItem, sorting: _Sorting) -> SortKey | None:
        """The local sort key of one item, read from what the proxy expands (or the client's expansion); None
        for a count or path key the proxy cannot read so (``_fallback_key``)."""
        options, resource, paths = sorting.options, sorting.resource, sorting.v6_paths
        desc = item.effective_direction == "desc"
        if id(item) in sorting.views and id(item) not in self.derived_paths:
            return self._view_sort_key(item, options, resource, paths[id(item)])
        if id(item) in self.derived_paths:
            derived_key = self.derived_path_key(paths[id(item)], options, resource, desc)
            if derived_key is None:
                raise WalkError(
                    400,
                    f"{sorting.label} cannot be used with $orderby on {paths[id(item)]} with its first link also "
                    "in $select, $expand or a $filter path, or a path through a navigation to many rows other "
                    "than its first, through the v6 proxy",
                )
            return derived_key
        n = next((nm for it, nm in sorting.local if it is item), None)
        if n is not None:
            sorting.helpers.update(n.derived.helpers)
            return SortKey(None, n.derived.compute, desc)
        if item.path.count is not None or item.path.lambda_ is not None:
            return self.count_sort_key(item, options, resource, desc)
        if len(item.path.segments) != 1:
            key = self.path_sort_key(item, sorting)
            return self._as_sql_sorts(key, sorting.walked.get(id(item))) if key is not None else None
        sorting.helpers.add(item.path.names[0])
        return SortKey(item.path.names[0], None, desc)

    def _fallback_key(self, item: OrderItem, sorting: _Sorting, keys: list[SortKey]) -> SortKey:
        """A count or path key ``_own_key`` cannot read, before the last key only the proxy sorts: a path
        asked of v7 as a ``$select`` path (``_selected_path_key``), else the clear 400."""
        v6_path = sorting.v6_paths[id(item)]
        first = v6_path.split("/")[0]
        if item.path.count is not None or item.path.lambda_ is not None:
            raise WalkError(
                400,
                f"{sorting.label} cannot be used with $orderby on {v6_path}/$count with {first} expanded with "
                "options that may leave out rows (or a filtered count), or on a lambda, through the v6 proxy",
            )
        refusal = (
            f"{sorting.label} cannot be used with $orderby on {v6_path} with {first} expanded "
            f"with options that may leave out the linked rows, or {first} also in $select or a $filter "
            "path, or a longer path through a navigation to many rows, through the v6 proxy"
        )
        found = sorting.walked.get(id(item))
        desc = item.effective_direction == "desc"
        key = self._joined_path_key(item, sorting)
        if key is None:
            key = self._selected_path_key(item, found, sorting.options, sorting.resource, keys, desc, refusal)
        if key is None:
            raise WalkError(400, refusal)
        return self._as_sql_sorts(key, found)

    def _joined_path_key(self, item: OrderItem, sorting: _Sorting) -> SortKey | None:
        """A key ``collection/link/…/name`` before the last key only the proxy sorts, through a collection no
        other key, $select or $filter path reads through: the proxy joins the collection itself, the links
        expanded inside it (``_fan_out_key``), rather than asking a $select path whose column may share a
        name with another of the row. None otherwise."""
        found, v6_path, options, resource, desc = _item_context(item, sorting)
        v6_names = v6_path.split("/")
        first = self.ctx.lookup(resource, v6_names[0])
        if first is None or first.kind != S.NAV or not first.many or not first.target or len(v6_names) < 3:
            return None
        if not isinstance(found, MemberEnd) or found.name is None or found.name.kind != S.FIELD:
            return None
        if any(seg.key is not None for seg in item.path.segments) or item.path.count is not None:
            return None
        v7_names = [seg.name.text for seg in item.path.segments]
        if (id(options), v7_names[0]) in self._joined:
            return None
        tail = self._tail_keys(resource, v6_names)
        if tail is None:
            return self._nested_join_key(v7_names, v6_names, options, resource, desc)
        keys = [self.ctx.key(self.ctx.res(first.target).v7), *tail]
        return self._fan_out_key(v7_names[:-1], v6_names[0], v7_names[-1], keys, options, resource, desc)

    def _nested_join_key(
        self, v7_names: list[str], v6_names: list[str], options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """``_joined_path_key`` for a path through a second navigation to many rows
        (``collection/collection/name``): v6 joined each, one row per member of the last for every member
        of the first; the proxy expands the links nested and joins them one after the other (``SortKey.fan_out``
        ``a/b``; the joined rows count against ``max_local_sort_rows``). None where a link is not a navigation
        or a ``$select``/``$filter`` path shares the first collection's join."""
        steps = self._link_steps(resource, v6_names[:-1])
        if steps is None or self._joined_elsewhere(v7_names[0], v6_names[0], options):
            return None
        navs, leaf = v7_names[:-1], v7_names[-1]
        new: ExpandItem | None = None
        for level in reversed(range(len(navs))):
            new = _selecting(navs[level], leaf if new is None else steps[level][0], new)
        assert new is not None and new.options is not None
        new.options.add(TopOption(self.ctx.max_local_sort_rows + 1))  # (the joined rows are counted as they come)
        last_many = max(i for i, (_key, many) in enumerate(steps) if many)
        options.add_expand(new)
        self._joined[(id(options), navs[0])] = new
        self.ctx.sort_links.setdefault(id(options), {})[navs[0]] = None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, _at_path(tuple(navs), leaf), desc, fan_out="/".join(navs[: last_many + 1]))

    def _link_steps(self, resource: ResourceInfo, v6_links: list[str]) -> list[tuple[str, bool]] | None:
        """For each link of a path: the v7 key of the row it leads to and whether it leads to many rows; None
        where one is not a navigation."""
        cur = resource
        steps: list[tuple[str, bool]] = []
        for name in v6_links:
            n = self.ctx.lookup(cur, name)
            if n is None or n.kind != S.NAV or not n.target:
                return None
            cur = self.ctx.res(n.target)
            steps.append((self.ctx.key(cur.v7), n.many))
        return steps

    def _finish_local_sort(
        self,
        orderby: OrderByOption,
        plan: ObjectPlan,
        sorting: _Sorting,
        keys: list[SortKey],
        upstream: list[OrderItem],
        *,
        top: bool,
    ) -> None:
        """The sort keys into the plan, the $orderby v7 still sees (none, or ``upstream``), the paging."""
        ctx, options, resource, local = self.ctx, sorting.options, sorting.resource, sorting.local
        if upstream:
            for item in orderby.items[: len(orderby.items) - len(upstream)]:
                orderby.remove(item)
            ctx.feature(f"{resource.name}.local_sort_path")
        else:
            options.remove(orderby)
        plan.sort = tuple(keys)
        ctx.local_sort_names[id(options)] = [n.v6 for it, n in local if id(it) not in self.derived_paths]
        ctx.feature(f"{resource.name}.{sorting.label}.local_sort")
        if ctx.local_sort_label is None or top:
            ctx.local_sort_label = (local[0][1].derived.local_sort_label if local else None) or sorting.label
        if top:
            self._page_locally(options, plan)
        else:
            self._page_per_parent(options, plan)

    def _rest_upstream(self, rest: list[OrderItem], after_local: bool, keys: list[SortKey]) -> list[OrderItem]:
        """The sort keys from one the proxy cannot read onwards, left to v7's ``$orderby`` where that is exact:
        they all follow the last key only the proxy can sort (so v7 sorts every one of them, renamed already),
        and none reads through a collection a local key joins (pinejs would share that join). v7 orders the
        rows by them (joining as v6 joined), and the proxy's stable sort by the keys before them keeps that
        order among equal keys: the order of the whole ``$orderby``. Empty: not possible."""
        if not after_local:
            return []
        joined = {sk.fan_out.split("/")[0] for sk in keys if sk.fan_out is not None}
        if any(item.path.segments and item.path.segments[0].name.text in joined for item in rest):
            return []
        return list(rest)

    def _selected_path_key(
        self,
        item: OrderItem,
        found: PathEnd | None,
        options: OptionList,
        resource: ResourceInfo,
        keys: list[SortKey],
        desc: bool,
        refusal: str,
    ) -> SortKey | None:
        """A key ``link/…/name`` the proxy can neither expand nor read from the client's expansion, asked of v7
        as a ``$select`` path: pinejs LEFT JOINs it into the query (sharing one join per navigation path with
        the ``$filter`` and the other ``$select`` paths, as v6 shared it with the sort key) and answers the
        joined value under the name's own key, a row per joined row. Without the client's $select the request
        names every field it reads instead (``_every_field``) and the joined column is hidden again. Only where
        no other column of the row has that name (OData has no alias for a $select path: pinejs would answer
        both columns under one key, the later one's value): the names the walk adds later (helpers, a later
        key) are checked once the $select is complete (``Walk.check_path_columns``, ``refusal`` then); none
        through a collection a local key joins itself."""
        select = options.select
        if not isinstance(found, MemberEnd) or found.name is None:
            return None
        if not self._sortable(found) or any(seg.key is not None for seg in item.path.segments):
            return None
        v7_names = [seg.name.text for seg in item.path.segments]  # renamed by walk_path
        leaf = v7_names[-1]
        if {sk.fan_out.split("/")[0] for sk in keys if sk.fan_out is not None} & {v7_names[0]}:
            return None
        if self._column_type(found) not in _RAW_SORTS_AS_SQL | _DIGITS:
            return None  # the joined value comes raw from the database driver: only types it sorts alike
        if _joins_too_early(options, item, v7_names):
            return None
        full = select is None or select.star
        if select is not None and not full and any(p.names == v7_names for p in select.items):
            return SortKey(leaf, None, desc)  # the client selects the same path: its value is in the row
        if select is None or full:
            select = self._every_field(options, resource)
            self.ctx.sort_links.setdefault(id(options), {})[leaf] = None  # the joined column, not shown
        select.add("/".join(v7_names))
        self.ctx.path_columns.setdefault(id(options), []).append((leaf, refusal))
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(leaf, None, desc)

    def _sortable(self, found: MemberEnd) -> bool:
        """A path key the proxy sorts by from v7 values: a plain field, or one v6 shows converted whose v7
        value is the same number as decimal text (``_as_sql_sorts``)."""
        kind = found.name.kind if found.name is not None else None
        return kind == S.FIELD or (kind == S.COERCE and self._column_type(found) in _DIGITS)

    def _column_type(self, found: PathEnd | None) -> str | None:
        """The v7 type of the column a member path ends in (``Big Integer``, ``Date Time``, …)."""
        if not isinstance(found, MemberEnd) or found.name is None:
            return None
        column = self.ctx.schema.v7graph.get(found.owner.v7, {}).get("fields", {}).get(found.name.v7 or found.name.v6)
        return column.split(" | ")[0].split(":")[0] if isinstance(column, str) else None

    def _as_sql_sorts(self, key: SortKey, found: PathEnd | None) -> SortKey:
        """A path key over a column whose value comes as decimal text (``Big Integer``: 64-bit numbers the
        database driver hands on as strings) sorts by the number, as SQL sorts the column."""
        if self._column_type(found) not in _DIGITS:
            return key
        read = key.compute
        src = key.src

        def compute(row: dict[str, Any]) -> Any:
            return _number(read(row) if read is not None else row.get(src) if src is not None else None)

        return replace(key, src=None, compute=compute)

    def _every_field(self, options: OptionList, resource: ResourceInfo) -> SelectOption:
        """No $select: pinejs answers every field of the resource (odata-to-abstract-sql ``AddSelectFields``
        takes ``resource.fields`` when there is no $select, and the same fields by name when a $select names
        them; either way less the names an expansion takes). So the request names every v7 field the proxy's
        answer without a $select reads (``full_sources``) and a $select path can be added; the plan still
        writes every v6 key (``WalkContext.full_selects``), the joined column is hidden again."""
        star = options.select
        if star is not None:
            options.remove(star)
        select = SelectOption([TreePath.of(name) for name in full_sources(self.ctx, resource)])
        options.add(select)
        self.ctx.full_selects[id(options)] = select
        return select

    def _page_locally(self, options: OptionList, plan: ObjectPlan) -> None:
        """The proxy pages what it sorts: $top/$skip move into the plan, v7 is asked for one row more than
        the proxy sorts (to tell an overflow)."""
        top_opt = options.get("$top")
        skip_opt = options.get("$skip")
        plan.top = top_opt.value if isinstance(top_opt, TopOption) else None
        plan.skip = skip_opt.value if isinstance(skip_opt, SkipOption) else None
        if skip_opt is not None:
            options.remove(skip_opt)
        limit = self.ctx.max_local_sort_rows
        if top_opt is not None:
            options.remove(top_opt)
        options.add(TopOption(limit + 1))
        plan.local_limit = limit
        for opt in options.all("$top")[:-1]:
            options.remove(opt)
        for opt in options.all("$skip"):
            options.remove(opt)

    def _page_per_parent(self, options: OptionList, plan: ObjectPlan) -> None:
        """Inside ``$expand`` the proxy sorts and pages each parent's rows itself (the applier sorts every
        expanded list on its own): the client's $top/$skip move into the plan, and v7 is asked for at most one
        row more per parent than the proxy may sort; the whole answer is counted against the same limit."""
        top_opt = options.get("$top")
        skip_opt = options.get("$skip")
        plan.top = top_opt.value if isinstance(top_opt, TopOption) else None
        plan.skip = skip_opt.value if isinstance(skip_opt, SkipOption) else None
        for opt in [*options.all("$top"), *options.all("$skip")]:
            options.remove(opt)
        limit = self.ctx.max_local_sort_rows
        options.add(TopOption(limit + 1))
        plan.local_limit = limit
        self.ctx.feature(f"{plan.resource}.local_sort_per_parent")

    def count_sort_key(
        self, item: OrderItem, options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """A local sort key ``nav/$count[($filter=…)]`` (already renamed and its filter translated): the proxy
        expands the count itself and reads the number from the row (the key is stripped again). None where the
        client expands that navigation itself other than ``_count_from_client`` reads, or for a longer path or a
        lambda."""
        path = item.path
        if path.count is None or len(path.segments) != 1 or path.segments[0].key is not None:
            return None
        nav = path.segments[0].name.text
        expand = options.expand
        joined = self._joined.get((id(options), nav))
        if (id(options), nav) in self._slotted and joined is not None:
            # the proxy's whole expansion, joined beside the collection (_counted_beside): its rows counted
            return self._count_joined(nav, path.count.filter, joined, resource, desc)
        if expand is not None and nav in {i.name.text for i in expand.items}:
            return self._count_from_client(nav, path.count.filter, options, resource, desc)
        counted = OptionList(nested=True)
        if path.count.filter is not None:
            counted.add(FilterOption(path.count.filter))
        new = ExpandItem(TreeName(nav), count=True, options=counted if counted.options else None)
        options.add_expand(new)
        self.ctx.sort_links.setdefault(id(options), {})[nav] = None
        self.ctx.feature("local_sort_count")
        return SortKey(None, _count_of(nav), desc)

    def _count_joined(
        self, nav: str, counted: Expr | None, joined: ExpandItem, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """A ``nav/$count`` key read from the proxy's own whole expansion of ``nav`` (``_counted_beside``): the
        number of its rows, or of those a ``$filter`` the proxy decides holds for (the fields it reads added to
        the expansion's $select). None for a ``$filter`` the proxy cannot decide."""
        self.ctx.feature("local_sort_count")
        if counted is None:
            return SortKey(None, _rows_of(nav), desc)
        target = self.ctx.schema.v7graph.get(resource.v7, {}).get("navigation", {}).get(nav)
        reads = decided_reads(self.ctx, counted, target) if isinstance(target, str) else None
        select = joined.options.select if joined.options is not None else None
        if reads is None or select is None or not isinstance(target, str):
            return None
        for name in reads:
            if name not in {p.serialize() for p in select.items}:
                select.add(name)
        return SortKey(None, _rows_where(nav, keeps(counted.serialize(), date_columns(self.ctx, target, reads))), desc)

    def _count_from_client(
        self, nav: str, counted: Expr | None, options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """A ``nav/$count`` key read from the client's own expansion of ``nav`` where that holds every related
        row (no $filter/$top/$skip, or asked whole by ``walk_gates``): the number of its rows, or the number it
        counted; with a ``$filter`` the proxy decides itself (``counted``, v7), the number of its rows where
        that holds (the fields it reads added to the expansion's $select and cut back again). Also where the
        client pages an expansion the proxy sorts itself: v7 is asked for every member (``_every_member``)."""
        expand = options.expand
        found = [i for i in expand.items if i.name.text == nav] if expand is not None else []
        item = found[0] if len(found) == 1 and found[0].tail is None else None
        opts = item.options if item is not None else None
        whole = self.ctx.whole_links.get(id(options), {}).get(nav)
        own_sort = item is not None and isinstance(whole, ObjectPlan) and self._every_member(item, whole)
        paged = opts is not None and any(opts.get(k) is not None for k in ("$filter", "$top", "$skip"))
        if item is None or (paged and not own_sort):
            return None
        self.ctx.feature("local_sort_count")
        if counted is None:
            return SortKey(None, _count_of(nav) if item.count else _rows_of(nav), desc)
        target = self.ctx.schema.v7graph.get(resource.v7, {}).get("navigation", {}).get(nav)
        reads = decided_reads(self.ctx, counted, target) if isinstance(target, str) and not item.count else None
        plan = self.ctx.whole_links.get(id(options), {}).get(nav)
        if reads is None or not isinstance(plan, ObjectPlan):
            return None
        select = opts.select if opts is not None else None
        if select is not None and not select.star:
            for name in reads:
                if name not in {p.serialize() for p in select.items}:
                    select.add(name)
            plan.trivial = False  # the widened rows are cut back to the client's $select
        return SortKey(None, _rows_where(nav, keeps(counted.serialize(), date_columns(self.ctx, target, reads))), desc)

    def path_sort_key(self, item: OrderItem, sorting: _Sorting) -> SortKey | None:
        """A local sort key at the end of a path of single-valued navigations (``link/name``): the proxy sorts
        v7 rows, so it expands the path itself (selecting only the value) and reads the value from there, or
        from the client's own expansion of the link where that holds the linked row. None: not possible."""
        found, v6_path, options, resource, desc = _item_context(item, sorting)
        helpers, children = sorting.helpers, sorting.children
        if not isinstance(found, MemberEnd) or found.name is None or not self._sortable(found):
            return None
        v7_names = [seg.name.text for seg in item.path.segments]  # renamed by walk_path
        navs, leaf = v7_names[:-1], v7_names[-1]
        expand = options.expand
        if navs[0] in helpers:
            return None  # a helper's own expansion of the link
        shared = self.ctx.derived_links.get((id(options), navs[0]))
        joined = self._joined.get((id(options), navs[0])) or (shared[2] if shared is not None else None)
        if isinstance(joined, ExpandItem):
            own = joined is self._joined.get((id(options), navs[0]))
            slotted = (id(options), navs[0]) in self._slotted
            return self._same_join(joined, navs, leaf, v6_path, resource, desc, own=own, slotted=slotted)
        if found.name.kind != S.FIELD:
            return None  # a converted number: v7's order after the last proxy-only key, else a $select path
        first_v6 = v6_path.split("/")[0]
        first = self.ctx.lookup(resource, first_v6)
        if expand is not None and navs[0] in {i.name.text for i in expand.items}:
            if first is not None and first.kind == S.NAV and first.many:
                return self._member_key(navs, leaf, v6_path, options, resource, children, desc)
            return self._from_client_expand(navs, leaf, v6_path, expand, resource, children, desc)
        if first is not None and first.kind == S.NAV and first.many:
            keys: list[str] = []
            if len(navs) != 1:
                # a longer path is v7's (or a $select path) unless a derived key through the collection needs
                # the proxy's own join of it, which this key's then is (``derived_path_key`` takes it over)
                tail = self._tail_keys(resource, v6_path.split("/")) if first_v6 in self._derived_through else None
                if tail is None or not first.target:
                    return None
                keys = [self.ctx.key(self.ctx.res(first.target).v7), *tail]
            return self._fan_out_key(navs, first_v6, leaf, keys, options, resource, desc)
        return self._expand_path_key(navs, leaf, v6_path, options, resource, desc)

    def _expand_path_key(
        self, navs: list[str], leaf: str, v6_path: str, options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """``path_sort_key`` through single-valued links the client does not expand: the proxy expands them
        (selecting only the value, and the keys on the way) and strips them again. Without $select, or with
        the link selected, the rows show the link as a reference: it is expanded all the same and the
        reference rebuilt from the expanded row (``link_op``). None where a link is not single-valued."""
        select = options.select
        shown = select is None or select.star or navs[0] in {p.names[0] for p in select.items if p.segments}
        cur = resource
        targets: list[str] = []
        for name in v6_path.split("/")[:-1]:
            n = self.ctx.lookup(cur, name)
            if n is None or n.kind != S.NAV or n.many or not n.target:
                return None
            cur = self.ctx.res(n.target)
            targets.append(cur.v7)
        if len(navs) == 1:
            new = _selecting(navs[0], self.ctx.key(targets[0]), extra=leaf) if shown else _selecting(navs[0], leaf)
        else:
            new = _selecting(navs[-1], leaf)
            for nav, target in reversed(list(zip(navs[:-1], targets[:-1], strict=True))):
                new = _selecting(nav, self.ctx.key(target), new)
        if shown:
            if select is not None and not select.star:
                for p in [p for p in select.items if p.names == [navs[0]]]:
                    select.remove(p)  # expanded instead; the reference is rebuilt from the expanded row
            first = self.ctx.lookup(resource, v6_path.split("/")[0])
            assert first is not None and first.target is not None
            self.ctx.sort_links.setdefault(id(options), {})[navs[0]] = (self.ctx.key(targets[0]), first.target)
            self.ctx.feature(f"{resource.name}.local_sort_link_rebuilt")
        options.add_expand(new)
        self._joined[(id(options), navs[0])] = new  # later keys through the link share it (_same_join)
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, _at_path(tuple(navs), leaf), desc)

    def _from_client_expand(
        self,
        navs: list[str],
        leaf: str,
        v6_path: str,
        expand: ExpandOption,
        resource: ResourceInfo,
        children: dict[str, ObjectPlan | None],
        desc: bool,
    ) -> SortKey | None:
        """A sort key ``link/…/name`` read from the client's own expansion of a single-valued ``link``: exact
        where that expansion holds the linked row as v6's join saw it (``keeps_the_linked_row``, not a count);
        the name (and the links after the first, ``_client_tail``) is added to it, and the rows the client sees
        are cut back to what it asked for."""
        first = self.ctx.lookup(resource, v6_path.split("/")[0])
        if first is None or first.kind != S.NAV or first.many or not first.target:
            return None
        item = next((i for i in expand.items if i.name.text == navs[0]), None)
        child = children.get(navs[0])
        if item is None or item.count or item.tail is not None or not keeps_the_linked_row(item.options):
            return None
        if child is None or not self._client_tail(item, child, first.target, v6_path.split("/")[1:], [*navs[1:], leaf]):
            return None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, _at_path(tuple(navs), leaf), desc)

    def _client_tail(
        self, item: ExpandItem, plan: ObjectPlan, target: str, v6_rest: list[str], rest: list[str]
    ) -> bool:
        """Adds the rest of a sort key's path (``rest``, v7; ``v6_rest`` in v6, from the v6 resource ``target``
        the client's expansion ``item`` holds) to that expansion: the name at its end to its $select, a link to
        a nested expansion (the client's own where it holds the linked row, else one the proxy adds, holding
        the key of each row on the way). ``plan`` (the expansion's) is cut back to what the client asked for, a
        reference it shows to a link now expanded rebuilt from the expanded row. False where a link on the way
        is not single-valued or the client's nested expansion of it may leave out its row."""
        plan.trivial = False  # the widened rows are cut back to the client's own
        if len(rest) == 1:
            select = item.options.select if item.options is not None else None
            if select is not None and not select.star and rest[0] not in {p.serialize() for p in select.items}:
                select.add(rest[0])
            return True
        opts = item.ensure_options()
        n = self.ctx.lookup(self.ctx.res(target), v6_rest[0])
        if n is None or n.kind != S.NAV or n.many or not n.target:
            return False
        nav = rest[0]
        inner = (
            _client_item(opts, nav)
            if opts.expand is not None and any(i.name.text == nav for i in opts.expand.items)
            else None
        )
        if inner is not None:
            child = next((op.arg for op in plan.ops if op.kind == CHILD and op.src == nav), None)
            if not isinstance(child, ObjectPlan) or not keeps_the_linked_row(inner.options):
                return False
            return self._client_tail(inner, child, n.target, v6_rest[1:], rest[1:])
        if opts.expand is not None and any(i.name.text == nav for i in opts.expand.items):
            return False  # a count or tail path of that link
        keys = self._single_keys(target, v6_rest[:-1])
        if keys is None:
            return False
        new = _selecting(rest[-2], rest[-1])
        for link, key in reversed(list(zip(rest[:-2], keys[:-1], strict=True))):
            new = _selecting(link, key, new)
        opts.add_expand(new)
        if plan.open_ended or any(op.src == nav for op in plan.ops):
            reference: dict[str, tuple[str, str] | None] = {nav: (self.ctx.key(self.ctx.res(n.target).v7), n.target)}
            plan.ops = [link_op(op, reference) for op in plan.ops]
            plan.finish(plan.known | {nav})
        return True

    def _member_key(
        self,
        navs: list[str],
        leaf: str,
        v6_path: str,
        options: OptionList,
        resource: ResourceInfo,
        children: dict[str, ObjectPlan | None],
        desc: bool,
    ) -> SortKey | None:
        """A sort key ``collection/…/name`` through a collection the client expands: v6 (pinejs) LEFT JOINed
        the collection for the key, one row per member, each row still holding the client's whole expansion (a
        subquery of its own). Where that expansion holds every member (``keeps_every_member``) and no $select or
        $filter path shares the join, the proxy joins the rows to it itself: each copy keeps the expansion and
        holds its member beside it (``member_slot``, dropped again); the name (and the single-valued links on
        from the member, ``_client_tail``) is added to the expansion and its rows cut back to the client's."""
        nav = navs[0]
        v6_names = v6_path.split("/")
        first = self.ctx.lookup(resource, v6_names[0])
        if first is None or not first.target or self._joined_elsewhere(nav, v6_names[0], options):
            return None
        item = _client_item(options, nav)
        child = children.get(nav)
        if item is None or child is None or not self._every_member(item, child):
            return None
        if not self._client_tail(item, child, first.target, v6_names[1:], [*navs[1:], leaf]):
            return None
        slot = member_slot(nav)
        self.ctx.sort_links.setdefault(id(options), {})[slot] = None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, _at_path((slot, *navs[1:]), leaf), desc, fan_out=nav, fan_into=slot)

    def _every_member(self, item: ExpandItem, plan: ObjectPlan) -> bool:
        """Whether the client's expansion holds every member (``keeps_every_member``: no $filter, $top or
        $skip; in any order of its own, as the rows a parent is joined to show the same parent and the same
        whole expansion and differ only by the keys the proxy sorts them by). Where the proxy sorts the
        expansion itself (``plan``: its plan), v7 is asked for every member (a ``$top`` of one more than
        ``max_local_sort_rows``: more overflow it) and the client's ``$top``/``$skip`` page the rows shown."""
        if keeps_every_member(item.options):
            return True
        opts = item.options
        top = opts.get("$top") if opts is not None else None
        own = isinstance(top, TopOption) and top.value == self.ctx.max_local_sort_rows + 1
        mine = plan.local_limit is not None
        return own and mine and opts is not None and all(opts.get(k) is None for k in ("$filter", "$skip"))

    def derived_path_key(self, v6_path: str, options: OptionList, resource: ResourceInfo, desc: bool) -> SortKey | None:
        """A sort key ending in a derived value along a path (``link/derived``, or through a collection
        as its first link, ``collection/derived``): the links expanded down to a row holding only that
        value (walked as the client's own $expand would be: helpers, view restrictions), the value read from
        the planned row; a collection is joined (one row per member, as v6's join). Where the rows show the
        first link as a reference, it is rebuilt from the expansion; a collection an earlier key joined
        (``_fan_out_key``) is joined once, by this key's expansion. None where the first link is also the
        client's (selected with a path, expanded other than whole, or a collection read through in a $filter
        path)."""
        names = v6_path.split("/")
        reached = self._link_targets(resource, names)
        if reached is None:
            return None
        targets, first_many, fan_out = reached
        many = first_many == 0  # the first link leads to many rows
        first = self.ctx.lookup(resource, names[0])
        assert first is not None and first.target is not None and self.expand_item is not None
        v7_first = first.v7 or names[0]
        select = options.select
        expand = options.expand
        shared = self._shared_read(names, v7_first, options, resource, desc)
        if shared is not None:
            return shared
        prior = self._joined.get((id(options), v7_first))
        if prior is not None and expand is not None and any(i is prior for i in expand.items):
            expand.remove(prior)  # an earlier key's expansion of the link: this key's expansion holds it too
        else:
            prior = None
        if expand is not None and {names[0], v7_first} & {i.name.text for i in expand.items}:
            if first_many > 0:
                return self._member_in_client(names, v7_first, options, resource, desc)
            return self._derived_from_client(names, v7_first, options, resource, desc, many=many)
        if many and self._joined_elsewhere(v7_first, names[0], options):
            return None
        if first_many > 0 and _reads_through(options, names[0], v7_first):
            return None  # a $select/$filter path through the link shares (or breaks, _join_fails) its join
        shown = not many and self._shows_link(options, names[0], v7_first)
        item = self._derived_expansion(names, targets, shown=shown, many_at=first_many)
        if shown and select is not None and not select.star:
            for p in [p for p in select.items if p.names[0] in (names[0], v7_first) and len(p.segments) == 1]:
                select.remove(p)  # expanded instead; the reference is rebuilt from the expanded row
        expand = options.add_expand(item)
        op = self.expand_item(item, resource, expand)
        if op is None or op.arg is None or op.src is None:
            return None
        # one expansion of the link for every key through it (_same_join), as pinejs joins it once
        if not _merge_join(prior, item):
            return None
        self._joined[(id(options), v7_first)] = item
        link = (self.ctx.key(targets[0].v7), first.target) if shown else None
        self.ctx.sort_links.setdefault(id(options), {})[op.src] = link
        if shown:
            self.ctx.feature(f"{resource.name}.local_sort_link_rebuilt")
        self.ctx.feature(f"{resource.name}.local_sort_path")
        if (id(options), v7_first) in self._slotted:  # joined beside the whole collection (_counted_beside)
            slot = member_slot(op.src)
            self.ctx.sort_links.setdefault(id(options), {})[slot] = None
            return SortKey(None, planned_at(slot, op.arg, tuple(names[1:])), desc, fan_out=op.src, fan_into=slot)
        return SortKey(None, planned_at(op.src, op.arg, tuple(names[1:])), desc, fan_out=fan_out)

    def _derived_from_client(
        self, names: list[str], link: str, options: OptionList, resource: ResourceInfo, desc: bool, *, many: bool
    ) -> SortKey | None:
        """``derived_path_key`` where the client expands the first link: read from its expansion (every member
        of a collection, ``_derived_member_key``; the linked row, ``client_read``; a longer path expanded inside
        it, ``nested_read``). None where it cannot be."""
        if many:
            return self._derived_member_key(names, link, options, resource, desc)
        read = client_read(self.ctx, options, resource, names)
        if read is not None:
            self.ctx.feature(f"{resource.name}.local_sort_path")
            return SortKey(None, planned_at(read[0], read[1], tuple(names[1:])), desc)
        nested = self.nested_read(options, resource, names) if self.nested_read is not None else None
        if nested is None:
            return None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, nested, desc)

    def _member_in_client(
        self, names: list[str], link: str, options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """``link/collection/<derived>`` where the client expands the single-valued ``link`` whole but not the
        collection inside it: v6 joined the link and then the collection for the key, the client's expansion a
        subquery of its own. The proxy expands the collection inside the client's expansion (walked as the
        client's own would be: helpers), joins the rows to its members (``SortKey.fan_out`` ``link/collection``:
        each copy's linked row holds one member) and hides the collection again. None otherwise (a longer path,
        a $select/$filter path through the link, the client's expansion not whole or expanding the collection)."""
        plan = self.ctx.whole_links.get(id(options), {}).get(link)
        item = _client_item(options, link)
        first = self.ctx.lookup(resource, names[0])
        if len(names) != 3 or not isinstance(plan, ObjectPlan) or item is None or first is None or not first.target:
            return None
        if _reads_through(options, names[0], link) or self.expand_item is None:
            return None
        target = self.ctx.res(first.target)
        n = self.ctx.lookup(target, names[1])
        if n is None or n.kind != S.NAV or not n.many or not n.target:
            return None
        opts = item.ensure_options()
        if opts.expand is not None and {names[1], n.v7 or names[1]} & {i.name.text for i in opts.expand.items}:
            return None
        new = self._derived_expansion(names[1:], [self.ctx.res(n.target)], shown=False, many_at=0)
        op = self.expand_item(new, target, opts.add_expand(new))
        if op is None or op.kind != CHILD or op.src is None or not isinstance(op.arg, ObjectPlan):
            return None
        plan.finish(plan.known | {op.src})  # the collection is the proxy's: never shown
        plan.trivial = False
        self.ctx.feature(f"{resource.name}.local_sort_path")
        read = along((link,), planned_at(op.src, op.arg, (names[2],)))
        return SortKey(None, read, desc, fan_out=f"{link}/{op.src}")

    def _shows_link(self, options: OptionList, v6_link: str, link: str) -> bool:
        """Whether the rows show a single-valued link as a reference: no $select, the link selected, or an
        earlier key's expansion rebuilds it already."""
        select = options.select
        rebuilt = self.ctx.sort_links.get(id(options), {}).get(link)
        return (
            select is None
            or select.star
            or isinstance(rebuilt, tuple)
            or bool({v6_link, link} & {p.names[0] for p in select.items if len(p.segments) == 1})
        )

    def _shared_read(
        self, names: list[str], link: str, options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """A derived key through a single-valued link a ``$select`` path already expanded for the same value
        (``$select=link/name&$orderby=link/name``, ``WalkContext.derived_links``): read from that expansion.
        None where there is none, or its rows do not hold the value."""
        shared = self.ctx.derived_links.get((id(options), link))
        if shared is None or not _writes(shared[1], names[1:]):
            return None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, planned_at(shared[0], shared[1], tuple(names[1:])), desc)

    def _derived_member_key(
        self, names: list[str], nav: str, options: OptionList, resource: ResourceInfo, desc: bool
    ) -> SortKey | None:
        """``collection/<derived>`` through a collection the client expands with every member: read from the
        member each joined row holds beside the client's expansion (as ``_member_key``), computed by the plan
        of that expansion (the value added to it and hidden again, ``walk_select.prepare_client_reads``). None
        where a longer path, a shared join or the client's options leave that impossible."""
        plan = self.ctx.whole_links.get(id(options), {}).get(nav)
        if len(names) != 2 or self._joined_elsewhere(nav, names[0], options) or not isinstance(plan, ObjectPlan):
            return None
        item = _client_item(options, nav)
        if item is None or not self._every_member(item, plan) or not any(op.key == names[1] for op in plan.ops):
            return None
        slot = member_slot(nav)
        self.ctx.sort_links.setdefault(id(options), {})[slot] = None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        # the member's value by the expansion's plan, not paged (its own sort pages the client's rows)
        read = planned_at(slot, replace(plan, ops=list(plan.ops), builders={}, top=None, skip=None), (names[1],))
        return SortKey(None, read, desc, fan_out=nav, fan_into=slot)

    def _link_targets(
        self, resource: ResourceInfo, names: list[str]
    ) -> tuple[list[ResourceInfo], int, str | None] | None:
        """Where each link of a path (all but its last name) leads, the place of the first that leads to many
        rows (-1: none), and the collections a row is joined to (``SortKey.fan_out``: the v7 links up to the
        last to many rows; a single-valued link before it joins one row or none, as SQL's LEFT JOIN does);
        None where one is not a navigation."""
        cur = resource
        targets: list[ResourceInfo] = []
        v7_links: list[str] = []
        first_many = last_many = -1
        for i, name in enumerate(names[:-1]):
            n = self.ctx.lookup(cur, name)
            if n is None or n.kind != S.NAV or not n.target:
                return None
            last_many = i if n.many else last_many
            first_many = i if n.many and first_many < 0 else first_many
            v7_links.append(n.v7 or name)
            cur = self.ctx.res(n.target)
            targets.append(cur)
        return targets, first_many, "/".join(v7_links[: last_many + 1]) if last_many >= 0 else None

    def _derived_expansion(
        self, names: list[str], targets: list[ResourceInfo], *, shown: bool, many_at: int
    ) -> ExpandItem:
        """``derived_path_key``'s expansion of the links of ``names`` (``targets``: where each leads): the
        last selects the value, each before it the key of its row and the next link; the first also its key
        where the rows show it (``shown``), and the first leading to many rows (at ``many_at``) at most one
        member more than the proxy sorts (more would overflow the joined rows' limit anyway)."""
        item: ExpandItem | None = None
        for level, (name, target) in reversed(list(enumerate(zip(names[:-1], targets, strict=True)))):
            nested = OptionList(nested=True)
            chosen = [names[-1]] if item is None else [self.ctx.key(target.v7)]
            if level == 0 and shown and self.ctx.key(target.v7) not in chosen:
                chosen.append(self.ctx.key(target.v7))
            nested.add(SelectOption([TreePath.of(c) for c in chosen]))
            if item is not None:
                nested.add(ExpandOption([item]))
            if level == many_at:
                nested.add(TopOption(self.ctx.max_local_sort_rows + 1))
            item = ExpandItem(TreeName(name), options=nested)
        assert item is not None
        return item

    def _same_join(
        self,
        joined: ExpandItem,
        navs: list[str],
        leaf: str,
        v6_path: str,
        resource: ResourceInfo,
        desc: bool,
        *,
        own: bool = True,
        slotted: bool = False,
    ) -> SortKey | None:
        """A second key through the link or collection an earlier key joined (``tags/key,tags/value``, or a
        path of links on from it, ``tags/link/name``, ``link/collection/name``): pinejs joins a navigation path
        once per query, so both read the same row; the proxy's expansion selects the name too (or expands the
        links inside it, sharing an expansion another key made) and the key reads it from the row each joined
        row holds, joined to every collection on the way (one row per member, as v6's join). None where the
        expansion is not the proxy's own (``own``; a derived ``$select`` path's) and a link after the first
        leads to many rows; ``slotted``: the collection is joined beside its whole expansion (``_counted_beside``),
        the key reads the member held beside it (a link to many rows after it: None)."""
        if joined.options is None or joined.options.select is None:
            return None
        steps = self._link_steps(resource, v6_path.split("/")[:-1])
        many_at = [i for i, (_key, more) in enumerate(steps or []) if more]
        if (not own or slotted) and any(i > 0 for i in many_at):
            return None
        bound = self.ctx.max_local_sort_rows + 1
        if steps is None or not _join_tail(joined.options, navs[1:], [key for key, _many in steps[1:-1]], leaf, bound):
            return None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        if slotted:
            slot = member_slot(navs[0])
            return SortKey(None, _at_path((slot, *navs[1:]), leaf), desc, fan_out=navs[0], fan_into=slot)
        fan_out = "/".join(navs[: many_at[-1] + 1]) if many_at else None
        return SortKey(None, _at_path(tuple(navs), leaf), desc, fan_out=fan_out)

    def _single_keys(self, target: str, v6_links: list[str]) -> list[str] | None:
        """The v7 key of the row each of the links ``v6_links`` leads to, one after the other from the v6
        resource ``target``; None where one is not a single-valued navigation."""
        cur = self.ctx.res(target)
        keys: list[str] = []
        for name in v6_links:
            n = self.ctx.lookup(cur, name)
            if n is None or n.kind != S.NAV or n.many or not n.target:
                return None
            cur = self.ctx.res(n.target)
            keys.append(self.ctx.key(cur.v7))
        return keys

    def _tail_keys(self, resource: ResourceInfo, v6_names: list[str]) -> list[str] | None:
        """The v7 keys of the rows the links after the first of a sort key's path lead to, but the last
        (what an expansion of each selects); None where one leads to many rows or is not a navigation."""
        first = self.ctx.lookup(resource, v6_names[0])
        if first is None or first.kind != S.NAV or not first.target:
            return None
        cur = self.ctx.res(first.target)
        keys: list[str] = []
        for name in v6_names[1:-1]:
            n = self.ctx.lookup(cur, name)
            if n is None or n.kind != S.NAV or n.many or not n.target:
                return None
            cur = self.ctx.res(n.target)
            keys.append(self.ctx.key(cur.v7))
        return keys[:-1]

    def _joined_elsewhere(self, nav: str, v6_nav: str, options: OptionList) -> bool:
        """Whether the client's $select (``nav`` or a path through it) or a ``$filter`` path reads through the
        collection ``nav``: pinejs would share one join with the sort key. (Through a single-valued link a
        shared join holds the same row: no matter.)"""
        select = options.select
        if select is not None and any(p.names[0] in (nav, v6_nav) for p in select.items if p.segments):
            return True
        flt = options.get("$filter")
        return isinstance(flt, FilterOption) and any(
            isinstance(node, TreePath) and len(node.segments) > 1 and node.names[0] in (nav, v6_nav)
            for node in iter_nodes(flt)
        )

    def _fan_out_key(
        self,
        navs: list[str],
        v6_nav: str,
        leaf: str,
        keys: list[str],
        options: OptionList,
        resource: ResourceInfo,
        desc: bool,
    ) -> SortKey | None:
        """A local sort key through a navigation to many rows (``collection/name``): v6 (pinejs) joined it,
        one answer row per related row (the row once, its key NULL, where there is none), so the proxy expands
        the collection (at most one more member than it may sort) and joins it to the rows before sorting and
        paging. None where the join would not be the query's only one through that navigation: the client
        selects it, or a ``$filter`` path reads through it (pinejs shares one join between them). A path of
        single-valued links on from a member (``keys``: what the collection and each link but the last select)
        expands them inside the collection's expansion."""
        nav = navs[0]
        if self._joined_elsewhere(nav, v6_nav, options):
            return None
        new = _selecting(navs[-1], leaf)
        for link, key in reversed(list(zip(navs[:-1], keys, strict=True))):
            new = _selecting(link, key, new)
        assert new.options is not None
        new.options.add(TopOption(self.ctx.max_local_sort_rows + 1))
        self._joined[(id(options), nav)] = new
        options.add_expand(new)
        self.ctx.sort_links.setdefault(id(options), {})[nav] = None
        self.ctx.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, _at_path(tuple(navs), leaf), desc, fan_out=nav)


def full_sources(ctx: WalkContext, resource: ResourceInfo) -> list[str]:
    """The v7 fields the answer without a $select reads (the v7 names of the v6 keys, the helpers of the
    derived values), in the v7 key order: what that answer is made of, and nothing the upstream may lack."""
    needed: set[str] = set()
    for key in resource.key_order:
        n = resource.names.get(key)
        if n is not None and n.kind in (S.FIELD, S.NAV, S.COERCE, S.UNWRAP):
            needed.add(n.v7 or n.v6)
    for n in resource.names.values():
        if n.kind == S.DERIVED:
            needed.update(n.derived.helpers)
    order = ctx.schema.v7graph.get(resource.v7, {}).get("key_order", [])
    return [k for k in order if k in needed] + sorted(needed - set(order))


# column types whose raw value (as the database driver hands a joined column to pinejs, unprocessed) sorts as
# SQL sorts the column: not int8/numeric (text digits, _DIGITS), JSON or hashes
_RAW_SORTS_AS_SQL = frozenset({"Date Time", "Short Text", "Text", "Integer", "Serial", "Boolean", "Enum", "Real"})
# 64-bit integer columns: the driver hands them on as decimal text; sorted by the number (_as_sql_sorts)
_DIGITS = frozenset({"Big Integer", "Big Serial"})


def _reads_through(options: OptionList, v6_link: str, link: str) -> bool:
    """Whether a ``$select`` or ``$filter`` path reads through the single-valued link (``link/name``): pinejs
    joins a navigation path once per query, and a path whose first link is joined already joins nothing
    further (odata-to-abstract-sql ``AddJoinNavigation`` throws, ``AddJoins`` ignores it), so a sort key's
    collection further along would share that path's join or not be joined at all (the database fails)."""
    select = options.select
    paths = [p for p in select.items if len(p.segments) > 1] if select is not None else []
    flt = options.get("$filter")
    if isinstance(flt, FilterOption):
        paths += [n for n in iter_nodes(flt) if isinstance(n, TreePath) and len(n.segments) > 1]
    return any(p.names[0] in (v6_link, link) for p in paths)


def _joins_too_early(options: OptionList, item: OrderItem, v7_names: list[str]) -> bool:
    """Whether asking the sort key ``item`` as a $select path (joined before the $filter, where v6 joined it
    after, in $orderby) makes the query fail where v6's did not: pinejs joins a path's links only where its
    first one is not joined yet, so a deeper path through the same first link later names a table the query
    lacks (the database fails, a 500)."""
    select = options.select
    selected = [p for p in select.items if len(p.segments) > 1] if select is not None else []
    flt = options.filter
    filtered = outer_paths(flt.expr) if flt is not None else []
    orderby = options.orderby
    others = [i.path for i in orderby.items] if orderby is not None else []
    chain = [tuple(p.names[:-1]) for p in selected + filtered]
    v7 = [*chain[: len(selected)], tuple(v7_names[:-1]), *chain[len(selected) :]]
    v7 += [tuple(p.names[:-1]) for p in others if p is not item.path]
    v6 = chain + [tuple(p.names[:-1]) for p in others]
    return _join_fails(v7) and not _join_fails(v6)


def _join_fails(chains: list[tuple[str, ...]]) -> bool:
    """Whether pinejs's joins of these navigation chains, in this order, name a table the query lacks."""
    joined: set[tuple[str, ...]] = set()
    for chain in chains:
        prefixes = {chain[:i] for i in range(1, len(chain) + 1)}
        if not chain:
            continue
        if chain[:1] not in joined:
            joined |= prefixes
        elif not prefixes <= joined:
            return True
    return False


def _number(value: Any) -> Any:
    """Decimal text of an integer column as the number it is (anything else as it is)."""
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def client_read(
    ctx: WalkContext, options: OptionList, resource: ResourceInfo, v6_names: list[str]
) -> tuple[str, ObjectPlan] | None:
    """A derived value at ``link/name`` read from the client's own expansion of the single-valued ``link``
    where that holds the linked row as v6's join did (``WalkContext.whole_links``) and its plan writes the
    name (selected by the client, or added for the proxy and hidden again, ``walk_select``): the v7 link
    and a copy of that plan that keeps the name. None: not possible."""
    if len(v6_names) != 2:
        return None
    first = ctx.lookup(resource, v6_names[0])
    if first is None or first.kind != S.NAV or first.many or not first.target:
        return None
    link = first.v7 or v6_names[0]
    plan = ctx.whole_links.get(id(options), {}).get(link)
    if not isinstance(plan, ObjectPlan) or not any(op.key == v6_names[1] for op in plan.ops):
        return None
    return link, replace(plan, ops=list(plan.ops), builders={})


def _writes(plan: ObjectPlan, v6_path: list[str]) -> bool:
    """Whether the rows ``plan`` makes hold ``v6_path`` (a key, through the plans of expanded links)."""
    op = next((o for o in plan.ops if o.key == v6_path[0]), None)
    if op is None or len(v6_path) == 1:
        return op is not None
    return op.kind == CHILD and isinstance(op.arg, ObjectPlan) and _writes(op.arg, v6_path[1:])


def _client_item(options: OptionList, nav: str) -> ExpandItem | None:
    """The client's one plain expansion of ``nav`` (not a count, no tail path); None otherwise."""
    expand = options.expand
    found = [i for i in expand.items if i.name.text == nav] if expand is not None else []
    if len(found) != 1 or found[0].count or found[0].tail is not None:
        return None
    return found[0]


def _merge_join(prior: ExpandItem | None, item: ExpandItem) -> bool:
    """The names and links an earlier key's join of a collection selected, moved into the (walked) expansion
    that joins it now; False where that cannot be done."""
    chosen = item.options.select if item.options is not None else None
    earlier = prior.options.select if prior is not None and prior.options is not None else None
    if chosen is None:
        return False
    for p in earlier.items if earlier is not None else []:
        if p.serialize() not in {q.serialize() for q in chosen.items}:
            chosen.add(p.serialize())
    return _carry_expands(prior, item)


def _carry_expands(prior: ExpandItem | None, item: ExpandItem) -> bool:
    """The links an earlier key expanded inside its join of a collection (``_join_tail``), moved into the
    expansion that joins it now; False where that one expands a link of the same name itself."""
    if prior is None or prior.options is None or prior.options.expand is None:
        return True
    assert item.options is not None
    expand = item.options.expand
    mine = {i.name.text for i in expand.items} if expand is not None else set()
    carried = prior.options.expand.items
    if mine & {i.name.text for i in carried}:
        return False
    if expand is None:
        item.options.add(ExpandOption(list(carried)))
    else:
        expand.items.extend(carried)
    return True


def _join_tail(options: OptionList, tail: list[str], keys: list[str], leaf: str, bound: int) -> bool:
    """Adds the links ``tail`` (v7) and ``leaf`` at their end to the options of an expansion the proxy made,
    sharing the expansions already there (``keys``: what each new intermediate one selects). False where one
    of that name is there with options that may leave out its row, or is a count (a ``$top`` of ``bound``, one
    member more than the proxy sorts, leaves out none: more members overflow the joined rows' limit)."""
    if not tail:
        select = options.select
        if select is None:
            return False
        if leaf not in {p.serialize() for p in select.items}:
            select.add(leaf)
        return True
    expand = options.expand
    existing = [i for i in expand.items if i.name.text == tail[0]] if expand is not None else []
    if existing:
        item = existing[0]
        opts = item.options
        if len(existing) > 1 or item.count or item.tail is not None or opts is None:
            return False
        top = opts.get("$top")
        if any(opts.get(k) is not None for k in ("$filter", "$skip")) or not (
            top is None or (isinstance(top, TopOption) and top.value == bound)
        ):
            return False
        return _join_tail(opts, tail[1:], keys[1:], leaf, bound)
    new = _selecting(tail[-1], leaf)
    for nav, key in reversed(list(zip(tail[:-1], keys, strict=True))):
        new = _selecting(nav, key, new)
    options.add_expand(new)
    return True


def _selecting(nav: str, name: str, inner: ExpandItem | None = None, *, extra: str | None = None) -> ExpandItem:
    """``nav($select=name[,extra][;$expand=inner])``."""
    options = OptionList(nested=True)
    options.add(SelectOption([TreePath.of(name)] + ([TreePath.of(extra)] if extra and extra != name else [])))
    if inner is not None:
        options.add(ExpandOption([inner]))
    return ExpandItem(TreeName(nav), options=options)


def _at_path(navs: tuple[str, ...], leaf: str) -> Callable[[dict[str, Any]], Any]:
    """Reads ``leaf`` at the end of expanded single-valued navigations of a v7 row (None when a link is NULL)."""

    def compute(row: dict[str, Any]) -> Any:
        value: Any = row
        for nav in navs:
            value = value.get(nav) if isinstance(value, dict) else None
            value = value[0] if isinstance(value, list) and value else None
        return value.get(leaf) if isinstance(value, dict) else None

    return compute


def _constant(value: Any) -> Callable[[dict[str, Any]], Any]:
    """Reads ``value`` whatever the row."""

    def compute(_row: dict[str, Any]) -> Any:
        return value

    return compute


def _rows_of(nav: str) -> Callable[[dict[str, Any]], Any]:
    """The number of rows an expanded collection ``nav`` holds in a v7 row."""

    def compute(row: dict[str, Any]) -> Any:
        value = row.get(nav)
        return len(value) if isinstance(value, list) else None

    return compute


def _rows_where(nav: str, holds: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], Any]:
    """The number of rows of an expanded collection ``nav`` for which a v7 condition ``holds``."""

    def compute(row: dict[str, Any]) -> Any:
        value = row.get(nav)
        return sum(1 for m in value if isinstance(m, dict) and holds(m)) if isinstance(value, list) else None

    return compute


def _count_of(nav: str) -> Callable[[dict[str, Any]], Any]:
    """Reads the number an expanded ``nav/$count`` put in a v7 row."""

    def compute(row: dict[str, Any]) -> Any:
        value = row.get(nav)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return compute


def link_op(op: Op, links: dict[str, tuple[str, str] | None]) -> Op:
    """The op writing a link the proxy expanded for a local sort key (``links``: v7 link → its target's v7 key
    and the v6 target): the reference v6 shows, rebuilt from the expanded row."""
    src = op.src
    link = links.get(src) if src is not None else None
    if op.kind != COPY or src is None or link is None:
        return op
    return Op(op.key, DERIVE, None, link_value(src, *link))


def link_value(link: str, key: str, target: str) -> Callable[[dict[str, Any]], Any]:
    """``{"__id": n}`` as pinejs writes an unexpanded link (``null`` when there is none); with
    ``odata.metadata=full`` (the expanded row carries ``__metadata``) also its ``__deferred`` URI."""

    def compute(row: dict[str, Any]) -> Any:
        value = row.get(link)
        first = value[0] if isinstance(value, list) and value else None
        if not isinstance(first, dict) or first.get(key) is None:
            return None
        ref: dict[str, Any] = {"__id": first[key]}
        if "__metadata" in first:
            ref["__deferred"] = {"uri": f"/v6/{target}(@id)?@id={first[key]}"}
        return ref

    return compute


def along(navs: tuple[str, ...], read: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``read`` on the v7 row at the end of the expanded single-valued links ``navs`` (None where one is
    NULL)."""

    def compute(row: dict[str, Any]) -> Any:
        value: Any = row
        for nav in navs:
            value = value.get(nav) if isinstance(value, dict) else None
            value = value[0] if isinstance(value, list) and value else None
        return read(value) if isinstance(value, dict) else None

    return compute


def planned_at(link: str, child: ObjectPlan, v6_path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """The value at ``v6_path`` in the v6 row the child plan makes of the expanded ``link`` (None where a link
    on the way is NULL)."""

    def compute(row: dict[str, Any]) -> Any:
        rows = row.get(link)
        if not isinstance(rows, list) or not rows:
            return None
        value: Any = apply_rows(child, rows[:1], {})
        for name in v6_path:
            first = value[0] if isinstance(value, list) and value else None
            value = first.get(name) if isinstance(first, dict) else None
        return value

    return compute
