"""Small helpers for translator unit tests: a fake body-hook context and a walk of one target."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from proxy.engine import Engine, build_schema

ENGINES: dict[str, Engine] = {}


def engine(flavour: str = "open-balena") -> Engine:
    if flavour not in ENGINES:
        ENGINES[flavour] = Engine(build_schema(flavour))
    return ENGINES[flavour]


def v7(target: str, method: str = "GET", flavour: str = "open-balena") -> str:
    """The decoded v7 target for a v6 target."""
    tr = engine(flavour).translate(method, target.replace(" ", "%20"))
    return unquote(tr.v7_target) if tr.v7_target else ""


class FakeContext:
    """A BodyContext whose upstream look-ups are answered from a dict of path prefix → JSON."""

    def __init__(self, method: str = "POST", answers: dict[str, Any] | None = None, settings: Any = None) -> None:
        self.method = method
        self.resource = "x"
        self.settings = settings
        self.answers = answers or {}
        self.asked: list[str] = []
        self.features: list[str] = []
        self._cache: dict[str, Any] = {}

    async def get_json(self, path_qs: str) -> Any:
        self.asked.append(path_qs)
        for prefix, value in self.answers.items():
            if path_qs.startswith(prefix):
                return value
        raise AssertionError(f"unexpected look-up {path_qs}")

    async def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = await compute()
        return self._cache[key]

    def record(self, feature: str) -> None:
        self.features.append(feature)
