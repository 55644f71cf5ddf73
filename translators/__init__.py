"""Per-resource v6 ↔ v7 translation rules (one module per v6 resource or concern).

Writing a translator
====================
A translator module exposes ``TRANSLATORS: list[Translator]`` (usually one). A ``Translator`` names the v6
resource it speaks for and lists *rules*, which are plain data. The engine (``proxy.engine``) never names a
field: everything it knows about v6 comes from these declarations.

Rules (all names are v6 names unless the rule says v7):

* ``Rename(v6, v7)`` – a field or navigation called ``v6`` in v6 is ``v7`` in v7, in URLs (select, expand,
  filter, orderby, lambdas, at any depth), bodies and responses. A v7 name that a rename shadows (v7's own
  field of the same v6 name) becomes invisible in v6. ``Rename(v6, v7, target=view)`` makes a navigation lead
  to a v6 view standing on the v7 navigation's target, so its names are the view's.
* ``Hide(v7)`` – a v7-only field or navigation: it never appears in a v6 response and a v6 request naming it is
  treated as unknown.
* ``Constant(name, type, value=None, after=..., target=None, reject_non_null_body=False)`` – a v6 field removed
  in v7: it reads as ``value`` and a ``$filter`` on it becomes the literal result of comparing the constant.
  With ``target`` it is a single-valued navigation (``$expand`` gives ``[]``). ``after`` places it in the v6
  key order. ``reject_non_null_body`` answers 400 (empty) to a body giving it a non-null value.
* ``EmptyNavigation(name, target)`` – a v6 collection navigation that is always empty: ``$expand`` → ``[]``,
  ``/$count`` → 0, ``any()`` → false, ``all()`` → true; never asked upstream.
* ``Unwrap(name, type="Integer")`` – v7 answers a reference ``{"__id": n}``; v6 answered the number.
* ``Coerce(name, v6_type, to_v6, to_v7=None)`` – the same field with another JSON type (functions from
  ``translators.coercions``).
* ``Derived(name, type, helpers, compute, ...)`` – a v6 value computed from v7 fields (``helpers``, fetched and
  stripped again when the client did not ask for them) and navigations (``helper_expands={key: HelperExpand(
  navigations, select=... | count=True, count_where=...)}``: the rows, or how many rows match, handed to
  ``compute`` under ``key``). A derived *navigation* (``type`` = the target resource) may name ``expand_via``:
  the v7 navigation path whose end is what ``$expand`` of the v6 navigation shows (e.g. a view's "device type
  of the release's fleet"). How ``$filter`` and ``$orderby`` read the value is declared apart:
  ``filter=DerivedFilter(values=..., null=..., cases=...)`` — ``values`` maps a v6 literal to v7 OData text
  (``eq``; ``ne`` is its ``not``; ``in`` its ``or``; other literals → ``false``) or is a function of the
  literal, ``null`` gives the texts for ``eq null``/``ne null``; ``cases`` — ``((v7 condition, v6 value), …)``,
  conditions that never overlap: the value is exactly ``value`` where its condition holds (NULL where none
  does). Then any other use in ``$filter`` (functions, ``gt``, a comparison with another field) is translated
  exactly, one branch per case with the value folded in (``f(x)`` ≡ ``(C1 and f(V1)) or (C2 and f(V2))``, see
  ``proxy.engine.logic``). ``order=DerivedOrder(by=..., local_sort_label=...)``: ``by`` is the v7 field that
  sorts the same way, or ``None`` when the proxy must sort locally.
* ``AliasRename(v6, v7)`` – a resource alias (raw fact-type name) that changed.

Translator options: ``v7_resource`` (the v7 resource a v6 resource stands on, e.g. ``my_application`` →
``application``), ``extra_filter`` (v7 OData text AND-ed into every ``$filter``), ``local`` (a v6-only resource
the proxy answers itself, always empty; ``LocalResource`` declares its graph), ``read_only`` (writes → 401),
``view`` (a v6-only resource over a v7 one: only the declared fields exist), ``flavours`` (upstream flavours
the translator applies to), ``body_hooks`` (named async hooks for body rules needing logic or a look-up; see
``BodyHook``), ``filter_hooks`` (``FilterHook``: a function rewriting a lambda over a navigation, for views), ``v7_only`` (a v7 resource
that does not exist in v6: unknown, 401), ``metadata_after`` (for a v6-only resource: the entity it follows
in ``/v6/$metadata``, as the server listed it).

Every rule checks its own arguments when it is built: a wrong declaration (a name that is no name, a lone text
where a tuple belongs, OData text that does not parse, a value that is not JSON) raises ``DeclarationError`` at
import, naming the module and the rule. Then every rule is validated against the v7 graph at start-up: a rule
naming a v7 name the graph lacks, or placing a field after a name that does not exist, stops the proxy. The
options of several translators of one resource combine as each option declares (``merge_translators``).

Migration texts: every rule (and a translator, for its resource-level features) takes ``migration=``, the
step a client developer takes to stop depending on it, in the words of balena's v7 migration guide. The
usage report (``balena-v6-proxy report``) shows it next to each feature a client used; a rule without one
gets its rule kind's default text (``proxy.report.migration``). Feature names (``<resource>.<name>.<what>``,
logged as ``v6_features``) are a stable interface: the report and the metrics key on them.

Third-party translators: a package declares an entry point in the group ``balena_v6_proxy.translators``
pointing at a module (or object) with ``TRANSLATORS``; ``translators.registry.load_translators`` loads them
after the built-ins, and their rules merge with the built-ins' for the same resource.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from translators._checks import Checker, DeclarationError

__all__ = [
    "AliasRename",
    "BodyContext",
    "BodyError",
    "BodyHook",
    "Coerce",
    "Constant",
    "DeclarationError",
    "Derived",
    "DerivedFilter",
    "DerivedOrder",
    "EmptyNavigation",
    "HelperExpand",
    "Hide",
    "LocalResource",
    "Rename",
    "Rule",
    "Translator",
    "TranslatorConflict",
    "Unwrap",
    "merge_translators",
]


@dataclass(frozen=True)
class Rename:
    """A field or navigation that has another name in v7. ``target`` (navigations only): the v6 resource it
    leads to when that is a view over the v7 target (e.g. ``supervisor_release`` over ``release``)."""

    v6: str
    v7: str
    target: str | None = None
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"Rename({self.v6!r}, {self.v7!r})")
        c.name("v6", self.v6)
        c.name("v7", self.v7)
        c.name("target", self.target, optional=True)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class Hide:
    """A v7-only name, absent from v6."""

    v7: str
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"Hide({self.v7!r})")
        c.name("v7", self.v7)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class Constant:
    """A v6 field removed in v7, read as a constant."""

    name: str
    type: str
    value: Any = None
    after: str | None = None
    target: str | None = None
    reject_non_null_body: bool = False
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"Constant({self.name!r})")
        c.name("name", self.name)
        c.text("type", self.type)
        c.scalar("value", self.value)
        c.name("after", self.after, optional=True)
        c.name("target", self.target, optional=True)
        if self.target is not None and self.value is not None:
            c.fail("a navigation (target) reads as NULL: value must be None")
        c.flag("reject_non_null_body", self.reject_non_null_body)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class EmptyNavigation:
    """A v6 collection navigation that is always empty."""

    name: str
    target: str
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"EmptyNavigation({self.name!r})")
        c.name("name", self.name)
        c.name("target", self.target)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class Unwrap:
    """v7 answers ``{"__id": n}``, v6 answered ``n``."""

    name: str
    type: str = "Integer"
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"Unwrap({self.name!r})")
        c.name("name", self.name)
        c.text("type", self.type)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class Coerce:
    """Same field, other JSON representation."""

    name: str
    v6_type: str | None
    to_v6: Callable[[Any], Any]
    to_v7: Callable[[Any], Any] | None = None
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"Coerce({self.name!r})")
        c.name("name", self.name)
        c.text("v6_type", self.v6_type, optional=True)
        c.callable("to_v6", self.to_v6)
        c.callable("to_v7", self.to_v7, optional=True)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class HelperExpand:
    """A v7 navigation a derived value reads, expanded by the proxy under the first spelling in ``navigations``
    the client did not use and handed to ``compute`` under the helper's key: either its rows (with the fields
    in ``select``) or, with ``count``, how many rows it has where the v7 condition ``count_where`` holds."""

    navigations: tuple[str, ...]
    select: tuple[str, ...] = ()
    count: bool = False
    count_where: str | None = None

    def __post_init__(self) -> None:
        c = Checker(self, f"HelperExpand({self.navigations!r})")
        c.names("navigations", self.navigations)
        if isinstance(self.navigations, tuple) and not self.navigations:
            c.fail("navigations must name at least one v7 navigation")
        c.names("select", self.select)
        c.flag("count", self.count)
        if self.count_where is not None:
            c.condition("count_where", self.count_where)
            if not self.count:
                c.fail("count_where needs count=True")
        if self.count and self.select:
            c.fail("a counted helper selects nothing")
        c.done()


@dataclass(frozen=True)
class DerivedFilter:
    """How ``$filter`` reads a derived value. ``values`` maps a v6 literal to v7 OData text (``eq``; ``ne`` is
    its ``not``; ``in`` its ``or``; other literals → ``false``) or is a function of the literal; ``null`` gives
    the texts for ``eq null``/``ne null``. ``cases`` — ``((v7 condition, v6 value), …)``, conditions that never
    overlap: the value is exactly ``value`` where its condition holds (NULL where none does); then any other use
    (functions, ``gt``, …) is translated exactly, one branch per case with the value folded in."""

    values: Mapping[Any, str] | Callable[[Any], str] | None = None
    null: tuple[str, str] = ("false", "true")
    cases: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        c = Checker(self, "DerivedFilter")
        if isinstance(self.values, Mapping):
            c.mapping("values", self.values, lambda k, v: c.condition(f"values[{k!r}]", v))
        else:
            c.callable("values", self.values, optional=True)
        null = c.items("null", self.null)
        if len(null) != 2:
            c.fail(f"null must be the pair of conditions (eq null, ne null), got {self.null!r}")
        for text in null:
            c.condition("null", text)
        for condition, value in c.pairs("cases", self.cases):
            c.condition("case", condition)
            c.scalar("case value", value)
        c.done()


@dataclass(frozen=True)
class DerivedOrder:
    """How ``$orderby`` reads a derived value: ``by`` is the v7 field that sorts the same way, or None when the
    proxy must sort the rows itself (decision 2); ``local_sort_label`` names the value in the 400 the proxy
    answers when there are too many rows to sort."""

    by: str | None = None
    local_sort_label: str | None = None

    def __post_init__(self) -> None:
        c = Checker(self, "DerivedOrder")
        c.name("by", self.by, optional=True)
        c.text("local_sort_label", self.local_sort_label, optional=True)
        c.done()


@dataclass(frozen=True)
class Derived:
    """A v6 value computed from v7 helper fields (``helpers``) and navigations (``helper_expands``, by the key
    ``compute`` reads them under). ``filter`` and ``order`` say how ``$filter`` and ``$orderby`` read it."""

    name: str
    type: str
    helpers: tuple[str, ...]
    compute: Callable[[Mapping[str, Any]], Any]
    after: str | None = None
    replaces: str | None = None
    helper_expands: Mapping[str, HelperExpand] = field(default_factory=dict)
    expand_via: tuple[str, ...] = ()
    filter: DerivedFilter = DerivedFilter()
    order: DerivedOrder = DerivedOrder()
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"Derived({self.name!r})")
        c.name("name", self.name)
        c.text("type", self.type)
        c.names("helpers", self.helpers)
        c.callable("compute", self.compute)
        c.name("after", self.after, optional=True)
        c.name("replaces", self.replaces, optional=True)
        c.mapping("helper_expands", self.helper_expands, lambda k, v: _helper(c, k, v))
        c.names("expand_via", self.expand_via)
        c.instance("filter", self.filter, DerivedFilter)
        c.instance("order", self.order, DerivedOrder)
        c.text("migration", self.migration, optional=True)
        c.done()

    # what the walk reads, named as before the split
    @property
    def filter_values(self) -> Mapping[Any, str] | Callable[[Any], str] | None:
        return self.filter.values

    @property
    def filter_null(self) -> tuple[str, str]:
        return self.filter.null

    @property
    def cases(self) -> tuple[tuple[str, Any], ...]:
        return self.filter.cases

    @property
    def order_by(self) -> str | None:
        return self.order.by

    @property
    def local_sort_label(self) -> str | None:
        return self.order.local_sort_label


def _helper(c: Checker, key: object, value: object) -> None:
    c.name("helper_expands key", key)
    if not isinstance(value, HelperExpand):
        c.fail(f"helper_expands[{key!r}] must be a HelperExpand, got {value!r}")


@dataclass(frozen=True)
class AliasRename:
    """A resource alias (raw fact-type name) with another spelling in v7."""

    v6: str
    v7: str
    migration: str | None = None  # the step a client takes instead (the report shows it)

    def __post_init__(self) -> None:
        c = Checker(self, f"AliasRename({self.v6!r}, {self.v7!r})")
        c.name("v6", self.v6)
        c.name("v7", self.v7)
        c.text("migration", self.migration, optional=True)
        c.done()


@dataclass(frozen=True)
class LocalResource:
    """A v6-only resource the proxy answers itself (always empty)."""

    fields: Mapping[str, str]
    navigation: Mapping[str, str]
    key_order: tuple[str, ...]
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        c = Checker(self, "LocalResource")
        c.mapping("fields", self.fields, c.named_text)
        c.mapping("navigation", self.navigation, c.named_name)
        c.names("key_order", self.key_order)
        c.names("aliases", self.aliases)
        c.done()


class BodyError(Exception):
    """A body rule refused the request: status and message (``None`` → empty body)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyContext(Protocol):
    """What a body hook may use: the method, settings and look-ups with the caller's credentials."""

    method: str
    resource: str
    settings: Any

    async def get_json(self, path_qs: str) -> Any: ...

    async def cached(self, key: str, compute: Callable[[], Awaitable[Any]]) -> Any: ...

    def record(self, feature: str) -> None: ...


