"""Small helpers of the request walk (``proxy.engine.walk``): its error and record types, translator text as
v7 nodes, and the comparisons and texts of constant and derived v6 values, shared by every part of the walk."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from proxy.odata import ExpandItem, Expr, Lambda, Literal, OptionList, Path, parse_expression, parse_target
from proxy.schema.v6schema import Name

COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}


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
