"""Values read through a single-valued link to a view (a v6 resource that is a v7 one narrowed by its
translator's ``extra_filter``): the server joined only the view's rows, so a value read through the link is
NULL where the linked row is outside the view, which no v7 ``$select`` path or sort key spells. The walkers of
``$select`` paths and ``$orderby`` keys read such values here, from an expansion of the link."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxy.engine.logic import fold, literal_of
from proxy.engine.plan import ObjectPlan
from proxy.engine.texts import expression
from proxy.engine.walk_context import WalkContext
from proxy.odata import (
    ExpandItem,
    ExpandOption,
    Expr,
    Group,
    Literal,
    Node,
    OptionList,
    Path,
    SelectOption,
    replace_child,
)
from proxy.odata import Name as TreeName
from proxy.schema.v6schema import ResourceInfo

Reader = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Reads:
    """What a view's restriction reads: fields of the row, and through ``nav/any|all(v: …)`` the fields of
    the related rows (navigation → fields)."""

    fields: tuple[str, ...]
    navs: dict[str, tuple[str, ...]]


def view_read(
    ctx: WalkContext,
    options: OptionList,
    v6_link: str,
    link: str,
    target: ResourceInfo,
    reads: tuple[str, ...],
    value: Reader,
) -> Reader | None:
    """A value through the single-valued ``link`` (v7) to the view ``target`` (``value`` computes it from the
    linked v7 row, which must hold the fields ``reads``): the value where the linked row is inside the view,
    else NULL. Read from the client's own expansion of the link
    where it expands it whole (walked with the view's restriction, so it holds only the view's rows; its
    $select widened, its rows cut back to it), else from one the proxy adds and strips again, shared by every
    such value of the options: ``link($select=<key>,<reads>,…;$expand=…)`` holding the fields the restriction
    reads, which the proxy evaluates on the row (``holds``); where the rows show the link itself (no $select,
    or the link selected) its reference is rebuilt from that row. None where neither can be: the client's
    expansion may leave out the linked row ($filter, $top, $skip, a count), or the restriction reads what
    the proxy cannot evaluate."""
    views = ctx.view_links.setdefault(id(options), {})
    mine: ExpandItem | None = views.get(link)
    expand = options.expand
    if mine is None and expand is not None and any(i.name.text == link for i in expand.items):
        return _client_view_read(ctx, options, link, reads, value)
    needs = _learnt(target.restriction)[1]
    if mine is None:
        if needs is None:
            return None
        key = ctx.key(target.v7)
        mine = _expansion(link, [key, *reads, *needs.fields], needs.navs)
        views[link] = mine
        options.add_expand(mine)
        ctx.sort_links.setdefault(id(options), {})[link] = (
            (key, target.name) if _shows(ctx, options, v6_link, link) else None
        )
    else:
        for name in reads:
            _widen(mine, name)
    return _inside(link, value, target.restriction)


def _shows(ctx: WalkContext, options: OptionList, v6_link: str, link: str) -> bool:
    """Whether the rows show ``link`` itself (no $select, or the link selected): the proxy's expansion takes
    its place, so the selected link leaves the $select (the reference is rebuilt from the expanded row)."""
    select = options.select
    if select is None or select.star or id(options) in ctx.full_selects:
        return True
    shown = [p for p in select.items if len(p.segments) == 1 and p.names[0] in (v6_link, link)]
    for p in shown:
        select.remove(p)
    return bool(shown)


def _client_view_read(
    ctx: WalkContext, options: OptionList, link: str, reads: tuple[str, ...], value: Reader
) -> Reader | None:
    """``view_read`` from the client's own expansion of the link, where that holds every row of the view the
    link leads to (``WalkContext.whole_links``)."""
    plan = ctx.whole_links.get(id(options), {}).get(link)
    expand = options.expand
    if not isinstance(plan, ObjectPlan) or expand is None:
        return None
    item = next(i for i in expand.items if i.name.text == link)
    if [name for name in reads if _widen(item, name)]:
        plan.trivial = False  # the widened rows are cut back to the client's $select
    return _on_first(link, value)


def view_in_path(ctx: WalkContext, resource: ResourceInfo, v6_names: list[str]) -> bool:
    """Whether a link of a path (all but its last name) leads to a view."""
    cur = resource
    for name in v6_names[:-1]:
        n = ctx.lookup(cur, name)
        if n is None or not n.target:
            return False
        cur = ctx.res(n.target)
        if cur.extra_filters:
            return True
    return False


def view_refusal(v6_path: str, option: str) -> str:
    """The clear 400 where ``view_read`` cannot read a value through a link to a view (``option``: where the
    path stands, "a $select path" or "$orderby")."""
    link = v6_path.split("/")[0]
    return (
        f"{v6_path} cannot be used in {option} with {link} expanded with $filter, $top or $skip, or counted, "
        "through the v6 proxy"
    )


# ------------------------------------------------------------------------------------------ membership
def restriction_reads(restriction: Expr) -> Reads | None:
    """The fields a restriction reads: bare names of the row, and ``v/name`` in the body of a lambda over a
    navigation of the row. None where it reads anything else (a longer path, a count, a nested lambda)."""
    fields: list[str] = []
    navs: dict[str, list[str]] = {}
    for path in outer_paths(restriction):
        lam = path.lambda_
        if path.count is not None or path.method is not None or len(path.segments) != 1:
            return None
        if lam is None:
            fields.append(path.names[0])
            continue
        for inner in outer_paths(lam.body):
            names = inner.names
            if inner.lambda_ is not None or inner.count is not None or len(names) != 2 or names[0] != lam.var.text:
                return None
            navs.setdefault(path.names[0], []).append(names[1])
    return Reads(tuple(dict.fromkeys(fields)), {k: tuple(dict.fromkeys(v)) for k, v in navs.items()})


def holds(restriction: Expr, row: Mapping[str, Any]) -> bool:
    """Whether the restriction is TRUE for an expanded v7 row (SQL's logic: a NULL condition keeps no row;
    ``any`` holds where a related row's body is TRUE, ``all`` fails only where one's is FALSE)."""
    return _truth(restriction, row, None) is True


def _truth(expr: Expr, row: Mapping[str, Any], var: str | None) -> bool | None:
    """The condition's value on ``row`` (``var``: the lambda variable naming it), as the server computes it."""
    folded = evaluated(expr, row, var)
    return folded.value if isinstance(folded, Literal) else None


