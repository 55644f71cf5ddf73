"""The response plan: declarative, per JSON object position, built by the request walk.

A plan says, for every object of a v7 response, which v6 keys to produce, in which order, and from what:
a v7 key copied (maybe renamed), a constant, a reference unwrapped, a coerced value, a value derived from
helper fields, or an expanded child with its own plan. Keys the plan does not name are dropped (v7-only
names, helper fields). The applier (``proxy.engine.apply``) is replaceable; the plan is plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COPY = 0  # value of v7 key ``src``
CONST = 1  # ``arg``
UNWRAP = 2  # ``{"__id": n}`` in v7 key ``src`` → n
COERCE = 3  # ``arg(value of src)``
DERIVE = 4  # ``arg(v7 row)``
CHILD = 5  # expanded navigation ``src`` with plan ``arg`` (a number when it was ``$count``)
PATH = 6  # expanded along v7 navigations: ``src`` then ``arg[0]`` (single-valued steps), rows planned by ``arg[1]``
#          (``None``: the path ends on a ``$count``, a number)


@dataclass(frozen=True)
class Op:
    key: str  # the v6 key written
    kind: int
    src: str | None = None  # the v7 key read
    arg: Any = None


@dataclass(frozen=True)
class SortKey:
    """One local ``$orderby`` item, evaluated on v7 rows before they are rewritten."""

    src: str | None
    compute: Callable[[dict[str, Any]], Any] | None
    descending: bool
    # a v7 collection the key reads through: the rows are joined to it first, one per member (none: one row),
    # as SQL's LEFT JOIN does for a sort key through a navigation to many rows; ``a/b``: the collection ``b``
    # of the member of ``a`` (every step joined, outermost first)
    fan_out: str | None = None
    # where the joined member goes: None = in place of the collection (the proxy's own expansion of it); a key
    # of its own (dropped by the plan) where the rows keep the whole collection (the client's expansion)
    fan_into: str | None = None


@dataclass
class ObjectPlan:
    resource: str  # v6 resource (for URIs and logs)
    v7_resource: str
    ops: list[Op] = field(default_factory=list)
    open_ended: bool = False  # no $select: keys the plan does not know keep their upstream position
    known: frozenset[str] = frozenset()  # v7 keys the ops read or deliberately drop
    order: dict[str, int] = field(default_factory=dict)  # v6 key → position, for open-ended rows
    sort: tuple[SortKey, ...] = ()  # sorts the array holding these objects (local $orderby)
    top: int | None = None  # local paging after a local sort
    skip: int | None = None
    trivial: bool = False  # every op is a COPY under the same name and nothing is dropped
    expand_count: int = 0  # the first ops come from $expand (in $expand order)
    local_limit: int | None = None  # local sort: at most this many upstream rows
    builders: dict[int, Any] = field(default_factory=dict)  # the applier's row builders, by row length
    key_of_src: dict[str, str] = field(default_factory=dict)  # v7 key → the v6 key written from it
    padded: bool = False  # $select names a key only because v7 needs one name there (never shown)

    def finish(self, hidden: frozenset[str] = frozenset()) -> ObjectPlan:
        srcs = {op.src for op in self.ops if op.src is not None}
        self.known = frozenset(srcs | set(hidden))
        self.order = {op.key: i for i, op in enumerate(self.ops)}
        self.key_of_src = {op.src: op.key for op in self.ops if op.src is not None}
        return self


@dataclass
class ResponsePlan:
    """What to do with the upstream's answer to one translated request: its body, the status text a
    bodiless write answers, and the ``Location`` header (every change to the answer is the plan's)."""

    kind: str  # "rows" ({"d": [...]}), "entity" (POST object), "count", "raw" (pass the body unchanged)
    objects: ObjectPlan | None = None
    v6_resource: str | None = None
    v7_resource: str | None = None
    max_local_rows: int | None = None  # local sort: more rows than this → 400 (asked one more)
    local_sort_label: str | None = None
    features: tuple[str, ...] = ()
    resource_names: dict[str, str] = field(default_factory=dict)  # v7 → v6 names for URI rewriting
    unwrap: str | None = None  # rows: answer the first row's expanded ``unwrap`` as ``d`` (a navigation path)
    unwrap_count: bool = False  # … which is a ``$count`` (a number)
    entity_key: str | None = None  # POST: the key; a body holding only it is the bare key object (spec §4.5)
    v6_spelling: str | None = None  # the resource as the client named it, for the Location header
    v7_spelling: str | None = None  # … and as the upstream names it (None: Location is left alone)
    # the applier's struct rows for this plan's answers (proxy.engine.apply: compiled once, or switched off)
    structs: Any = field(default=None, compare=False, repr=False)
