"""SQL's three-valued logic and the comparison of known values, the way PostgreSQL evaluates what pinejs
compiles: the one place the walk decides a condition before the server sees it.

Two uses. A v6 name removed in v7 reads as a constant, so part of a v6 condition may be known: TRUE, FALSE or
SQL NULL (``Known``), or TRUE/FALSE only where some v7 condition holds (``Cond``); these fold with SQL's
and/or/not so the v7 text keeps exactly the rows v6 kept (NULL and FALSE differ under ``not``). And a derived
value declared by cases (``Derived.cases``: "the value is V where the v7 condition C holds") is filtered by
evaluating the v6 expression once per case with the value put in as a literal (``substitute``):
``f(x, …)`` ≡ ``(C1 and f(V1, …)) or (C2 and f(V2, …))``; ``fold`` turns ``f(V, 'literal')`` into TRUE, FALSE or
NULL. Anything this module is not sure about stays an expression for the server to evaluate: folding is an
optimisation, never a guess.

Semantics followed (pinejs → PostgreSQL): SQL NULL propagates through functions and comparisons; ``eq``/``ne``
against ``null`` are ``IS [NOT] NULL``; text compares by code point (the C collation, as decision 2 says);
``tolower``/``toupper`` change ASCII letters only (C ctype); ``indexof`` is ``STRPOS - 1``; ``substring(s, i[, n])``
is ``SUBSTRING(s FROM i + 1 [FOR n])``; ``trim`` removes spaces; ``concat`` is ``||``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proxy.odata import SP, BinOp, Call, Expr, Group, In, Lambda, Literal, Not, Path, iter_nodes

COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


# ---------------------------------------------------------------------------------------- three-valued
@dataclass(frozen=True, slots=True)
class Known:
    """A filter sub-expression with a known constant value: True, False or None (SQL NULL)."""

    value: bool | None


@dataclass(frozen=True, slots=True)
class Cond:
    """A filter sub-expression whose v6 value is three-valued and not constant: TRUE exactly where the v7
    condition ``true`` holds, FALSE exactly where ``false`` holds, SQL NULL elsewhere (each side a bool or a
    v7 expression read in WHERE position, where only TRUE keeps a row). It arises where a NULL constant meets
    other operands in and/or: ``NULL or E`` is TRUE where E is and never FALSE, so ``not(NULL or E)`` keeps no
    row, while ``not(NULL and E)`` keeps the rows where E is FALSE."""

    true: bool | Expr
    false: bool | Expr


Truth = Known | Cond
Walked = Expr | Known | Cond  # what walking a condition gives: a v7 expression or a (partly) known value


def cond(true: bool | Expr, false: bool | Expr) -> Truth:
    if isinstance(true, bool) and isinstance(false, bool):
        return Known(True if true else False if false else None)
    return Cond(true, false)


def truth(x: Walked) -> bool | Expr:
    """Where ``x`` is TRUE (a v7 expression itself is TRUE where it holds)."""
    if isinstance(x, Known):
        return x.value is True
    if isinstance(x, Cond):
        return x.true
    return x


def falsity(x: Walked) -> bool | Expr:
    """Where ``x`` is FALSE: for a v7 expression E, ``not(E)`` (NULL where E is NULL, so read as not FALSE)."""
    if isinstance(x, Known):
        return x.value is False
    if isinstance(x, Cond):
        return x.false
    return negated(copy.deepcopy(x))


def negated(x: bool | Expr) -> bool | Expr:
    if isinstance(x, bool):
        return not x
    return Not(x if isinstance(x, Group) else Group(x))


def joined(op: str, parts: Sequence[bool | Expr]) -> bool | Expr:
    """``and``/``or`` of conditions, folding the constant ones."""
    absorbing = op == "or"  # TRUE absorbs an or, FALSE an and
    if any(p is absorbing for p in parts):
        return absorbing
    exprs = [p for p in parts if not isinstance(p, bool)]
    if not exprs:
        return not absorbing
    if len(exprs) == 1:
        return exprs[0]
    return BinOp(op, [Group(p) if isinstance(p, BinOp) and p.op in ("and", "or") else p for p in exprs])


def condition(x: bool | Expr) -> Expr:
    return Literal.boolean(x) if isinstance(x, bool) else x


def known_logic(op: str, values: Sequence[bool | None]) -> bool | None:
    """SQL's and/or over known values (TRUE, FALSE, NULL): the folding's ``_logic`` without its unknowns."""
    result: bool | None = _logic(op, list(values))
    return result


def set_operands(expr: BinOp, operands: list[Expr]) -> None:
    """Replace a chain's operands; around a replaced one the separator becomes `` op `` again, because a
    client may write ``(a)and(b)`` and a literal put in place of ``(b)`` must not make ``andfalse``."""
    canonical = f"{SP}{expr.op}{SP}"
    for i, (old, new) in enumerate(zip(expr.operands, operands, strict=False)):
        if old is not new:
            if i > 0:
                expr.seps[i - 1] = canonical
            if i < len(expr.seps):
                expr.seps[i] = canonical
    expr.operands = operands


# ---------------------------------------------------------------------------------------- constants
def compare_constant(value: Any, op: str, literal: Literal) -> bool | None:
    """pinejs: ``x eq v`` is ``x IS NOT NULL AND x = v``; ``eq null`` is ``IS NULL`` (spec §2.5)."""
    other = literal.value if literal.kind != "Null" else None
    if op == "eq":
        if other is None:
            return value is None
        return value is not None and value == other
    if op == "ne":
        if other is None:
            return value is not None
        return not (value is not None and value == other)
    if value is None or other is None:
        return None
    try:
        result: bool = {"gt": value > other, "ge": value >= other, "lt": value < other, "le": value <= other}[op]
    except TypeError:
        return None
    return result


def literal_of(value: Any) -> Literal:
    """The OData literal of a Python value (None → null); the one place that spells this out."""
    if value is None:
        return Literal.null()
    if isinstance(value, bool):
        return Literal.boolean(value)
    if isinstance(value, (int, float)):
        return Literal.number(value)
    return Literal.text(str(value))


# ---------------------------------------------------------------------------------------- folding
class _Unknown:
    """ "Cannot fold": the expression stays for the server."""


_UNKNOWN: Any = _Unknown()


def substitute(expr: Expr, matches: Callable[[Path], bool], value: Any) -> Expr:
    """A copy of ``expr`` with every path ``matches`` accepts (outside lambda bodies) replaced by ``value``."""
    copied = copy.deepcopy(expr)
    replacement = literal_of(value)
    if isinstance(copied, Path) and matches(copied):
        return copy.deepcopy(replacement)
    _replace_in(copied, matches, replacement)
    return copied


def _replace_in(node: Any, matches: Callable[[Path], bool], replacement: Literal) -> None:
    for attr in ("inner", "operand"):
        child = getattr(node, attr, None)
        if isinstance(child, Path) and matches(child):
            setattr(node, attr, copy.deepcopy(replacement))
        elif child is not None and not isinstance(child, Lambda):
            _replace_in(child, matches, replacement)
    for attr in ("operands", "args", "items"):
        children = getattr(node, attr, None)
        if isinstance(children, list):
            for i, child in enumerate(children):
                if isinstance(child, Path) and matches(child):
                    children[i] = copy.deepcopy(replacement)
                else:
                    _replace_in(child, matches, replacement)


def mentions(expr: Expr, matches: Callable[[Path], bool]) -> bool:
    """Whether a path ``matches`` accepts occurs in ``expr`` (lambda bodies aside: they have their own scope)."""
    lambdas = [n for n in iter_nodes(expr) if isinstance(n, Lambda)]
    inside = {id(x) for lam in lambdas for x in iter_nodes(lam.body)}
    return any(isinstance(n, Path) and id(n) not in inside and matches(n) for n in iter_nodes(expr))


def fold(expr: Expr) -> Expr:
    """``expr`` with every sub-expression over literals only replaced by its value (a Literal; a boolean
    result is ``true``/``false``, SQL NULL is ``null``); ``X and true`` and ``X or false`` become ``X``."""
    return _fold(expr)[1]


def _known(value: Any) -> tuple[Any, Expr]:
    return value, literal_of(value)


def _fold(node: Expr) -> tuple[Any, Expr]:
    """(the node's constant value or _UNKNOWN, the node simplified)."""
    if isinstance(node, Literal):
        return (node.value if node.kind in ("Text", "Real", "Boolean", "Null") else _UNKNOWN), node
    if isinstance(node, Group):
        value, inner = _fold(node.inner)
        if value is not _UNKNOWN:
            return _known(value)
        node.inner = inner
        return _UNKNOWN, node
    if isinstance(node, Not):
        value, operand = _fold(node.operand)
        if value is None or isinstance(value, bool):
            return _known(None if value is None else not value)
        node.operand = operand if isinstance(operand, (Group, Literal, Path, Call)) else Group(operand)
        return _UNKNOWN, node
    if isinstance(node, BinOp):
        return _fold_binop(node)
    if isinstance(node, In):
        return _fold_in(node)
    if isinstance(node, Call):
        folded = [_fold(a) for a in node.args]
        node.args = [n for _, n in folded]
        values = [v for v, _ in folded]
        if _UNKNOWN in values:
            return _UNKNOWN, node
        value = _call(node.name, values)
        return _known(value) if value is not _UNKNOWN else (_UNKNOWN, node)
    return _UNKNOWN, node


def _fold_binop(node: BinOp) -> tuple[Any, Expr]:
    folded = [_fold(o) for o in node.operands]
    values = [v for v, _ in folded]
    if node.op in ("and", "or"):
        value = _logic(node.op, values)
        if value is not _UNKNOWN:
            return _known(value)
        identity = node.op == "and"  # TRUE leaves an and unchanged, FALSE an or
        kept = [n for v, n in folded if v is not identity]
        if len(kept) == 1:
            return _UNKNOWN, kept[0]
        return _UNKNOWN, BinOp(
            node.op, [Group(n) if isinstance(n, BinOp) and n.op in ("and", "or") else n for n in kept]
        )
    node.operands = [n for _, n in folded]
    if _UNKNOWN in values or len(values) != 2:
        return _UNKNOWN, node
    value = _compare(node.op, *values)
    return _known(value) if value is not _UNKNOWN else (_UNKNOWN, node)


def _fold_in(node: In) -> tuple[Any, Expr]:
    operand, node.operand = _fold(node.operand)
    folded = [_fold(i) for i in node.items]
    items = [v for v, _ in folded]
    node.items = [n for _, n in folded]
    if operand is _UNKNOWN or _UNKNOWN in items:
        return _UNKNOWN, node
    if operand is None:
        return _known(None)
    if any(_compare("eq", operand, i) is True for i in items if i is not None):
        return _known(True)
    return _known(None if None in items else False)


def _logic(op: str, values: list[Any]) -> Any:
    """SQL three-valued and/or; decided as soon as one known operand decides it."""
    absorbing = op == "or"
    if any(v is absorbing for v in values):
        return absorbing
    if _UNKNOWN in values:
        return _UNKNOWN
    if any(v is None for v in values):
        return None
    if all(isinstance(v, bool) for v in values):
        return not absorbing
    return _UNKNOWN


def _compare(op: str, left: Any, right: Any) -> Any:
    if op in ("eq", "ne") and (left is None or right is None):
        same = left is None and right is None  # eq null is IS NULL
        return same if op == "eq" else not same
    if left is None or right is None:
        return None
    if op not in COMPARISONS:
        return _UNKNOWN  # arithmetic: left to the server
    if isinstance(left, bool) != isinstance(right, bool):
        return _UNKNOWN
    if isinstance(left, str) != isinstance(right, str):
        return _UNKNOWN  # the server decides what a text compared with a number means
    return {
        "eq": left == right,
        "ne": left != right,
        "gt": left > right,
        "ge": left >= right,
        "lt": left < right,
        "le": left <= right,
    }[op]


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _ascii_upper(text: str) -> str:
    return "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)


def _call(fn: str, args: list[Any]) -> Any:
    if any(a is None for a in args):
        return None  # every function folded here is strict: NULL in, NULL out
    texts = all(isinstance(a, str) for a in args)
    if fn in ("startswith", "endswith", "contains", "substringof", "indexof", "concat") and texts:
        return _text_pair(fn, args[0], args[1])
    if fn in ("tolower", "toupper", "trim", "length") and texts:
        return _text_one(fn, args[0])
    if fn == "replace" and texts:
        s, old, new = args
        return s.replace(old, new) if old else s
    if fn == "substring" and isinstance(args[0], str) and all(_is_int(a) for a in args[1:]):
        return _substring(args[0], args[1:])
    return _UNKNOWN


def _text_pair(fn: str, s: str, t: str) -> Any:
    if fn == "startswith":
        return s.startswith(t)
    if fn == "endswith":
        return s.endswith(t)
    if fn == "contains":
        return t in s
    if fn == "substringof":
        return s in t
    if fn == "indexof":
        return s.find(t)  # STRPOS(s, t) - 1: -1 when absent
    return s + t


def _text_one(fn: str, s: str) -> Any:
    if fn == "tolower":
        return _ascii_lower(s)
    if fn == "toupper":
        return _ascii_upper(s)
    if fn == "trim":
        return s.strip(" ")
    return len(s)


def _substring(s: str, bounds: list[Any]) -> Any:
    start = int(bounds[0]) + 1  # SQL positions count from 1
    if len(bounds) == 1:
        return s[max(start - 1, 0) :]
    count = int(bounds[1])
    if count < 0:
        return _UNKNOWN  # PostgreSQL raises: the server answers that
    end = start + count
    return s[max(start - 1, 0) : max(end - 1, 0)]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
