"""Node types of the lossless pinejs OData URL tree.

Why this shape: the proxy must re-send v6 URLs as v7 URLs that the server reads exactly as meant, changing
only the names it renames.  So every node keeps the raw spelling of everything that may vary on the wire
(whitespace ` `/`%20`/`+`, `'`/`%27`, `$`/`%24`, number spellings, quote doubling, escapes inside literals,
separators, option order and duplicates, original parentheses as `Group`) in `*_raw`/glue fields, and
`serialize()` just re-emits them.  Nodes built by the constructors/helpers here carry canonical glue (the form
pinejs-client + fetch put on the wire: spaces `%20`, apostrophes raw).

Conventions
- Glue strings (`sep`, `open_ws`, ...) are emitted verbatim; they only ever contain whitespace spellings,
  operator keywords, `,`, and never anything a renamer must touch.
- `Name.text` is a resource/field/navigation name; names can never hold `%`, so raw == decoded.
- Expression precedence follows the server (odata-parser 4.3.5): `or`/`and` share the lowest level, then the
  comparisons, then sub < add < mod < div < mul; all left-associative; chains of one operator are n-ary `BinOp`s.
- Nodes compare by identity (eq=False) so that `replace_child` can find them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from datetime import date as date_type
from typing import Any
from typing import Literal as TLiteral
from urllib.parse import quote

from .decode import decode_uri_component
from .pinejs import encode_for_aliases

__all__ = [
    "BUILTIN_ARITY",
    "OPERATOR_PRECEDENCE",
    "SP",
    "AliasOption",
    "AliasRef",
    "BinOp",
    "Call",
    "CountOption",
    "CountSpec",
    "CustomOption",
    "ExpandItem",
    "ExpandOption",
    "Expr",
    "FilterOption",
    "FormatOption",
    "Group",
    "In",
    "InlineCountOption",
    "Key",
    "Lambda",
    "Literal",
    "MethodCall",
    "Name",
    "NamedKey",
    "Node",
    "Not",
    "ODataUrl",
    "OptionList",
    "OrderByOption",
    "OrderItem",
    "Path",
    "PathSeg",
    "PathSegment",
    "QueryOption",
    "SelectOption",
    "SkipOption",
    "TopOption",
    "and_filter",
    "canonicalize",
    "iter_nodes",
    "needs_group",
    "quote_text",
    "replace_child",
    "replace_expr",
]

#: canonical whitespace between tokens, as fetch/WHATWG URL puts it on the wire
SP = "%20"

#: binding power of binary operators in pinejs (NOT OData v4): and/or share the lowest level
OPERATOR_PRECEDENCE: dict[str, int] = {
    "or": 0,
    "and": 0,
    "eq": 1,
    "ne": 1,
    "gt": 1,
    "ge": 1,
    "lt": 1,
    "le": 1,
    "sub": 2,
    "add": 3,
    "mod": 4,
    "div": 5,
    "mul": 6,
}

#: built-in functions the server accepts without a path prefix, with their allowed argument counts
BUILTIN_ARITY: dict[str, tuple[int, ...]] = {
    "cast": (1, 2),
    "ceiling": (1,),
    "concat": (2,),
    "contains": (2,),
    "date": (1,),
    "day": (1,),
    "endswith": (2,),
    "floor": (1,),
    "fractionalseconds": (1,),
    "hour": (1,),
    "indexof": (2,),
    "isof": (1, 2),
    "length": (1,),
    "maxdatetime": (0,),
    "mindatetime": (0,),
    "minute": (1,),
    "month": (1,),
    "now": (0,),
    "replace": (3,),
    "round": (1,),
    "second": (1,),
    "startswith": (2,),
    "substringof": (2,),
    "substring": (2, 3),
    "time": (1,),
    "tolower": (1,),
    "totaloffsetminutes": (1,),
    "totalseconds": (1,),
    "toupper": (1,),
    "trim": (1,),
    "year": (1,),
}

_NAME_RE = re.compile(r"[^:/?#\[\]@!$*&()+,;= %]+")
_KEYWORD_PREFIX_RE = re.compile(r"(?:true|false|null|[0-9])")


def quote_text(value: str) -> str:
    """Canonical quoted string literal: `'` doubled, contents encodeURIComponent-ed (as pinejs-client)."""
    return "'" + quote(value.replace("'", "''"), safe="~()*!'") + "'"


def _number_text(value: float | int) -> str:
    """JS String(n) for the numbers the server accepts (no exponent form: the server rejects it)."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value!r} as an OData number")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        from decimal import Decimal

        text = format(Decimal(text), "f")
    return text


