"""The v6 graph = the v7 graph transformed by the translators' declarations, validated at load.

Each rule checked its own arguments when it was built (``translators``); here every rule is checked against
the v7 graph it applies to: a name the graph lacks stops the proxy with the resource and the rule named."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxy.schema.graph import Graph
from translators import (
    AliasRename,
    Coerce,
    Constant,
    Derived,
    EmptyNavigation,
    Hide,
    Rename,
    Rule,
    Translator,
    TranslatorConflict,
    Unwrap,
    merge_translators,
)

Merged = Translator
"""All translators of one v6 resource, merged in load order (``translators.merge_translators``)."""


class TranslatorError(Exception):
    """A translator names something the v7 graph does not have (a start-up error)."""


def v7_resource_of(m: Merged) -> str:
    """The v7 resource a v6 resource stands on."""
    return m.v7_resource or m.resource


def merged_translators(translators: list[Translator]) -> dict[str, Merged]:
    try:
        return merge_translators(translators)
    except TranslatorConflict as conflict:
        raise TranslatorError(str(conflict)) from None


def _insert_after(order: list[str], name: str, after: str | None, resource: str) -> None:
    if name in order:
        return
    if after is None:
        order.append(name)
        return
    if after not in order:
        raise TranslatorError(f"{resource}: rule {name!r} placed after {after!r}, which the graph does not have")
    order.insert(order.index(after) + 1, name)


def _need(v7: dict[str, Any], name: str, resource: str, rule: object) -> None:
    if name not in v7["fields"] and name not in v7["navigation"]:
        raise TranslatorError(f"{resource}: {type(rule).__name__} names {name!r}, which v7 {resource} lacks")


def _local_resource(m: Merged) -> dict[str, Any]:
    """A resource the proxy answers itself: its graph is what the translator declares."""
    local = m.local
    assert local is not None
    out: dict[str, Any] = {
        "fields": dict(local.fields),
        "navigation": dict(local.navigation),
        "many": [],
        "key_order": list(local.key_order),
    }
    if local.aliases:
        out["aliases"] = list(local.aliases)
    return out


def _check_rules(name: str, rules: tuple[Rule, ...], v7: dict[str, Any], v7graph: Graph) -> None:
    """Every v7 name a rule mentions exists in the v7 resource (or along its path)."""
    for r in rules:
        if isinstance(r, (Rename, Hide)):
            _need(v7, r.v7, name, r)
        elif isinstance(r, (Unwrap, Coerce)):
            _need(v7, r.name, name, r)
        elif isinstance(r, Derived):
            _check_derived(name, r, v7, v7graph)


def _check_derived(name: str, r: Derived, v7: dict[str, Any], v7graph: Graph) -> None:
    for h in r.helpers:
        _need(v7, h, name, r)
    for key, helper in r.helper_expands.items():
        if not any(n in v7["navigation"] for n in helper.navigations):
            raise TranslatorError(f"{name}: Derived {r.name!r} helper {key!r} names no v7 navigation")
    if r.replaces:
        _need(v7, r.replaces, name, r)
    current = v7
    for step in r.expand_via:
        if step not in current["navigation"]:
            raise TranslatorError(f"{name}: Derived {r.name!r} expands via {step!r}, which v7 lacks")
        current = v7graph[current["navigation"][step]]


@dataclass
class _Shape:
    """A v6 resource's names while it is derived: fields, navigations, the collections among them, key order."""

    fields: dict[str, str] = field(default_factory=dict)
    navigation: dict[str, str] = field(default_factory=dict)
    many: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


def _v7_names(m: Merged | None, v7: dict[str, Any]) -> _Shape:
    """The v7 names v6 shows, renamed, retyped and unwrapped as the rules say."""
    rules = m.rules if m else ()
    renames = {r.v7: r.v6 for r in rules if isinstance(r, Rename)}
    targets = {r.v7: r.target for r in rules if isinstance(r, Rename) and r.target}
    hidden = {r.v7 for r in rules if isinstance(r, Hide)}
    # A rename's v6 name shadows v7's own field of that name (unless that one is renamed too).
    shadowed = {v6 for v6 in renames.values() if v6 in v7["fields"] or v6 in v7["navigation"]} - set(renames)
    unwraps = {r.name: r for r in rules if isinstance(r, Unwrap)}
    coerce = {r.name: r for r in rules if isinstance(r, Coerce)}
    view = set(m.view) if m and m.view is not None else None

    def visible(n: str) -> bool:
        if n in hidden or n in shadowed:
            return False
        return view is None or n in view

    shape = _Shape()
    for f, t in v7["fields"].items():
        if visible(f):
            c = coerce.get(f)
            shape.fields[renames.get(f, f)] = c.v6_type if c and c.v6_type else t
    for n, target in v7["navigation"].items():
        if not visible(n):
            continue
        if n in unwraps:
            shape.fields[n] = unwraps[n].type
            continue
        shape.navigation[renames.get(n, n)] = targets.get(n, target)
        if n in v7["many"]:
            shape.many.append(renames.get(n, n))
    shape.order = [renames.get(k, k) for k in v7["key_order"] if visible(k)]
    return shape


