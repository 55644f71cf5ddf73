"""The v6 schema the engine walks with: for every v6 resource and name, what it is in v7."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.schema.derive import Merged, derive_v6_graph, v7_resource_of
from proxy.schema.graph import Graph
from translators import AliasRename, Coerce, Constant, Derived, EmptyNavigation, Rename, Rule, Translator, Unwrap

FIELD, NAV, CONST, EMPTY, UNWRAP, COERCE, DERIVED = "field", "nav", "const", "empty", "unwrap", "coerce", "derived"


@dataclass(frozen=True)
class Name:
    """One v6 name of a resource and how it maps to v7: the one view of a name and its rule that the walk,
    the body rules and ``/v6/$metadata`` all read (``kind`` says which rule ``rule`` is)."""

    kind: str
    v6: str
    v7: str | None = None
    target: str | None = None  # v6 resource a navigation leads to
    many: bool = False
    rule: Rule | None = None

    @property
    def derived(self) -> Derived:
        """The rule of a ``DERIVED`` name."""
        if not isinstance(self.rule, Derived):
            raise TypeError(f"{self.v6} is {self.kind}, not derived")
        return self.rule

    @property
    def coerce(self) -> Coerce:
        """The rule of a ``COERCE`` name."""
        if not isinstance(self.rule, Coerce):
            raise TypeError(f"{self.v6} is {self.kind}, not coerced")
        return self.rule

    @property
    def constant_value(self) -> Any:
        """What a ``CONST`` name reads as (None: NULL, also for an always-empty navigation or a NULL link)."""
        return self.rule.value if isinstance(self.rule, Constant) else None

    @property
    def rejects_non_null_body(self) -> bool:
        return isinstance(self.rule, Constant) and self.rule.reject_non_null_body

    @property
    def regenerated(self) -> bool:
        """Whether the name's type differs from the v7 one (``/v6/$metadata`` writes its own line)."""
        if self.kind in (CONST, DERIVED, UNWRAP):
            return True
        return self.kind == COERCE and self.coerce.v6_type is not None


@dataclass
class ResourceInfo:
    name: str
    v7: str
    names: dict[str, Name]
    key_order: list[str]
    merged: Merged | None
    hidden_v7: frozenset[str] = frozenset()  # v7 keys never shown in v6
    body_renames: dict[str, str] = field(default_factory=dict)  # v6 key → v7 key
    alias_v6_to_v7: dict[str, str] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.merged is not None and self.merged.local is not None

    @property
    def read_only(self) -> bool:
        return self.merged is not None and self.merged.read_only

    @property
    def extra_filters(self) -> list[str]:
        return [self.merged.extra_filter] if self.merged is not None and self.merged.extra_filter else []

    @property
    def restriction(self) -> str:
        """A view's rows as one condition (each extra filter in parentheses, and-ed; "" for a v7 resource as it
        is): the text the walk puts under a link to the view, declared so that it is parsed once."""
        return " and ".join(f"({t})" for t in self.extra_filters)


