"""Value conversions translators use for fields whose JSON type changed between v6 and v7."""

from __future__ import annotations

import contextlib
import decimal
import json
from typing import Any


def js_integer(value: Any) -> Any:
    """v7 Big Integer string → the number JavaScript's ``parseInt`` + ``JSON.stringify`` gave v6.

    Above 2**53 JS loses precision and prints the float's shortest decimal form with zeros
    (``'9223372036854775807'`` → ``9223372036854776000``).
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    try:
        text = str(value).strip()
        as_int = int(text)
    except ValueError:
        try:
            as_int = int(decimal.Decimal(str(value).strip()))
        except (decimal.InvalidOperation, ValueError):
            return value
    if abs(as_int) <= 2**53:
        return as_int
    return int(decimal.Decimal(repr(float(as_int))))


_JSONB_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _jsonb_string(text: str) -> str:
    out = ['"']
    for ch in text:
        escaped = _JSONB_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jsonb_number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        return "null"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return json.dumps(value)


def jsonb_text(value: Any) -> Any:
    """A JSON value → PostgreSQL's ``jsonb::text`` rendering (what v6 sent as ``release.contract``).

    Keys sorted by UTF-8 byte length then bytes; ``", "`` and ``": "`` separators; non-ASCII kept.
    ``None`` stays ``None`` (SQL NULL).
    """
    if value is None:
        return None
    return _render(value)


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return _jsonb_number(value)
    if isinstance(value, str):
        return _jsonb_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(_jsonb_string(k) + ": " + _render(value[k]) for k in keys) + "}"
    return _jsonb_string(str(value))


class NotJson(ValueError):
    """A v6 body value that v6's validator would refuse."""


def parse_json_text(value: Any) -> Any:
    """v6 body ``contract``: a string is JSON-parsed (left as is when it fails); the result must be an
    object or array, else v6 answered 400 with an empty body. ``None`` was refused too (v6 quirk)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, (dict, list)):
        return value
    raise NotJson(repr(value))
