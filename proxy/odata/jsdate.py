"""``Date.parse`` as V8 computes it (the server is node, in UTC), for the contents of ``datetime'…'`` and
``date'…'`` literals: ES5 ISO 8601 date-time strings, and V8's legacy forms (``Jan 1 2024``,
``2024/01/01``, ``1/2/2024 10:00 PM GMT+0100``, ``Tue Jan 02 2024 10:00:00 GMT+0000 (UTC)``). A port of V8's
``DateParser`` (src/date/dateparser*.{h,cc}): the same tokens, composers and rules, so a literal reads as the
same instant, or as NaN (None), as the server reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

_NONE = 2**31 - 1  # V8's kNone (kMaxInt)
_MAX_DIGITS = 9  # digits of a numeral that count (the rest is skipped)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# keyword → (type, value); types: month, am/pm, time zone (hours), the ISO time separator
_KEYWORDS: dict[str, tuple[str, int]] = {
    **{m: ("month", i + 1) for i, m in enumerate(_MONTHS)},
    "am": ("ampm", 0),
    "pm": ("ampm", 12),
    "ut": ("tz", 0),
    "utc": ("tz", 0),
    "z": ("tz", 0),
    "gmt": ("tz", 0),
    "cdt": ("tz", -5),
    "cst": ("tz", -6),
    "edt": ("tz", -4),
    "est": ("tz", -5),
    "mdt": ("tz", -6),
    "mst": ("tz", -7),
    "pdt": ("tz", -7),
    "pst": ("tz", -8),
    "t": ("sep", 0),
}
_WHITE = frozenset(" \t\n\v\f\r\u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


@dataclass
class _Token:
    """One token of the scanner: ``kind`` number/symbol/word/space/end/unknown/invalid."""

    kind: str
    value: int = -1
    length: int = 0
    symbol: str = ""
    word: tuple[str, int] | None = None  # a keyword's (type, value), None for any other word

    def is_sign(self) -> bool:
        return self.kind == "symbol" and self.symbol in "+-"

    def is_z(self) -> bool:
        return self.kind == "word" and self.word == ("tz", 0) and self.length == 1

    def number_of(self, length: int) -> bool:
        return self.kind == "number" and self.length == length


class _Scanner:
    """V8's ``DateStringTokenizer`` over ``InputReader``: one token of look-ahead."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.next = self._scan()

    def _ch(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _scan(self) -> _Token:
        c = self._ch()
        if not c or c == "\0":
            return _Token("end")
        if c.isascii() and c.isdigit():
            start, n = self.i, 0
            while self._ch().isascii() and self._ch().isdigit():
                if self.i - start < _MAX_DIGITS:
                    n = n * 10 + int(self._ch())
                self.i += 1
            return _Token("number", n, self.i - start)
        if c in ":-+.)":
            self.i += 1
            return _Token("symbol", symbol=c, length=1)
        if c in _WHITE:  # before words: some white space is >= "A" (node 20's V8 reads it as space)
            self.i += 1
            return _Token("space", length=1)
        if c >= "A":
            start = self.i
            while self._ch() and self._ch() >= "A" and self._ch() not in _WHITE:
                self.i += 1
            word = self.s[start : self.i]
            return _Token("word", length=len(word), word=_keyword(word))
        if c == "(":
            balance = 0
            while True:
                ch = self._ch()
                balance += 1 if ch == "(" else -1 if ch == ")" else 0
                self.i += 1
                if balance <= 0 or not self._ch():
                    break
            return _Token("unknown")
        self.i += 1
        return _Token("unknown")

    def take(self) -> _Token:
        token, self.next = self.next, self._scan()
        return token

    def skip(self, symbol: str) -> bool:
        if self.next.kind == "symbol" and self.next.symbol == symbol:
            self.next = self._scan()
            return True
        return False


def _keyword(word: str) -> tuple[str, int] | None:
    """V8's ``KeywordTable::Lookup``: the first three letters (ASCII lower-cased), a longer word only for a
    month name."""
    prefix = "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in word[:3])
    found = _KEYWORDS.get(prefix)
    if found is None or (len(word) > 3 and found[0] != "month"):
        return None
    return found


def _between(x: int, lo: int, hi: int) -> bool:
    return lo <= x <= hi


@dataclass
class _Day:
    comp: list[int] = field(default_factory=list)
    named_month: int = _NONE
    iso: bool = False

    def add(self, n: int) -> bool:
        if len(self.comp) >= 3:
            return False
        self.comp.append(n)
        return True

    def write(self) -> tuple[int, int, int] | None:
        """Year, month and day (node 20's V8: a first number that is not a day is the year, the month and
        day following; the year defaults to 2001; a two-digit year is 19xx or 20xx)."""
        if not self.comp:
            return None
        comp, size = self.comp + [1] * (3 - len(self.comp)), len(self.comp)
        year: int | None = None
        if self.named_month == _NONE:
            if self.iso or not _between(comp[0], 1, 31):
                year, month, day = comp
            else:
                month, day = comp[0], comp[1]
                year = comp[2] if size == 3 else None
        else:
            month = self.named_month
            if size == 1:
                year, day = (None, comp[0]) if _between(comp[0], 1, 31) else (comp[0], 1)
            elif not _between(comp[0], 1, 31):
                year, day = comp[0], comp[1]
            else:
                day, year = comp[0], comp[1]
        if year is None:
            year = 2001
        elif not self.iso:
            year += 2000 if _between(year, 0, 49) else 1900 if _between(year, 50, 99) else 0
        if not (_between(month, 1, 12) and _between(day, 1, 31)):
            return None
        return year, month, day


@dataclass
class _Time:
    comp: list[int] = field(default_factory=list)
    hour_offset: int = _NONE

    def expecting(self, n: int) -> bool:
        size = len(self.comp)
        return (
            (size == 1 and _between(n, 0, 59))
            or (size == 2 and _between(n, 0, 59))
            or (size == 3 and _between(n, 0, 999))
        )

    def add(self, n: int) -> bool:
        if len(self.comp) >= 4:
            return False
        self.comp.append(n)
        return True

    def add_final(self, n: int) -> bool:
        if not self.add(n):
            return False
        self.comp += [0] * (4 - len(self.comp))
        return True

    def write(self) -> tuple[int, int, int, int] | None:
        hour, minute, second, ms = self.comp + [0] * (4 - len(self.comp))
        if self.hour_offset != _NONE:
            if not _between(hour, 0, 12):
                return None
            hour = hour % 12 + self.hour_offset
        valid = _between(hour, 0, 23) and _between(minute, 0, 59) and _between(second, 0, 59) and _between(ms, 0, 999)
        if not valid and (hour != 24 or minute or second or ms):
            return None  # a 24th hour only with nothing after it
        return hour, minute, second, ms


@dataclass
class _Zone:
    sign: int = _NONE
    hour: int = _NONE
    minute: int = _NONE

    def set(self, hours: int) -> None:
        self.sign = -1 if hours < 0 else 1
        self.hour, self.minute = hours * self.sign, 0

    def expecting(self, n: int) -> bool:
        return self.hour != _NONE and self.minute == _NONE and _between(n, 0, 59)

    def is_utc(self) -> bool:
        return self.hour == 0 and self.minute == 0

    def offset_s(self) -> int | None:
        if self.sign == _NONE:
            return None
        hour = 0 if self.hour == _NONE else self.hour
        minute = 0 if self.minute == _NONE else self.minute
        return self.sign * (hour * 3600 + minute * 60)


def _milliseconds(token: _Token) -> int:
    """V8's ``ReadMilliseconds``: the first three significant digits of the numeral."""
    number, length = token.value, token.length
    if length == 1:
        return number * 100
    if length == 2:
        return number * 10
    length = min(length, _MAX_DIGITS)
    return number // 10 ** (length - 3) if length > 3 else number


def js_date_parse(text: str) -> int | None:
    """Epoch milliseconds as V8's ``Date.parse(text)`` gives them in a UTC process; None for NaN."""
    scanner = _Scanner(text)
    day, time, zone = _Day(), _Time(), _Zone()
    token = _iso(scanner, day, time, zone)
    if token is None:
        return None
    if not _legacy(scanner, token, day, time, zone):
        return None
    ymd, hms = day.write(), time.write()
    if ymd is None or hms is None:
        return None
    return _epoch(ymd, hms, zone.offset_s())


def _iso(sc: _Scanner, day: _Day, time: _Time, zone: _Zone) -> _Token | None:
    """V8's ``ParseES5DateTime``: as far as the text is an ES5 date-time string; the next token for the
    legacy parser (``end``: done), or None where the text cannot be a date (NaN)."""
    if sc.next.is_sign():
        sign_token = sc.take()
        if not sc.next.number_of(6):
            return sign_token
        sign, year = (1 if sign_token.symbol == "+" else -1), sc.take().value
        if sign < 0 and year == 0:
            return sign_token
        day.add(sign * year)
    elif sc.next.number_of(4):
        day.add(sc.take().value)
    else:
        return sc.take()
    if sc.skip("-"):
        if not sc.next.number_of(2) or not _between(sc.next.value, 1, 12):
            return sc.take()
        day.add(sc.take().value)
        if sc.skip("-"):
            if not sc.next.number_of(2) or not _between(sc.next.value, 1, 31):
                return sc.take()
            day.add(sc.take().value)
    if not (sc.next.kind == "word" and sc.next.word == ("sep", 0)):
        if sc.next.kind != "end":
            return sc.take()
    else:
        sc.take()
        if not _iso_time(sc, time, zone):
            return None
    if zone.hour == _NONE and not time.comp:
        zone.set(0)
    day.iso = True
    return _Token("end")


def _iso_time(sc: _Scanner, time: _Time, zone: _Zone) -> bool:
    """The ``THH:mm[:ss[.sss]][Z|(+|-)hh:mm|(+|-)hhmm]`` part of an ES5 date-time string, to its end."""
    if not sc.next.number_of(2) or not _between(sc.next.value, 0, 24):
        return False
    hour_is_24 = sc.next.value == 24
    time.add(sc.take().value)
    for part in ("minute", "second"):
        if part == "second" and not sc.skip(":"):
            break
        if part == "minute" and not sc.skip(":"):
            return False
        if not sc.next.number_of(2) or not _between(sc.next.value, 0, 59) or (hour_is_24 and sc.next.value > 0):
            return False
        time.add(sc.take().value)
        if part == "second" and sc.skip("."):
            if sc.next.kind != "number" or (hour_is_24 and sc.next.value > 0):
                return False
            time.add(_milliseconds(sc.take()))
    if sc.next.is_z():
        sc.take()
        zone.set(0)
    elif sc.next.is_sign():
        zone.sign = 1 if sc.take().symbol == "+" else -1
        if sc.next.number_of(4):
            hour, minute = divmod(sc.take().value, 100)
            if not (_between(hour, 0, 23) and _between(minute, 0, 59)):
                return False
            zone.hour, zone.minute = hour, minute
        else:
            if not sc.next.number_of(2) or not _between(sc.next.value, 0, 23):
                return False
            zone.hour = sc.take().value
            if not sc.skip(":") or not sc.next.number_of(2) or not _between(sc.next.value, 0, 59):
                return False
            zone.minute = sc.take().value
    return sc.next.kind == "end"


def _legacy(sc: _Scanner, token: _Token, day: _Day, time: _Time, zone: _Zone) -> bool:
    """V8's legacy date parser over the tokens the ES5 parser left; False: NaN."""
    state = {"number": bool(day.comp)}
    while token.kind != "end":
        if token.kind == "number":
            state["number"] = True
            if not _legacy_number(sc, token.value, day, time, zone):
                return False
        elif token.kind == "word":
            if not _legacy_word(sc, token, day, time, zone, read_number=state["number"]):
                return False
        elif token.is_sign() and (zone.is_utc() or time.comp):
            state["number"] = True
            if not _legacy_offset(sc, token, zone):
                return False
        elif (token.is_sign() or (token.kind == "symbol" and token.symbol == ")")) and state["number"]:
            return False
        token = sc.take()
    return True


def _legacy_number(sc: _Scanner, n: int, day: _Day, time: _Time, zone: _Zone) -> bool:
    """A number of a legacy date: a time part, milliseconds, a zone's minutes, or a day part."""
    if sc.skip(":"):
        if sc.skip(":"):
            if time.comp:
                return False
            time.add(n)
            time.add(0)
        else:
            if not time.add(n):
                return False
            if sc.next.kind == "symbol" and sc.next.symbol == ".":
                sc.take()
    elif sc.skip(".") and time.expecting(n):  # the '.' is consumed even where the time expects no n
        time.add(n)
        if sc.next.kind != "number":
            return False
        time.add_final(_milliseconds(sc.take()))
    elif zone.expecting(n):
        zone.minute = n
    elif time.expecting(n):
        time.add_final(n)
        peek = sc.next
        if peek.kind not in ("end", "space") and not peek.is_z() and not peek.is_sign():
            return False
    else:
        if not day.add(n):
            return False
        sc.skip("-")
    return True


def _legacy_word(sc: _Scanner, token: _Token, day: _Day, time: _Time, zone: _Zone, *, read_number: bool) -> bool:
    """A word of a legacy date: AM/PM, a month name, a time zone name; other words only before a number."""
    kind, value = token.word or ("", 0)
    if kind == "ampm" and time.comp:
        time.hour_offset = value
    elif kind == "month":
        day.named_month = value
        sc.skip("-")
    elif kind == "tz" and read_number:
        zone.set(value)
    elif read_number or sc.next.kind == "number":
        return False
    return True


def _legacy_offset(sc: _Scanner, token: _Token, zone: _Zone) -> bool:
    """``(+|-)`` after a time or UTC: the zone offset, ``hh``, ``hhmm`` or ``hh:`` (minutes after)."""
    zone.sign = 1 if token.symbol == "+" else -1
    n = length = 0
    if sc.next.kind == "number":
        number = sc.take()
        n, length = number.value, number.length
    if sc.next.kind == "symbol" and sc.next.symbol == ":":
        zone.hour, zone.minute = n, _NONE
    elif length in (1, 2):
        zone.hour, zone.minute = n, 0
    elif length in (3, 4):
        zone.hour, zone.minute = divmod(n, 100)
    else:
        return False
    return True


_SMI_MAX = 2**30 - 1
_MAX_TIME = 8.64e15


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (any year)."""
    year -= month <= 2
    era = year // 400  # (floor division: no adjustment for negative years)
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _epoch(ymd: tuple[int, int, int], hms: tuple[int, int, int, int], offset_s: int | None) -> int | None:
    """ES ``MakeDate(MakeDay, MakeTime)`` (a day past the month's end rolls over), less the zone's offset (a
    date without one is local time: UTC on the server), then ``TimeClip``."""
    year, month, day = ymd
    if not -_SMI_MAX - 1 <= year <= _SMI_MAX:
        return None
    if offset_s is not None and abs(offset_s) > _SMI_MAX:
        return None
    days = _days_from_civil(year, month, 1) + day - 1
    hour, minute, second, ms = hms
    t = days * 86_400_000 + ((hour * 60 + minute) * 60 + second) * 1000 + ms
    if offset_s is not None:
        t -= offset_s * 1000
    if abs(t) > _MAX_TIME:
        return None
    return t
