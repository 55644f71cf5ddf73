"""The simulator's own small view of an OData request, built from the team parser's tree (``ir.py``).

Keeping the evaluator on this view keeps it independent of how the parser spells its nodes; ``ir.py`` is the
one place that reads ``proxy.odata`` trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lit:
    """A literal; ``kind`` is 'text', 'number', 'bool', 'null', 'datetime', 'date' or 'duration'."""

    value: Any
    kind: str


@dataclass
class Alias:
    name: str


@dataclass
class Lambda:
    kind: str  # 'any' | 'all'
    var: str
    body: Any


@dataclass
class Seg:
    """One step of a member path: a name, perhaps with a key, ``/$count`` (with its filter), or a lambda."""

    name: str
    key: Any = None
    count: bool = False
    count_filter: Any = None
    lam: Lambda | None = None


@dataclass
class Path:
    segs: list[Seg]


@dataclass
class Bin:
    op: str
    args: list[Any]


@dataclass
class Not:
    arg: Any


@dataclass
class Call:
    name: str
    args: list[Any]


@dataclass
class In:
    arg: Any
    values: list[Any]


@dataclass
class Options:
    select: list[str] | None = None  # None: every field
    expand: list[ExpandItem] = field(default_factory=list)
    filter: Any = None
    orderby: list[tuple[Any, str]] = field(default_factory=list)
    top: int | None = None
    skip: int | None = None
    custom: dict[str, str] = field(default_factory=dict)
    metadata: str | None = None  # $format=json;odata.metadata=<this>


@dataclass
class ExpandItem:
    nav: str
    count: bool = False
    options: Options = field(default_factory=Options)


@dataclass
class Request:
    """``/<resource>(<key>)[/nav...][/$count]?<options>``; ``key`` is a value or ``{field: value}``."""

    resource: str
    key: Any = None
    navs: list[Seg] = field(default_factory=list)
    count: bool = False
    options: Options = field(default_factory=Options)
    aliases: dict[str, Any] = field(default_factory=dict)
