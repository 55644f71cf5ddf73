"""The v6 graph = the v7 graph transformed by the translators' declarations, validated at load."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.odata import ODataSyntaxError, parse_expression
from proxy.schema.graph import Graph
from translators import (
    AliasRename,
    Coerce,
    Constant,
    Derived,
    EmptyNavigation,
    Hide,
    Rename,
    Translator,
    Unwrap,
)


class TranslatorError(Exception):
    """A translator names something the v7 graph does not have (a start-up error)."""


@dataclass
class Merged:
    """All translators of one v6 resource, merged in load order."""

    resource: str
    v7_resource: str
    rules: list = field(default_factory=list)
    extra_filters: list[str] = field(default_factory=list)
    local: Any = None
    read_only: bool = False
    view: tuple[str, ...] | None = None
    pre_body_hooks: list = field(default_factory=list)
    body_hooks: list = field(default_factory=list)
    filter_hooks: dict = field(default_factory=dict)
    origins: list[str] = field(default_factory=list)
    v7_only: bool = False
    metadata_after: str | None = None


def merge_translators(translators: list[Translator]) -> dict[str, Merged]:
    merged: dict[str, Merged] = {}
    for t in translators:
        m = merged.get(t.resource)
        if m is None:
            m = merged[t.resource] = Merged(t.resource, t.v7_resource or t.resource)
        elif t.v7_resource and t.v7_resource != m.v7_resource:
            if m.v7_resource != m.resource:
                raise TranslatorError(f"{t.resource}: two translators disagree on its v7 resource")
            m.v7_resource = t.v7_resource
        m.rules.extend(t.rules)
        if t.extra_filter:
            m.extra_filters.append(t.extra_filter)
        m.local = t.local or m.local
        m.read_only = m.read_only or t.read_only
        m.view = t.view if t.view is not None else m.view
        m.pre_body_hooks.extend(t.pre_body_hooks)
        m.body_hooks.extend(t.body_hooks)
        m.filter_hooks.update(t.filter_hooks)
        m.v7_only = m.v7_only or t.v7_only
        m.metadata_after = t.metadata_after or m.metadata_after
        m.origins.append(t.doc or t.resource)
    return merged


def _insert_after(order: list[str], name: str, after: str | None, resource: str) -> None:
    if name in order:
        return
    if after is None:
        order.append(name)
        return
    if after not in order:
        raise TranslatorError(f"{resource}: rule {name!r} placed after {after!r}, which the graph does not have")
    order.insert(order.index(after) + 1, name)


def _need(v7: dict, name: str, resource: str, rule: object) -> None:
    if name not in v7["fields"] and name not in v7["navigation"]:
        raise TranslatorError(f"{resource}: {type(rule).__name__} names {name!r}, which v7 {resource} lacks")


def derive_resource(name: str, m: Merged | None, v7graph: Graph) -> dict[str, Any]:
    """One v6 resource in the graph's JSON form."""
    if m is not None and m.local is not None:
        local = m.local
        out = {
            "fields": dict(local.fields),
            "navigation": dict(local.navigation),
            "many": [],
            "key_order": list(local.key_order),
        }
        if local.aliases:
            out["aliases"] = list(local.aliases)
        return out
    v7name = m.v7_resource if m else name
    if v7name not in v7graph:
        raise TranslatorError(f"{name}: v7 resource {v7name!r} is not in the graph")
    v7 = v7graph[v7name]
    rules = m.rules if m else []
    renames = {r.v7: r.v6 for r in rules if isinstance(r, Rename)}
    targets = {r.v7: r.target for r in rules if isinstance(r, Rename) and r.target}
    hidden = {r.v7 for r in rules if isinstance(r, Hide)}
    for r in rules:
        if isinstance(r, (Rename, Hide)):
            _need(v7, r.v7 if isinstance(r, (Rename, Hide)) else r, name, r)
        elif isinstance(r, (Unwrap, Coerce)):
            _need(v7, r.name, name, r)
        elif isinstance(r, Derived):
            for h in r.helpers:
                _need(v7, h, name, r)
            for key, (navs, _text) in r.helper_expands.items():
                if not any(n in v7["navigation"] for n in navs):
                    raise TranslatorError(f"{name}: Derived {r.name!r} helper {key!r} names no v7 navigation")
            if r.replaces:
                _need(v7, r.replaces, name, r)
            for condition, _value in r.cases:
                try:
                    parse_expression(condition)
                except ODataSyntaxError:
                    raise TranslatorError(
                        f"{name}: Derived {r.name!r} case {condition!r} is not an OData condition"
                    ) from None
            current = v7
            for step in r.expand_via:
                if step not in current["navigation"]:
                    raise TranslatorError(f"{name}: Derived {r.name!r} expands via {step!r}, which v7 lacks")
                current = v7graph[current["navigation"][step]]
    # A rename's v6 name shadows v7's own field of that name (unless that one is renamed too).
    shadowed = {v6 for v7n, v6 in renames.items() if v6 in v7["fields"] or v6 in v7["navigation"]} - set(renames)
    unwraps = {r.name: r for r in rules if isinstance(r, Unwrap)}
    coerce = {r.name: r for r in rules if isinstance(r, Coerce)}
    view = set(m.view) if m and m.view is not None else None

    def visible(n: str) -> bool:
        if n in hidden or n in shadowed:
            return False
        return view is None or n in view

    fields: dict[str, str] = {}
    for f, t in v7["fields"].items():
        if visible(f):
            c = coerce.get(f)
            fields[renames.get(f, f)] = c.v6_type if c and c.v6_type else t
    navigation: dict[str, str] = {}
    many: list[str] = []
    for n, target in v7["navigation"].items():
        if not visible(n):
            continue
        if n in unwraps:
            fields[n] = unwraps[n].type
            continue
        navigation[renames.get(n, n)] = targets.get(n, target)
        if n in v7["many"]:
            many.append(renames.get(n, n))
    order = [renames.get(k, k) for k in v7["key_order"] if visible(k)]
    for r in rules:
        if isinstance(r, Constant):
            if r.target:
                navigation[r.name] = r.target
            else:
                fields[r.name] = r.type
            _insert_after(order, r.name, r.after, name)
        elif isinstance(r, EmptyNavigation):
            navigation[r.name] = r.target
            if r.name not in many:
                many.append(r.name)
        elif isinstance(r, Derived):
            if r.type in v7graph or (r.helper_expands and not r.helpers):
                navigation[r.name] = r.type
            else:
                fields[r.name] = r.type
            if r.replaces is None or r.replaces not in order:
                _insert_after(order, r.name, r.after, name)
    # fields in key order (then whatever key_order does not name)
    ordered = {k: fields[k] for k in order if k in fields}
    ordered.update({k: v for k, v in fields.items() if k not in ordered})
    out = {"fields": ordered, "navigation": navigation, "many": many}
    aliases = list(v7.get("aliases", []))
    for r in rules:
        if isinstance(r, AliasRename):
            if r.v7 not in aliases:
                raise TranslatorError(f"{name}: AliasRename names {r.v7!r}, not an alias of v7 {v7name}")
            aliases[aliases.index(r.v7)] = r.v6
    if aliases:
        out["aliases"] = aliases
    out["key_order"] = order
    # reorder keys like the reference JSON
    return {k: out[k] for k in ("fields", "navigation", "many", "aliases", "key_order") if k in out}


