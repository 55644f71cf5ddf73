"""Member paths of the request walk (``a/b/c`` in ``$filter``, ``$orderby``, lambdas and counts): each name
renamed in place, and what the path ends on said as a dataclass, so its caller (``walk_filter``,
``walk_orderby``) decides what a constant or derived end means in its option."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxy.engine.walk_context import Scope, WalkContext, WalkError
from proxy.odata import Path
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo


@dataclass(frozen=True)
class LambdaVariable:
    """The path is a lambda variable alone (``d`` in ``any(d:d/$count …)``); ``resource`` is what it ranges over."""

    resource: ResourceInfo


@dataclass(frozen=True)
class ConstantEnd:
    """The path reads a constant: the name is a removed field or always-empty navigation (``at_end``), or the
    path goes on through a link that is always NULL, whose value then is a NULL constant (``name``)."""

    name: Name
    at_end: bool


@dataclass(frozen=True)
class DerivedEnd:
    """The path ends on a derived value of ``owner``."""

    name: Name
    owner: ResourceInfo


@dataclass(frozen=True)
class ThroughField:
    """The path goes on through a plain field: left for the server to judge."""

    name: Name


@dataclass(frozen=True)
class MemberEnd:
    """A plain path, renamed: ``name`` is its last name (None: none walked), ``owner`` the resource it ends in."""

    name: Name | None
    owner: ResourceInfo


PathEnd = LambdaVariable | ConstantEnd | DerivedEnd | ThroughField | MemberEnd


@dataclass(frozen=True)
class SpecialEnd:
    """A path (not renamed yet) that ends on a constant (``constant``) or a derived name: the name, the resource
    holding it and the v7 path to that resource (translator text for it is prefixed with it)."""

    constant: bool
    name: Name
    owner: ResourceInfo
    prefix: list[str]


TailWalk = Callable[[Path, ResourceInfo, Scope, str], None]
"""Walks the ``/$count(…)`` or lambda after a navigation path (``walk_filter`` does)."""


def not_a_value(n: Name) -> WalkError:
    """An always-empty collection where a value is expected (``link eq 1``): the server cannot read it either."""
    return WalkError(400, f"{n.v6} is a navigation and cannot be used as a value through the v6 proxy")


class PathWalker:
    """Renames member paths; the tail after a navigation is walked by ``tail``."""

    def __init__(self, ctx: WalkContext, tail: TailWalk) -> None:
        self.ctx = ctx
        self.tail = tail

    def walk_path(self, path: Path, resource: ResourceInfo, scope: Scope, option: str) -> PathEnd:
        """Rename a member path in place and say what it ends on."""
        ctx = self.ctx
        current = resource
        segs = path.segments
        start = 0
        if segs and segs[0].name.text in scope and segs[0].key is None:
            current = scope[segs[0].name.text]
            start = 1
            if len(segs) == 1:
                self.tail(path, current, scope, option)
                return LambdaVariable(current)
        last: Name | None = None
        i = start
        while i < len(segs):
            name = segs[i].name.text
            if i != len(segs) - 1 and ctx.lookup(current, name) is None:
                # odata-to-abstract-sql's Property(): a prefix that is neither a lambda variable nor a
                # navigation is skipped and the rest read on the same resource (`z/name` is `name`); v7 might
                # know the name, so the v7 path drops it too
                del segs[i]
                ctx.feature(f"{current.name}.unknown_prefix_skipped")
                continue
            n = ctx.require(current, name, option)
            if n.kind in (S.CONST, S.EMPTY):
                if i != len(segs) - 1:
                    return ConstantEnd(self.null_link(n, current, path.names, i, option), False)
                return ConstantEnd(n, True)
            if n.kind == S.DERIVED:
                if i != len(segs) - 1:
                    raise WalkError(400, f"{name} cannot be used with a path through the v6 proxy")
                return DerivedEnd(n, current)
            if n.v7 and n.v7 != name:
                segs[i].name.rename(n.v7)
                ctx.feature(f"{current.name}.{name}.rename")
            last = n
            if n.kind == S.NAV and n.target:
                current = ctx.res(n.target)
            elif i != len(segs) - 1:
                return ThroughField(n)
            i += 1
        if last is not None and last.kind == S.NAV:
            self.tail(path, current, scope, option)
        return MemberEnd(last, current)

    def peek(self, path: Path, resource: ResourceInfo, scope: Scope) -> SpecialEnd | None:
        """If the path (no lambda, no count) ends on a constant or derived name, that end; else None."""
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
            n = self.ctx.lookup(cur, names[i])
            if n is None:
                if i != len(names) - 1:
                    continue  # an unknown prefix is skipped (walk_path)
                return None
            if n.kind in (S.CONST, S.EMPTY):
                if i != len(names) - 1:
                    return SpecialEnd(True, self.null_link(n, cur, names, i, "$filter"), cur, prefix)
                if n.kind == S.EMPTY:
                    raise not_a_value(n)
                return SpecialEnd(True, n, cur, prefix)
            if n.kind == S.DERIVED:
                return SpecialEnd(False, n, cur, prefix) if i == len(names) - 1 else None
            if n.kind == S.NAV and n.target:
                cur = self.ctx.res(n.target)
                prefix.append(n.v7 or names[i])
            else:
                return None
        return None

    def null_link(self, n: Name, owner: ResourceInfo, names: list[str], i: int, option: str) -> Name:
        """A path that goes on through a v6 link that is always NULL (a removed link or an always-empty
        navigation, ``link/name``). pinejs (odata-to-abstract-sql ≥ 8) LEFT JOINs every navigation of a path,
        so the row stays and the value at the end of the path is NULL (a lambda below it sees no member, a
        ``$count`` below it is 0). The names after the link are still checked; the value is a NULL constant."""
        ctx = self.ctx
        cur = ctx.res(n.target) if n.target else None
        for name in names[i + 1 :]:
            if cur is None:
                break
            below = ctx.lookup(cur, name)
            if below is None:
                ctx.unknown_name(name, cur, option)
            cur = ctx.res(below.target) if below is not None and below.target else None
        ctx.feature(f"{owner.name}.{n.v6}.null_link_path")
        return Name(S.CONST, n.v6)
