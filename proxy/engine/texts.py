"""Translator text as v7 nodes: filters and conditions a translator declares as OData text.

Declared text is parsed once, when an engine's schema is built or first walked (``learn_schema``); the walk edits the nodes it puts
into a request, so every use gets a copy (copying a parsed tree is about twice as fast as parsing it again).
Text made per request (a ``filter_values`` function's answer, a filter hook's) is parsed where it is used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TypeVar
from urllib.parse import unquote

from proxy.odata import (
    ExpandItem,
    Expr,
    FilterOption,
    Lambda,
    Node,
    OptionList,
    Path,
    PathSeg,
    SelectOption,
    iter_nodes,
    parse_expression,
)
from proxy.odata import Name as TreeName
from proxy.schema.memo import per_schema
from proxy.schema.v6schema import V6Schema
from translators import HelperExpand

N = TypeVar("N", bound=Node)

_parsed: dict[str, Expr] = {}  # declared text → its nodes (never handed out: copied)
_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def learn(texts: Iterable[str]) -> None:
    """Parse the OData text translators declare, once (the same text parses the same for every schema)."""
    for text in texts:
        if text not in _parsed:
            _parsed[text] = parse_expression(text)


@per_schema
def _learnt(schema: V6Schema) -> bool:
    learn(schema.declared_texts())
    return True


def learn_schema(schema: V6Schema) -> None:
    """``learn`` the texts of a schema's translators (once per schema, however many walks use it)."""
    _learnt(schema)


def _copy(value: Any) -> Any:
    if isinstance(value, Node):
        cls = type(value)
        names = _FIELDS.get(cls)
        if names is None:
            names = _FIELDS[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        new = object.__new__(cls)
        for name in names:
            setattr(new, name, _copy(getattr(value, name)))
        return new
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value  # text, numbers, None: shared


def copy_nodes(node: N) -> N:
    """New nodes equal to ``node`` (a tree the walk may edit)."""
    copied: N = _copy(node)
    return copied


def expression(text: str) -> Expr:
    """New v7 nodes for a translator's OData text."""
    known = _parsed.get(text)
    return copy_nodes(known) if known is not None else parse_expression(text)


def helper_item(nav: str, helper: HelperExpand) -> ExpandItem:
    """The ``$expand`` item that fetches a derived value's helper: ``nav($select=…)`` or
    ``nav/$count[($filter=…)]``."""
    options = OptionList(nested=True)
    if helper.count:
        if helper.count_where is not None:
            options.add(FilterOption(expression(helper.count_where)))
    elif helper.select:
        options.add(SelectOption([Path.of(name) for name in helper.select]))
    return ExpandItem(TreeName(nav), count=helper.count, options=options if options.options else None)


def prefixed(text: str, prefix: list[str], keep: set[str] | frozenset[str] = frozenset()) -> Expr:
    """Translator text is written for the resource itself; under a lambda variable or a navigation
    path, every name in it is prefixed with that (v7) path (``d/<name>``). Paths starting with a lambda
    variable (of the text, or of the client's scope in ``keep``) are left alone."""
    node = expression(text)
    if prefix:
        lambda_vars = {n.var.text for n in iter_nodes(node) if isinstance(n, Lambda)} | set(keep)
        for sub in list(iter_nodes(node)):
            if isinstance(sub, Path) and sub.segments and sub.segments[0].name.text not in lambda_vars:
                sub.segments[:0] = [PathSeg(TreeName(p)) for p in prefix]
    return node


def decoded(text: str) -> str:
    """A serialized expression as the decoded text a translator hook reads and writes."""
    return unquote(text)
