"""The translators the proxy loads: the built-ins, listed explicitly, then third-party entry points."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points

from translators import Translator

ENTRY_POINT_GROUP = "balena_v6_proxy.translators"

BUILTIN_MODULES = (
    "translators.device",
    "translators.application",
    "translators.my_application",
    "translators.release",
    "translators.image",
    "translators.user",
    "translators.device_history",
    "translators.gateway_download",
    "translators.supervisor_release",
    "translators.config_variables",
)


def _translators_of(obj: object, origin: str) -> list[Translator]:
    found = getattr(obj, "TRANSLATORS", obj)
    if isinstance(found, Translator):
        found = [found]
    result = list(found) if isinstance(found, Iterable) else []
    for item in result:
        if not isinstance(item, Translator):
            raise TypeError(f"{origin}: TRANSLATORS must hold Translator objects, got {item!r}")
    return result


def builtin_translators() -> list[Translator]:
    result: list[Translator] = []
    for name in BUILTIN_MODULES:
        result.extend(_translators_of(importlib.import_module(name), name))
    return result


def thirdparty_translators() -> list[tuple[str, list[Translator]]]:
    """(entry point name, its translators) for every installed plug-in."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.append((ep.name, _translators_of(ep.load(), f"entry point {ep.name}")))
    return found


def load_translators(flavour: str, include_thirdparty: bool = True) -> list[Translator]:
    """All translators that apply to ``flavour``, built-ins first."""
    everything = builtin_translators()
    if include_thirdparty:
        for _name, items in thirdparty_translators():
            everything.extend(items)
    return [t for t in everything if flavour in t.flavours]
