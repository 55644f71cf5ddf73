"""The request walk: one pass over the parsed v6 URL that renames it into v7 and builds the response plan.

At every name the walk knows the v6 resource it stands in (odata-dialect.md §6: ``$select``/``$expand``/
``$orderby`` items and bare ``$filter`` paths belong to the resource of their option list, lambda variables
to their navigation's target, ``$count($filter)`` to the counted collection) and asks the schema — built from
the translators — what that name is in v7. The walk itself knows no field.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from proxy.engine.keys import key_of
from proxy.engine.plan import CHILD, COERCE, CONST, COPY, DERIVE, PATH, UNWRAP, ObjectPlan, Op, ResponsePlan, SortKey
from proxy.odata import Name as TreeName
from proxy.odata import (
    AliasOption,
    ExpandOption,
    AliasRef,
    BinOp,
    Call,
    ExpandItem,
    Expr,
    FilterOption,
    Group,
    In,
    Lambda,
    Literal,
    Not,
    ODataUrl,
    OptionList,
    OrderByOption,
    OrderItem,
    SP,
    Path,
    SelectOption,
    TopOption,
    parse_expression,
    parse_target,
)
from proxy.odata import and_filter, iter_nodes
from proxy.schema import v6schema as S
from proxy.schema.fold import fold, mentions, substitute
from proxy.schema.fold import literal_of as _null_or  # a Python value as an OData literal (None → null)
from proxy.schema.v6schema import Name, ResourceInfo, V6Schema

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
BOOLEAN_CALLS = {"startswith", "endswith", "contains", "substringof", "isof"}


class WalkError(Exception):
    """The v6 request cannot be translated: answer ``status`` with ``message`` (None = empty body)."""

    def __init__(self, status: int, message: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Unknown:
    """A name the v6 graph does not have, dropped from ``$select``/``$expand`` (decision 1)."""

    name: str
    resource: str
    option: str


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


@lru_cache(maxsize=256)
def _expression_text(text: str) -> str:
    parse_expression(text)  # validates once; nodes are re-parsed per use (they are mutable)
    return text


def expression(text: str) -> Expr:
    """New v7 nodes for a translator's OData text."""
    return parse_expression(_expression_text(text))


def _expand_item(nav: str, tail: str) -> ExpandItem:
    """An ExpandItem for ``nav`` + a translator's text (``$count($filter=…)`` or ``$select=…``)."""
    if tail.startswith("$count"):
        text = f"/x?$expand={nav}/{tail}"
    else:
        text = f"/x?$expand={nav}({tail})"
    url = parse_target(text.replace(" ", "%20"))
    return url.query.expand.items[0]  # type: ignore[union-attr]


