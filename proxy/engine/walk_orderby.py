"""``$orderby`` of the request walk: renamed and derived sort keys, constants dropped, and the local sort the
proxy does itself (decision 2) when v7 has no field that sorts like a derived value.

``OrderByWalk`` is a part of ``proxy.engine.walk.Walker`` (its state lives there)."""

from __future__ import annotations

from typing import Any

from proxy.engine.plan import ObjectPlan, SortKey
from proxy.engine.walk_support import WalkError
from proxy.odata import ExpandOption, OptionList, OrderByOption, OrderItem, TopOption, parse_target
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo


class OrderByWalk:
    """$orderby methods of ``Walker``."""

    # ------------------------------------------------------------------ $orderby
    def walk_orderby(
        self,
        orderby: OrderByOption,
        options: OptionList,
        resource: ResourceInfo,
        plan: ObjectPlan,
        helpers: set[str],
        *,
        top: bool,
    ) -> None:
        local: list[tuple[OrderItem, Name]] = []
        v6_paths = {id(item): "/".join(item.path.names) for item in orderby.items}
        walked: dict[int, Any] = {}  # id(item) → walk_path's answer for a multi-name item
        for item in list(orderby.items):
            names = item.path.names
            if item.path.count is not None or item.path.lambda_ is not None:
                found = self.walk_path(item.path, resource, {}, "$orderby")
                if found[0] in ("const", "derived"):
                    orderby.remove(item)  # a constant count orders nothing
                continue
            if len(names) == 1:
                n = self.lookup(resource, names[0])
                if n is None:
                    self.unknown_name(names[0], resource, "$orderby")
                if n.kind == S.CONST or n.kind == S.EMPTY:
                    orderby.remove(item)
                    self.feature(f"{resource.name}.{n.v6}.orderby_constant")
                    continue
                if n.kind == S.DERIVED:
                    if n.rule.order_by:
                        item.path.segments[0].name.rename(n.rule.order_by)
                        self.feature(f"{resource.name}.{n.v6}.orderby")
                        continue
                    local.append((item, n))
                    continue
            found = self.walk_path(item.path, resource, {}, "$orderby")
            walked[id(item)] = found
            if found[0] == "const":
                orderby.remove(item)  # a constant orders nothing
                self.feature(f"{resource.name}.{found[1].v6}.orderby_constant")
            elif found[0] == "derived":
                n = found[1]
                if not n.rule.order_by:
                    raise WalkError(
                        400, f"{n.v6} cannot be used with $orderby on a navigation path through the v6 proxy"
                    )
                item.path.segments[-1].name.rename(n.rule.order_by)
                self.feature(f"{found[2].name}.{n.v6}.orderby")
        if not local:
            if not orderby.items:
                options.remove(orderby)
            return
        # ordering the proxy must do itself (decision 2): all items sort locally, in order
        label = local[0][1].v6
        top_opt = options.get("$top")
        skip_opt = options.get("$skip")
        if top and self.kind != "rows":
            # only row reads are sorted and paged by the proxy. A count, or a write without $top/$skip,
            # touches the same rows in any order: the ordering is dropped. A write paged by the order
            # cannot be done exactly (the proxy would have to read and pick the rows itself).
            if self.kind != "count" and (top_opt is not None or skip_opt is not None):
                raise WalkError(400, f"{label} cannot be used with $orderby on a {self.method} through the v6 proxy")
            options.remove(orderby)
            self.feature(f"{resource.name}.{label}.orderby_dropped")
            return
        if not top and (top_opt is not None or skip_opt is not None):
            raise WalkError(
                400, f"{label} cannot be used with $orderby and $top/$skip inside $expand through the v6 proxy"
            )
        keys: list[SortKey] = []
        for item in orderby.items:
            desc = item.effective_direction == "desc"
            n = next((nm for it, nm in local if it is item), None)
            if n is not None:
                keys.append(SortKey(None, n.rule.compute, desc))
                helpers.update(n.rule.helpers)
                continue
            if len(item.path.segments) != 1:
                path_key = self.path_sort_key(
                    item, walked.get(id(item)), v6_paths[id(item)], options, resource, helpers, desc
                )
                if path_key is None:
                    first = v6_paths[id(item)].split("/")[0]
                    raise WalkError(
                        400,
                        f"{label} cannot be used with $orderby on {v6_paths[id(item)]} without "
                        f"$select, or with {first} selected or expanded, through the v6 proxy",
                    )
                keys.append(path_key)
                continue
            field_name = item.path.names[0]
            keys.append(SortKey(field_name, None, desc))
            helpers.add(field_name)
        options.remove(orderby)
        plan.sort = tuple(keys)
        self.local_sort_names[id(options)] = [n.v6 for _, n in local]
        self.feature(f"{resource.name}.{label}.local_sort")
        rule = local[0][1].rule
        if top:
            self.local_sort_label = rule.local_sort_label or label
        if top:
            plan.top = top_opt.value if top_opt is not None else None  # type: ignore[union-attr]
            plan.skip = skip_opt.value if skip_opt is not None else None  # type: ignore[union-attr]
            if skip_opt is not None:
                options.remove(skip_opt)
            limit = self.max_local_sort_rows
            if top_opt is not None:
                options.remove(top_opt)
            options.add(TopOption(limit + 1))
            plan.local_limit = limit
            for opt in options.all("$top")[:-1]:
                options.remove(opt)
            for opt in options.all("$skip"):
                options.remove(opt)

    def path_sort_key(
        self,
        item: OrderItem,
        found: Any,
        v6_path: str,
        options: OptionList,
        resource: ResourceInfo,
        helpers: set[str],
        desc: bool,
    ) -> SortKey | None:
        """A local sort key at the end of a path of single-valued navigations (``link/name``): the proxy sorts
        v7 rows, so it expands the path itself (selecting only the value) and reads the value from there. Only
        where that expansion cannot change what the client sees: a $select that names neither the first
        navigation nor expands it (the rows then never show it). None: not possible."""
        if found is None or found[0] != "name" or found[1].kind != S.FIELD:
            return None
        select = options.select
        if select is None or select.star:
            return None
        v7_names = [seg.name.text for seg in item.path.segments]  # renamed by walk_path
        navs, leaf = v7_names[:-1], v7_names[-1]
        expand = options.expand
        taken = {p.names[0] for p in select.items if p.segments} | set(helpers)
        taken |= {i.name.text for i in expand.items} if expand is not None else set()
        if navs[0] in taken:
            return None
        cur = resource
        targets: list[str] = []
        for name in v6_path.split("/")[:-1]:
            n = self.lookup(cur, name)
            if n is None or n.kind != S.NAV or n.many or not n.target:
                return None
            cur = self.res(n.target)
            targets.append(cur.v7)
        text = f"{navs[-1]}($select={leaf})"
        for nav, target in reversed(list(zip(navs[:-1], targets[:-1]))):
            text = f"{nav}($select={self.key(target)};$expand={text})"
        new = parse_target("/x?$expand=" + text).query.expand.items[0]  # type: ignore[union-attr]
        if expand is None:
            options.add(ExpandOption([new]))
        else:
            expand.items.append(new)
        self.feature(f"{resource.name}.local_sort_path")
        return SortKey(None, _at_path(tuple(navs), leaf), desc)


def _at_path(navs: tuple[str, ...], leaf: str) -> Any:
    """Reads ``leaf`` at the end of expanded single-valued navigations of a v7 row (None when a link is NULL)."""

    def compute(row: dict) -> Any:
        value: Any = row
        for nav in navs:
            value = value.get(nav) if isinstance(value, dict) else None
            value = value[0] if isinstance(value, list) and value else None
        return value.get(leaf) if isinstance(value, dict) else None

    return compute
