"""A condition over ``Date Time`` columns decided by the proxy as the database decides it (a client's ``$filter``
the proxy takes over from an expansion, ``walk_gates``).

The database keeps a ``Date Time`` column with microseconds and compares it so; pinejs answers it with
milliseconds: node-postgres parses the column to a JS ``Date`` (``postgres-date`` keeps three digits of the
fraction: sub-millisecond digits are truncated) and ``@balena/sbvr-types`` answers ``toISOString()``. A
``datetime'…'`` literal is a JS ``Date`` too (``Date.parse``, bound as a ``Date``), a whole millisecond. So for
an answered value ``m`` (the true value in ``[m, m + 1 ms)``) and a literal ``L``: ``ge``/``lt`` are decided
from ``m``; ``gt``/``le``/``eq``/``ne`` too except where ``m == L`` (then the sub-millisecond digits decide,
which the answer does not hold). The proxy evaluates the condition for every way the hidden digits can lie
(zero, or between the answered millisecond and the next, in every order among the columns) and uses the
value where they all agree; where they differ on a row that actually occurs, it answers a clear 400 naming
the reason rather than a guess (``AnswerRefused``). Only comparisons of such a column with a date literal,
``null`` or another such column (or ``in`` a list of dates) are decided; anything else (a function,
arithmetic, ``now()``) stays undecided.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from proxy.engine.apply import AnswerRefused
from proxy.engine.logic import COMPARISONS
from proxy.engine.texts import expression
from proxy.engine.walk_views import evaluated, inside_view
from proxy.odata import BinOp, Expr, Group, In, Literal, Node, Path, replace_child

DATE_TYPES = frozenset({"Date Time"})  # column types kept with microseconds and answered with milliseconds
_DATE_LITERALS = frozenset({"DateTime", "Date"})
_MOST_COLUMNS = 3  # (k + 1) ** k evaluations per row for k columns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Undecided(Exception):
    """The condition's value depends on digits the answer does not hold."""


def decidable(expr: Expr, dates: tuple[str, ...]) -> bool:
    """Whether every read of the columns ``dates`` in ``expr`` is an operand of a comparison with a date
    literal, ``null`` or another of them (and they are few enough to try every order)."""
    if not dates or len(dates) > _MOST_COLUMNS:
        return False
    return _only_compared(expr, set(dates))


def _bare(node: Node) -> Node:
    while isinstance(node, Group):
        node = node.inner
    return node


def _is_date_path(node: Node, dates: set[str]) -> bool:
    node = _bare(node)
    return isinstance(node, Path) and len(node.segments) == 1 and node.lambda_ is None and node.names[0] in dates


def _is_date_literal(node: Node) -> bool:
    node = _bare(node)
    return isinstance(node, Literal) and node.kind in _DATE_LITERALS


def _only_compared(node: Node, dates: set[str]) -> bool:
    """``decidable``'s walk: a date literal compared with anything but such a column is not decided either
    (the database compares it with that value's own type, not as milliseconds)."""
    if isinstance(node, BinOp) and node.op in COMPARISONS and len(node.operands) == 2:
        left, right = node.operands
        sides = [_is_date_path(left, dates), _is_date_path(right, dates)]
        if any(sides):
            other = _bare(right if sides[0] else left)
            return all(sides) or (isinstance(other, Literal) and other.kind in _DATE_LITERALS | {"Null"})
        if _is_date_literal(left) or _is_date_literal(right):
            return False
    if isinstance(node, In):
        items = [_bare(i) for i in node.items]
        if _is_date_path(node.operand, dates):  # `in` is `eq` to any of the items
            return all(isinstance(i, Literal) and i.kind in _DATE_LITERALS | {"Null"} for i in items)
        if any(_is_date_literal(i) for i in items):
            return False
    if isinstance(node, Path):
        return not (node.names and node.names[0] in dates)
    return all(_only_compared(child, dates) for child in node.children())


@dataclass(frozen=True)
class Ready:
    """A condition made ready for ``dated_truth``: the date literals compared with the columns as numbers of
    milliseconds (what is put in for the columns), and those numbers (None where two columns are compared:
    every order of their hidden digits is tried on every row)."""

    expr: Expr
    points: frozenset[int] | None


