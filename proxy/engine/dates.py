"""A condition over ``Date Time`` columns decided by the proxy as the database decides it (a client's ``$filter``
the proxy takes over from an expansion, ``walk_gates``).

The database keeps a ``Date Time`` column with microseconds, but the server never compares those: in a
``$filter`` odata-to-abstract-sql reads every ``Date Time`` field as ``DATE_TRUNC('milliseconds', field,
'UTC')`` (``ReferencedProperty``, since 5.4.3). pinejs answers the same millisecond (node-postgres's
``postgres-date`` keeps three digits of the fraction, sub-millisecond digits truncated; ``@balena/sbvr-types``
answers ``toISOString()``), and a ``datetime'…'``/``date'…'`` literal is ``Date.parse``'s whole millisecond
(bound as a ``Date``). So the answered value is exactly what the database compares: the proxy puts in the
milliseconds for the columns and for the literals and evaluates the condition with SQL's logic
(``walk_views.inside_view``). Only comparisons of such a column with a date literal, ``null`` or another such
column are decided; anything else (a function, arithmetic, ``now()``) stays undecided, and so does ``in``: the
server cannot compile ``DATE_TRUNC(…) IN (…)`` (abstract-sql-compiler's ``In`` takes a field only: a 500).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from proxy.engine.apply import UpstreamValueUnreadable
from proxy.engine.logic import COMPARISONS
from proxy.engine.texts import expression
from proxy.engine.walk_views import evaluated, inside_view, restriction_reads
from proxy.odata import BinOp, Expr, Group, In, Literal, Node, Path, replace_child

DATE_TYPES = frozenset({"Date Time"})  # column types the server compares truncated to the answered millisecond
_DATE_LITERALS = frozenset({"DateTime", "Date"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _NotADate(Exception):
    """A column's answered value is not a date the proxy can read (never from pinejs)."""


def decidable(expr: Expr, dates: tuple[str, ...]) -> bool:
    """Whether every read of the columns ``dates`` in ``expr`` is an operand of a comparison with a date
    literal, ``null`` or another of them."""
    return bool(dates) and _only_compared(expr, set(dates))


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
    if isinstance(node, In) and (_is_date_path(node.operand, dates) or any(_is_date_literal(i) for i in node.items)):
        return False  # the server's 500 for a Date Time column (its DATE_TRUNC is not a field), else its own type
    if isinstance(node, Path):
        return not (node.names and node.names[0] in dates)
    return all(_only_compared(child, dates) for child in node.children())


def prepared(expr: Expr) -> Expr:
    """``expr`` (``decidable``) with its date literals as numbers of milliseconds, as the columns are put in."""
    holder = Group(copy.deepcopy(expr))
    stack: list[Node] = [holder]
    while stack:
        parent = stack.pop()
        for child in list(parent.children()):
            bare = _bare(child)
            if isinstance(bare, Literal) and bare.kind in _DATE_LITERALS and isinstance(parent, (BinOp, In)):
                replace_child(parent, child, Literal.number(bare.value))
            else:
                stack.append(child)
    return holder.inner


def milliseconds(value: Any) -> int | None:
    """A column's value as pinejs answers it (``toISOString()``) in milliseconds since the epoch (floored: the
    millisecond the value lies in, before 1970 too); None for NULL. Raises ``_NotADate`` for anything else."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _NotADate
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        extended = _EXTENDED.fullmatch(value)  # a year outside 0001-9999 (±YYYYYY, 0000): not a Python date
        if extended is None:
            raise _NotADate from exc
        year, month, day, hour, minute, second, milli = (int(g) for g in extended.groups())
        return ((_days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli
    if when.tzinfo is None:
        raise _NotADate
    since = when - _EPOCH  # exact: days, seconds and microseconds (the last two never negative)
    return (since.days * 86_400 + since.seconds) * 1000 + since.microseconds // 1000


_EXTENDED = re.compile(r"([+-]\d{6}|0000)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z")


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year; H. Hinnant's ``days_from_civil``)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def computable(expr: Expr, dates: tuple[str, ...], samples: Mapping[str, Any]) -> bool:
    """Whether the proxy computes ``expr`` (its date columns ``dates``, the other fields' ``samples``) on
    rows where every field is NULL and where each holds a sample value."""
    if not decidable(expr, dates):
        return False
    ready = prepared(expr)
    nulls = dict.fromkeys([*samples, *dates])
    return all(evaluated(ready, row) is not None for row in (nulls, dict(samples) | dict.fromkeys(dates, 0)))


_PREPARED: dict[str, tuple[str, tuple[str, ...]]] = {}
_PREPARED_MAX = 512


def keeps(condition: str, dates: tuple[str, ...]) -> Callable[[Mapping[str, Any]], bool]:
    """Whether a row is kept by the v7 ``condition`` (a client's ``$filter`` the proxy decided it computes):
    SQL's logic on the row's values (``walk_views.inside_view``), the columns ``dates`` as the milliseconds
    the database compares; ``UpstreamValueUnreadable`` (a 502) where a row's date is not one the proxy can read."""
    if not dates:
        return lambda row: inside_view(condition, row)
    learnt = _PREPARED.get(condition)
    if learnt is None:
        if len(_PREPARED) >= _PREPARED_MAX:
            _PREPARED.clear()
        ready = prepared(expression(condition))
        reads = restriction_reads(ready)
        learnt = _PREPARED[condition] = (ready.serialize(), reads.fields if reads is not None else ())
    text, fields = learnt

    def kept(row: Mapping[str, Any]) -> bool:
        trial = {name: row.get(name) for name in fields}
        try:
            trial.update((name, milliseconds(row.get(name))) for name in dates)
        except _NotADate:
            raise UpstreamValueUnreadable(unreadable(dates)) from None
        return inside_view(text, trial)

    return kept


def unreadable(dates: tuple[str, ...]) -> str:
    """Why the answer is refused where a row's value of a date the proxy compares is not a date (the
    upstream's answer is not pinejs's)."""
    names = ", ".join(dates)
    return f"a $filter the proxy decides compares {names}, where the v7 answer holds no date"
