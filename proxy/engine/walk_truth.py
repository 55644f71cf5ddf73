"""Three-valued filter values for the walk's ``$filter`` translation (``proxy.engine.walk_filter``).

A v6 name removed in v7 reads as a constant, so part of a v6 condition may be known before the server sees it:
TRUE, FALSE or SQL NULL (``_Tri``), or TRUE/FALSE only where some v7 condition holds (``_Cond``). These fold
with SQL's and/or/not so the v7 text keeps exactly the rows v6 kept (NULL and FALSE differ under ``not``)."""

from __future__ import annotations

import copy
from typing import Any

from proxy.odata import SP, BinOp, Expr, Group, Literal, Not


class _Tri:
    """A filter sub-expression with a known constant value: True, False or None (SQL NULL)."""

    __slots__ = ("value",)

    def __init__(self, value: bool | None) -> None:
        self.value = value


class _Cond:
    """A filter sub-expression whose v6 value is three-valued and not constant: TRUE exactly where the v7
    condition ``true`` holds, FALSE exactly where ``false`` holds, SQL NULL elsewhere (each side a bool or a
    v7 expression read in WHERE position, where only TRUE keeps a row). It arises where a NULL constant meets
    other operands in and/or: ``NULL or E`` is TRUE where E is and never FALSE, so ``not(NULL or E)`` keeps no
    row, while ``not(NULL and E)`` keeps the rows where E is FALSE."""

    __slots__ = ("false", "true")

    def __init__(self, true: bool | Expr, false: bool | Expr) -> None:
        self.true = true
        self.false = false


def _cond(true: bool | Expr, false: bool | Expr) -> _Tri | _Cond:
    if isinstance(true, bool) and isinstance(false, bool):
        return _Tri(True if true else False if false else None)
    return _Cond(true, false)


def _truth(x: Any) -> bool | Expr:
    """Where ``x`` is TRUE (a v7 expression itself is TRUE where it holds)."""
    if isinstance(x, _Tri):
        return x.value is True
    if isinstance(x, _Cond):
        return x.true
    return x


def _falsity(x: Any) -> bool | Expr:
    """Where ``x`` is FALSE: for a v7 expression E, ``not(E)`` (NULL where E is NULL, so read as not FALSE)."""
    if isinstance(x, _Tri):
        return x.value is False
    if isinstance(x, _Cond):
        return x.false
    return _negated(copy.deepcopy(x))


def _negated(x: bool | Expr) -> bool | Expr:
    if isinstance(x, bool):
        return not x
    return Not(x if isinstance(x, Group) else Group(x))


def _joined(op: str, parts: list) -> bool | Expr:
    """``and``/``or`` of conditions, folding the constant ones."""
    absorbing = op == "or"  # TRUE absorbs an or, FALSE an and
    if any(p is absorbing for p in parts):
        return absorbing
    parts = [p for p in parts if not isinstance(p, bool)]
    if not parts:
        return not absorbing
    if len(parts) == 1:
        return parts[0]
    return BinOp(op, [Group(p) if isinstance(p, BinOp) and p.op in ("and", "or") else p for p in parts])


def _condition(x: bool | Expr) -> Expr:
    return Literal.boolean(x) if isinstance(x, bool) else x


def _set_operands(expr: BinOp, operands: list[Expr]) -> None:
    """Replace a chain's operands; around a replaced one the separator becomes `` op `` again, because a
    client may write ``(a)and(b)`` and a literal put in place of ``(b)`` must not make ``andfalse``."""
    canonical = f"{SP}{expr.op}{SP}"
    for i, (old, new) in enumerate(zip(expr.operands, operands)):
        if old is not new:
            if i > 0:
                expr.seps[i - 1] = canonical
            if i < len(expr.seps):
                expr.seps[i] = canonical
    expr.operands = operands