def _check_view_target(m: Merged, r: Rename, v7graph: Graph, merged: dict[str, Merged]) -> None:
    """A renamed navigation may lead to a v6 view only if the view stands on the v7 navigation's target."""
    v7_target = v7graph[m.v7_resource]["navigation"].get(r.v7)
    if v7_target is None:
        raise TranslatorError(f"{m.resource}: Rename {r.v6!r} has a target but v7 {r.v7!r} is no navigation")
    view = merged.get(r.target)  # type: ignore[arg-type]
    stands_on = view.v7_resource if view is not None else r.target
    if stands_on != v7_target:
        raise TranslatorError(
            f"{m.resource}: Rename {r.v6!r} leads to {r.target!r}, which does not stand on v7 {v7_target!r}"
        )


def derive_v6_graph(v7graph: Graph, translators: list[Translator]) -> tuple[Graph, dict[str, Merged]]:
    merged = merge_translators(translators)
    v6: Graph = {}
    names = list(v7graph) + [n for n in merged if n not in v7graph]
    for name in sorted(names):
        m = merged.get(name)
        if m is not None and m.v7_only:
            continue
        v6[name] = derive_resource(name, m, v7graph)
    for m in merged.values():
        for r in m.rules:
            if isinstance(r, (EmptyNavigation,)) and r.target not in v6:
                raise TranslatorError(f"{m.resource}: EmptyNavigation {r.name!r} targets unknown {r.target!r}")
            if isinstance(r, Rename) and r.target and m.local is None and m.resource in v6:
                _check_view_target(m, r, v7graph, merged)
    for rname, res in v6.items():
        for nav, target in res["navigation"].items():
            if target not in v6:
                raise TranslatorError(f"{rname}.{nav} leads to {target!r}, which is not a v6 resource: hide it")
    return v6, merged
