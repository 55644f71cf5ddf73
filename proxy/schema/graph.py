"""The bundled v7 resource graphs (package data) and the upstream's own ``$metadata`` merged in."""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

Graph = dict[str, dict[str, Any]]


@lru_cache(maxsize=1)
def _bundled() -> dict[str, Graph]:
    text = resources.files("proxy.data").joinpath("resource-graph.json").read_text()
    graphs: dict[str, Graph] = json.loads(text)
    return graphs


def bundled_graph(name: str) -> Graph:
    """One graph of proxy/data/resource-graph.json (a deep copy: callers may change it)."""
    return copy.deepcopy(_bundled()[name])


def _merge_into(base: Graph, extra: Graph) -> None:
    for name, res in extra.items():
        mine = base.setdefault(
            name, {"fields": {}, "navigation": {}, "many": [], "key_order": list(res.get("key_order", []))}
        )
        for f, t in res.get("fields", {}).items():
            mine["fields"].setdefault(f, t)
        for n, t in res.get("navigation", {}).items():
            mine["navigation"].setdefault(n, t)
        for n in res.get("many", []):
            if n not in mine["many"]:
                mine["many"].append(n)
        order = mine.setdefault("key_order", [])
        for k in res.get("key_order", []):
            if k not in order:
                order.append(k)
        for f in list(res.get("fields", {})) + [n for n in res.get("navigation", {}) if n not in res.get("many", [])]:
            if f not in order:
                order.append(f)
        if res.get("aliases"):
            aliases = mine.setdefault("aliases", [])
            for a in res["aliases"]:
                if a not in aliases:
                    aliases.append(a)


def v7_graph(flavour: str) -> Graph:
    """open-balena → ``open_balena_v7``; balena-cloud → its union with the SDK-typings lower bound."""
    graph = bundled_graph("open_balena_v7")
    if flavour == "balena-cloud":
        _merge_into(graph, bundled_graph("balena_cloud_v7_from_sdk_typings"))
    elif flavour != "open-balena":
        raise ValueError(f"unknown upstream flavour {flavour!r}")
    return graph


_EDM = {
    "Edm.Int64": "Integer",
    "Edm.Int32": "Integer",
    "Edm.String": "Text",
    "Edm.Boolean": "Boolean",
    "Edm.DateTimeOffset": "Date Time",
    "Edm.Double": "Real",
}


def graph_from_metadata(xml: str) -> Graph:
    """Fields and single-valued navigations of a pinejs ``$metadata`` document (the server's XML)."""
    graph: Graph = {}
    for m in re.finditer(r'<EntityType Name="([^"]+)">(.*?)</EntityType>', xml, re.S):
        name, body = m.group(1), m.group(2)
        fields: dict[str, str] = {}
        navigation: dict[str, str] = {}
        key_order: list[str] = []
        for p in re.finditer(r'<(Property|NavigationProperty) Name="([^"]+)"([^>]*)/>', body):
            kind, pname, attrs = p.groups()
            if kind == "Property":
                t = re.search(r'Type="([^"]+)"', attrs)
                nullable = 'Nullable="true"' in attrs
                base = _EDM.get(t.group(1) if t else "", "Text")
                fields[pname] = base + (" | null" if nullable else "")
            else:
                to = re.search(r'ToRole="([^"]+)"', attrs)
                navigation[pname] = (to.group(1) if to else pname).replace(" ", "_").replace("-", "__")
            key_order.append(pname)
        graph[name] = {"fields": fields, "navigation": navigation, "many": [], "key_order": key_order}
    return graph


def merge_metadata(graph: Graph, xml: str) -> list[str]:
    """Add names the upstream's ``/v7/$metadata`` has and the bundled graph lacks; returns what was added."""
    added = []
    extra = graph_from_metadata(xml)
    for name, res in extra.items():
        before = graph.get(name)
        known = set() if before is None else set(before["fields"]) | set(before["navigation"])
        for f in list(res["fields"]) + list(res["navigation"]):
            if f not in known:
                added.append(f"{name}.{f}")
        # Navigation targets in $metadata are SBVR term names; keep only targets the graph knows.
        res["navigation"] = {n: t for n, t in res["navigation"].items() if t in graph or t in extra}
    _merge_into(graph, extra)
    return added