class Walker:
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
                    raise WalkError(400, f"{current.name if last is not root else v6_spelling} cannot be used "
                                         "with a navigation path through the v6 proxy")
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
                o.name: o.value for o in last.query.options if isinstance(o, AliasOption) and isinstance(o.value, Literal)
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
        top.add(ExpandOption([ExpandItem(TreeName(name), count=bool(seg.count), options=nested if nested.options else None)]))
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

    def walk_select_item(self, path: Path, resource: ResourceInfo, select: SelectOption, helpers: set[str]) -> Op | None:
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

    def restricted_condition(self, body: Expr, target: ResourceInfo, var: str, every: bool) -> Expr:
        """A walked lambda body over a navigation to a resource narrowed by ``extra_filter``: only members
        inside it count. ``any(v:B)`` → ``any(v:B and X)``; ``all(v:B)`` → ``all(v:not(X) or B)`` (pinejs
        fails a member of all() only where the body is FALSE, so a member outside the view never fails).
        ``X`` is the translator's text with every name under ``v``."""
        if not target.extra_filters:
            return body
        self.feature(f"{target.name}.extra_filter")
        parts = [_prefixed(text, [var]) for text in target.extra_filters]
        restriction: Expr = parts[0]
        for part in parts[1:]:
            restriction = and_filter(restriction, part)
        if every:
            return BinOp("or", [_negated(restriction), Group(body) if isinstance(body, BinOp) else body])
        return and_filter(Group(body) if isinstance(body, BinOp) and body.op == "or" else body, restriction)

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
        plan.ops = [Op(op.key, DERIVE, None, _reading_helpers(op.arg, aliases)) if op.kind == DERIVE else op
                    for op in plan.ops]
        plan.sort = tuple(
            SortKey(None, _reading_helpers(sk.compute, aliases), sk.descending) if sk.compute is not None else sk
            for sk in plan.sort
        )

    # ------------------------------------------------------------------ $orderby
    def walk_orderby(
        self, orderby: OrderByOption, options: OptionList, resource: ResourceInfo, plan: ObjectPlan,
        helpers: set[str], *, top: bool,
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
                    raise WalkError(400, f"{n.v6} cannot be used with $orderby on a navigation path through the v6 proxy")
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
            raise WalkError(400, f"{label} cannot be used with $orderby and $top/$skip inside $expand through the v6 proxy")
        keys: list[SortKey] = []
        for item in orderby.items:
            desc = item.effective_direction == "desc"
            n = next((nm for it, nm in local if it is item), None)
            if n is not None:
                keys.append(SortKey(None, n.rule.compute, desc))
                helpers.update(n.rule.helpers)
                continue
            if len(item.path.segments) != 1:
                path_key = self.path_sort_key(item, walked.get(id(item)), v6_paths[id(item)], options, resource,
                                              helpers, desc)
                if path_key is None:
                    first = v6_paths[id(item)].split("/")[0]
                    raise WalkError(400, f"{label} cannot be used with $orderby on {v6_paths[id(item)]} without "
                                         f"$select, or with {first} selected or expanded, through the v6 proxy")
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
        self, item: OrderItem, found: Any, v6_path: str, options: OptionList, resource: ResourceInfo,
        helpers: set[str], desc: bool,
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

    # ------------------------------------------------------------------ $filter
    def walk_path(self, path: Path, resource: ResourceInfo, scope: dict[str, ResourceInfo], option: str) -> Any:
        """Rename a member path in place; returns the final Name (or a resource for lambda roots),
        or a marker tuple for names that are constants/derived."""
        current = resource
        segs = path.segments
        start = 0
        if segs and segs[0].name.text in scope and segs[0].key is None:
            current = scope[segs[0].name.text]
            start = 1
            if len(segs) == 1:
                self._walk_tail(path, current, scope, option)
                return ("var", current)
        last: Name | None = None
        for i in range(start, len(segs)):
            name = segs[i].name.text
            n = self.lookup(current, name)
            if n is None:
                self.unknown_name(name, current, option)
            if n.kind in (S.CONST, S.EMPTY):
                if i != len(segs) - 1:
                    return ("const", self.null_link(n, current, path.names, i, option), False)
                return ("const", n, True)
            if n.kind == S.DERIVED:
                if i != len(segs) - 1:
                    raise WalkError(400, f"{name} cannot be used with a path through the v6 proxy")
                return ("derived", n, current)
            if n.v7 and n.v7 != name:
                segs[i].name.rename(n.v7)
                self.feature(f"{current.name}.{name}.rename")
            last = n
            if n.kind == S.NAV and n.target:
                current = self.res(n.target)
            elif i != len(segs) - 1:
                # a path through a field: leave it for the server to judge
                return ("field", n)
        if last is not None and last.kind == S.NAV:
            self._walk_tail(path, current, scope, option)
        return ("name", last, current)

    def _walk_tail(self, path: Path, target: ResourceInfo, scope: dict[str, ResourceInfo], option: str) -> None:
        """The ``/$count(…)`` or lambda after a navigation path. A target narrowed by ``extra_filter`` counts
        and quantifies only its own rows (``restrict``); a bare value path through it (``nav/name``) is
        not narrowed."""
        if path.count is not None:
            if path.count.filter is not None:
                path.count.filter = self.walk_expr(path.count.filter, target, scope)
            for text in target.extra_filters:
                path.count.filter = and_filter(path.count.filter, expression(text))
                self.feature(f"{target.name}.extra_filter")
        if path.lambda_ is not None:
            lam: Lambda = path.lambda_
            inner = dict(scope)
            inner[lam.var.text] = target
            every = lam.kind == "all"
            lam.body = self.restricted_condition(self.walk_expr(lam.body, target, inner, every=every), target,
                                                 lam.var.text, every)

    def walk_expr(
        self, expr: Expr, resource: ResourceInfo, scope: dict[str, ResourceInfo], *, every: bool = False
    ) -> Expr:
        """The v7 condition for a v6 one in a position where only TRUE keeps a row (``$filter``, an ``any()``
        body, a ``$count`` filter) or, with ``every``, an ``all()`` body: pinejs compiles ``all(v:E)`` to
        ``NOT EXISTS(… WHERE NOT E)``, so there a member fails only where E is FALSE, not where it is NULL."""
        result = self._expr(expr, resource, scope)
        if not isinstance(result, (_Tri, _Cond)):
            return result
        if every:
            return _condition(_negated(_falsity(result)))
        return _condition(_truth(result))

    def _expr(self, expr: Expr, resource: ResourceInfo, scope: dict[str, ResourceInfo]) -> Any:
        if isinstance(expr, Group):
            inner = self._expr(expr.inner, resource, scope)
            if isinstance(inner, (_Tri, _Cond)):
                return inner
            expr.inner = inner
            return expr
        if isinstance(expr, Not):
            inner = self._expr(expr.operand, resource, scope)
            if isinstance(inner, _Tri):
                return _Tri(None if inner.value is None else not inner.value)
            if isinstance(inner, _Cond):
                return _Cond(inner.false, inner.true)  # not NULL is NULL: TRUE and FALSE swap, NULL stays
            expr.operand = inner
            return expr
        if isinstance(expr, (BinOp, Call, In)) and not (isinstance(expr, BinOp) and expr.op in ("and", "or")):
            split = self._cases_target(expr, resource, scope)
            if split is not None:
                return self._by_cases(expr, split, resource, scope)
        if isinstance(expr, BinOp):
            if expr.op in ("and", "or"):
                return self._logic(expr, resource, scope)
            if expr.op in COMPARISONS and len(expr.operands) == 2:
                return self._comparison(expr, resource, scope)
            _set_operands(expr, [self._value(o, resource, scope, expr.op) for o in expr.operands])
            return expr
        if isinstance(expr, In):
            return self._in(expr, resource, scope)
        if isinstance(expr, Path):
            return self._bool_path(expr, resource, scope)
        if isinstance(expr, Call):
            return self._call(expr, resource, scope)
        return expr

    def _logic(self, expr: BinOp, resource: ResourceInfo, scope: dict) -> Any:
        operands = [self._expr(o, resource, scope) for o in expr.operands]
        if any(isinstance(o, _Cond) or (isinstance(o, _Tri) and o.value is None) for o in operands) and not all(
            isinstance(o, _Tri) for o in operands
        ):
            # a NULL next to v7 conditions: SQL's three-valued and/or (NULL and FALSE is FALSE, NULL or TRUE
            # is TRUE, otherwise NULL), carried as "TRUE where …, FALSE where …" for an enclosing not()
            truths, falsities = [_truth(o) for o in operands], [_falsity(o) for o in operands]
            if expr.op == "and":
                return _cond(_joined("and", truths), _joined("or", falsities))
            return _cond(_joined("or", truths), _joined("and", falsities))
        consts = [o for o in operands if isinstance(o, _Tri)]
        if len(consts) == len(operands):
            values = [c.value for c in consts]
            if expr.op == "and":
                if any(v is False for v in values):
                    return _Tri(False)
                return _Tri(None if any(v is None for v in values) else True)
            if any(v is True for v in values):
                return _Tri(True)
            return _Tri(None if any(v is None for v in values) else False)
        _set_operands(expr, [Literal.boolean(bool(o.value)) if isinstance(o, _Tri) else o for o in operands])
        return expr

    def _value(self, operand: Expr, resource: ResourceInfo, scope: dict, context: str) -> Expr:
        """An operand that must stay a value (arithmetic, function argument)."""
        if isinstance(operand, Path):
            found = self.walk_path(operand, resource, scope, "$filter")
            if found[0] == "const":
                n = found[1]
                if operand.count is not None:
                    return Literal.number(0)  # an always-empty navigation counts 0
                if n.kind == S.EMPTY and found[2]:
                    raise _not_a_value(n)
                return _null_or(_constant_value(n))
            if found[0] == "derived":
                raise WalkError(400, f"{found[1].v6} cannot be used with {context} through the v6 proxy")
            return operand
        if isinstance(operand, Group):
            operand.inner = self._value(operand.inner, resource, scope, context)
            return operand
        if isinstance(operand, BinOp) and operand.op in ("and", "or"):
            # a condition compared as a value (`(a or b) eq true`): only a two-valued result has a v7 spelling
            r = self._logic(operand, resource, scope)
            if isinstance(r, _Cond) or (isinstance(r, _Tri) and r.value is None):
                raise WalkError(400, "a condition on a removed field cannot be used as a value through the v6 proxy")
            return Literal.boolean(r.value) if isinstance(r, _Tri) else r
        if isinstance(operand, BinOp):
            _set_operands(operand, [self._value(o, resource, scope, operand.op) for o in operand.operands])
            return operand
        if isinstance(operand, Call):
            r = self._call(operand, resource, scope)
            if isinstance(r, _Tri):
                return _null_or(r.value)
            return r
        if isinstance(operand, Not):  # `not a eq b` is `(not a) eq b`: not binds one value
            operand.operand = self._value(operand.operand, resource, scope, "not")
            return operand
        if isinstance(operand, In):
            r = self._in(operand, resource, scope)
            if isinstance(r, _Cond):
                raise WalkError(400, "an in list holding null cannot be used as a value through the v6 proxy")
            return _null_or(r.value) if isinstance(r, _Tri) else r
        return operand

    def _call(self, call: Call, resource: ResourceInfo, scope: dict) -> Any:
        args = []
        for a in call.args:
            if isinstance(a, Path):
                found = self.walk_path(a, resource, scope, "$filter")
                if found[0] == "const":
                    # a function of a NULL constant is NULL (false in a WHERE)
                    self.feature(f"{resource.name}.{found[1].v6}.filter_constant")
                    return _Tri(None)
                if found[0] == "derived":
                    raise WalkError(400, f"{found[1].v6} cannot be used with {call.name}() through the v6 proxy")
                args.append(a)
            else:
                args.append(self._value(a, resource, scope, call.name + "()"))
        call.args = args
        return call

    def _bool_path(self, path: Path, resource: ResourceInfo, scope: dict) -> Any:
        # lambdas on renamed or always-empty navigations, filter hooks of views
        segs = path.segments
        if path.lambda_ is not None and segs:
            owner = resource
            names = path.names
            start = 0
            prefix: list[str] = []  # the v7 path to the owner of the last name (hook text is written for it)
            if names[0] in scope:
                owner = scope[names[0]]
                start = 1
                prefix.append(names[0])
            # walk to the last navigation's owner to see if it is special
            cur = owner
            for i in range(start, len(segs)):
                n = self.lookup(cur, names[i])
                if n is None:
                    self.unknown_name(names[i], cur, "$filter")
                if n.kind in (S.EMPTY, S.CONST):
                    if i != len(segs) - 1:
                        self.null_link(n, cur, names, i, "$filter")  # below a NULL link: no member
                    else:
                        self.feature(f"{cur.name}.{n.v6}.empty_lambda")
                    return _Tri(path.lambda_.kind == "all")
                if n.kind == S.DERIVED:
                    hook = cur.merged.filter_hooks.get(n.v6) if cur.merged else None
                    # a hook rewrites any(); all() over a derived navigation has no rewrite
                    if hook is None or i != len(segs) - 1 or n.target is None or path.lambda_.kind != "any":
                        raise WalkError(400, f"{n.v6} cannot be used with a lambda through the v6 proxy")
                    lam = path.lambda_
                    target = self.res(n.target)
                    inner = dict(scope)
                    inner[lam.var.text] = target
                    body = self.walk_expr(lam.body, target, inner)
                    self.feature(f"{cur.name}.{n.v6}.filter_hook")
                    return _prefixed(hook(lam.var.text, _decoded(body.serialize())), prefix, keep=set(scope))
                if n.kind == S.NAV and n.target:
                    cur = self.res(n.target)
                    prefix.append(n.v7 or names[i])
        found = self.walk_path(path, resource, scope, "$filter")
        if found[0] == "const":
            value = _constant_value(found[1]) if found[2] else None  # a path through a NULL link is NULL
            return _Tri(value if isinstance(value, bool) else None)
        if found[0] == "derived":
            raise WalkError(400, f"{found[1].v6} cannot be used as a condition through the v6 proxy")
        return path

    def _cases_target(self, expr: Expr, resource: ResourceInfo, scope: dict) -> tuple | None:
        """A derived value declared by ``cases`` used in ``expr`` other than as ``name eq/ne literal`` or
        ``name in (literals)`` (those have ``filter_values``): (path, Name, owner, v7 prefix), else None."""
        for node in iter_nodes(expr):
            if not isinstance(node, Path) or node.lambda_ is not None or node.count is not None:
                continue
            if not mentions(expr, lambda p: p is node):
                continue  # inside a lambda body: walked in its own scope
            found = self._peek(node, resource, scope)
            if found is None or found[0] != "derived" or not found[1].rule.cases:
                continue
            if isinstance(expr, BinOp) and expr.op in ("eq", "ne") and len(expr.operands) == 2 and node in expr.operands:
                other = expr.operands[1] if expr.operands[0] is node else expr.operands[0]
                if isinstance(self._literal(other), Literal):
                    return None
            if isinstance(expr, In) and expr.operand is node and all(
                isinstance(self._literal(i), Literal) for i in expr.items
            ):
                return None
            return (node, *found[1:])
        return None

    def _by_cases(self, expr: Expr, split: tuple, resource: ResourceInfo, scope: dict) -> Any:
        """``E(x)`` for a derived ``x`` declared by cases ``(Ci, Vi)``: TRUE where some ``Ci and E(Vi)`` is,
        FALSE where some ``Ci and not E(Vi)`` is, NULL elsewhere; each ``E(Vi)`` is walked (other names
        renamed) and folded on its literals (proxy.schema.fold)."""
        path, n, owner, prefix = split
        names = path.names
        trues: list = []
        falses: list = []
        for condition, value in n.rule.cases:
            branch = substitute(expr, lambda p: p.names == names and p.lambda_ is None and p.count is None, value)
            walked = self._expr(branch, resource, scope)
            if not isinstance(walked, (_Tri, _Cond)):
                walked = fold(walked)
                if isinstance(walked, Literal) and walked.kind in ("Boolean", "Null"):
                    walked = _Tri(walked.value)
            trues.append(_joined("and", [_prefixed(condition, prefix), _truth(walked)]))
            falses.append(_joined("and", [_prefixed(condition, prefix), _falsity(walked)]))
        self.feature(f"{owner.name}.{n.v6}.filter_cases")
        return _cond(_joined("or", trues), _joined("or", falses))

    def _literal(self, node: Expr) -> Expr:
        """A parameter alias (``@x``) stands for its literal where a translator needs the value."""
        if isinstance(node, AliasRef):
            return self.aliases.get(node.name.text, node)
        return node

    def _comparison(self, expr: BinOp, resource: ResourceInfo, scope: dict) -> Any:
        left, right = expr.operands
        for this, other, flipped in ((left, right, False), (right, left, True)):
            other = self._literal(other)
            if isinstance(this, Path):
                found = self._peek(this, resource, scope)
                if found is None:
                    continue
                kind, n, owner, prefix = found
                if kind == "const":
                    self.feature(f"{owner.name}.{n.v6}.filter_constant")
                    return self._constant_comparison(_constant_value(n), expr.op, other, flipped, resource, scope)
                if kind == "derived":
                    rule = n.rule
                    if expr.op not in ("eq", "ne") or not isinstance(other, Literal):
                        raise WalkError(400, f"{n.v6} cannot be used with {expr.op} through the v6 proxy")
                    self.feature(f"{owner.name}.{n.v6}.filter")
                    text = _derived_filter(rule, other)
                    if text in ("true", "false"):
                        value = text == "true"
                        return _Tri(value if expr.op == "eq" else not value)
                    node = _prefixed(text, prefix)
                    if expr.op == "ne":
                        return Not(Group(node))
                    return Group(node)
        _set_operands(expr, [self._value(o, resource, scope, expr.op) for o in expr.operands])
        return expr

    def _constant_comparison(
        self, value: Any, op: str, other: Expr, flipped: bool, resource: ResourceInfo, scope: dict
    ) -> Any:
        """``constant op other`` (``other op constant`` when ``flipped``). pinejs compiles eq/ne to
        IS [NOT] DISTINCT FROM, so NULL eq NULL is TRUE and a NULL constant eq E is ``E eq null``; an
        ordering against NULL is NULL."""
        op = op if flipped else _MIRRORED[op]  # now ``other op constant``
        if isinstance(other, Path):
            found = self._peek(other, resource, scope)
            if found is not None and found[0] == "const":
                other = _null_or(_constant_value(found[1]))
        if isinstance(other, Literal):
            return _Tri(_compare_constant(value, _MIRRORED[op], other))
        operand = self._value(other, resource, scope, op)
        if value is None and op not in ("eq", "ne"):
            return _Tri(None)
        return BinOp(op, [Group(operand) if isinstance(operand, BinOp) else operand, _null_or(value)])

    def _peek(self, path: Path, resource: ResourceInfo, scope: dict) -> tuple | None:
        """If the path ends on a constant or derived name: (kind, Name, owner resource, prefix); else None."""
        names = path.names
        if path.lambda_ is not None or path.count is not None:
            return None
        cur = resource
        start = 0
        prefix: list[str] = []
        if names and names[0] in scope:
            cur = scope[names[0]]
            start = 1
            prefix.append(names[0])
        for i in range(start, len(names)):
            n = self.lookup(cur, names[i])
            if n is None:
                return None
            if n.kind in (S.CONST, S.EMPTY):
                if i != len(names) - 1:
                    return ("const", self.null_link(n, cur, names, i, "$filter"), cur, prefix)
                if n.kind == S.EMPTY:
                    raise _not_a_value(n)
                return ("const", n, cur, prefix)
            if n.kind == S.DERIVED:
                return ("derived", n, cur, prefix) if i == len(names) - 1 else None
            if n.kind == S.NAV and n.target:
                cur = self.res(n.target)
                prefix.append(n.v7 or names[i])
            else:
                return None
        return None

    def _in(self, expr: In, resource: ResourceInfo, scope: dict) -> Any:
        if isinstance(expr.operand, Path):
            found = self._peek(expr.operand, resource, scope)
            if found is not None:
                kind, n, owner, prefix = found
                if kind == "const":
                    # SQL IN: TRUE on a match, else NULL if the value or an item is NULL (a path item reads as
                    # NULL on the server), else FALSE
                    value = _constant_value(n)
                    if value is None:
                        return _Tri(None)
                    items = [self._literal(i) for i in expr.items]
                    if any(isinstance(i, Literal) and _compare_constant(value, "eq", i) is True for i in items):
                        return _Tri(True)
                    if any(not isinstance(i, Literal) or i.kind == "Null" for i in items):
                        return _Tri(None)
                    return _Tri(False)
                if kind == "derived":
                    self.feature(f"{owner.name}.{n.v6}.filter")
                    parts = []
                    null_item = False
                    for item in map(self._literal, expr.items):
                        if not isinstance(item, Literal):
                            raise WalkError(400, f"{n.v6} cannot be used with in through the v6 proxy")
                        if item.kind == "Null":
                            null_item = True  # SQL: x IN (…, NULL) is NULL, not FALSE, where nothing matches
                            continue
                        parts.append(_derived_filter(n.rule, item))
                    parts = [p for p in parts if p != "false"]
                    if "true" in parts:
                        return _Tri(True)
                    match: Any = Group(_prefixed(" or ".join(f"({p})" for p in parts), prefix)) if parts else False
                    if null_item:
                        return _cond(match, False)
                    return match if parts else _Tri(False)
        operand = self._value(expr.operand, resource, scope, "in")
        if operand is not expr.operand:
            expr.operand = operand
            expr.sep = f"{SP}in{SP}"  # `x in(…)` is only valid after a closing parenthesis
        return expr




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


def _at_path(navs: tuple[str, ...], leaf: str) -> Any:
    """Reads ``leaf`` at the end of expanded single-valued navigations of a v7 row (None when a link is NULL)."""

    def compute(row: dict) -> Any:
        value: Any = row
        for nav in navs:
            value = value.get(nav) if isinstance(value, dict) else None
            value = value[0] if isinstance(value, list) and value else None
        return value.get(leaf) if isinstance(value, dict) else None

    return compute


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
        if isinstance(left, Path) and len(left.segments) == 1 and left.lambda_ is None and left.count is None \
                and isinstance(right, Literal):
            name, op, literal = left.names[0], expr.op, right
            return lambda row: _compare_constant(row.get(name), op, literal) is True
    return None


class _Tri:
    """A filter sub-expression with a known constant value: True, False or None (SQL NULL)."""

    __slots__ = ("value",)

    def __init__(self, value: bool | None) -> None:
        self.value = value


class _Cond:
    """A filter sub-expression whose v6 value is three-valued and not constant: TRUE exactly where the v7
    condition ``true`` holds, FALSE exactly where ``false`` holds, SQL NULL elsewhere (each side a bool or a
    v7 expression read in WHERE position, where only TRUE keeps a row). It arises where a NULL constant meets
    other operands in and/or: ``NULL or E`` is TRUE where E is and never FALSE, so ``not(NULL or E)`` keeps no
    row, while ``not(NULL and E)`` keeps the rows where E is FALSE."""

    __slots__ = ("true", "false")

    def __init__(self, true: "bool | Expr", false: "bool | Expr") -> None:
        self.true = true
        self.false = false


def _cond(true: "bool | Expr", false: "bool | Expr") -> "_Tri | _Cond":
    if isinstance(true, bool) and isinstance(false, bool):
        return _Tri(True if true else False if false else None)
    return _Cond(true, false)


def _truth(x: Any) -> "bool | Expr":
    """Where ``x`` is TRUE (a v7 expression itself is TRUE where it holds)."""
    if isinstance(x, _Tri):
        return x.value is True
    if isinstance(x, _Cond):
        return x.true
    return x


def _falsity(x: Any) -> "bool | Expr":
    """Where ``x`` is FALSE: for a v7 expression E, ``not(E)`` (NULL where E is NULL, so read as not FALSE)."""
    if isinstance(x, _Tri):
        return x.value is False
    if isinstance(x, _Cond):
        return x.false
    return _negated(copy.deepcopy(x))


def _negated(x: "bool | Expr") -> "bool | Expr":
    if isinstance(x, bool):
        return not x
    return Not(x if isinstance(x, Group) else Group(x))


def _joined(op: str, parts: list) -> "bool | Expr":
    """``and``/``or`` of conditions, folding the constant ones."""
    absorbing = op == "or"  # TRUE absorbs an or, FALSE an and
    if any(p is absorbing for p in parts):
        return absorbing
    parts = [p for p in parts if not isinstance(p, bool)]
    if not parts:
        return not absorbing
    if len(parts) == 1:
        return parts[0]
    return BinOp(op, [Group(p) if isinstance(p, BinOp) and p.op in ("and", "or") else p for p in parts])


def _condition(x: "bool | Expr") -> Expr:
    return Literal.boolean(x) if isinstance(x, bool) else x


def _set_operands(expr: BinOp, operands: list[Expr]) -> None:
    """Replace a chain's operands; around a replaced one the separator becomes `` op `` again, because a
    client may write ``(a)and(b)`` and a literal put in place of ``(b)`` must not make ``andfalse``."""
    canonical = f"{SP}{expr.op}{SP}"
    for i, (old, new) in enumerate(zip(expr.operands, operands)):
        if old is not new:
            if i > 0:
                expr.seps[i - 1] = canonical
            if i < len(expr.seps):
                expr.seps[i] = canonical
    expr.operands = operands


_MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


def _constant_value(n: Name) -> Any:
    return getattr(n.rule, "value", None)


def _not_a_value(n: Name) -> WalkError:
    """An always-empty collection where a value is expected (``link eq 1``): the server cannot read it either."""
    return WalkError(400, f"{n.v6} is a navigation and cannot be used as a value through the v6 proxy")


def _compare_constant(value: Any, op: str, literal: Literal) -> bool | None:
    """pinejs: ``x eq v`` is ``x IS NOT NULL AND x = v``; ``eq null`` is ``IS NULL`` (spec §2.5)."""
    other = literal.value if literal.kind != "Null" else None
    if op == "eq":
        if other is None:
            return value is None
        return value is not None and value == other
    if op == "ne":
        if other is None:
            return value is not None
        return not (value is not None and value == other)
    if value is None or other is None:
        return None
    try:
        return {"gt": value > other, "ge": value >= other, "lt": value < other, "le": value <= other}[op]
    except TypeError:
        return None


def _derived_filter(rule: Any, literal: Literal) -> str:
    if literal.kind == "Null":
        return rule.filter_null[0]
    fv = rule.filter_values
    if callable(fv):
        return fv(literal.value)
    if fv is None:
        raise WalkError(400, f"{rule.name} cannot be used in $filter through the v6 proxy")
    try:
        return fv.get(literal.value, "false")
    except TypeError:  # a duration literal (a dict) never equals a derived value
        return "false"


def _prefixed(text: str, prefix: list[str], keep: set[str] = frozenset()) -> Expr:  # type: ignore[assignment]
    """Translator text is written for the resource itself; under a lambda variable or a navigation
    path, every name in it is prefixed with that (v7) path (``d/<name>``). Paths starting with a lambda
    variable (of the text, or of the client's scope in ``keep``) are left alone."""
    node = expression(text)
    if prefix:
        from proxy.odata import iter_nodes

        lambda_vars = {n.var.text for n in iter_nodes(node) if isinstance(n, Lambda)} | set(keep)
        for sub in list(iter_nodes(node)):
            if isinstance(sub, Path) and sub.segments and sub.segments[0].name.text not in lambda_vars:
                from proxy.odata import Name as TName
                from proxy.odata import PathSeg

                sub.segments[:0] = [PathSeg(TName(p)) for p in prefix]
    return node


def _decoded(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


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
    walker = Walker(schema, unknown_names=unknown_names, max_local_sort_rows=max_local_sort_rows)
    walker.helper_aliases = {}
    return walker.walk(url, method)
