"""What every walker of one request shares: the schema, the request's settings and what the walk learns on
the way (features used, names dropped, helper spellings, local sorting). One ``WalkContext`` per request; the
walkers (``walk_path``, ``walk_select``, ``walk_filter``, ``walk_orderby``) hold it instead of sharing ``self``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxy.engine.keys import key_of
from proxy.odata import Literal, OptionList, Path, SkipOption, TopOption
from proxy.schema.v6schema import Name, ResourceInfo, V6Schema

Scope = dict[str, ResourceInfo]
"""Lambda variables in scope → the v6 resource each stands for."""


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


@dataclass(frozen=True)
class HelperAlias:
    """How a derived value's compute function reads an expanded navigation: under ``key``, either the rows
    themselves or, with ``from_rows``, a value computed from the client's own expanded rows."""

    key: str
    from_rows: Callable[[Any], Any] | None = None


@dataclass
class WalkContext:
    """The state of one walk, shared by its walkers."""

    schema: V6Schema
    unknown_names: str = "drop"
    max_local_sort_rows: int = 10000
    method: str = "GET"
    kind: str = "rows"  # the response kind of the request being walked (local sorting is for rows only)
    unknown: list[Unknown] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    aliases: dict[str, Literal] = field(default_factory=dict)  # parameter aliases (@x) with literal values
    # id(options) → helper navigation spelling → how the derived values read it
    helper_aliases: dict[int, dict[str, HelperAlias]] = field(default_factory=dict)
    local_sort_names: dict[int, list[str]] = field(default_factory=dict)  # id(options) → derived names sorted by
    local_sort_label: str | None = None
    # id(options) → v7 key a local sort added to the rows (stripped from the answer) → for a link the rows show
    # as a reference ({"__id": n}): (its target's v7 key, the v6 target), rebuilt from the expanded row
    # (walk_orderby.link_value); None for a count or a joined column
    sort_links: dict[int, dict[str, tuple[str, str] | None]] = field(default_factory=dict)
    # id(options) → v7 link → the expansion restricted to a view the proxy added for values read through the link
    # (walk_orderby.view_read), shared by every $select path and sort key of those options
    view_links: dict[int, dict[str, Any]] = field(default_factory=dict)
    # id(options) → v7 link → the plan of the client's own expansion of that single-valued link where it holds
    # the linked row as a join would (keeps_the_linked_row, not a count): derived values along the link are
    # read from it (walk_orderby.client_read)
    whole_links: dict[int, dict[str, Any]] = field(default_factory=dict)
    # id(options) → the $select the walk wrote for a request without one (walk_orderby._every_field): the
    # plan still writes every v6 key, and names an expansion takes are dropped from it at the end
    full_selects: dict[int, Any] = field(default_factory=dict)
    # id(options) → the columns a sort key adds as a $select path (walk_orderby._selected_path_key): the name
    # and the 400 to answer if another column of the finished row has it (Walk.check_path_columns)
    path_columns: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    # (id(options), v7 link) → the expansion a derived $select path made of the link (walk_select
    # derived_at_path): its v7 key, its plan and the item; shared by later paths and sort keys through the link
    derived_links: dict[tuple[int, str], tuple[str, Any, Any]] = field(default_factory=dict)
    # id(options) → v7 link → the walk_gates.Gate of the client's expansion of that link the proxy asked whole
    gated: dict[int, dict[str, Any]] = field(default_factory=dict)

    def feature(self, text: str) -> None:
        if text not in self.features:
            self.features.append(text)

    def unknown_name(self, name: str, resource: ResourceInfo, option: str) -> None:
        """A name the v6 graph lacks: 400 in ``$filter``/``$orderby`` (or with ``unknown_names=reject``),
        otherwise recorded and dropped by the caller."""
        if option in ("$filter", "$orderby") or self.unknown_names == "reject":
            raise WalkError(400, f"Unknown field '{name}' on '{resource.name}' in {option}")
        self.unknown.append(Unknown(name, resource.name, option))

    def lookup(self, resource: ResourceInfo, name: str) -> Name | None:
        return resource.names.get(name)

    def require(self, resource: ResourceInfo, name: str, option: str) -> Name:
        """A name of ``$filter``/``$orderby``, where an unknown one is a 400."""
        n = resource.names.get(name)
        if n is None:
            self.unknown_name(name, resource, option)
            raise WalkError(400, f"Unknown field '{name}' on '{resource.name}' in {option}")
        return n

    def res(self, v6name: str) -> ResourceInfo:
        return self.schema.resources[v6name]

    def key(self, v7_resource: str) -> str:
        """The name a v7 ``$select`` on ``v7_resource`` can always hold: its key."""
        key = key_of(self.schema, v7_resource)
        if key is None:
            raise WalkError(400, f"{v7_resource} has no field to select through the v6 proxy")
        return key

    def key_path(self, v7_resource: str) -> Path:
        return Path.of(self.key(v7_resource))


def keeps_the_linked_row(options: OptionList | None) -> bool:
    """Whether the client's options of an expansion of a single-valued link keep its row, as a join holds it:
    no $filter, and no $top/$skip that can leave out the one row (the server pages the expansion's own
    subquery: ``LIMIT n OFFSET 0`` with n ≥ 1 keeps it)."""
    if options is None:
        return True
    if options.get("$filter") is not None:
        return False
    tops = options.all("$top")
    skips = options.all("$skip")
    return all(isinstance(o, TopOption) and o.value >= 1 for o in tops) and all(
        isinstance(o, SkipOption) and o.value == 0 for o in skips
    )


def keeps_every_member(options: OptionList | None) -> bool:
    """Whether the client's options of an expansion of a collection keep every member as a join of it holds
    them: no $filter, $top or $skip (a sort key through the collection then reads the members from the
    client's expansion, ``walk_orderby.member_key``). Its own $orderby does not matter: the rows v6 joined to
    the members of one parent show the same parent and the same whole expansion (a subquery of its own),
    differing only by the keys sorted by, so the order the members come in is not seen."""
    return options is None or all(options.get(k) is None for k in ("$filter", "$top", "$skip"))


def member_slot(nav: str) -> str:
    """The key a joined member of the client's expansion of ``nav`` is put under in a row copy (the rows keep
    the whole expansion; ``apply.fanned_out``, ``SortKey.fan_into``): no field can have it (``@``)."""
    return f"{nav}@member"
