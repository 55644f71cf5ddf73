"""The request walk: one pass over the parsed v6 URL that renames it into v7 and builds the response plan.

At every name the walk knows the v6 resource it stands in (odata-dialect.md §6: ``$select``/``$expand``/
``$orderby`` items and bare ``$filter`` paths belong to the resource of their option list, lambda variables
to their navigation's target, ``$count($filter)`` to the counted collection) and asks the schema — built from
the translators — what that name is in v7. The walk itself knows no field.

This module is the driver: the resource path, each resource's options, the answer. The options are
translated by small walkers sharing one ``WalkContext`` (``walk_context``): ``walk_path`` (member paths),
``walk_select`` ($select/$expand), ``walk_helpers`` (helper navigations of derived values), ``walk_filter``
($filter, with SQL's three-valued logic and constant folding in ``logic``), ``walk_orderby`` ($orderby and
the proxy's local sort).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.engine.keys import key_of
from proxy.engine.plan import CHILD, DERIVE, ObjectPlan, Op, ResponsePlan
from proxy.engine.texts import expression, learn_schema
from proxy.engine.walk_context import Scope, Unknown, WalkContext, WalkError
from proxy.engine.walk_filter import FilterWalker
from proxy.engine.walk_gates import gate_ops
from proxy.engine.walk_helpers import HelperWalker
from proxy.engine.walk_orderby import OrderByWalker
from proxy.engine.walk_path import PathWalker
from proxy.engine.walk_select import SelectExpandWalker
from proxy.odata import (
    AliasOption,
    ExpandItem,
    ExpandOption,
    Literal,
    ODataUrl,
    OptionList,
    Path,
    PathSegment,
    SelectOption,
    parse_target,
)
from proxy.odata import Name as TreeName
from proxy.schema import v6schema as S
from proxy.schema.v6schema import ResourceInfo, V6Schema

__all__ = ["Translation", "Unknown", "Walk", "WalkError", "translate_target"]


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


class Walk:
    """One walk of one request: the driver, holding the context and the walkers it shares."""

    def __init__(self, schema: V6Schema, *, unknown_names: str = "drop", max_local_sort_rows: int = 10000) -> None:
        learn_schema(schema)  # once per schema: declared translator text is parsed then, not per request
        self.ctx = WalkContext(schema, unknown_names=unknown_names, max_local_sort_rows=max_local_sort_rows)
        self.paths = PathWalker(self.ctx, self._walk_tail)
        self.filters = FilterWalker(self.ctx, self.paths)
        self.helpers = HelperWalker(self.ctx)
        self.selects = SelectExpandWalker(self.ctx, self.paths, self.filters, self.helpers, self._walk_nested)
        self.orderbys = OrderByWalker(self.ctx, self.paths)
        self.orderbys.expand_item = self.selects.walk_expand_item
        self.orderbys.nested_read = self.selects.client_nested_read

    def _walk_tail(self, path: Path, target: ResourceInfo, scope: Scope, option: str) -> None:
        self.filters.walk_tail(path, target, scope, option)

    def _walk_nested(self, options: OptionList, resource: ResourceInfo, plan: ObjectPlan) -> None:
        self.walk_options(options, resource, plan, top=False)

    # ------------------------------------------------------------------ entry
    def walk(self, url: ODataUrl, method: str) -> Translation:
        if url.kind == "metadata":
            return Translation(local_status=200, local_kind="metadata")
        if url.kind != "resource" or url.root is None:
            return Translation(v7_target=url.serialize(), plan=ResponsePlan(kind="raw"))
        ctx = self.ctx
        root = url.root
        found = ctx.schema.resource(root.name.text)
        if found is None:
            raise WalkError(401, None)
        info, v7_spelling = found
        v6_spelling = root.name.text
        if info.local:
            if method != "GET":
                raise WalkError(401, None)
            ctx.feature(f"{info.name}.local_empty")
            body: Any = {"d": 0} if url.segments[-1].count else {"d": []}
            return Translation(local_status=200, local_body=body, features=ctx.features)
        if info.read_only and method not in ("GET", "HEAD"):
            raise WalkError(401, None)
        if v7_spelling != v6_spelling:
            root.name.rename(v7_spelling)
            ctx.feature(f"{info.name}.resource_name")
        ended = self.walk_segments(url, info, v6_spelling, method)
        if isinstance(ended, Translation):
            return ended
        current, last = ended
        return self.walk_resource(url, info, current, last, method, v6_spelling, v7_spelling)

    def walk_segments(
        self, url: ODataUrl, info: ResourceInfo, v6_spelling: str, method: str
    ) -> tuple[ResourceInfo, PathSegment] | Translation:
        """The navigation segments after the root (``/<resource>(1)/<navigation>``), renamed: the resource and
        segment the path ends on, or the answer when the path leads somewhere answered otherwise. An unknown
        segment is an action such as canAccess and keeps the resource."""
        ctx = self.ctx
        root = url.root
        assert root is not None
        current = info
        seg = root.child
        last = root
        while seg is not None:
            n = ctx.lookup(current, seg.name.text)
            if n is not None and n.kind == S.NAV and n.target:
                if current.extra_filters:
                    # the v6 resource is a v7 one narrowed by a filter, which a $filter on the navigation's
                    # target cannot express
                    raise WalkError(
                        400,
                        f"{current.name if last is not root else v6_spelling} cannot be used "
                        "with a navigation path through the v6 proxy",
                    )
                seg.name.rename(n.v7 or seg.name.text)
                current = ctx.res(n.target)
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
        return current, last

    def walk_resource(
        self,
        url: ODataUrl,
        info: ResourceInfo,
        current: ResourceInfo,
        last: PathSegment,
        method: str,
        v6_spelling: str,
        v7_spelling: str,
    ) -> Translation:
        """The options of the resource the path ends on, and the response plan."""
        ctx = self.ctx
        kind = _response_kind(method, last, last is url.root)
        ctx.method, ctx.kind = method, kind
        plan = ObjectPlan(resource=current.name, v7_resource=current.v7)
        options = self.walk_end_options(last, current, plan, kind)
        if method != "POST":
            self.restrict(url, current)
        response = self.response_plan(kind, plan, options, current, v6_spelling, v7_spelling)
        return Translation(
            v7_target=url.serialize(),
            plan=response,
            unknown=ctx.unknown,
            features=ctx.features,
            resource=info,
            v6_spelling=v6_spelling,
            v7_spelling=v7_spelling,
        )

    def walk_end_options(self, last: PathSegment, current: ResourceInfo, plan: ObjectPlan, kind: str) -> OptionList:
        """The query options of the segment the path ends on, walked into ``plan``; options the walk adds to a
        request that had none (helpers, a full $select) become that segment's query."""
        ctx = self.ctx
        if last.query is not None:
            ctx.aliases = {
                o.name: o.value
                for o in last.query.options
                if isinstance(o, AliasOption) and isinstance(o.value, Literal)
            }
        created = last.query is None
        options = last.query if last.query is not None else OptionList()
        if kind == "rows" or last.query is not None:
            self.walk_options(options, current, plan, top=True, helpers_allowed=kind == "rows")
        if kind in ("rows", "entity"):
            if options.select is None or options.select.star or kind == "entity" or id(options) in ctx.full_selects:
                self.selects.full_ops(current, plan)
            self.selects.finish_plan(options, plan, current)
        if created and options.options:
            last.query = options
        return options

    def response_plan(
        self,
        kind: str,
        plan: ObjectPlan,
        options: OptionList,
        current: ResourceInfo,
        v6_spelling: str,
        v7_spelling: str,
    ) -> ResponsePlan:
        """What ``apply`` does to the upstream's answer, from everything the walk learnt."""
        ctx = self.ctx
        return ResponsePlan(
            kind=kind,
            objects=plan if kind in ("rows", "entity") else None,
            v6_resource=current.name,
            v7_resource=current.v7,
            # a local sort anywhere in the answer (top level or inside $expand) bounds the rows it sorts
            max_local_rows=ctx.max_local_sort_rows if ctx.local_sort_label is not None else None,
            local_sort_label=ctx.local_sort_label,
            features=tuple(ctx.features),
            resource_names=dict(ctx.schema.v7_to_v6_resource) if _wants_metadata(options) else {},
            entity_key=key_of(ctx.schema, current.v7) if kind == "entity" else None,
            v6_spelling=v6_spelling,
            v7_spelling=v7_spelling,
        )

    def restrict(self, url: ODataUrl, current: ResourceInfo) -> None:
        """The resource the path ends on keeps its restriction however it is reached (the root, or a navigation
        such as /<resource>(key)/<navigation to a view>): the v7 rows outside it do not exist in v6."""
        if not current.extra_filters:
            return
        options = url.ensure_query()
        for text in current.extra_filters:
            options.and_filter(expression(text))
        self.ctx.feature(f"{current.name}.extra_filter")

    def derived_navigation(
        self, url: ODataUrl, last: PathSegment, seg: PathSegment, info: ResourceInfo, method: str
    ) -> Translation:
        """``/<resource>(key)/<derived navigation>`` (e.g. a view's navigation v7 reaches along a path): answered
        as ``/<resource>(key)?$expand=<navigation>(<the client's options>)``, translated as that $expand is,
        and the expanded rows (or count) unwrapped into ``d``."""
        ctx = self.ctx
        name = seg.name.text
        root = url.root
        assert root is not None
        if seg.child is not None or last is not root or root.key is None or method not in ("GET", "HEAD"):
            raise WalkError(400, f"{name} cannot be used in a navigation path through the v6 proxy")
        root.child = None
        top = OptionList()
        nested = OptionList(nested=True)
        for opt in list(seg.query.options) if seg.query is not None else []:
            wanted = ("$filter",) if seg.count else ("$select", "$expand", "$filter", "$orderby", "$top", "$skip")
            if opt.key in wanted:
                nested.add(opt)
            elif not opt.key.startswith("$") or opt.key == "$format":
                top.add(opt)  # custom options (apikey) and the format stay on the request
        top.add(SelectOption([Path.of(ctx.key(info.v7))]))
        top.add(
            ExpandOption(
                [ExpandItem(TreeName(name), count=bool(seg.count), options=nested if nested.options else None)]
            )
        )
        root.query = top
        inner = Walk(ctx.schema, unknown_names=ctx.unknown_names, max_local_sort_rows=ctx.max_local_sort_rows)
        tr = inner.walk(url, method)
        if tr.plan is not None:
            tr.plan.unwrap = name
            tr.plan.unwrap_count = bool(seg.count)
            tr.plan.features = (*tr.plan.features, f"{info.name}.{name}.navigation_path")
        tr.features.append(f"{info.name}.{name}.navigation_path")
        return tr

    def path_access(self, info: ResourceInfo, method: str, count: bool) -> Translation | None:
        """A resource reached through a navigation path is as writable as it is at the root (decisions 4
        and 5): a write to a read-only or proxy-answered one is 401 with an empty body, a read of a
        proxy-answered one is answered empty here. None: go on."""
        if (info.local or info.read_only) and method not in ("GET", "HEAD"):
            raise WalkError(401, None)
        if info.local:
            self.ctx.feature(f"{info.name}.local_empty")
            return Translation(
                local_status=200, local_body={"d": 0} if count else {"d": []}, features=self.ctx.features
            )
        return None

    # ------------------------------------------------------------------ options of one resource
    def walk_options(
        self, options: OptionList, resource: ResourceInfo, plan: ObjectPlan, *, top: bool, helpers_allowed: bool = True
    ) -> None:
        """Every option of one resource (the request's, or an expanded navigation's), then the helpers the
        derived values among them need."""
        expand_ops: list[Op] = []
        select_ops: list[Op] = []
        helpers: set[str] = set()
        expand = options.expand
        client_reads = self.selects.prepare_client_reads(options, resource)
        if expand is not None:
            for item in list(expand.items):
                op = self.selects.walk_expand_item(item, resource, expand)
                if op is not None:
                    expand_ops.append(op)
            if not expand.items:
                options.remove(expand)
            self.selects.note_client_reads(options, expand_ops)
        select = options.select
        if select is not None and not select.star:
            for path in list(select.items):
                op = self.selects.walk_select_item(path, resource, select, helpers, options=options)
                if op is not None:
                    select_ops.append(op)
        filt = options.filter
        if filt is not None:
            filt.expr = self.filters.walk_expr(filt.expr, resource, {})
        orderby = options.orderby
        if orderby is not None:
            children = {op.src: op.arg for op in expand_ops if op.kind == CHILD and op.src is not None}
            self.orderbys.walk_orderby(orderby, options, resource, plan, helpers, top=top, children=children)
        sorted_by = self.ctx.local_sort_names.pop(id(options), [])
        if helpers_allowed:
            self.add_helpers(options, resource, select, select_ops, expand_ops, sorted_by)
        if select is not None and not select.star:
            present = {p.serialize() for p in select.items}
            for h in sorted(helpers):
                if h not in present:
                    select.add(h)
                    present.add(h)
            if not select.items:
                select.add(self.ctx.key(resource.v7))
                plan.padded = True
        self.selects.hide_client_reads(client_reads, expand_ops)
        gate_ops(self.ctx, id(options), expand_ops)
        self.drop_expanded_names(options)
        self.check_path_columns(options)
        expanded = {op.key for op in expand_ops}
        plan.ops = expand_ops + [op for op in select_ops if op.key not in expanded]
        plan.expand_count = len(expand_ops)
        plan.trivial = False

    def drop_expanded_names(self, options: OptionList) -> None:
        """The $select the walk wrote for a request without one names no field an expansion takes (pinejs
        drops those names from every $select, ``AddSelectFields``): the expansion is the row's value."""
        written = self.ctx.full_selects.get(id(options))
        expand = options.expand
        if written is None or expand is None:
            return
        expanded = {i.name.text for i in expand.items}
        for p in [p for p in written.items if len(p.segments) == 1 and p.names[0] in expanded]:
            written.remove(p)

    def check_path_columns(self, options: OptionList) -> None:
        """A sort key asked as a $select path answers under its name's own key; where another column of the
        finished row (a field or path of the $select, an expansion) has that name, pinejs would answer both
        under one key (OData has no alias there): the key's clear 400."""
        columns = self.ctx.path_columns.pop(id(options), [])
        if not columns:
            return
        names = [p.names[-1] for p in options.select.items if p.segments] if options.select is not None else []
        names += [i.name.text for i in options.expand.items] if options.expand is not None else []
        for leaf, refusal in columns:
            if names.count(leaf) > 1:
                raise WalkError(400, refusal)

    def add_helpers(
        self,
        options: OptionList,
        resource: ResourceInfo,
        select: SelectOption | None,
        select_ops: list[Op],
        expand_ops: list[Op],
        sorted_by: list[str],
    ) -> None:
        """Derived values need their helpers: fields into $select, navigations into $expand; a value the
        proxy sorts by needs them too, selected or not."""
        expanded_keys = {e.key for e in expand_ops}
        derived = [op.key for op in select_ops if op.kind == DERIVE and op.key not in expanded_keys]
        derived += [k for k in sorted_by if k not in expanded_keys]
        if select is None or select.star:
            derived = [k for k, n in resource.names.items() if n.kind == S.DERIVED and k not in expanded_keys]
        seen: set[str] = set()
        for key in derived:
            n = resource.names.get(key)
            if n is None or n.rule is None or key in seen:
                continue
            seen.add(key)
            for helper_key, helper in n.derived.helper_expands.items():
                self.helpers.add_helper_expand(options, resource, helper_key, helper, expand_ops)