def _v6_names(shape: _Shape, rules: tuple[Rule, ...], name: str, v7graph: Graph) -> None:
    """The names only v6 has: constants, always-empty navigations and derived values, placed in key order."""
    for r in rules:
        if isinstance(r, Constant):
            if r.target:
                shape.navigation[r.name] = r.target
            else:
                shape.fields[r.name] = r.type
            _insert_after(shape.order, r.name, r.after, name)
        elif isinstance(r, EmptyNavigation):
            shape.navigation[r.name] = r.target
            if r.name not in shape.many:
                shape.many.append(r.name)
        elif isinstance(r, Derived):
            if r.type in v7graph or (r.helper_expands and not r.helpers):
                shape.navigation[r.name] = r.type
            else:
                shape.fields[r.name] = r.type
            if r.replaces is None or r.replaces not in shape.order:
                _insert_after(shape.order, r.name, r.after, name)


def _aliases(name: str, v7name: str, rules: tuple[Rule, ...], v7: dict[str, Any]) -> list[str]:
    aliases = list(v7.get("aliases", []))
    for r in rules:
        if isinstance(r, AliasRename):
            if r.v7 not in aliases:
                raise TranslatorError(f"{name}: AliasRename names {r.v7!r}, not an alias of v7 {v7name}")
            aliases[aliases.index(r.v7)] = r.v6
    return aliases


def derive_resource(name: str, m: Merged | None, v7graph: Graph) -> dict[str, Any]:
    """One v6 resource in the graph's JSON form."""
    if m is not None and m.local is not None:
        return _local_resource(m)
    v7name = v7_resource_of(m) if m else name
    if v7name not in v7graph:
        raise TranslatorError(f"{name}: v7 resource {v7name!r} is not in the graph")
    v7 = v7graph[v7name]
    rules = m.rules if m else ()
    _check_rules(name, rules, v7, v7graph)
    shape = _v7_names(m, v7)
    _v6_names(shape, rules, name, v7graph)
    # fields in key order (then whatever key_order does not name)
    ordered = {k: shape.fields[k] for k in shape.order if k in shape.fields}
    ordered.update({k: v for k, v in shape.fields.items() if k not in ordered})
    out: dict[str, Any] = {"fields": ordered, "navigation": shape.navigation, "many": shape.many}
    aliases = _aliases(name, v7name, rules, v7)
    if aliases:
        out["aliases"] = aliases
    out["key_order"] = shape.order
    return out


def _check_view_target(m: Merged, r: Rename, v7graph: Graph, merged: dict[str, Merged]) -> None:
    """A renamed navigation may lead to a v6 view only if the view stands on the v7 navigation's target."""
    v7_target = v7graph[v7_resource_of(m)]["navigation"].get(r.v7)
    if v7_target is None:
        raise TranslatorError(f"{m.resource}: Rename {r.v6!r} has a target but v7 {r.v7!r} is no navigation")
    assert r.target is not None
    view = merged.get(r.target)
    stands_on = v7_resource_of(view) if view is not None else r.target
    if stands_on != v7_target:
        raise TranslatorError(
            f"{m.resource}: Rename {r.v6!r} leads to {r.target!r}, which does not stand on v7 {v7_target!r}"
        )


def derive_v6_graph(v7graph: Graph, translators: list[Translator]) -> tuple[Graph, dict[str, Merged]]:
    merged = merged_translators(translators)
    v6: Graph = {}
    names = list(v7graph) + [n for n in merged if n not in v7graph]
    for name in sorted(names):
        m = merged.get(name)
        if m is not None and m.v7_only:
            continue
        v6[name] = derive_resource(name, m, v7graph)
    for m in merged.values():
        for r in m.rules:
            if isinstance(r, EmptyNavigation) and r.target not in v6:
                raise TranslatorError(f"{m.resource}: EmptyNavigation {r.name!r} targets unknown {r.target!r}")
            if isinstance(r, Rename) and r.target and m.local is None and m.resource in v6:
                _check_view_target(m, r, v7graph, merged)
    for rname, res in v6.items():
        for nav, target in res["navigation"].items():
            if target not in v6:
                raise TranslatorError(f"{rname}.{nav} leads to {target!r}, which is not a v6 resource: hide it")
    return v6, merged
