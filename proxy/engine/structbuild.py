"""Struct rows: an object plan compiled, for one shape of upstream row, into two slot classes and one fix-up
function, so that a list answer is decoded, translated and encoded by msgspec without a dict per row.

The upstream row is decoded straight into the first class (its JSON names are the v7 keys; any other key,
a missing one or a value of another type is a validation error: the caller falls back to the dict path).
Both classes have the same fields ``f0``…``fN``: first one per v6 key the plan writes, in v6 order, then
one per upstream key v6 does not show. The fix-up computes the derived values from a view of the untouched
v7 row, switches the object to the second class (same layout, v6 JSON names, so plain renames cost
nothing), sets the values that change (references unwrapped, coerced values, derived values, expanded
children) and sets the dropped keys to ``msgspec.UNSET``, which the encoder leaves out. Constants are the
first class's defaults under a name no v7 API key has (it starts with a space). Expanded rows of a known
shape are struct rows too (their fix-ups inlined in the loop); rows of a trivial plan stay as decoded, and
rows of no known shape are decoded as dicts and given to the dict builders.

Example: for ``{"a": 1, "b": {"__id": 7}, "z": "x"}`` under "copy a as A, unwrap b, constant k" (z dropped)
the classes are ``V7(f0 "a", f1 "b", f2 " const f2" = <constant>, f3 "z")`` and
``V6(f0 "A", f1 "b", f2 "k", f3 " dropped f3")`` and the fix-up::

    def fix(rows):
        for o in rows:
            o.__class__ = _V6_1
            x = o.f1
            if x.__class__ is dict and "__id" in x:
                o.f1 = x["__id"]
            o.f3 = _UNSET
        return rows

What it does not handle (``compile_rows`` answers None, the dict builders of :mod:`proxy.engine.rowbuild`
do it): ``__metadata`` in the row, keys an open-ended plan places by their upstream position, two ops
writing one key or consuming one upstream key, local sorting and paging. The dict path's interpreter
(:func:`proxy.engine.apply.interpret`) stays the definition: the output must be byte-identical to it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from proxy.engine.plan import CHILD, COERCE, CONST, COPY, PATH, UNWRAP, ObjectPlan, Op

Fix = Callable[[list[Any]], list[Any]]
ChildRows = Callable[[ObjectPlan, Any], Any]
PathValue = Callable[[Op, Any], Any]

_GONE = object()  # a key the view's caller deleted
_CONSUMING = (COPY, UNWRAP, COERCE, CHILD)  # ops whose upstream key becomes their own v6 key's field


@dataclass(frozen=True)
class RowClasses:
    """One plan's classes for one row shape."""

    v7: type  # the decode target
    fix: Fix  # v7 objects (in a list) → the same objects as v6 ones; the list is returned
    as_dicts: Callable[[list[Any]], list[Any]]  # untouched v7 objects as the dicts orjson would have made


