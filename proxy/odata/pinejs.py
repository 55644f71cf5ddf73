"""pinejs's pre-processing of a URL that defines parameter aliases (odata-dialect.md §5.4), both ways.

Why: the server does not hand such a URL to the parser as it came. pinejs 24 ``memoizedParseOdata``
(``src/sbvr-api/uri-parser.ts``), when the target has a ``?`` and matches ``/[?&(]@/``, reads the query
with ``URLSearchParams`` (``+`` is a space, ``%XX`` decoded, bad UTF-8 becomes U+FFFD), takes the ``@…``
entries out, and parses ``decodeURIComponent(rest.toString())`` — every pair re-joined as ``name=value``
with spaces as ``+`` — and, on its own with the ``QueryOptions`` rule, the alias entries treated the same
way; the options read from the aliases are then set on the tree over the main query's. A proxy that parses
the raw text reads such a URL differently from the server (``'a b'`` is ``a+b`` there, ``'50%25'`` a bad
escape, ``%26`` a separator), so `split_aliases` reproduces the step exactly and `encode_for_aliases`
writes the proxy's own re-parsed text back in a form the step turns into that same text again.
"""

from __future__ import annotations

import re

from .decode import URIDecodeError, decode_uri_component

__all__ = ["encode_for_aliases", "form_pairs", "split_aliases"]

_ALIAS_HINT = re.compile(r"[?&(]@")


_VALID_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_ESCAPE_OR_UNIT = re.compile(r"%[0-9A-Fa-f]{2}|.", re.S)


def _form_decode(text: str) -> str:
    """One name or value as Node's URLSearchParams reads it (the server runs on Node): ``+`` is a space;
    a piece holding no valid ``%XX`` (``+`` aside) is kept as it is; else ``decodeURIComponent``, and where
    that throws (a malformed escape, bad UTF-8), every escape a byte and every other UTF-16 code unit its low
    byte, decoded as UTF-8 with U+FFFD for bad bytes (so a raw ``é`` next to a bad escape is U+FFFD too)."""
    spaced = text.replace("+", " ")
    if not _VALID_ESCAPE.search(text.replace("+", "")):
        return spaced
    try:
        return decode_uri_component(spaced)
    except URIDecodeError:
        return _low_bytes(spaced).decode("utf-8", "replace")


def _low_bytes(text: str) -> bytes:
    out = bytearray()
    for m in _ESCAPE_OR_UNIT.finditer(text):
        piece = m.group()
        if len(piece) == 3:
            out.append(int(piece[1:], 16))
            continue
        code = ord(piece)
        if code > 0xFFFF:  # a JS string holds it as two UTF-16 code units
            code -= 0x10000
            out.append((0xD800 + (code >> 10)) & 0xFF)
            out.append((0xDC00 + (code & 0x3FF)) & 0xFF)
        else:
            out.append(code & 0xFF)
    return bytes(out)


def form_pairs(query: str) -> list[tuple[str, str]]:
    """``new URLSearchParams(query)`` (Node's) as (name, value) pairs: a leading ``?`` dropped, empty pieces
    skipped, a piece without ``=`` has the empty value."""
    if query.startswith("?"):
        query = query[1:]
    pairs = []
    for piece in query.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((_form_decode(name), _form_decode(value)))
    return pairs


def _rejoined(pairs: list[tuple[str, str]]) -> str:
    """``decodeURIComponent(params.toString())``: the serializer writes a space as ``+`` and escapes
    everything else that is not alphanumeric or ``*-._``; decoding undoes all but the ``+``."""
    return "&".join(f"{name.replace(' ', '+')}={value.replace(' ', '+')}" for name, value in pairs)


def split_aliases(target: str) -> tuple[str, str] | None:
    """What pinejs parses for ``target``: None when it parses the raw text (no alias entry), else the
    main target (path kept raw, query re-decoded) and the alias options' text (``@a=1&@b='x'``)."""
    mark = target.find("?")
    if mark == -1 or not _ALIAS_HINT.search(target):
        return None
    main: list[tuple[str, str]] = []
    aliases: list[tuple[str, str]] = []
    for name, value in form_pairs(target[mark:]):
        (aliases if name.startswith("@") else main).append((name, value))
    if not aliases:
        return None
    return target[:mark] + "?" + _rejoined(main), _rejoined(aliases)


# ------------------------------------------------------------------------------------ the way back

# characters a request target cannot carry raw, or that the pre-processing would change: `%` (decoded),
# `+` (a space), `&` and `=` (split), `#` (a fragment), space, controls and anything beyond ASCII
_PAIR_UNSAFE = re.compile(r"[%+&=#\s\x00-\x1f\x7f]|[^\x00-\x7f]")
_VALUE_UNSAFE = re.compile(r"[%+&#\s\x00-\x1f\x7f]|[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "+":
        return "%20"  # read as a space, which the pre-processing writes back as `+`
    if char == " ":
        return "%2520"  # a space cannot come out of the pre-processing; `%20` reads as one where it is decoded
    return "".join(f"%{b:02X}" for b in char.encode("utf-8"))


def encode_for_aliases(path: str, options: list[str]) -> str:
    """A target that pinejs's alias step turns into ``path?options[0]&options[1]…`` again (each option
    ``name=value``, at least one of them an alias ``@…``), so the upstream reads what the proxy parsed.

    Each name and value is escaped so that URLSearchParams reads back exactly it; alias names keep their
    raw ``@`` after ``?``/``&`` so the step still applies. A ``?`` or ``#`` in the path (only possible
    inside a quoted key, which the parser decodes) is escaped so the query starts where it should."""
    path = path.replace("?", "%3F").replace("#", "%23")
    pairs = []
    for option in options:
        name, _, value = option.partition("=")
        head = "@" if name.startswith("@") else ""
        pairs.append(head + _PAIR_UNSAFE.sub(_escape, name[len(head) :]) + "=" + _VALUE_UNSAFE.sub(_escape, value))
    return path + "?" + "&".join(pairs)