class Node:
    """Base class: every node can write itself and list its child nodes."""

    __slots__ = ()

    def write(self, out: list[str]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def serialize(self) -> str:
        """The node's exact URL text (identical bytes for an unchanged parsed node)."""
        out: list[str] = []
        self.write(out)
        return "".join(out)

    def children(self) -> Iterator[Node]:
        """Direct child nodes, in text order."""
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, Node):
                        yield item

    def __str__(self) -> str:
        return self.serialize()


class Expr(Node):
    """Base class of `$filter` expression nodes."""

    __slots__ = ()


def _write_joined(out: list[str], items: list[Any], seps: str | list[str]) -> None:
    """Write items with a fixed separator or the raw separator recorded before each item after the first."""
    for i, item in enumerate(items):
        if i:
            out.append(seps if isinstance(seps, str) else seps[i - 1])
        item.write(out)


def iter_nodes(node: Node) -> Iterator[Node]:
    """Every node of a subtree, pre-order, in text order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(list(current.children())))


def replace_child(parent: Node, old: Node, new: Node) -> None:
    """Replace the child `old` (by identity) of `parent` with `new`; raises LookupError if absent."""
    for f in fields(parent):  # type: ignore[arg-type]
        value = getattr(parent, f.name)
        if value is old:
            setattr(parent, f.name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise LookupError("node is not a child of parent")


# --------------------------------------------------------------------------------------------- names


@dataclass(slots=True, eq=False)
class Name(Node):
    """A resource, field or navigation name (also lambda variables, method names).  Rename in place."""

    text: str

    def rename(self, new: str) -> None:
        """Change this name only; refuses text the server would not read back as the same single name."""
        if not _NAME_RE.fullmatch(new):
            raise ValueError(f"not a valid OData name: {new!r}")
        self.text = new

    @property
    def safe_in_filter(self) -> bool:
        """False when the server would misread this name in `$filter` (prefix `true`/`false`/`null`/digit)."""
        return _KEYWORD_PREFIX_RE.match(self.text) is None

    def write(self, out: list[str]) -> None:
        out.append(self.text)

    def children(self) -> Iterator[Node]:
        return iter(())


# ------------------------------------------------------------------------------------------ literals

LiteralKind = TLiteral["Text", "Real", "Boolean", "Null", "DateTime", "Date", "Duration"]


@dataclass(slots=True, eq=False)
class Literal(Expr):
    """A typed literal.  `raw` is the exact original spelling, or None for canonical output from `value`.

    value: Text -> str (decoded, quotes un-doubled); Real -> int|float; Boolean -> bool; Null -> None;
    DateTime/Date -> epoch milliseconds (JS Date.parse); Duration -> dict(negative, day, hour, minute, second)
    with absent (or zero) parts None.  `date_text` holds the decoded contents of a date/datetime literal.
    """

    kind: str
    value: Any
    raw: str | None = None
    date_text: str | None = None

    @classmethod
    def text(cls, value: str) -> Literal:
        """A new string literal (serialized quoted, `'` doubled, contents percent-encoded)."""
        return cls("Text", value)

    #: the same constructor under the name an early draft of this module used (kept: callers use it)
    text_ = text

    @classmethod
    def number(cls, value: int | float) -> Literal:
        _number_text(value)
        return cls("Real", value)

    @classmethod
    def boolean(cls, value: bool) -> Literal:
        return cls("Boolean", bool(value))

    @classmethod
    def null(cls) -> Literal:
        return cls("Null", None)

    @classmethod
    def datetime(cls, value: datetime) -> Literal:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        ms = round(value.timestamp() * 1000)
        return cls("DateTime", ms, date_text=_iso_ms(ms))

    @classmethod
    def date(cls, value: date_type) -> Literal:
        """`date'YYYY-MM-DD'` (the server reads it as UTC midnight)."""
        ms = round(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
        return cls("Date", ms, date_text=value.isoformat()[:10])

    @classmethod
    def duration(
        cls,
        *,
        negative: bool = False,
        day: int | None = None,
        hour: int | None = None,
        minute: int | None = None,
        second: float | None = None,
    ) -> Literal:
        parts = {
            "negative": negative,
            "day": day or None,
            "hour": hour or None,
            "minute": minute or None,
            "second": second or None,
        }
        if not (parts["day"] or parts["hour"] or parts["minute"] or parts["second"]):
            raise ValueError("a duration needs a non-zero part")
        return cls("Duration", parts)

    def canonical(self) -> str:
        kind, value = self.kind, self.value
        if kind == "Text":
            return quote_text(value)
        if kind == "Real":
            return _number_text(value)
        if kind == "Boolean":
            return "true" if value else "false"
        if kind == "Null":
            return "null"
        if kind == "DateTime":
            return "datetime'" + (self.date_text or _iso_ms(value)) + "'"
        if kind == "Date":
            return "date'" + (self.date_text or _iso_ms(value)[:10]) + "'"
        if kind == "Duration":
            out = ["duration'", "-" if value.get("negative") else "", "P"]
            if value.get("day"):
                out.append(f"{value['day']}D")
            if value.get("hour") or value.get("minute") or value.get("second"):
                out.append("T")
                if value.get("hour"):
                    out.append(f"{value['hour']}H")
                if value.get("minute"):
                    out.append(f"{value['minute']}M")
                if value.get("second"):
                    out.append(_number_text(value["second"]) + "S")
            out.append("'")
            return "".join(out)
        raise ValueError(f"unknown literal kind {kind!r}")

    def write(self, out: list[str]) -> None:
        out.append(self.raw if self.raw is not None else self.canonical())

    def children(self) -> Iterator[Node]:
        return iter(())


def _iso_ms(ms: int | float) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass(slots=True, eq=False)
class AliasRef(Expr):
    """`@name`: a parameter alias reference (its value is an `AliasOption`).  Never renamed."""

    name: Name

    def write(self, out: list[str]) -> None:
        out.append("@")
        out.append(self.name.text)


# -------------------------------------------------------------------------------------------- keys


@dataclass(slots=True, eq=False)
class NamedKey(Node):
    """`name=value` inside a key predicate (alternate / multi-part keys)."""

    name: Name
    value: Literal | AliasRef

    def write(self, out: list[str]) -> None:
        out.append(self.name.text)
        out.append("=")
        self.value.write(out)


@dataclass(slots=True, eq=False)
class Key(Node):
    """`(value)` or `(n1=v1,n2=v2)`; no whitespace is allowed inside, so the glue is fixed."""

    value: Literal | AliasRef | None = None
    named: list[NamedKey] = field(default_factory=list)

    def write(self, out: list[str]) -> None:
        out.append("(")
        if self.value is not None:
            self.value.write(out)
        else:
            _write_joined(out, self.named, ",")
        out.append(")")


# ----------------------------------------------------------------------------- member paths ($filter etc.)


@dataclass(slots=True, eq=False)
class PathSeg(Node):
    """One segment of a member path: a name, optionally with a key predicate `a(1)`."""

    name: Name
    key: Key | None = None

    def write(self, out: list[str]) -> None:
        out.append(self.name.text)
        if self.key is not None:
            self.key.write(out)


@dataclass(slots=True, eq=False)
class CountSpec(Node):
    """`/$count`, optionally `($filter=expr)` (`dollar` is `$` or `%24`; filter None = no parentheses)."""

    filter: Expr | None = None
    dollar: str = "$"

    def write(self, out: list[str]) -> None:
        out.append("/$count")
        if self.filter is not None:
            out.append("(")
            out.append(self.dollar)
            out.append("filter=")
            self.filter.write(out)
            out.append(")")


@dataclass(slots=True, eq=False)
class Lambda(Node):
    """`any(var:body)` / `all(var:body)` after a path.  `var` is a lambda variable (never renamed)."""

    kind: str  # "any" | "all"
    var: Name
    body: Expr
    open_ws: str = ""
    close_ws: str = ""

    def write(self, out: list[str]) -> None:
        out.append(self.kind)
        out.append("(")
        out.append(self.open_ws)
        out.append(self.var.text)
        out.append(":")
        self.body.write(out)
        out.append(self.close_ws)
        out.append(")")


@dataclass(slots=True, eq=False)
class MethodCall(Node):
    """`name(args)` after a path (a server resource method such as `canAccess()`).  Never renamed."""

    name: Name
    args: list[Expr] = field(default_factory=list)
    seps: list[str] = field(default_factory=list)
    open_ws: str = ""
    close_ws: str = ""

    def write(self, out: list[str]) -> None:
        out.append(self.name.text)
        out.append("(")
        out.append(self.open_ws)
        _write_joined(out, self.args, self.seps)
        out.append(self.close_ws)
        out.append(")")


@dataclass(slots=True, eq=False)
class Path(Expr):
    """A member path `s1(key)/s2/.../sn` with an optional tail: `/$count[($filter=..)]`, `/any(..)`,
    `/all(..)` or `/method(..)`.  Used by `$filter`, `$orderby`, `$select` and `$expand` tails."""

    segments: list[PathSeg]
    count: CountSpec | None = None
    lambda_: Lambda | None = None
    method: MethodCall | None = None

    @classmethod
    def of(cls, dotted: str) -> Path:
        """A new path from `a/b/c` (names only)."""
        return cls([PathSeg(Name(part)) for part in dotted.split("/")])

    @property
    def names(self) -> list[str]:
        return [seg.name.text for seg in self.segments]

    def write(self, out: list[str]) -> None:
        for i, seg in enumerate(self.segments):
            if i:
                out.append("/")
            seg.write(out)
        if self.count is not None:
            self.count.write(out)
        elif self.lambda_ is not None:
            out.append("/")
            self.lambda_.write(out)
        elif self.method is not None:
            out.append("/")
            self.method.write(out)


# ------------------------------------------------------------------------------------- expressions


@dataclass(slots=True, eq=False)
class Call(Expr):
    """A built-in function call such as `contains(a,'x')` (name from `BUILTIN_ARITY`)."""

    name: str
    args: list[Expr] = field(default_factory=list)
    seps: list[str] = field(default_factory=list)
    open_ws: str = ""
    close_ws: str = ""

    def __post_init__(self) -> None:
        arity = BUILTIN_ARITY.get(self.name)
        if arity is None or len(self.args) not in arity:
            raise ValueError(f"the server has no built-in {self.name}() with {len(self.args)} argument(s)")
        if len(self.seps) < len(self.args) - 1:
            self.seps = self.seps + [","] * (len(self.args) - 1 - len(self.seps))

    def write(self, out: list[str]) -> None:
        out.append(self.name)
        out.append("(")
        out.append(self.open_ws)
        _write_joined(out, self.args, self.seps)
        out.append(self.close_ws)
        out.append(")")


@dataclass(slots=True, eq=False)
class Not(Expr):
    """`not` + one Value (binds tighter than any operator).  `lead_ws` is whitespace before `not`
    (the server allows it there), `boundary` what separates `not` from its operand (`''` before `(`)."""

    operand: Expr
    boundary: str = ""
    lead_ws: str = ""

    def write(self, out: list[str]) -> None:
        out.append(self.lead_ws)
        out.append("not")
        out.append(self.boundary)
        self.operand.write(out)


@dataclass(slots=True, eq=False)
class Group(Expr):
    """Parentheses as written: `(` open_ws inner close_ws `)`."""

    inner: Expr
    open_ws: str = ""
    close_ws: str = ""

    def write(self, out: list[str]) -> None:
        out.append("(")
        out.append(self.open_ws)
        self.inner.write(out)
        out.append(self.close_ws)
        out.append(")")


@dataclass(slots=True, eq=False)
class BinOp(Expr):
    """An n-ary chain of one binary operator, nested by pinejs precedence.  `seps[i]` is the raw text
    between operands i and i+1 (whitespace + operator + boundary, e.g. `%20and%20`)."""

    op: str
    operands: list[Expr]
    seps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.seps) < len(self.operands) - 1:
            sep = f"{SP}{self.op}{SP}"
            self.seps = self.seps + [sep] * (len(self.operands) - 1 - len(self.seps))

    @property
    def precedence(self) -> int:
        return OPERATOR_PRECEDENCE[self.op]

    def write(self, out: list[str]) -> None:
        _write_joined(out, self.operands, self.seps)


@dataclass(slots=True, eq=False)
class In(Expr):
    """`operand in (item, ...)`: `sep` is the raw `boundary in boundary`, `item_seps` the raw `,`+spaces.
    Items are literals (a path parses but the server reads it as null)."""

    operand: Expr
    items: list[Expr]
    sep: str = f"{SP}in{SP}"
    item_seps: list[str] = field(default_factory=list)
    open_ws: str = ""
    close_ws: str = ""

    def __post_init__(self) -> None:
        if len(self.item_seps) < len(self.items) - 1:
            self.item_seps = self.item_seps + [","] * (len(self.items) - 1 - len(self.item_seps))

    def write(self, out: list[str]) -> None:
        self.operand.write(out)
        out.append(self.sep)
        out.append("(")
        out.append(self.open_ws)
        _write_joined(out, self.items, self.item_seps)
        out.append(self.close_ws)
        out.append(")")


def needs_group(expr: Expr, parent: Node, position: int = 0) -> bool:
    """Whether `expr`, written as child `position` of `parent`, must be parenthesised for the server to
    read it as that child (pinejs precedence: and/or share the lowest level; left-associative; `not`
    and the left side of `in` take a single Value)."""
    if isinstance(parent, BinOp):
        if not isinstance(expr, BinOp):
            return False
        mine, theirs = OPERATOR_PRECEDENCE[expr.op], OPERATOR_PRECEDENCE[parent.op]
        return mine < theirs or (position > 0 and mine <= theirs)
    if isinstance(parent, Not):
        return isinstance(expr, (BinOp, In))
    if isinstance(parent, In):
        return position == 0 and isinstance(expr, BinOp)
    return False


def replace_expr(parent: Node, old: Expr, new: Expr) -> Expr:
    """Replace the expression `old` (a child of `parent`) by `new`, adding parentheses when the context
    demands them; returns what was inserted (`new` or a `Group` around it)."""
    position = 0
    if isinstance(parent, BinOp):
        position = next(i for i, operand in enumerate(parent.operands) if operand is old)
    elif isinstance(parent, In):
        position = 0 if parent.operand is old else 1
    inserted: Expr = Group(new) if needs_group(new, parent, position) else new
    replace_child(parent, old, inserted)
    return inserted


def and_filter(expr: Expr | None, extra: Expr) -> Expr:
    """`expr and extra`, parenthesising where pinejs precedence demands (and/or share it); an existing
    top-level `or` on the left is parenthesised too, for readers used to OData v4 precedence."""
    if expr is None:
        return extra
    if isinstance(expr, BinOp) and expr.op == "and":
        chain = expr
    else:
        left = Group(expr) if isinstance(expr, BinOp) and OPERATOR_PRECEDENCE[expr.op] == 0 else expr
        chain = BinOp("and", [left])
    chain.operands.append(Group(extra) if needs_group(extra, chain, len(chain.operands)) else extra)
    chain.seps.append(f"{SP}and{SP}")
    return chain


# ----------------------------------------------------------------------------------- query options


@dataclass(slots=True, eq=False)
class QueryOption(Node):
    """Base of one `name=value` query option.  `dollar` is the raw `$`/`%24` of system options."""

    @property
    def key(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(slots=True, eq=False)
class SelectOption(QueryOption):
    """`$select=*` (star) or `$select=p1,p2/q`."""

    items: list[Path] = field(default_factory=list)
    star: bool = False
    dollar: str = "$"

    key = "$select"

    def add(self, dotted: str) -> Path:
        path = Path.of(dotted)
        self.items.append(path)
        return path

    def remove(self, path: Path) -> None:
        self.items.remove(path)

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append("select=")
        if self.star:
            out.append("*")
            return
        _write_joined(out, self.items, ",")


@dataclass(slots=True, eq=False)
class FilterOption(QueryOption):
    """`$filter=expr`."""

    expr: Expr
    dollar: str = "$"

    key = "$filter"

    def and_(self, extra: Expr) -> None:
        """AND an extra condition in, adding parentheses where pinejs precedence needs them."""
        self.expr = and_filter(self.expr, extra)

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append("filter=")
        self.expr.write(out)


@dataclass(slots=True, eq=False)
class ExpandItem(Node):
    """`nav[/$count][(opt;opt&opt)][/tail/path]`: options None = no parentheses; an empty OptionList = `()`."""

    name: Name
    count: bool = False
    options: OptionList | None = None
    tail: Path | None = None

    def ensure_options(self) -> OptionList:
        if self.options is None:
            self.options = OptionList(nested=True)
        return self.options

    def write(self, out: list[str]) -> None:
        out.append(self.name.text)
        if self.count:
            out.append("/$count")
        if self.options is not None:
            out.append("(")
            self.options.write(out)
            out.append(")")
        if self.tail is not None:
            out.append("/")
            self.tail.write(out)


@dataclass(slots=True, eq=False)
class OrderItem(Node):
    """`path[ asc|desc]`.  `dir_raw` is the raw boundary + direction (e.g. `%20desc`) or None when the
    client wrote no direction — which the SERVER READS AS DESC.  Never add or drop a direction."""

    path: Path
    dir_raw: str | None = None

    @property
    def direction(self) -> str | None:
        """'asc'/'desc' as written, None when absent."""
        if self.dir_raw is None:
            return None
        return "asc" if self.dir_raw.endswith("asc") else "desc"

    @property
    def effective_direction(self) -> str:
        """What the server does: a missing direction sorts DESC."""
        return self.direction or "desc"

    def write(self, out: list[str]) -> None:
        self.path.write(out)
        if self.dir_raw is not None:
            out.append(self.dir_raw)


@dataclass(slots=True, eq=False)
class _ListOption(QueryOption):
    """`$<word>item,item` (no whitespace around the commas)."""

    items: list[Any] = field(default_factory=list)
    dollar: str = "$"

    word = ""

    def remove(self, item: Node) -> None:
        """Remove one item (by identity).  An empty list is not valid syntax: when the last item goes,
        remove the option itself (`OptionList.remove`)."""
        for i, existing in enumerate(self.items):
            if existing is item:
                del self.items[i]
                return
        raise LookupError("item not in this option")

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append(self.word)
        _write_joined(out, self.items, ",")


class ExpandOption(_ListOption):
    """`$expand=item,item` (items: ExpandItem)."""

    __slots__ = ()
    items: list[ExpandItem]
    key = "$expand"
    word = "expand="


class OrderByOption(_ListOption):
    """`$orderby=item,item` (items: OrderItem)."""

    __slots__ = ()
    items: list[OrderItem]
    key = "$orderby"
    word = "orderby="


@dataclass(slots=True, eq=False)
class _UIntOption(QueryOption):
    """`$<word>=n` with an unsigned integer (`raw` keeps e.g. leading zeros; None = canonical)."""

    value: int
    raw: str | None = None
    dollar: str = "$"

    word = ""

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append(self.word)
        out.append(self.raw if self.raw is not None else str(self.value))


class TopOption(_UIntOption):
    """`$top=n`."""

    __slots__ = ()
    key = "$top"
    word = "top="


class SkipOption(_UIntOption):
    """`$skip=n`."""

    __slots__ = ()
    key = "$skip"
    word = "skip="


@dataclass(slots=True, eq=False)
class CountOption(QueryOption):
    """`$count=true|false` (parsed, ignored by the server)."""

    value: bool
    dollar: str = "$"

    key = "$count"

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append("count=true" if self.value else "count=false")


@dataclass(slots=True, eq=False)
class InlineCountOption(QueryOption):
    """`$inlinecount=allpages|none|<other>`; `value` is what the server keeps ('' for other text)."""

    raw: str
    dollar: str = "$"

    key = "$inlinecount"

    @property
    def value(self) -> str:
        return self.raw if self.raw in ("allpages", "none") else ""

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append("inlinecount=")
        out.append(self.raw)


@dataclass(slots=True, eq=False)
class FormatOption(QueryOption):
    """`$format=type[;[odata.]metadata=none|minimal|full]`."""

    type: str
    metadata: str | None = None
    metadata_raw: str = ""
    dollar: str = "$"

    key = "$format"

    def write(self, out: list[str]) -> None:
        out.append(self.dollar)
        out.append("format=")
        out.append(self.type)
        out.append(self.metadata_raw)


@dataclass(slots=True, eq=False)
class _NamedOption(QueryOption):
    """An option whose name is client text (`Text`, percent-decoded by the server)."""

    name_raw: str

    @property
    def name(self) -> str:
        return decode_uri_component(self.name_raw)


@dataclass(slots=True, eq=False)
class CustomOption(_NamedOption):
    """`name=value` (e.g. `apikey=...`), both raw; `name`/`value` give the decoded text."""

    value_raw: str

    @property
    def value(self) -> str:
        return decode_uri_component(self.value_raw)

    @property
    def key(self) -> str:
        return self.name

    def write(self, out: list[str]) -> None:
        out.append(self.name_raw)
        out.append("=")
        out.append(self.value_raw)


@dataclass(slots=True, eq=False)
class AliasOption(_NamedOption):
    """`@name=value`: a parameter alias definition (number, boolean, string or date literal)."""

    value: Literal

    @property
    def key(self) -> str:
        return "@" + self.name

    def write(self, out: list[str]) -> None:
        out.append("@")
        out.append(self.name_raw)
        out.append("=")
        self.value.write(out)


@dataclass(slots=True, eq=False)
class OptionList(Node):
    """Options in their original order, duplicates kept (the server keeps the LAST of a key).
    `seps[i]` is the separator before option i+1: always `&` at top level, `;` or `&` inside `$expand`."""

    options: list[QueryOption] = field(default_factory=list)
    seps: list[str] = field(default_factory=list)
    nested: bool = False

    def get(self, key: str) -> QueryOption | None:
        """The option the server uses for `key` (`$filter`, `$select`, `apikey`, `@x`...): the last one."""
        for option in reversed(self.options):
            if option.key == key:
                return option
        return None

    def all(self, key: str) -> list[QueryOption]:
        return [option for option in self.options if option.key == key]

    @property
    def filter(self) -> FilterOption | None:
        return self.get("$filter")  # type: ignore[return-value]

    @property
    def select(self) -> SelectOption | None:
        return self.get("$select")  # type: ignore[return-value]

    @property
    def expand(self) -> ExpandOption | None:
        return self.get("$expand")  # type: ignore[return-value]

    @property
    def orderby(self) -> OrderByOption | None:
        return self.get("$orderby")  # type: ignore[return-value]

    def add(self, option: QueryOption, sep: str | None = None) -> QueryOption:
        """Append an option; the separator defaults to `;` inside `$expand(...)`, `&` at top level."""
        if self.options:
            self.seps.append(sep or (";" if self.nested else "&"))
        self.options.append(option)
        return option

    def remove(self, option: QueryOption) -> None:
        """Remove one option (by identity) and the separator that went with it."""
        for i, existing in enumerate(self.options):
            if existing is option:
                del self.options[i]
                if self.seps:
                    del self.seps[i - 1 if i else 0]
                return
        raise LookupError("option not in this list")

    def and_filter(self, extra: Expr) -> FilterOption:
        """AND `extra` into the effective `$filter`, or add `$filter=extra`."""
        current = self.filter
        if current is None:
            return self.add(FilterOption(extra))  # type: ignore[return-value]
        current.and_(extra)
        return current

    def add_expand(self, item: ExpandItem) -> ExpandOption:
        """Add `item` to the effective `$expand`, or add `$expand=item`; returns the `$expand` option."""
        current = self.expand
        if current is None:
            return self.add(ExpandOption([item]))  # type: ignore[return-value]
        current.items.append(item)
        return current

    def write(self, out: list[str]) -> None:
        _write_joined(out, self.options, self.seps)


# -------------------------------------------------------------------------------------- resource path


@dataclass(slots=True, eq=False)
class PathSegment(Node):
    """A resource-path segment `/name(key)` with what follows it, nested as the server parses it:
    `child` is the next segment (after `/$links` when `link`), then `/$count`, then `?options`.
    `content_ref` marks a `$1` batch Content-ID reference (written without the leading `/`).
    `query` None = no `?`; an empty OptionList = a bare trailing `?`."""

    name: Name
    key: Key | None = None
    child: PathSegment | None = None
    link: bool = False
    count: bool = False
    query: OptionList | None = None
    content_ref: bool = False

    def write(self, out: list[str]) -> None:
        out.append("$" if self.content_ref else "/")
        out.append(self.name.text)
        if self.key is not None:
            self.key.write(out)
        if self.child is not None:
            if self.link:
                out.append("/$links")
            self.child.write(out)
        if self.count:
            out.append("/$count")
        if self.query is not None:
            out.append("?")
            self.query.write(out)


@dataclass(slots=True, eq=False)
class ODataUrl(Node):
    """A parsed request target (after the version root).  kind: 'resource', 'metadata' (`/$metadata`)
    or 'serviceroot' (`/`); `root` is the first PathSegment for 'resource'."""

    kind: str
    root: PathSegment | None = None
    # set when pinejs's alias step applied (pinejs.py): the options read from the alias entries, which
    # `parse_target` appended to the last segment's query; `serialize` then writes a text that step
    # turns back into this tree's text (a tuple, so `children` does not visit them twice)
    alias_options: tuple[QueryOption, ...] | None = None

    @property
    def segments(self) -> list[PathSegment]:
        """The resource path flattened: root first, the segment the options apply to last."""
        out = []
        seg = self.root
        while seg is not None:
            out.append(seg)
            seg = seg.child
        return out

    @property
    def resource(self) -> str | None:
        return self.root.name.text if self.root is not None else None

    @property
    def query(self) -> OptionList | None:
        """The options of the last segment (where the server applies them), None when there is no `?`."""
        segs = self.segments
        return segs[-1].query if segs else None

    def ensure_query(self) -> OptionList:
        """The last segment's options, creating an empty `?` list when absent."""
        last = self.segments[-1]
        if last.query is None:
            last.query = OptionList()
        return last.query

    def serialize(self) -> str:
        """The exact URL text; for a URL pinejs re-decodes (aliases), a text it re-decodes into this one."""
        text = Node.serialize(self)
        if self.alias_options is None:
            return text
        return _for_alias_step(self, text)

    def write(self, out: list[str]) -> None:
        if self.kind == "metadata":
            out.append("/$metadata")
        elif self.kind == "serviceroot":
            out.append("/")
        else:
            assert self.root is not None
            self.root.write(out)


