"""Request-body validation as pinejs 24.2 runs it before any hook (spec §2.3 step 3, §4.8).

pinejs builds one zod ``looseObject`` per table from its fields (``validation.ts`` ``getValidator``): each known
field gets its sbvr-type's schema, ``.optional()`` when the column is required (NOT NULL, so ``null`` fails) and
``.nullish()`` otherwise; unknown keys pass. Any failure is a ``BadRequestError()``: 400 with an empty body.

The per-type acceptance below follows sbvr-types' ``validate`` functions (``type-utils.ts``): integers parse
numbers and numeric strings, dates take epoch numbers or date strings, text must be a string, booleans are
``true``/``false`` (or 0/1), JSON must be an object or array. Foreign keys also take ``{"__id": n}``, the form
v7 responses carry, as the simulator always has. Types we know nothing about are not checked.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from email.utils import parsedate_tz
from typing import Any, Callable

from .evaluator import ODataError
from .model import COMPUTED, Resource

_INTEGER_TEXT = re.compile(r"^\s*[-+]?\d+\s*$")
_NUMBER_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_INTEGER_TEXT.match(value))
    return _is_number(value) and float(value).is_integer()


def _real(value: Any) -> bool:
    return _is_number(value) or (isinstance(value, str) and bool(_NUMBER_TEXT.match(value)))


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _boolean(value: Any) -> bool:
    return isinstance(value, bool) or (_is_number(value) and value in (0, 1))


def _date(value: Any) -> bool:
    if _is_number(value):
        return True
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _NUMBER_TEXT.match(text):
        return True
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        return parsedate_tz(text) is not None


def _json(value: Any) -> bool:
    return isinstance(value, (dict, list))


def _foreign_key(value: Any) -> bool:
    if isinstance(value, dict) and set(value) == {"__id"}:
        value = value["__id"]
    return _integer(value)


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "Integer": _integer, "Serial": _integer, "Big Integer": _integer, "Big Serial": _integer, "Real": _real,
    "Short Text": _text, "Text": _text, "Hashed": _text, "Date Time": _date, "Date": _date, "Boolean": _boolean,
    "Enum: boolean": _boolean, "JSON": _json,
}


def _check_for(ftype: str) -> Callable[[Any], bool] | None:
    base = ftype.split(" | ")[0]
    if base.startswith("Enum: ") and base != "Enum: boolean":
        return _text
    return _CHECKS.get(base)


def validate_body(res: Resource, body: Any) -> None:
    """Raise the empty 400 pinejs answers when ``body`` is not an object or a known field has the wrong type."""
    if not isinstance(body, dict):
        raise ODataError(400)
    computed = COMPUTED.get(res.name, set())
    for key, value in body.items():
        if key in res.fields:
            ftype = res.fields[key]
            if value is None:
                if "null" not in ftype.split(" | ")[1:] and key not in computed:
                    raise ODataError(400)  # a required column's schema is .optional(): null fails
                continue
            check = _check_for(ftype)
            if check is not None and not check(value):
                raise ODataError(400)
        elif key in res.navigation and key not in res.many and key in res.key_order:
            if value is not None and not _foreign_key(value):
                raise ODataError(400)
