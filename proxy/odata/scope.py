"""Scoped name walker (odata-dialect.md §6): visits every renamable name with the resource it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

from .tree import Name, Node, ODataUrl

__all__ = ["Schema", "Site", "Visitor", "walk_names"]


class Schema(Protocol):
    def navigation_target(self, resource: str, name: str) -> str | None:
        """The resource a navigation `name` of `resource` leads to, None when `name` is not a navigation."""


@dataclass(slots=True)
class Site:
    """Where a visited name sits: `node` owns the name (PathSegment, PathSeg, ExpandItem, NamedKey...),
    `ancestors` runs from the ODataUrl down to node's parent (use `replace_child(ancestors[-1], ...)`)."""

    node: Node
    ancestors: list[Node] = field(default_factory=list)


Visitor = Callable[[str | None, Name, str, Site], None]


def walk_names(url: ODataUrl, schema: Schema, visitor: Visitor) -> None:
    raise NotImplementedError