def prepared(expr: Expr, dates: tuple[str, ...]) -> Ready:
    """``expr`` (``decidable``) made ready for ``dated_truth``."""
    holder = Group(copy.deepcopy(expr))
    points: set[int] | None = set()
    stack: list[Node] = [holder]
    while stack:
        parent = stack.pop()
        if isinstance(parent, BinOp) and all(_is_date_path(o, set(dates)) for o in parent.operands):
            points = None
        for child in list(parent.children()):
            bare = _bare(child)
            if isinstance(bare, Literal) and bare.kind in _DATE_LITERALS and isinstance(parent, (BinOp, In)):
                replace_child(parent, child, Literal.number(bare.value))
                if points is not None:
                    points.add(bare.value)
            else:
                stack.append(child)
    return Ready(holder.inner, frozenset(points) if points is not None else None)


def milliseconds(value: Any) -> int | None:
    """A column's value as pinejs answers it (``toISOString()``) in milliseconds since the epoch; None for
    NULL. Raises ``_Undecided`` for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Undecided
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _Undecided from exc
    if when.tzinfo is None:
        raise _Undecided
    since = when - _EPOCH  # exact: days, seconds and microseconds
    return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000


def dated_truth(ready: Ready, row: Mapping[str, Any], dates: tuple[str, ...]) -> Literal | None:
    """The value of the prepared condition on ``row`` (TRUE, FALSE or NULL) for every place the columns'
    hidden sub-millisecond digits may have; None where the proxy cannot compute it at all. Raises
    ``_Undecided`` where the places give different values. (Where no column is compared with another and
    none equals a literal, every place gives the value of the answered millisecond: tried once.)"""
    expr = ready.expr
    present = [name for name in dates if row.get(name) is not None]
    values = {name: milliseconds(row.get(name)) for name in dates}
    steps = [j / (len(present) + 1) for j in range(len(present) + 1)]  # every order among the hidden digits
    if ready.points is not None and not any(values[name] in ready.points for name in present):
        steps = [0.0]
    found: set[Any] = set()
    for offsets in itertools.product(steps, repeat=len(present)):
        trial = dict(row)
        trial.update(values)
        for name, offset in zip(present, offsets, strict=True):
            trial[name] = values[name] + offset  # type: ignore[operator]
        value = evaluated(expr, trial)
        if value is None:
            return None
        found.add(value.value)
    if len(found) != 1:
        raise _Undecided
    value = found.pop()
    return Literal.boolean(value) if isinstance(value, bool) else Literal.null()


def computable(expr: Expr, dates: tuple[str, ...], samples: Mapping[str, Any]) -> bool:
    """Whether the proxy computes ``expr`` (its date columns ``dates``, the other fields' ``samples``) on
    rows where every field is NULL and where each holds a sample value."""
    if not decidable(expr, dates):
        return False
    ready = prepared(expr, dates)
    sample = dict(samples) | dict.fromkeys(dates, "2000-01-01T00:00:00.000Z")
    for row in (dict.fromkeys([*samples, *dates]), sample):
        try:
            if dated_truth(ready, row, dates) is None:
                return False
        except _Undecided:
            pass  # a value that equals a literal: decided on the rows where it does not
    return True


_PREPARED: dict[tuple[str, tuple[str, ...]], Ready] = {}
_PREPARED_MAX = 512


def keeps(condition: str, dates: tuple[str, ...]) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a row is kept by the v7 ``condition`` (a client's ``$filter`` the proxy decided it computes):
    SQL's logic on the row's values (``walk_views.inside_view``), the columns ``dates`` as the database
    compares them; ``AnswerRefused`` (a 400) where a row's value leaves it open."""
    if not dates:
        return lambda row: inside_view(condition, row)
    key = (condition, dates)
    ready = _PREPARED.get(key)
    if ready is None:
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        ready = _PREPARED[key] = prepared(expression(condition), dates)

    def kept(row: Mapping[str, Any]) -> bool:
        try:
            value = dated_truth(ready, row, dates)
        except _Undecided:
            raise AnswerRefused(refusal(dates)) from None
        return value is not None and value.value is True

    return kept


def refusal(dates: tuple[str, ...]) -> str:
    """The 400 where a row's date leaves the client's ``$filter`` open."""
    names = ", ".join(dates)
    return (
        f"A $filter comparing {names} cannot be decided through the v6 proxy for a row whose value equals the "
        "compared date to the millisecond: the database compares microseconds, the v7 answer holds milliseconds"
    )
