"""The parser's one error type. The grammar stands alone: the answer a client gets for it (the 400 text,
secrets masked) is the handler's business (proxy.errors.malformed_url_message)."""

from __future__ import annotations

__all__ = ["ODataSyntaxError"]


class ODataSyntaxError(ValueError):
    """The server would reject this URL: a grammar failure (400) or a bad percent-escape (500 there,
    400 from the proxy).  `target` is the text that failed to parse; `position` the offset where the
    resource path and options could not be read further (an approximation of the server's error position;
    -1 for bad percent-escapes and excessive nesting)."""

    def __init__(self, message: str, target: str = "", position: int = -1) -> None:
        super().__init__(message)
        self.target = target
        self.position = position