def evaluated(expr: Expr, row: Mapping[str, Any], var: str | None = None) -> Literal | None:
    """The condition's value on ``row`` as a literal (TRUE, FALSE or NULL); None where the proxy cannot
    compute it (a function or form the folding does not know)."""
    holder = Group(copy.deepcopy(expr))
    stack: list[Node] = [holder]
    while stack:
        parent = stack.pop()
        for child in list(parent.children()):
            if isinstance(child, Path):
                replace_child(parent, child, literal_of(_value(child, row, var)))
            else:
                stack.append(child)
    folded = fold(holder.inner)
    if isinstance(folded, Literal) and (folded.value is None or isinstance(folded.value, bool)):
        return folded
    return None


def _value(path: Path, row: Mapping[str, Any], var: str | None) -> Any:
    names = path.names[1:] if var is not None and path.names[0] == var else path.names
    lam = path.lambda_
    if lam is None:
        return row.get(names[0]) if len(names) == 1 else None
    related = row.get(names[0])
    members = [m for m in related if isinstance(m, dict)] if isinstance(related, list) else []
    results = [_truth(lam.body, m, lam.var.text) for m in members]
    if lam.kind == "any":
        return any(r is True for r in results)
    return not any(r is False for r in results)


def outer_paths(expr: Expr) -> list[Path]:
    """The paths of an expression, outside lambda bodies (a path with a lambda stands for it)."""
    found: list[Path] = []
    stack: list[Node] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Path):
            found.append(node)
        else:
            stack.extend(reversed(list(node.children())))  # text order
    return found


