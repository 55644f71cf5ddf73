"""Error responses in the balena API's own style, and the upstream failures that lead to them.

The API answers errors with a JSON *string* body (``"Unauthorized"``), so clients that print the body show
a sentence, not an object. Nothing here ever includes a traceback or a credential.
"""

from __future__ import annotations

import re

import orjson
from aiohttp import web


def _spelled_any_way(word: str) -> str:
    """A pattern for ``word`` with any of its letters percent-encoded (``api%6Bey``: the server decodes it)."""
    return "".join(f"(?:{c}|%{ord(c):02x})" for c in word)


_APIKEY_NAME = _spelled_any_way("apikey") + "(?:=|%3d)"
# apikey=<value> in a query string or a logged URL; the value ends at &, #, whitespace or a quote.
_APIKEY = re.compile(rf"(?i)({_APIKEY_NAME})[^&#\s'\"]*")
# "Bearer <token>" wherever it shows up in free text (for example in an echoed header).
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+")
# The letters of "apikey" percent-encoded, as they read in lower-cased text.
_APIKEY_ESCAPES = tuple((f"%{ord(c):02x}", c) for c in "apikey")
_APIKEY_LETTER_ESCAPE = re.compile("|".join(escape for escape, _ in _APIKEY_ESCAPES))


class UpstreamError(Exception):
    """The upstream could not give an answer; ``str()`` is safe to show to a client."""

    status = 502
    prefix = "Upstream unavailable"

    def client_message(self) -> str:
        detail = mask_secrets(str(self)) if str(self) else ""
        return f"{self.prefix}: {detail}" if detail else self.prefix


class UpstreamUnavailable(UpstreamError):
    """Connection refused, reset, DNS failure, TLS failure: answered with 502."""


class ClientBodyError(UpstreamError):
    """The client's request body broke (bad framing) while it was streamed upstream: the client's fault, 400."""

    status = 400
    prefix = "Bad request"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time: answered with 504."""

    status = 504
    prefix = "Upstream timeout"


def mask_secrets(text: str) -> str:
    """Replace ``apikey=`` values and bearer tokens in ``text`` by ``***``."""
    lower = text.lower()  # fast path: it runs on every string of every log event
    if _names_apikey(lower):
        text = _APIKEY.sub(r"\1***", text)
    if "bearer" in lower:
        text = _BEARER.sub(r"\1***", text)
    return text


def _names_apikey(lower: str) -> bool:
    """Whether lower-cased text holds the name ``apikey``, any of its letters percent-encoded or not.

    Plain substring tests (a regular expression that allows an escape for every letter took 47 µs on a
    2 KB line); the escapes are undone only when the text has one of them at all."""
    if "apikey" in lower:
        return True
    if "%" not in lower or _APIKEY_LETTER_ESCAPE.search(lower) is None:  # usually none, even in encoded URLs
        return False
    for escape, letter in _APIKEY_ESCAPES:
        lower = lower.replace(escape, letter)
    return "apikey" in lower


def may_hold_secret(line: bytes) -> bool:
    """Whether a rendered (JSON) log line may hold an apikey or a bearer token somewhere: only then need its
    strings go through :func:`mask_secrets` one by one. Non-ASCII text is always suspect (``str.lower``
    folds some such letters into ASCII ones)."""
    if not line.isascii():
        return True
    lower = line.decode("ascii").lower()
    return "bearer" in lower or _names_apikey(lower)


def malformed_url_message(full_url: str) -> str:
    """The server's 400 message for an unparsable URL, with secrets masked: `Malformed url: '<url>'` where
    url is the request target as received (e.g. `/v6/device?...`)."""
    return f"Malformed url: '{mask_secrets(full_url)}'"


def api_error(status: int, message: str | None) -> web.Response:
    """A response whose body is the JSON string ``message`` (or empty when ``message`` is None)."""
    if message is None:
        return web.Response(status=status)
    return web.Response(
        status=status,
        body=orjson.dumps(message),
        content_type="application/json",
        charset="utf-8",
    )
