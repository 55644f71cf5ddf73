"""Request-body validation as pinejs 24.2 runs it before any hook (spec §2.3 step 3, §4.8).

pinejs builds one zod ``looseObject`` per table (``src/sbvr-api/validation.ts`` ``getValidator``): each field
gets ``sbvrTypes[dataType].schema``, ``.optional()`` when the column is required (so ``null`` fails) and
``.nullish()`` otherwise; unknown keys pass. Any failure is ``BadRequestError()``: 400 with an empty body.

The per-type predicates below reproduce the zod schemas of @balena/sbvr-types 11.3 (``type-utils.ts``
``schema``) with the JavaScript coercions they rely on: ``parseInt``/``parseFloat`` of strings for integers and
reals, ``BigInt()`` for big integers, ``Number()`` then ``new Date()`` for dates, 0/1/'0'/'1' for booleans.
Foreign keys are the integer schema, so ``{"__id": n}`` fails as on the server.
tests/fixtures/simulator/sbvr_types/verdicts.json holds the real schemas' verdicts; the tests check these
predicates against every one. ``coerced`` gives the value such a schema hands on (what gets stored).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_tz
from typing import Any

from .evaluator import ODataError
from .model import COMPUTED, Resource

MAX_SAFE_INTEGER = 2**53 - 1  # zod 4's .int() accepts safe integers only
MAX_DATE_MS = 8.64e15  # ECMAScript time value range
_PARSE_INT = re.compile(r"[+-]?\d+")
_PARSE_FLOAT = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")
_JS_NUMBER = re.compile(r"[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_BIGINT = re.compile(r"[+-]?\d+|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_WEB_RESOURCE = {
    "filename": str,
    "href": str,
    "content_type": str,
    "content_disposition": str,
    "checksum": str,
    "size": int,
}
_DATE_FORMATS = (
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%a, %d %b %Y",
    "%A, %B %d, %Y",
    "%a, %B %d, %Y",
    "%a %b %d %Y",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%Y-%m",
    "%d.%m.%Y",
    "%m.%d.%Y",
    "%Y",
)
# a trailing time of day and zone, as V8's fallback parser takes them after a date ("... 10:00:00 GMT+0200")
_TIME_SUFFIX = re.compile(
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}|GMT[+-]\d{4}"
    r"|\([^)]*\))*\s*$",
    re.IGNORECASE,
)


def _number(value: Any) -> bool:
    """A JSON number as JavaScript sees it (booleans are not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _js_float(text: str) -> float:
    """``parseFloat``: the longest numeric prefix after leading whitespace, else NaN."""
    match = _PARSE_FLOAT.match(text.lstrip())
    if match is None:
        return math.nan
    try:
        return float(match.group(0).replace("Infinity", "inf"))
    except OverflowError:  # pragma: no cover - float() returns inf rather than raising
        return math.inf


def js_number(text: str) -> float:
    """``Number(string)``: whole trimmed string, empty is 0, hex/octal/binary literals allowed, else NaN."""
    text = text.strip()
    if not text:
        return 0.0
    if _JS_NUMBER.fullmatch(text) is None:
        return math.nan
    if text[:2].lower() in ("0x", "0o", "0b"):
        return float(int(text, 0))
    return float(text.replace("Infinity", "inf"))


def _integer(value: Any) -> bool:
    """``preprocess(string -> parseInt(v, 10), z.number().int())``."""
    if isinstance(value, str):
        match = _PARSE_INT.match(value.lstrip())
        if match is None:
            return False
        value = int(match.group(0))
    return _number(value) and math.isfinite(value) and float(value).is_integer() and abs(value) <= MAX_SAFE_INTEGER


def _bigint(value: Any) -> bool:
    """``union(non-empty string, number, bigint).pipe(z.coerce.bigint())``: ``BigInt(v)`` must not throw."""
    if isinstance(value, str):
        return value != "" and (not value.strip() or _BIGINT.fullmatch(value.strip()) is not None)
    return _number(value) and math.isfinite(value) and float(value).is_integer()


def _real(value: Any) -> bool:
    """``preprocess(string -> parseFloat(v), z.number())``: finite numbers only."""
    if isinstance(value, str):
        value = _js_float(value)
    return _number(value) and math.isfinite(value)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 255


def _boolean(value: Any) -> bool:
    """``preprocess(0/'0' -> false, 1/'1' -> true, z.boolean())``."""
    if isinstance(value, bool):
        return True
    return (_number(value) and value in (0, 1)) or value in ("0", "1")


def _date_string(text: str) -> bool:
    """Whether ``new Date(text)`` is valid, for the formats clients send (ISO 8601, RFC 2822, "March 1, 2026",
    "2026/03/01 10:00 GMT+0200"). V8's fallback parser is looser still (it takes "tomorrow 5"); those stay 400."""
    text = text.strip()
    try:
        datetime.fromisoformat(text)
        return True
    except ValueError:
        pass
    if parsedate_tz(text) is not None:
        return True
    date_part = _TIME_SUFFIX.sub("", text).strip() or text
    for fmt in _DATE_FORMATS:
        try:
            datetime.strptime(date_part, fmt)
            return True
        except ValueError:
            continue
    return False


def _date(value: Any) -> bool:
    """``union(string, number).transform(Number(v) unless NaN, then new Date(..)).pipe(z.date())``."""
    if isinstance(value, str):
        number = js_number(value)
        if math.isnan(number):
            return _date_string(value)
        value = number
    return _number(value) and math.isfinite(value) and abs(value) <= MAX_DATE_MS


def _json(value: Any) -> bool:
    """``union(array(json), record(string, json))``: an array or an object."""
    return isinstance(value, (dict, list))


def _web_resource(value: Any) -> bool:
    """``strictObject({filename, href, content_type?, content_disposition?, size?, checksum?})``."""
    if not isinstance(value, dict) or not {"filename", "href"} <= set(value) or not set(value) <= set(_WEB_RESOURCE):
        return False
    for key, item in value.items():
        if _WEB_RESOURCE[key] is int:
            if not _integer(item) or isinstance(item, str):
                return False
        elif not isinstance(item, str):
            return False
    return True


CHECKS: dict[str, Callable[[Any], bool]] = {
    "Integer": _integer,
    "Serial": _integer,
    "ForeignKey": _integer,
    "ConceptType": _integer,
    "Big Integer": _bigint,
    "Big Serial": _bigint,
    "Real": _real,
    "Short Text": _short_text,
    "Text": _text,
    "Hashed": _text,
    "Date Time": _date,
    "Date": _date,
    "Time": _date,
    "Boolean": _boolean,
    "JSON": _json,
    "WebResource": _web_resource,
}


def accepts(sbvr_type: str, value: Any, required: bool) -> bool:
    """The verdict of ``sbvrTypes[sbvr_type].schema[required ? 'optional' : 'nullish']()`` for ``value``."""
    if value is None:
        return not required
    check = CHECKS.get(sbvr_type)
    return check is None or check(value)


def coerced(model_type: str, value: Any) -> Any:
    """The value a passing schema produces for a string or number: ``"12abc"`` -> 12 for an integer, ``" 12 "``
    -> ``"12"`` for a big integer (the store keeps those as strings, as v7 answers them), ``"1"`` -> True for a
    boolean. Dates are left to the caller; anything else is returned unchanged."""
    if not model_type:
        return value
    sbvr_type, _ = _field_type(model_type)
    if sbvr_type in ("Integer", "Serial") and isinstance(value, str) and _integer(value):
        return int(_PARSE_INT.match(value.lstrip()).group(0))
    if sbvr_type in ("Integer", "Serial") and isinstance(value, float) and _integer(value):
        return int(value)
    if sbvr_type == "Real" and isinstance(value, str) and _real(value):
        return _js_float(value)
    if sbvr_type in ("Big Integer", "Big Serial") and isinstance(value, str) and _bigint(value):
        text = value.strip()
        return str(int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else int(text or "0"))
    if sbvr_type == "Boolean" and not isinstance(value, bool) and _boolean(value):
        return value in (1, "1")
    return value


def _field_type(model_type: str) -> tuple[str, bool]:
    """The sbvr type and NOT NULL-ness of a model field type such as ``"Short Text | null"``.

    Enums in the model are SDK typings of Short Text columns (a rule restricts the values); ``Enum: boolean`` is a
    Boolean column."""
    parts = model_type.split(" | ")
    base = parts[0]
    if base.startswith("Enum: "):
        base = "Boolean" if base == "Enum: boolean" else "Short Text"
    return base, "null" not in parts[1:]


def validate_body(res: Resource, body: Any, required_columns: tuple[str, ...] = ()) -> None:
    """Raise the empty 400 pinejs answers when ``body`` is not an object or a known field fails its schema.

    ``required_columns`` names NOT NULL foreign keys (the model gives navigations no nullability)."""
    if not isinstance(body, dict):
        raise ODataError(400)
    computed = COMPUTED.get(res.name, set())
    for key, value in body.items():
        if key in res.fields:
            sbvr_type, required = _field_type(res.fields[key])
            if not accepts(sbvr_type, value, required and key not in computed):
                raise ODataError(400)
        elif (
            key in res.navigation
            and key not in res.many
            and key in res.key_order
            and not accepts("ForeignKey", value, key in required_columns)
        ):
            raise ODataError(400)
