"""Checks a translator declaration runs on itself when it is built (at import of the module declaring it), so a
wrong rule fails there with the module and the rule named, not later when the proxy starts."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from proxy.odata import ODataSyntaxError, parse_expression

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SCALARS = (str, int, float, bool, type(None))


class DeclarationError(TypeError):
    """A translator rule or option declared with a wrong argument (raised where the rule is built)."""


def declared_in() -> str:
    """The module that builds the rule being checked: the first caller outside this package's own modules."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in ("translators", __name__):
        frame = frame.f_back  # type: ignore[assignment]
    return str(frame.f_globals.get("__name__", "?")) if frame is not None else "?"


class Checker:
    """Collects what is wrong with one rule and raises one ``DeclarationError`` naming module and rule."""

    def __init__(self, rule: object, label: str) -> None:
        self.rule = rule
        self.label = label
        self.problems: list[str] = []

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def name(self, what: str, value: object, *, optional: bool = False) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not _NAME.match(value):
            self.fail(f"{what} must be a name (letters, digits, _), got {value!r}")

    def names(self, what: str, value: object) -> None:
        if not isinstance(value, tuple):
            self.fail(f"{what} must be a tuple of names, got {type(value).__name__} {value!r}")
            return
        for item in value:
            self.name(f"{what} item", item)

    def text(self, what: str, value: object, *, optional: bool = False) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{what} must be non-empty text, got {value!r}")

    def condition(self, what: str, value: object) -> None:
        """OData condition text (v7 names), as the walk will parse it."""
        if not isinstance(value, str):
            self.fail(f"{what} must be OData text, got {value!r}")
            return
        if value in ("true", "false"):
            return
        try:
            parse_expression(value)
        except ODataSyntaxError as error:
            self.fail(f"{what} {value!r} is not an OData condition ({error})")

    def callable(self, what: str, value: object, *, optional: bool = False) -> None:
        if value is None and optional:
            return
        if not callable(value):
            self.fail(f"{what} must be a function, got {value!r}")

    def flag(self, what: str, value: object) -> None:
        if not isinstance(value, bool):
            self.fail(f"{what} must be True or False, got {value!r}")

    def scalar(self, what: str, value: object) -> None:
        if not isinstance(value, _SCALARS):
            self.fail(f"{what} must be a JSON scalar (text, number, boolean or None), got {value!r}")

    def mapping(self, what: str, value: object, check: Callable[[Any, Any], None]) -> None:
        if not isinstance(value, Mapping):
            self.fail(f"{what} must be a mapping, got {value!r}")
            return
        for key, item in value.items():
            check(key, item)

    def instance(self, what: str, value: object, kinds: type | tuple[type, ...], *, optional: bool = False) -> None:
        if value is None and optional:
            return
        if not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
            self.fail(f"{what} must be {names}, got {value!r}")

    def items(self, what: str, value: object) -> tuple[object, ...]:
        """``value`` if it is a tuple (reported otherwise: a list or a lone text is a common slip)."""
        if not isinstance(value, tuple):
            self.fail(f"{what} must be a tuple, got {type(value).__name__} {value!r}")
            return ()
        return value

    def pairs(self, what: str, value: object) -> list[tuple[object, object]]:
        """The pairs of a tuple of pairs; every item that is not a pair is reported."""
        found: list[tuple[object, object]] = []
        for item in self.items(what, value):
            if isinstance(item, tuple) and len(item) == 2:
                found.append((item[0], item[1]))
            else:
                self.fail(f"{what} must hold pairs, got {item!r}")
        return found

    def named_text(self, key: object, value: object) -> None:
        self.name("key", key)
        self.text(f"{key!r}", value)

    def named_name(self, key: object, value: object) -> None:
        self.name("key", key)
        self.name(f"{key!r}", value)

    def named_function(self, key: object, value: object) -> None:
        self.name("key", key)
        self.callable(f"{key!r}", value)

    def done(self) -> None:
        if self.problems:
            raise DeclarationError(f"{declared_in()}: {self.label}: " + "; ".join(self.problems))