def _for_alias_step(url: ODataUrl, text: str) -> str:
    """`url`'s text for an upstream that applies pinejs's alias step: re-encoded for it while the query
    still defines an alias, else the text itself with `#` (only possible inside a decoded literal) escaped."""
    query = url.query
    if query is None or not any(isinstance(o, AliasOption) for o in query.options):
        return text.replace("#", "%23")
    segments = url.segments
    last = segments[-1]
    last.query = None
    try:
        path = Node.serialize(url)
    finally:
        last.query = query
    # an outer segment's `/$count` is written after the inner segments' query (`/a/b?x=1/$count`): in the
    # text that follows the query; it stays there, at the end of the last option the main query had
    suffix = "/$count" * sum(1 for seg in segments[:-1] if seg.count)
    if suffix:
        path = path[: -len(suffix)]
    texts: list[str] = []
    from_aliases = url.alias_options or ()
    last_main = -1
    for option in query.options:
        from_alias = any(option is o for o in from_aliases)
        if texts and not isinstance(option, AliasOption) and from_alias:
            # an option an alias value brought along (`@a=1%26$top=2`): pinejs sets it on the root's
            # options, so it travels inside that alias value again
            texts[-1] += "&" + option.serialize()
        else:
            texts.append(option.serialize())
            if not from_alias:
                last_main = len(texts) - 1
    if suffix and last_main >= 0:
        texts[last_main] += suffix
    elif suffix:
        path += suffix
    return encode_for_aliases(path, texts)