BodyHook = Callable[[BodyContext, dict[str, Any]], Awaitable[None]]
"""``async def hook(ctx, body)``: edits the (already renamed, v7-vocabulary) body in place or raises
``BodyError``. Body hooks see the body *before* renames when declared in ``pre_body_hooks``."""

FilterHook = Callable[[str, str], str]
"""``hook(variable, body)``: the v7 text for ``<navigation>/any(variable: body)`` (body: walked v7 text)."""

Rule = Rename | Hide | Constant | EmptyNavigation | Unwrap | Coerce | Derived | AliasRename
_RULES = (Rename, Hide, Constant, EmptyNavigation, Unwrap, Coerce, Derived, AliasRename)


class TranslatorConflict(ValueError):
    """Two translators of one v6 resource disagree on an option that takes one value."""


def _same(old: Any, new: Any) -> Any:
    if old is not None and new is not None and old != new:
        raise TranslatorConflict(f"two translators disagree ({old!r}, {new!r})")
    return new if new is not None else old


def _both(old: str | None, new: str | None) -> str | None:
    return f"({old}) and ({new})" if old and new else old or new


def _last(old: Any, new: Any) -> Any:
    return new if new is not None else old


def _any(old: bool, new: bool) -> bool:
    return old or new


def _concat(old: tuple[Any, ...], new: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*old, *new)