class V6Schema:
    """Built once at start-up from the v7 graph and the translators (validated there)."""

    def __init__(self, v7graph: Graph, translators: list[Translator], flavour: str) -> None:
        self.flavour = flavour
        self.v7graph = v7graph
        self.graph, self.merged = derive_v6_graph(v7graph, translators)
        self.resources: dict[str, ResourceInfo] = {}
        self.path_names: dict[str, tuple[str, str]] = {}  # v6 spelling → (v6 resource, v7 spelling)
        self.v7_to_v6_resource: dict[str, str] = {}
        for name, res in self.graph.items():
            self.resources[name] = self._info(name, res)
        for name, info in self.resources.items():
            self.path_names[name] = (name, info.v7)
            for alias in self.graph[name].get("aliases", []):
                self.path_names[alias] = (name, info.alias_v6_to_v7.get(alias, alias))
            if info.v7 == name:
                self.v7_to_v6_resource[name] = name
                for v6a, v7a in info.alias_v6_to_v7.items():
                    self.v7_to_v6_resource[v7a] = v6a

    def _info(self, name: str, res: dict[str, Any]) -> ResourceInfo:
        m = self.merged.get(name)
        rules = m.rules if m else ()
        v7name = v7_resource_of(m) if m else name
        v7 = self.v7graph.get(v7name, {"fields": {}, "navigation": {}, "many": []})
        renames = {r.v6: r.v7 for r in rules if isinstance(r, Rename)}
        by_name: dict[str, Rule] = {}
        for r in rules:
            if isinstance(r, (Constant, EmptyNavigation, Unwrap, Coerce, Derived)):
                by_name[r.name] = r
        names: dict[str, Name] = {f: _field_name(f, by_name.get(f), renames) for f in res["fields"]}
        many = set(res.get("many", []))
        local = m is not None and m.local is not None
        for n, target in res["navigation"].items():
            names[n] = _navigation_name(n, target, by_name.get(n), renames, local, n in many)
        shown_v7 = {nm.v7 for nm in names.values() if nm.v7}
        hidden = frozenset(k for k in list(v7["fields"]) + list(v7["navigation"]) if k not in shown_v7)
        body_renames = dict(renames)
        aliases = {r.v6: r.v7 for r in rules if isinstance(r, AliasRename)}
        return ResourceInfo(name, v7name, names, list(res["key_order"]), m, hidden, body_renames, aliases)

    def declared_texts(self) -> list[str]:
        """Every OData condition the translators declare (the engine parses each once)."""
        texts = [info.restriction for info in self.resources.values() if info.restriction]
        for m in self.merged.values():
            if m.extra_filter:
                texts.append(m.extra_filter)
            for r in m.rules:
                if isinstance(r, Derived):
                    texts.extend(_derived_texts(r))
        return texts

    # -- what the walker and the parser's scope walker ask --------------------------------------
    def resource(self, path_name: str) -> tuple[ResourceInfo, str] | None:
        """The v6 resource a path segment names (a resource or one of its aliases) and its v7 spelling."""
        found = self.path_names.get(path_name)
        if found is None:
            return None
        return self.resources[found[0]], found[1]

    def name(self, resource: str, name: str) -> Name | None:
        info = self.resources.get(resource)
        return None if info is None else info.names.get(name)

    def navigation_target(self, resource: str, name: str) -> str | None:
        n = self.name(resource, name)
        return n.target if n is not None and n.target else None


def _derived_texts(rule: Derived) -> list[str]:
    values = rule.filter.values
    texts = list(values.values()) if isinstance(values, Mapping) else []
    texts += list(rule.filter.null) + [condition for condition, _ in rule.filter.cases]
    texts += [h.count_where for h in rule.helper_expands.values() if h.count_where is not None]
    return texts


def _field_name(f: str, r: Rule | None, renames: dict[str, str]) -> Name:
    if isinstance(r, Constant):
        return Name(CONST, f, None, rule=r)
    if isinstance(r, Derived):
        return Name(DERIVED, f, r.replaces, rule=r)
    if isinstance(r, Unwrap):
        return Name(UNWRAP, f, f, target=None, rule=r)
    if isinstance(r, Coerce):
        return Name(COERCE, f, renames.get(f, f), rule=r)
    return Name(FIELD, f, renames.get(f, f))


def _navigation_name(n: str, target: str, r: Rule | None, renames: dict[str, str], local: bool, many: bool) -> Name:
    if isinstance(r, Constant):
        return Name(CONST, n, None, target=target, rule=r)
    if isinstance(r, EmptyNavigation):
        return Name(EMPTY, n, None, target=target, many=True, rule=r)
    if isinstance(r, Derived):
        return Name(DERIVED, n, None, target=target, rule=r)
    if local:  # a resource the proxy answers itself: its navigations lead nowhere upstream
        return Name(EMPTY, n, None, target=target, many=many)
    return Name(NAV, n, renames.get(n, n), target=target, many=many)