def _response_kind(method: str, last: PathSegment, at_root: bool) -> str:
    """What the answer holds: rows, the created entity, a count, or the upstream's body as it is."""
    if method in ("GET", "HEAD") and not last.count:
        return "rows"
    if method == "POST" and not last.count and at_root:
        return "entity" if not _returns_id_only(last.query) else "raw"  # spec §4.5: the bare key as is
    if last.count:
        return "count"
    return "raw"


def _returns_id_only(options: OptionList | None) -> bool:
    """``?returnResource=0|false``: the server answers a POST with the bare key only (spec §4.5)."""
    if options is None:
        return False
    opt = options.get("returnResource")
    return opt is not None and getattr(opt, "value", None) in ("0", "false")


def _wants_metadata(options: OptionList | None) -> bool:
    if options is None:
        return False
    fmt = options.get("$format")
    return fmt is not None and "metadata" in fmt.serialize()


def translate_target(
    schema: V6Schema, method: str, target: str, *, unknown_names: str = "drop", max_local_sort_rows: int = 10000
) -> Translation:
    """Parse and walk one v6 target (raises ODataSyntaxError, WalkError)."""
    url = parse_target(target)
    return Walk(schema, unknown_names=unknown_names, max_local_sort_rows=max_local_sort_rows).walk(url, method)