# ------------------------------------------------------------------------------------------ rows
def _expansion(link: str, names: list[str], navs: dict[str, tuple[str, ...]]) -> ExpandItem:
    """``link($select=names;$expand=nav($select=…),…)``."""
    options = OptionList(nested=True)
    options.add(SelectOption([Path.of(n) for n in dict.fromkeys(names)]))
    if navs:
        items = []
        for nav, chosen in navs.items():
            inner = OptionList(nested=True)
            inner.add(SelectOption([Path.of(n) for n in chosen]))
            items.append(ExpandItem(TreeName(nav), options=inner))
        options.add(ExpandOption(items))
    return ExpandItem(TreeName(link), options=options)


def _widen(item: ExpandItem, name: str) -> bool:
    """Adds ``name`` to an expansion's $select where it has one that lacks it; whether it did."""
    select = item.options.select if item.options is not None else None
    if select is None or select.star or name in {p.serialize() for p in select.items}:
        return False
    select.add(name)
    return True


def field_value(name: str) -> Reader:
    """The value of one v7 field of a row."""

    def compute(row: dict[str, Any]) -> Any:
        return row.get(name)

    return compute


def _on_first(link: str, value: Reader) -> Reader:
    """``value`` of the row an expanded single-valued ``link`` holds (None where it holds none)."""

    def compute(row: dict[str, Any]) -> Any:
        rows = row.get(link)
        first = rows[0] if isinstance(rows, list) and rows else None
        return value(first) if isinstance(first, dict) else None

    return compute


def _inside(link: str, value: Reader, restriction: str) -> Reader:
    """``value`` of the linked row where the view's restriction holds for it, else None."""

    def compute(row: dict[str, Any]) -> Any:
        rows = row.get(link)
        first = rows[0] if isinstance(rows, list) and rows else None
        if not isinstance(first, dict) or not inside_view(restriction, first):
            return None
        return value(first)

    return compute


# ------------------------------------------------------------------------------------------ decided once
_LEARNT: dict[str, tuple[Expr, Reads | None]] = {}  # restriction text → its nodes and what it reads
_DECIDED: dict[tuple[str, tuple[Any, ...]], bool] = {}  # (restriction, the values it reads) → holds
_DECIDED_MAX = 4096


def _learnt(restriction: str) -> tuple[Expr, Reads | None]:
    got = _LEARNT.get(restriction)
    if got is None:
        expr = expression(restriction)
        got = _LEARNT[restriction] = (expr, restriction_reads(expr))
    return got


def inside_view(restriction: str, row: Mapping[str, Any]) -> bool:
    """``holds`` for a view's restriction text, decided once per distinct set of values it reads (the same
    linked row recurs on many rows; evaluating the tree takes milliseconds)."""
    expr, reads = _learnt(restriction)
    key = _snapshot(row, reads)
    if key is None:
        return holds(expr, row)
    decided = _DECIDED.get((restriction, key))
    if decided is None:
        if len(_DECIDED) >= _DECIDED_MAX:
            _DECIDED.clear()
        decided = _DECIDED[(restriction, key)] = holds(expr, row)
    return decided


def _snapshot(row: Mapping[str, Any], reads: Reads | None) -> tuple[Any, ...] | None:
    """The values a restriction reads on a row, typed (``True`` is not ``1`` there), as a hashable key; None
    where one is not a plain value."""
    if reads is None:
        return None
    parts: list[Any] = [_typed(row.get(f)) for f in reads.fields]
    for nav, names in reads.navs.items():
        related = row.get(nav)
        members = related if isinstance(related, list) else []
        parts.append(tuple(tuple(_typed(m.get(n)) for n in names) if isinstance(m, dict) else None for m in members))
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def _typed(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value
