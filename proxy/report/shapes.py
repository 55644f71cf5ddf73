"""Request shapes for the migration cookbook: literals replaced by placeholders so equal requests group.

The v6 target's ids, uuids and other literals become ``{id}``, ``'{uuid}'``, ``'{text}'``, ``{number}``
(numbered when one request has several distinct ones: ``{id}``, ``{id2}``). The v7 target the proxy sent
gets the *same* placeholders wherever it carries the same literal, so the two read side by side; a literal
only the translation introduced (a v7 status value, an extra filter) stays as it is.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

# A quoted OData string ('' escapes a quote), or a number that is not part of a name (v6, $top stay).
_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w.$@'])-?\d+(?:\.\d+)?(?![\w.'])")
_UUID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{62}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _kind(token: str, text: str, start: int) -> str:
    if token.startswith("'"):
        return "uuid" if _UUID.fullmatch(token[1:-1]) else "text"
    before = text[start - 1] if start > 0 else ""
    after = text[start + len(token)] if start + len(token) < len(text) else ""
    # a key right after a resource or navigation name (device(1), (1,2) keys); `in (1,2)` lists are numbers
    named = start >= 2 and (text[start - 2].isalnum() or text[start - 2] == "_")
    return "id" if before == "(" and named and after in (")", ",") else "number"


def shapes(v6_target: str, v7_target: str | None) -> tuple[str, str | None]:
    """The placeholder forms of a v6 target and of the v7 target it was translated to (decoded for reading)."""
    v6 = unquote(v6_target)
    names: dict[str, str] = {}
    counts: dict[str, int] = {}

    def v6_sub(match: re.Match[str]) -> str:
        token = match.group(0)
        name = names.get(token)
        if name is None:
            kind = _kind(token, v6, match.start())
            counts[kind] = counts.get(kind, 0) + 1
            name = "{" + kind + ("" if counts[kind] == 1 else str(counts[kind])) + "}"
            name = f"'{name}'" if token.startswith("'") else name
            names[token] = name
        return name

    v6_shape = _LITERAL.sub(v6_sub, v6)
    if v7_target is None:
        return v6_shape, None
    v7_shape = _LITERAL.sub(lambda m: names.get(m.group(0), m.group(0)), unquote(v7_target))
    return v6_shape, v7_shape
