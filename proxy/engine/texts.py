"""Translator text as v7 nodes: filters, conditions and helper expansions a translator declares as OData text.

The walk edits the nodes it builds into a request, so every use gets new nodes."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote

from proxy.odata import ExpandItem, Expr, Lambda, Path, PathSeg, iter_nodes, parse_expression, parse_target
from proxy.odata import Name as TreeName


@lru_cache(maxsize=256)
def _expression_text(text: str) -> str:
    parse_expression(text)  # validates once; nodes are re-parsed per use (they are mutable)
    return text


def expression(text: str) -> Expr:
    """New v7 nodes for a translator's OData text."""
    return parse_expression(_expression_text(text))


def expand_item(nav: str, tail: str) -> ExpandItem:
    """An ExpandItem for ``nav`` + a translator's text (``$count($filter=…)`` or ``$select=…``)."""
    text = f"/x?$expand={nav}/{tail}" if tail.startswith("$count") else f"/x?$expand={nav}({tail})"
    url = parse_target(text.replace(" ", "%20"))
    assert url.query is not None and url.query.expand is not None
    return url.query.expand.items[0]


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
