"""Scoped name walker (odata-dialect.md §6): visits every renamable name with the resource it belongs to.

Why: v6→v7 renames are per (resource, name) — the same name means different things on different resources —
so a renamer must know, at each name, which resource it stands in: through path navigations, nested
`$expand` options (resolved against the navigation's target), lambda variables (which shadow names; bare
names in a lambda body resolve against the lambda's target; outer variables stay visible) and
`nav/$count($filter=...)` (resolved against the counted collection).

`walk_names(url, schema, visitor)` calls `visitor(resource, name, role, site)` for each name, in text order:
- resource: the resource the name belongs to (the owner of the field/navigation), or None when it cannot be
  resolved (an earlier segment is not a navigation the schema knows) — such names must be left alone.
  For role "resource" (the first path segment, a resource of the model itself) it is None too.
- name: the `Name` node; `name.rename(new)` changes only its bytes.
- role: "resource" | "path" (navigation segments of the resource path) | "key" (named key parts) |
  "select" | "expand" | "filter" | "orderby" (names inside `$count($filter=...)` get "filter").
- site: `Site(node, ancestors)` — the node owning the name (PathSegment, PathSeg, NamedKey, ExpandItem) and
  the chain of ancestors from the ODataUrl down, e.g. to replace a comparison:
  `replace_child(parent, old, new)` with a `BinOp` found in `site.ancestors`.
  If the visitor returns `SKIP`, the walker does not descend further into the current path/expand item
  (use it after replacing or removing that node).

Never visited (never renamed): lambda variables, parameter alias names, custom option names, method names,
built-in function names, literals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from proxy.odata.tree import (
    BinOp,
    Call,
    ExpandItem,
    ExpandOption,
    Expr,
    FilterOption,
    Group,
    In,
    Key,
    Name,
    Node,
    Not,
    ODataUrl,
    OptionList,
    OrderByOption,
    Path,
    PathSegment,
    SelectOption,
)

__all__ = ["SKIP", "Schema", "Site", "Visitor", "walk_names"]

#: return this from a visitor to stop descending into the current path / expand item
SKIP = object()


class Schema(Protocol):
    def navigation_target(self, resource: str, name: str) -> str | None:
        """The resource a navigation `name` of `resource` leads to; None when it is not a navigation."""


@dataclass(slots=True)
class Site:
    """Where a visited name sits: `node` owns the name, `ancestors` runs from the ODataUrl to its parent."""

    node: Node
    ancestors: list[Node] = field(default_factory=list)

    @property
    def parent(self) -> Node | None:
        return self.ancestors[-1] if self.ancestors else None


Visitor = Callable[[str | None, Name, str, Site], Any]


class _Walker:
    __slots__ = ("schema", "stack", "visitor")

    def __init__(self, schema: Schema, visitor: Visitor) -> None:
        self.schema = schema
        self.visitor = visitor
        self.stack: list[Node] = []

    def visit(self, resource: str | None, name: Name, role: str, owner: Node) -> bool:
        """Call the visitor; False when it asked to SKIP."""
        return self.visitor(resource, name, role, Site(owner, list(self.stack))) is not SKIP

    def target(self, resource: str | None, name: str) -> str | None:
        if resource is None:
            return None
        return self.schema.navigation_target(resource, name)

    # ---------------------------------------------------------------------------------- URL path
    def url(self, url: ODataUrl) -> None:
        if url.root is None:
            return
        self.stack.append(url)
        self.segment(url.root, None, top=True)
        self.stack.pop()

    def segment(self, seg: PathSegment, parent_resource: str | None, top: bool) -> None:
        if seg.content_ref:
            resource = None
        elif top:
            if not self.visit(None, seg.name, "resource", seg):
                return
            resource = seg.name.text
        else:
            if not self.visit(parent_resource, seg.name, "path", seg):
                return
            resource = self.target(parent_resource, seg.name.text)
        self.stack.append(seg)
        if seg.key is not None:
            self.key(seg.key, resource)
        if seg.child is not None:
            self.segment(seg.child, resource, top=False)
        if seg.query is not None:
            self.options(seg.query, resource)
        self.stack.pop()

    def key(self, key: Key, resource: str | None) -> None:
        self.stack.append(key)
        for nk in key.named:
            self.visit(resource, nk.name, "key", nk)
        self.stack.pop()

    # ------------------------------------------------------------------------------------ options
    def options(self, opts: OptionList, resource: str | None) -> None:
        self.stack.append(opts)
        for opt in list(opts.options):
            self.stack.append(opt)
            if isinstance(opt, SelectOption):
                for item in list(opt.items):
                    self.path(item, resource, "select", {})
            elif isinstance(opt, FilterOption):
                self.expr(opt.expr, resource, "filter", {})
            elif isinstance(opt, ExpandOption):
                for item in list(opt.items):
                    self.expand_item(item, resource)
            elif isinstance(opt, OrderByOption):
                for order in list(opt.items):
                    self.stack.append(order)
                    self.path(order.path, resource, "orderby", {})
                    self.stack.pop()
            self.stack.pop()
        self.stack.pop()

    def expand_item(self, item: ExpandItem, resource: str | None) -> None:
        if not self.visit(resource, item.name, "expand", item):
            return
        target = self.target(resource, item.name.text)
        self.stack.append(item)
        if item.options is not None:
            self.options(item.options, target)
        if item.tail is not None:
            # `a/b` in $expand: expand a, and inside it expand b
            self.path(item.tail, target, "expand", {})
        self.stack.pop()

    # ---------------------------------------------------------------------------------- paths/exprs
    def path(self, path: Path, resource: str | None, role: str, lambdas: dict[str, str | None]) -> None:
        self.stack.append(path)
        current = resource
        for i, seg in enumerate(path.segments):
            if i == 0 and seg.name.text in lambdas:
                current = lambdas[seg.name.text]  # a lambda variable: never renamed
            else:
                if not self.visit(current, seg.name, role, seg):
                    self.stack.pop()
                    return
                current = self.target(current, seg.name.text)
            if seg.key is not None:
                self.stack.append(seg)
                self.key(seg.key, current)
                self.stack.pop()
        if path.count is not None and path.count.filter is not None:
            self.stack.append(path.count)
            self.expr(path.count.filter, current, "filter", lambdas)
            self.stack.pop()
        elif path.lambda_ is not None:
            lam = path.lambda_
            inner = dict(lambdas)
            inner[lam.var.text] = current
            self.stack.append(lam)
            self.expr(lam.body, current, role, inner)
            self.stack.pop()
        elif path.method is not None:
            self.stack.append(path.method)
            for arg in list(path.method.args):
                self.expr(arg, resource, role, lambdas)
            self.stack.pop()
        self.stack.pop()

    def expr(self, e: Expr, resource: str | None, role: str, lambdas: dict[str, str | None]) -> None:
        if isinstance(e, Path):
            self.path(e, resource, role, lambdas)
            return
        self.stack.append(e)
        if isinstance(e, BinOp):
            for operand in list(e.operands):
                self.expr(operand, resource, role, lambdas)
        elif isinstance(e, (Group,)):
            self.expr(e.inner, resource, role, lambdas)
        elif isinstance(e, Not):
            self.expr(e.operand, resource, role, lambdas)
        elif isinstance(e, Call):
            for arg in list(e.args):
                self.expr(arg, resource, role, lambdas)
        elif isinstance(e, In):
            self.expr(e.operand, resource, role, lambdas)
            for item in list(e.items):
                self.expr(item, resource, role, lambdas)
        self.stack.pop()


def walk_names(url: ODataUrl, schema: Schema, visitor: Visitor) -> None:
    """Visit every renamable name of `url` with its resource (see the module docstring)."""
    _Walker(schema, visitor).url(url)


def walk_expression(
    expr: Expr,
    resource: str | None,
    schema: Schema,
    visitor: Visitor,
    role: str = "filter",
    lambdas: dict[str, str | None] | None = None,
) -> None:
    """Visit the names of a standalone expression (e.g. one built with `parse_expression`) as if it were
    the `$filter` of `resource`, with the given lambda variables in scope."""
    _Walker(schema, visitor).expr(expr, resource, role, dict(lambdas or {}))