def canonicalize(node: Node) -> Node:
    """Give a subtree the canonical spelling of new nodes (pinejs-client + fetch): single `%20` around
    operators, no whitespace inside parentheses or after commas, literals re-rendered from their values,
    `$` not `%24`.  Used by `parse_expression`; returns `node`."""
    for current in iter_nodes(node):
        if isinstance(current, Literal):
            current.raw = None
        elif isinstance(current, BinOp):
            current.seps = [f"{SP}{current.op}{SP}"] * (len(current.operands) - 1)
        elif isinstance(current, In):
            current.sep, current.open_ws, current.close_ws = f"{SP}in{SP}", "", ""
            current.item_seps = [","] * (len(current.items) - 1)
        elif isinstance(current, (Call, MethodCall)):
            current.seps = [","] * (len(current.args) - 1)
            current.open_ws = current.close_ws = ""
        elif isinstance(current, (Group, Lambda)):
            current.open_ws = current.close_ws = ""
        elif isinstance(current, Not):
            current.lead_ws = ""
            current.boundary = "" if isinstance(current.operand, Group) else SP
        elif isinstance(current, OrderItem) and current.dir_raw is not None:
            current.dir_raw = SP + current.direction  # type: ignore[operator]
        elif isinstance(current, (TopOption, SkipOption)):
            current.raw = None
        if hasattr(current, "dollar") and isinstance(current.dollar, str):
            current.dollar = "$"
    return node
