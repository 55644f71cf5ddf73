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
  stripped again when the client did not ask for them; ``helper_expands`` for navigations). ``filter_values``
  maps a v6 literal to v7 OData text (``eq``; ``ne`` is its ``not``; ``in`` its ``or``; other literals →
  ``false``), ``filter_null`` gives the texts for ``eq null``/``ne null``. ``order_by`` is the v7 field that
  sorts the same way, or ``None`` when the proxy must sort locally (``sort_key`` orders values). A derived
  *navigation* (``type`` = the target resource) may name ``expand_via``: the v7 navigation path whose end is
  what ``$expand`` of the v6 navigation shows (e.g. a view's "device type of the release's fleet").
  ``cases`` — ``((v7 condition, v6 value), …)``, conditions that never overlap: the value is exactly ``value``
  where its condition holds (NULL where none does). Then any other use in ``$filter`` (functions, ``gt``, a
  comparison with another field) is translated exactly, one branch per case with the value folded in
  (``f(x)`` ≡ ``(C1 and f(V1)) or (C2 and f(V2))``, see ``proxy.engine.logic``).
* ``AliasRename(v6, v7)`` – a resource alias (raw fact-type name) that changed.

Translator options: ``v7_resource`` (the v7 resource a v6 resource stands on, e.g. ``my_application`` →
``application``), ``extra_filter`` (v7 OData text AND-ed into every ``$filter``), ``local`` (a v6-only resource
the proxy answers itself, always empty; ``LocalResource`` declares its graph), ``read_only`` (writes → 401),
``view`` (a v6-only resource over a v7 one: only the declared fields exist), ``flavours`` (upstream flavours
the translator applies to), ``body_hooks`` (named async hooks for body rules needing logic or a look-up; see
``BodyHook``), ``filter_hooks`` (a function rewriting a lambda over a navigation, for views), ``v7_only`` (a v7 resource
that does not exist in v6: unknown, 401), ``metadata_after`` (for a v6-only resource: the entity it follows
in ``/v6/$metadata``, as the server listed it).

Every rule is validated against the v7 graph at start-up: a rule naming a v7 name the graph lacks, or placing
a field after a name that does not exist, stops the proxy.

Third-party translators: a package declares an entry point in the group ``balena_v6_proxy.translators``
pointing at a module (or object) with ``TRANSLATORS``; ``translators.registry.load_translators`` loads them
after the built-ins, and their rules merge with the built-ins' for the same resource.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Rename:
    """A field or navigation that has another name in v7. ``target`` (navigations only): the v6 resource it
    leads to when that is a view over the v7 target (e.g. ``supervisor_release`` over ``release``)."""

    v6: str
    v7: str
    target: str | None = None


@dataclass(frozen=True)
class Hide:
    """A v7-only name, absent from v6."""

    v7: str


@dataclass(frozen=True)
class Constant:
    """A v6 field removed in v7, read as a constant."""

    name: str
    type: str
    value: Any = None
    after: str | None = None
    target: str | None = None
    reject_non_null_body: bool = False


@dataclass(frozen=True)
class EmptyNavigation:
    """A v6 collection navigation that is always empty."""

    name: str
    target: str


@dataclass(frozen=True)
class Unwrap:
    """v7 answers ``{"__id": n}``, v6 answered ``n``."""

    name: str
    type: str = "Integer"


@dataclass(frozen=True)
class Coerce:
    """Same field, other JSON representation."""

    name: str
    v6_type: str | None
    to_v6: Callable[[Any], Any]
    to_v7: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Derived:
    """A v6 value computed from v7 helper fields."""

    name: str
    type: str
    helpers: tuple[str, ...]
    compute: Callable[[Mapping[str, Any]], Any]
    after: str | None = None
    replaces: str | None = None
    helper_expands: Mapping[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    filter_values: Mapping[Any, str] | Callable[[Any], str] | None = None
    filter_null: tuple[str, str] = ("false", "true")
    order_by: str | None = None
    sort_key: Callable[[Any], Any] | None = None
    local_sort_label: str | None = None
    expand_via: tuple[str, ...] = ()
    cases: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class AliasRename:
    """A resource alias (raw fact-type name) with another spelling in v7."""

    v6: str
    v7: str


@dataclass(frozen=True)
class LocalResource:
    """A v6-only resource the proxy answers itself (always empty)."""

    fields: Mapping[str, str]
    navigation: Mapping[str, str]
    key_order: tuple[str, ...]
    aliases: tuple[str, ...] = ()


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


BodyHook = Callable[[BodyContext, dict], Awaitable[None]]
"""``async def hook(ctx, body)``: edits the (already renamed, v7-vocabulary) body in place or raises
``BodyError``. Body hooks see the body *before* renames when declared in ``pre_body_hooks``."""


Rule = Rename | Hide | Constant | EmptyNavigation | Unwrap | Coerce | Derived | AliasRename


@dataclass(frozen=True)
class Translator:
    """Everything that differs between v6 and v7 for one v6 resource."""

    resource: str
    rules: tuple[Rule, ...] = ()
    v7_resource: str | None = None
    extra_filter: str | None = None
    local: LocalResource | None = None
    read_only: bool = False
    view: tuple[str, ...] | None = None
    flavours: tuple[str, ...] = ("open-balena", "balena-cloud")
    pre_body_hooks: tuple[BodyHook, ...] = ()
    body_hooks: tuple[BodyHook, ...] = ()
    filter_hooks: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    v7_only: bool = False
    metadata_after: str | None = None
    doc: str = ""
