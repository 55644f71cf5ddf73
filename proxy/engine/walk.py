"""The request walk: one pass over the parsed v6 URL that renames it into v7 and builds the response plan.

At every name the walk knows the v6 resource it stands in (odata-dialect.md §6: ``$select``/``$expand``/
``$orderby`` items and bare ``$filter`` paths belong to the resource of their option list, lambda variables
to their navigation's target, ``$count($filter)`` to the counted collection) and asks the schema — built from
the translators — what that name is in v7. The walk itself knows no field.

This module is the driver (the resource path, the resource's options, the answer); each option's translation
has a module of its own, joined into ``Walker`` as mixins: ``walk_select`` ($select/$expand), ``walk_filter``
($filter, with three-valued constant folding in ``walk_truth``), ``walk_orderby`` ($orderby and local sort);
``walk_support`` holds the small helpers they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.engine.keys import key_of
from proxy.engine.plan import DERIVE, ObjectPlan, Op, ResponsePlan
from proxy.engine.walk_filter import FilterWalk
from proxy.engine.walk_orderby import OrderByWalk
from proxy.engine.walk_select import SelectExpandWalk
from proxy.engine.walk_support import Unknown, WalkError, _returns_id_only, _wants_metadata, expression
from proxy.odata import (
    AliasOption,
    ExpandItem,
    ExpandOption,
    Literal,
    ODataUrl,
    OptionList,
    Path,
    SelectOption,
    parse_target,
)
from proxy.odata import Name as TreeName
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo, V6Schema


@dataclass
class Translation:
    """The cached outcome of walking one v6 (method, target)."""

    v7_target: str | None = None  # None: answered locally
    plan: ResponsePlan | None = None
    local_status: int | None = None
    local_body: Any = None  # JSON value or None (empty body)
    local_kind: str | None = None  # "metadata" for the $metadata document
    unknown: list[Unknown] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    resource: ResourceInfo | None = None
    v6_spelling: str | None = None
    v7_spelling: str | None = None


class Walker(SelectExpandWalk, OrderByWalk, FilterWalk):
    """One walk of one request; the option-specific methods come from the ``walk_*`` modules."""

    def __init__(self, schema: V6Schema, *, unknown_names: str = "drop", max_local_sort_rows: int = 10000) -> None:
        self.schema = schema
        self.unknown_names = unknown_names
        self.max_local_sort_rows = max_local_sort_rows
        self.unknown: list[Unknown] = []
        self.features: list[str] = []
        self.helper_aliases: dict[int, dict[str, str]] = {}
        self.local_sort_label: str | None = None
        self.aliases: dict[str, Literal] = {}
        self.local_sort_names: dict[int, list[str]] = {}  # id(options) → derived names the proxy sorts by
        self.method = "GET"
        self.kind = "rows"  # the response kind of the request being walked (local sorting is for rows only)

    # ------------------------------------------------------------------ helpers
    def feature(self, text: str) -> None:
        if text not in self.features:
            self.features.append(text)

    def unknown_name(self, name: str, resource: ResourceInfo, option: str) -> None:
        if option in ("$filter", "$orderby") or self.unknown_names == "reject":
            raise WalkError(400, f"Unknown field '{name}' on '{resource.name}' in {option}")
        self.unknown.append(Unknown(name, resource.name, option))

    def lookup(self, resource: ResourceInfo, name: str) -> Name | None:
        return resource.names.get(name)

    def key(self, v7_resource: str) -> str:
        """The name a v7 ``$select`` on ``v7_resource`` can always hold: its key."""
        key = key_of(self.schema, v7_resource)
        if key is None:
            raise WalkError(400, f"{v7_resource} has no field to select through the v6 proxy")
        return key

    def null_link(self, n: Name, owner: ResourceInfo, names: list[str], i: int, option: str) -> Name:
        """A path that goes on through a v6 link that is always NULL (a removed link or an always-empty
        navigation, ``link/name``). pinejs (odata-to-abstract-sql ≥ 8) LEFT JOINs every navigation of a path,
        so the row stays and the value at the end of the path is NULL (a lambda below it sees no member, a
        ``$count`` below it is 0). The names after the link are still checked; the value is a NULL constant."""
        cur = self.res(n.target) if n.target else None
        for name in names[i + 1 :]:
            if cur is None:
                break
            below = self.lookup(cur, name)
            if below is None:
                self.unknown_name(name, cur, option)
            cur = self.res(below.target) if below is not None and below.target else None
        self.feature(f"{owner.name}.{n.v6}.null_link_path")
        return Name(S.CONST, n.v6)

    def res(self, v6name: str) -> ResourceInfo:
        return self.schema.resources[v6name]

    # ------------------------------------------------------------------ entry
    def walk(self, url: ODataUrl, method: str) -> Translation:
        if url.kind == "metadata":
            return Translation(local_status=200, local_kind="metadata")
        if url.kind != "resource" or url.root is None:
            return Translation(v7_target=url.serialize(), plan=ResponsePlan(kind="raw"))
        root = url.root
        found = self.schema.resource(root.name.text)
        if found is None:
            raise WalkError(401, None)
        info, v7_spelling = found
        v6_spelling = root.name.text
        if info.local:
            if method != "GET":
                raise WalkError(401, None)
            self.feature(f"{info.name}.local_empty")
            segs = url.segments
            body: Any = {"d": 0} if segs[-1].count else {"d": []}
            return Translation(local_status=200, local_body=body, features=self.features)
        if info.read_only and method not in ("GET", "HEAD"):
            raise WalkError(401, None)
        if v7_spelling != v6_spelling:
            root.name.rename(v7_spelling)
            self.feature(f"{info.name}.resource_name")
        # navigation segments after the root (e.g. /<resource>(1)/<navigation>); an unknown
        # segment is an action such as canAccess and keeps the resource
        current = info
        seg = root.child
        last = root
        while seg is not None:
            n = self.lookup(current, seg.name.text)
            if n is not None and n.kind == S.NAV and n.target:
                if current.extra_filters:
                    # the v6 resource is a v7 one narrowed by a filter, which a $filter on the navigation's
                    # target cannot express
                    raise WalkError(
                        400,
                        f"{current.name if last is not root else v6_spelling} cannot be used "
                        "with a navigation path through the v6 proxy",
                    )
                seg.name.rename(n.v7)
                current = self.res(n.target)
                local = self.path_access(current, method, bool(url.segments[-1].count))
                if local is not None:
                    return local
            elif n is not None and n.kind == S.DERIVED and n.target:
                root.name.rename(v6_spelling)
                return self.derived_navigation(url, last, seg, info, method)
            elif n is not None and n.kind in (S.EMPTY, S.CONST):
                if method not in ("GET", "HEAD"):
                    raise WalkError(401, None)  # decision 5: a write to an always-empty navigation
                return Translation(local_status=200, local_body={"d": 0} if seg.count else {"d": []})
            last = seg
            seg = seg.child
        is_count = last.count
        if method in ("GET", "HEAD") and not is_count:
            kind = "rows"
        elif method == "POST" and not is_count and last is root:
            kind = "entity" if not _returns_id_only(last.query) else "raw"  # spec §4.5: the bare key as is
        elif is_count:
            kind = "count"
        else:
            kind = "raw"
        self.method, self.kind = method, kind
        plan = ObjectPlan(resource=current.name, v7_resource=current.v7)
        if last.query is not None:
            self.aliases = {
                o.name: o.value
                for o in last.query.options
                if isinstance(o, AliasOption) and isinstance(o.value, Literal)
            }
        created = last.query is None
        options = last.query if last.query is not None else OptionList()
        if kind == "rows" or last.query is not None:
            self.walk_options(options, current, plan, top=True, helpers_allowed=kind == "rows")
        if kind in ("rows", "entity"):
            if options.select is None or options.select.star or kind == "entity":
                self.full_ops(current, plan)
            self.finish_plan(options, plan, current)
        if created and options.options:
            last.query = options
        # the resource the path ends on keeps its restriction however it is reached (the root, or a
        # navigation such as /<resource>(key)/<navigation to a view>): the v7 rows outside it do not exist in v6
        filters = list(current.extra_filters)
        if filters and method != "POST":
            opts = url.ensure_query()
            for text in filters:
                opts.and_filter(expression(text))
            self.feature(f"{current.name}.extra_filter")
        response = ResponsePlan(
            kind=kind,
            objects=plan if kind in ("rows", "entity") else None,
            v6_resource=current.name,
            v7_resource=current.v7,
            max_local_rows=plan.local_limit,
            local_sort_label=self.local_sort_label,
            features=tuple(self.features),
            resource_names=dict(self.schema.v7_to_v6_resource) if _wants_metadata(options) else {},
            entity_key=key_of(self.schema, current.v7) if kind == "entity" else None,
        )
        return Translation(
            v7_target=url.serialize(),
            plan=response,
            unknown=self.unknown,
            features=self.features,
            resource=info,
            v6_spelling=v6_spelling,
            v7_spelling=v7_spelling,
        )

    def derived_navigation(self, url: ODataUrl, last: Any, seg: Any, info: ResourceInfo, method: str) -> Translation:
        """``/<resource>(key)/<derived navigation>`` (e.g. a view's navigation v7 reaches along a path): answered
        as ``/<resource>(key)?$expand=<navigation>(<the client's options>)``, translated as that $expand is,
        and the expanded rows (or count) unwrapped into ``d``."""
        name = seg.name.text
        if seg.child is not None or last is not url.root or url.root.key is None or method not in ("GET", "HEAD"):
            raise WalkError(400, f"{name} cannot be used in a navigation path through the v6 proxy")
        url.root.child = None
        top = OptionList()
        nested = OptionList(nested=True)
        for opt in list(seg.query.options) if seg.query is not None else []:
            wanted = ("$filter",) if seg.count else ("$select", "$expand", "$filter", "$orderby", "$top", "$skip")
            if opt.key in wanted:
                nested.add(opt)
            elif not opt.key.startswith("$") or opt.key == "$format":
                top.add(opt)  # custom options (apikey) and the format stay on the request
        top.add(SelectOption([Path.of(self.key(info.v7))]))
        top.add(
            ExpandOption(
                [ExpandItem(TreeName(name), count=bool(seg.count), options=nested if nested.options else None)]
            )
        )
        url.root.query = top
        inner = Walker(self.schema, unknown_names=self.unknown_names, max_local_sort_rows=self.max_local_sort_rows)
        tr = inner.walk(url, method)
        if tr.plan is not None:
            tr.plan.unwrap = name
            tr.plan.unwrap_count = bool(seg.count)
            tr.plan.features = tr.plan.features + (f"{info.name}.{name}.navigation_path",)
        tr.features.append(f"{info.name}.{name}.navigation_path")
        return tr

    def path_access(self, info: ResourceInfo, method: str, count: bool) -> Translation | None:
        """A resource reached through a navigation path is as writable as it is at the root (decisions 4
        and 5): a write to a read-only or proxy-answered one is 401 with an empty body, a read of a
        proxy-answered one is answered empty here. None: go on."""
        if (info.local or info.read_only) and method not in ("GET", "HEAD"):
            raise WalkError(401, None)
        if info.local:
            self.feature(f"{info.name}.local_empty")
            return Translation(local_status=200, local_body={"d": 0} if count else {"d": []}, features=self.features)
        return None

    # ------------------------------------------------------------------ options of one resource
    def walk_options(
        self, options: OptionList, resource: ResourceInfo, plan: ObjectPlan, *, top: bool, helpers_allowed: bool = True
    ) -> None:
        expand_ops: list[Op] = []
        select_ops: list[Op] = []
        helpers: set[str] = set()
        expand = options.expand
        if expand is not None:
            for item in list(expand.items):
                op = self.walk_expand_item(item, resource, expand)
                if op is not None:
                    expand_ops.append(op)
            if not expand.items:
                options.remove(expand)
        select = options.select
        if select is not None and not select.star:
            for path in list(select.items):
                op = self.walk_select_item(path, resource, select, helpers)
                if op is not None:
                    select_ops.append(op)
        filt = options.filter
        if filt is not None:
            filt.expr = self.walk_expr(filt.expr, resource, {})
        orderby = options.orderby
        if orderby is not None:
            self.walk_orderby(orderby, options, resource, plan, helpers, top=top)
        # derived values need their helpers: fields into $select, navigations into $expand; a value the proxy
        # sorts by needs them too, selected or not
        expanded_keys = {e.key for e in expand_ops}
        derived = [op for op in select_ops if op.kind == DERIVE and op.key not in expanded_keys]
        derived += [Op(k, DERIVE) for k in self.local_sort_names.pop(id(options), ()) if k not in expanded_keys]
        needs_expands = derived if select is not None and not select.star else None
        if needs_expands is None:
            needs_expands = [
                Op(k, DERIVE, None, n.rule)
                for k, n in resource.names.items()
                if n.kind == S.DERIVED and k not in {e.key for e in expand_ops}
            ]
        seen: set[str] = set()
        for op in needs_expands if helpers_allowed else []:
            rule = resource.names[op.key].rule if op.key in resource.names else None
            if rule is None or op.key in seen:
                continue
            seen.add(op.key)
            for helper_key, (navs, text) in rule.helper_expands.items():
                self.add_helper_expand(options, resource, helper_key, navs, text, expand_ops)
        if select is not None and not select.star:
            present = {p.serialize() for p in select.items}
            for h in sorted(helpers):
                if h not in present:
                    select.add(h)
                    present.add(h)
            if not select.items:
                select.add(self.key(resource.v7))
                plan.padded = True
        expanded = {op.key for op in expand_ops}
        plan.ops = expand_ops + [op for op in select_ops if op.key not in expanded]
        plan.expand_count = len(expand_ops)
        plan.trivial = False


def translate_target(
    schema: V6Schema, method: str, target: str, *, unknown_names: str = "drop", max_local_sort_rows: int = 10000
) -> Translation:
    """Parse and walk one v6 target (raises ODataSyntaxError, WalkError)."""
    url = parse_target(target)
    walker = Walker(schema, unknown_names=unknown_names, max_local_sort_rows=max_local_sort_rows)
    walker.helper_aliases = {}
    return walker.walk(url, method)