def _update(old: Mapping[str, Any], new: Mapping[str, Any]) -> Mapping[str, Any]:
    return {**old, **new}


def _docs(old: str, new: str) -> str:
    return f"{old}; {new}" if old and new else old or new


@dataclass(frozen=True)
class Translator:
    """Everything that differs between v6 and v7 for one v6 resource. Several translators may speak for one
    resource (built-ins and plug-ins, per flavour): ``merge_translators`` combines them, each option as its
    declaration says (rules and hooks add up, flags are set by any, single values must agree or the later wins).
    """

    resource: str
    rules: tuple[Rule, ...] = field(default=(), metadata={"merge": _concat})
    v7_resource: str | None = field(default=None, metadata={"merge": _same})
    extra_filter: str | None = field(default=None, metadata={"merge": _both})  # v7 OData text AND-ed into every $filter
    local: LocalResource | None = field(default=None, metadata={"merge": _last})
    read_only: bool = field(default=False, metadata={"merge": _any})
    view: tuple[str, ...] | None = field(default=None, metadata={"merge": _last})
    flavours: tuple[str, ...] = ("open-balena", "balena-cloud")  # chosen before merging
    pre_body_hooks: tuple[BodyHook, ...] = field(default=(), metadata={"merge": _concat})
    body_hooks: tuple[BodyHook, ...] = field(default=(), metadata={"merge": _concat})
    filter_hooks: Mapping[str, FilterHook] = field(default_factory=dict, metadata={"merge": _update})
    v7_only: bool = field(default=False, metadata={"merge": _any})
    metadata_after: str | None = field(default=None, metadata={"merge": _last})
    doc: str = field(default="", metadata={"merge": _docs})
    migration: str | None = field(default=None, metadata={"merge": _last})  # for resource-level features

    def __post_init__(self) -> None:
        c = Checker(self, f"Translator({self.resource!r})")
        c.name("resource", self.resource)
        for rule in c.items("rules", self.rules):
            c.instance("a rule", rule, _RULES)
        c.name("v7_resource", self.v7_resource, optional=True)
        if self.extra_filter is not None:
            c.condition("extra_filter", self.extra_filter)
        c.instance("local", self.local, LocalResource, optional=True)
        c.flag("read_only", self.read_only)
        if self.view is not None:
            c.names("view", self.view)
        if not isinstance(self.flavours, tuple) or not all(isinstance(f, str) and f for f in self.flavours):
            c.fail(f"flavours must be a tuple of upstream flavours, got {self.flavours!r}")
        for hooks in ("pre_body_hooks", "body_hooks"):
            value = getattr(self, hooks)
            if not isinstance(value, tuple) or not all(callable(h) for h in value):
                c.fail(f"{hooks} must be a tuple of async functions, got {value!r}")
        c.mapping("filter_hooks", self.filter_hooks, c.named_function)
        c.flag("v7_only", self.v7_only)
        c.name("metadata_after", self.metadata_after, optional=True)
        c.text("migration", self.migration, optional=True)
        c.done()


def merge_translators(translators: list[Translator]) -> dict[str, Translator]:
    """The translators of each v6 resource combined into one, in load order (raises TranslatorConflict)."""
    merged: dict[str, Translator] = {}
    for t in translators:
        m = merged.get(t.resource)
        if m is None:
            merged[t.resource] = replace(t, doc=t.doc or t.resource)
            continue
        changes: dict[str, Any] = {}
        for f in fields(Translator):
            merge = f.metadata.get("merge")
            if merge is None:
                continue
            try:
                changes[f.name] = merge(getattr(m, f.name), getattr(t, f.name))
            except TranslatorConflict as conflict:
                raise TranslatorConflict(f"{t.resource}: {f.name}: {conflict}") from None
        changes["doc"] = _docs(m.doc, t.doc or t.resource)
        merged[t.resource] = replace(m, **changes)
    return merged
