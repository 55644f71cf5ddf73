"""The parser's one error type and the proxy's answer text for it."""

from __future__ import annotations

from proxy.errors import mask_secrets

__all__ = ["ODataSyntaxError", "malformed_url_message", "mask_apikey"]


class ODataSyntaxError(ValueError):
    """The server would reject this URL: a grammar failure (400) or a bad percent-escape (500 there,
    400 from the proxy).  `target` is the text that failed to parse; `position` the offset where the
    resource path and options could not be read further (an approximation of the server's error position;
    -1 for bad percent-escapes and excessive nesting)."""

    def __init__(self, message: str, target: str = "", position: int = -1) -> None:
        super().__init__(message)
        self.target = target
        self.position = position


def mask_apikey(url: str) -> str:
    """Replace every `apikey=` value by `***` (one rule for the whole proxy: proxy.errors.mask_secrets)."""
    return mask_secrets(url)


def malformed_url_message(full_url: str) -> str:
    """The server's 400 message for an unparsable URL, with apikey values masked:
    `Malformed url: '<url>'` where url is the request target as received (e.g. `/v6/device?...`)."""
    return f"Malformed url: '{mask_secrets(full_url)}'"
