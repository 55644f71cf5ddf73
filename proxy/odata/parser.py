"""Recursive-descent parser mirroring `odata-parser.pegjs` (@balena/odata-parser 4.3.5) rule by rule."""

from __future__ import annotations

from .errors import ODataSyntaxError
from .tree import Expr, ODataUrl

__all__ = ["parse_target", "parse_expression"]


def parse_target(target: str) -> ODataUrl:
    raise NotImplementedError


def parse_expression(text: str) -> Expr:
    raise NotImplementedError
