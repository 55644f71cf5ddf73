"""JS `decodeURIComponent` semantics (what the server applies to names, Text and string literals).

Why not urllib.parse.unquote: it silently keeps invalid escapes; the server throws a URIError there
(answered 500), which the proxy must turn into a 400 "Malformed url" instead of forwarding garbage.
"""

from __future__ import annotations

import re

__all__ = ["URIDecodeError", "decode_uri_component"]


class URIDecodeError(ValueError):
    """An invalid percent-escape (`%`, `%zz`, `%E9` alone, bad UTF-8)."""


_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _decode_run(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        return bytes.fromhex(text.replace("%", "")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise URIDecodeError(f"URI malformed: {text}") from exc


def decode_uri_component(text: str) -> str:
    """Decode every %XX escape as UTF-8, exactly like JS decodeURIComponent; raise URIDecodeError."""
    if "%" not in text:
        return text
    decoded = _ESCAPE_RUN.sub(_decode_run, text)
    # any '%' left over was not part of a valid two-hex-digit escape
    if "%" in _ESCAPE_RUN.sub("", text):
        raise URIDecodeError(f"URI malformed: {text}")
    return decoded