class RowView(MutableMapping[str, Any]):
    """A v7 row held in a struct, read by its v7 names: what a derived value's function is given. Keys
    set or deleted on it (a helper handed to the function for the call) live in the view only."""

    __slots__ = ("_over", "_row")
    # set per shape on a subclass: v7 key → field read as it is; v7 key → field and how it is read (expanded
    # struct rows as the dicts orjson would have made); the keys in the upstream's order
    _plain: ClassVar[dict[str, str]] = {}
    _converted: ClassVar[dict[str, tuple[str, Callable[[Any], Any]]]] = {}
    _order: ClassVar[tuple[str, ...]] = ()

    def __init__(self, row: Any) -> None:
        self._row = row
        self._over: dict[str, Any] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        if self._over is None:  # the common case, kept short: a translator reads a few keys per row
            attr = self._plain.get(key)
            if attr is not None:
                return getattr(self._row, attr)
        over = self._over
        if over is not None and key in over:
            value = over[key]
            return default if value is _GONE else value
        attr = self._plain.get(key)
        if attr is not None:
            return getattr(self._row, attr)
        read = self._converted.get(key)
        if read is None:
            return default
        return read[1](getattr(self._row, read[0]))

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _GONE)
        if value is _GONE:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        over = self._over
        if over is not None and key in over:
            return over[key] is not _GONE
        return key in self._plain or key in self._converted

    def __setitem__(self, key: str, value: Any) -> None:
        if self._over is None:
            self._over = {}
        self._over[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self[key] = _GONE

    def __iter__(self) -> Iterator[str]:
        over = self._over or {}
        for key in self._order:
            if over.get(key) is not _GONE:
                yield key
        for key, value in over.items():
            if key not in self._order and value is not _GONE:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _view_class(name: str, base: type, plain: dict[str, str], converted: dict[str, Any], order: list[str]) -> type:
    namespace = {"__slots__": (), "_plain": plain, "_converted": converted, "_order": tuple(order)}
    return type(name, (base,), namespace)


def handles(plan: ObjectPlan) -> bool:
    """Whether rows of ``plan`` can be struct rows at all (whatever their shape)."""
    if plan.sort or plan.top is not None or plan.skip is not None:
        return False
    keys = [op.key for op in plan.ops]
    if len(set(keys)) != len(keys):
        return False
    consumed = [op.src for op in plan.ops if op.kind in _CONSUMING and op.src is not None]
    return len(set(consumed)) == len(consumed)


def compile_rows(plan: ObjectPlan, rows: list[Any], child_rows: ChildRows, path_value: PathValue) -> RowClasses | None:
    """The classes and fix-up for rows shaped like the first object in ``rows`` (expanded children shaped
    like the first child row found in them); None when the plan or that shape is not handled.

    ``child_rows(plan, value)`` applies a child plan to a value the dict way (children of no known shape);
    ``path_value(op, row)`` computes a ``PATH`` op from a row mapping."""
    scope: dict[str, Any] = {"_UNSET": msgspec.UNSET, "_child_rows": child_rows, "_path_value": path_value}
    level = _Compiler(scope).level(plan, rows)
    if level is None:
        return None
    lines = ["def fix(rows):", "    for o in rows:", *level.lines("o", 8), "    return rows"]
    exec(compile("\n".join(lines), f"<struct rows {plan.resource}>", "exec"), scope)
    return RowClasses(level.v7, scope["fix"], level.as_dicts)


@dataclass
class _Level:
    """One plan's classes for one shape, and its fix-up as lines of code (children's fix-ups inlined)."""

    v7: type
    n: int  # the names of its values in the generated code's scope end in it
    early: list[str]  # computed from the untouched row, before any change (derived values)
    late: list[str]  # after the switch to the v6 class
    children: list[tuple[str, _Level]]  # (field, level): expanded rows fixed up in place
    as_dicts: Callable[[list[Any]], list[Any]]

    def lines(self, var: str, indent: int) -> list[str]:
        pad = " " * indent
        out = [pad + line.replace("{o}", var) for line in self.early]
        out.append(f"{pad}{var}.__class__ = _V6_{self.n}")
        for attr, child in self.children:
            item = f"c{child.n}"
            out.append(f"{pad}for {item} in {var}.{attr}:")
            out += child.lines(item, indent + 4)
        out += [pad + line.replace("{o}", var) for line in self.late]
        return out


class _Compiler:
    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        self.count = 0

    def level(self, plan: ObjectPlan, rows: list[Any]) -> _Level | None:
        example = next((r for r in rows if isinstance(r, dict)), None)
        if example is None or "__metadata" in example or not handles(plan):
            return None
        if plan.open_ended and any(k not in plan.known for k in example):
            return None  # extras keep their upstream position: the dict builders check the order
        n = self.count = self.count + 1
        scope = self.scope
        fields: list[tuple[str, Any, Any]] = []  # (v7 name, type, default or _GONE for required)
        out_names: list[str] = []
        attr_of_src: dict[str, str] = {}
        convert: dict[str, Callable[[Any], Any]] = {}
        computed: list[tuple[Op, str]] = []  # derived values and paths, computed first
        late: list[str] = []
        children: list[tuple[str, _Level]] = []
        for i, op in enumerate(plan.ops):
            attr = _attr(len(fields))
            src = op.src
            name = f"{i}_{n}"  # of this op's values in the scope
            if op.kind in _CONSUMING:
                if src is None or src not in example:
                    continue  # the interpreter writes nothing for a key the row lacks
                kind: Any = Any
                if op.kind == UNWRAP:
                    late += ["x = {o}." + attr, "if x.__class__ is dict and '__id' in x:"]
                    late.append("    {o}." + attr + " = x['__id']")
                elif op.kind == COERCE:
                    scope[f"_c{name}"] = op.arg
                    late.append("{o}." + f"{attr} = _c{name}(" + "{o}." + f"{attr})")
                elif op.kind == CHILD and isinstance(op.arg, ObjectPlan) and not op.arg.trivial:
                    # (a trivial plan's rows are the upstream's, in its key order: left as decoded)
                    child = self._child(op.arg, rows, src)
                    if child is None:  # no example of the children, or a shape the dict path handles
                        scope[f"_p{name}"] = op.arg
                        late.append("{o}." + f"{attr} = _child_rows(_p{name}, " + "{o}." + f"{attr})")
                    else:
                        kind = list[child.v7]  # type: ignore[name-defined]
                        children.append((attr, child))
                        convert[src] = child.as_dicts
                fields.append((src, kind, _GONE))
                attr_of_src[src] = attr
            elif op.kind == CONST:
                fields.append((f" const {attr}", Any, op.arg))
            else:  # DERIVE, PATH: from a view of the untouched row
                fields.append((f" value {attr}", Any, None))
                computed.append((op, name))
                late.append("{o}." + f"{attr} = t{name}")
            out_names.append(op.key)
        dropped = []
        for key in example:
            if key not in attr_of_src:
                attr = _attr(len(fields))
                fields.append((key, Any, _GONE))
                attr_of_src[key] = attr
                out_names.append(f" dropped {attr}")
                dropped.append(attr)
        if dropped:
            late.append(" = ".join("{o}." + a for a in dropped) + " = _UNSET")
        plain = {key: attr for key, attr in attr_of_src.items() if key not in convert}
        converted = {key: (attr_of_src[key], convert[key]) for key in convert}
        view = _view_class(f"{plan.resource}_view", RowView, plain, converted, list(example))
        scope[f"_View_{n}"] = view
        early = self._computed(computed, n, view)
        v7_cls = _struct(f"{plan.resource}_v7", fields, [name for name, _, _ in fields], forbid_unknown=True)
        scope[f"_V6_{n}"] = _struct(f"{plan.resource}_v6", fields, out_names, forbid_unknown=False)
        order = [(key, attr_of_src[key], convert.get(key)) for key in example]
        return _Level(v7_cls, n, early, late, children, _dicts_of(order))

    def _child(self, plan: ObjectPlan, rows: list[Any], src: str) -> _Level | None:
        """The level of an expanded navigation's rows, from the first row of them in ``rows``."""
        for row in rows:
            value = row.get(src) if isinstance(row, dict) else None
            if isinstance(value, list) and value:
                return self.level(plan, value)
        return None

    def _computed(self, computed: list[tuple[Op, str]], n: int, view: Any) -> list[str]:
        """The lines computing derived values and paths from a view of the untouched row. A function reading
        helper navigations under its own keys (``walk_helpers._reading_helpers``) sets and deletes them on
        the row around each call: on a view each such step is a Python call, so the function it wraps is
        given a view of its own that reads each helper key from the navigation's field."""
        lines = []
        shared = False  # whether the ops read the shape's own view v{n}
        for op, name in computed:
            if op.kind == PATH:
                self.scope[f"_op{name}"] = op
                lines.append(f"t{name} = _path_value(_op{name}, v{n})")
                shared = True
                continue
            helpers = _helper_reads(op.arg)
            if helpers is None:
                self.scope[f"_d{name}"] = op.arg
                lines.append(f"t{name} = _d{name}(v{n})")
                shared = True
                continue
            inner, reads = helpers
            self.scope[f"_d{name}"] = inner
            self.scope[f"_HView{name}"] = _helper_view(view, reads)
            lines.append(f"t{name} = _d{name}(_HView{name}(" + "{o}))")
        if shared:
            lines.insert(0, f"v{n} = _View_{n}(" + "{o})")
        return lines


def _helper_view(view: Any, reads: tuple[tuple[str, Any], ...]) -> type:
    """``view`` with each helper key reading its navigation (as the wrapper sets it when the row has it)."""
    plain: dict[str, str] = dict(view._plain)
    converted: dict[str, tuple[str, Callable[[Any], Any]]] = dict(view._converted)
    order = list(view._order)
    for nav, alias in reads:
        key, from_rows = alias.key, alias.from_rows
        if nav in plain:
            attr, convert = plain[nav], None
        elif nav in converted:
            attr, convert = converted[nav]
        else:
            continue  # every row of the shape lacks it: the key is not set
        plain.pop(key, None)
        converted.pop(key, None)
        if convert is None and from_rows is None:
            plain[key] = attr
        else:
            converted[key] = (attr, _composed(convert, from_rows))
        if key not in order:
            order.append(key)
    return _view_class(f"{view.__name__}_helpers", view, plain, converted, order)


def _composed(first: Callable[[Any], Any] | None, then: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if first is not None:
            value = first(value)
        return then(value) if then is not None else value

    return read


def _helper_reads(fn: Any) -> tuple[Callable[[Any], Any], tuple[tuple[str, Any], ...]] | None:
    """The function and its helper reads ((navigation, alias), …) when ``fn`` is the wrapper
    ``walk_helpers._reading_helpers`` makes (its closure's ``fn`` and ``reads``); None for any other."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__qualname__", "") != "_reading_helpers.<locals>.compute":
        return None
    cells = dict(zip(code.co_freevars, fn.__closure__ or (), strict=True))
    if set(cells) != {"fn", "reads"}:
        return None
    inner, reads = cells["fn"].cell_contents, cells["reads"].cell_contents
    if not callable(inner) or not isinstance(reads, tuple):
        return None
    return inner, reads


def _attr(i: int) -> str:
    # One string object per field name in every class: switching an object's class compares the two
    # classes' slot names, which is 2.5 x faster when they are the same objects.
    return sys.intern(f"f{i}")


def _struct(name: str, fields: list[tuple[str, Any, Any]], names: list[str], *, forbid_unknown: bool) -> type:
    specs: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for i, (_, kind, default) in enumerate(fields):
        if default is _GONE:
            specs.append((_attr(i), kind))
        elif isinstance(default, (list, dict, set, bytearray)):  # a mutable default is made per object
            specs.append((_attr(i), kind, msgspec.field(default_factory=_always(default))))
        else:
            specs.append((_attr(i), kind, default))
    return msgspec.defstruct(
        name,
        specs,
        rename={_attr(i): n for i, n in enumerate(names)},
        kw_only=True,  # fields with defaults (constants, derived values) sit between required ones
        forbid_unknown_fields=forbid_unknown,
        gc=False,  # rows hold no cycles: no collector tracking, as for the dicts orjson makes
    )


def _always(value: Any) -> Callable[[], Any]:
    return lambda: value


def _dicts_of(order: list[tuple[str, str, Callable[[Any], Any] | None]]) -> Callable[[list[Any]], list[Any]]:
    """The untouched v7 objects as dicts in the shape's key order (for a derived value reading them)."""

    def as_dicts(rows: list[Any]) -> list[Any]:
        out = []
        for row in rows:
            d = {}
            for key, attr, convert in order:
                value = getattr(row, attr)
                d[key] = value if convert is None else convert(value)
            out.append(d)
        return out

    return as_dicts
