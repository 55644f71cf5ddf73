"""Moments PostgreSQL's ``timestamptz`` holds but Python's ``datetime`` does not (years before 1 or after 9999).

A ``datetime'…'`` literal is any JS Date (±8.64e15 ms: ``-271821-04-20`` .. ``+275760-09-13``) and PostgreSQL
holds 4714-11-24 BC .. 294276 AD, so the real API compares ``datetime'+275760-09-13T00:00:00Z'`` with a column
and answers 200. A :class:`FarMoment` keeps such a literal as its microseconds since the epoch; it compares with
``datetime`` values and itself, moves by a ``timedelta``, and gives its calendar fields through a 400-year shift
(the proleptic Gregorian calendar repeats every 146097 days, in Python as in PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# PostgreSQL's first timestamptz (MIN_TIMESTAMP, Julian day 0): 4714-11-24 00:00:00+00 BC, in ms since the epoch
PG_FIRST_MS = -210_866_803_200_000
PG_END_MS = 9_224_318_016_000_000  # END_TIMESTAMP, 294277-01-01 00:00:00+00 (the first moment it cannot hold)
_CYCLE_US = 146_097 * 86_400 * 1_000_000  # 400 Gregorian years
_BASE_US = (datetime(2000, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
_MIN_US = (datetime.min.replace(tzinfo=UTC) - EPOCH) // MICROSECOND
_MAX_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // MICROSECOND


def micros(value: datetime | FarMoment) -> int:
    """Microseconds since the epoch (a ``datetime`` without a zone is UTC, the server's zone)."""
    if isinstance(value, FarMoment):
        return value.us
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // MICROSECOND


def moment(us: int) -> datetime | FarMoment:
    """The moment ``us`` microseconds after the epoch: a ``datetime`` where Python has one."""
    if _MIN_US <= us <= _MAX_US:
        return EPOCH + timedelta(microseconds=us)
    return FarMoment(us)


def from_ms(ms: int | float) -> datetime | FarMoment:
    return moment(round(ms * 1000))


def shift(value: datetime | FarMoment, delta: timedelta) -> datetime | FarMoment:
    return moment(micros(value) + delta // MICROSECOND)


def in_postgres_range(value: datetime | FarMoment) -> bool:
    """Whether ``timestamptz`` holds it (a sum outside is "timestamp out of range", a database error)."""
    return PG_FIRST_MS * 1000 <= micros(value) < PG_END_MS * 1000


def is_moment(value: Any) -> bool:
    return isinstance(value, (datetime, FarMoment))


class FarMoment:
    """A ``timestamptz`` outside Python's years 1-9999."""

    __slots__ = ("us",)

    def __init__(self, us: int) -> None:
        self.us = us

    def _other(self, other: Any) -> int | None:
        return micros(other) if isinstance(other, (datetime, FarMoment)) else None

    def __eq__(self, other: object) -> bool:
        theirs = self._other(other)
        return theirs is not None and self.us == theirs

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self.us)

    def _order(self, other: Any) -> int:
        theirs = self._other(other)
        if theirs is None:
            raise TypeError(f"cannot compare a moment with {type(other).__name__}")
        return (self.us > theirs) - (self.us < theirs)

    def __lt__(self, other: Any) -> bool:
        return self._order(other) < 0

    def __le__(self, other: Any) -> bool:
        return self._order(other) <= 0

    def __gt__(self, other: Any) -> bool:
        return self._order(other) > 0

    def __ge__(self, other: Any) -> bool:
        return self._order(other) >= 0

    def shifted(self) -> tuple[datetime, int]:
        """The same calendar moment some 400-year cycles away, within Python's range, and the years to add to its
        year to get this one's (astronomical: 0 is 1 BC)."""
        cycles = (self.us - _BASE_US) // _CYCLE_US
        return EPOCH + timedelta(microseconds=self.us - cycles * _CYCLE_US), 400 * cycles

    def __repr__(self) -> str:
        return f"FarMoment({self.us})"


def calendar(value: datetime | FarMoment) -> tuple[datetime, int]:
    """A ``datetime`` with ``value``'s month, day and time, and what to add to its year (astronomical years)."""
    if isinstance(value, FarMoment):
        return value.shifted()
    return value, 0
