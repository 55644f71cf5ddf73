"""Each resource's key, read from the models instead of assumed.

The key is what the server's ``$metadata`` names in ``<Key><PropertyRef …/></Key>``. The walk needs one name
a v7 ``$select`` can always hold (when every name the client selected was dropped, and on the hops of a
derived navigation's path), and ``/v6/$metadata`` states the key. Sources, first that knows: the graph's
``key`` (set from the upstream's own ``/v7/$metadata`` when it was merged), the bundled v7 ``$metadata``
(the server's document), the resource's one ``Serial`` field, its first non-nullable ``Integer`` field (how the
SDK typings, where balenaCloud-only resources come from, type a Serial key); for a resource with none of those (a
keyless view), its first field.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from proxy.schema.graph import Graph
from proxy.schema.memo import per_schema
from proxy.schema.v6schema import ResourceInfo, V6Schema

_KEYED_ENTITY = re.compile(r'<EntityType Name="([^"]+)">\s*<Key>\s*<PropertyRef Name="([^"]+)"')


def document_keys(xml: str) -> dict[str, str]:
    """Entity type name → key property, as a pinejs ``$metadata`` document declares them."""
    return {m.group(1): m.group(2) for m in _KEYED_ENTITY.finditer(xml)}


@lru_cache(maxsize=1)
def _bundled_keys() -> dict[str, str]:
    return document_keys(resources.files("proxy.data").joinpath("v7-metadata.xml").read_text(encoding="utf-8"))


def _by_resource(graph: Graph, keys: dict[str, str]) -> dict[str, str]:
    """Document entity names (a resource's name or one of its fact-type aliases) → graph resources."""
    out: dict[str, str] = {}
    for res, data in graph.items():
        for name in (res, *data.get("aliases", [])):
            key = keys.get(name)
            if key is not None and key in data.get("fields", {}):
                out[res] = key
                break
    return out


def annotate_graph_keys(graph: Graph, xml: str) -> None:
    """Record the keys an upstream ``$metadata`` document declares as the graph's ``key`` entries."""
    for res, key in _by_resource(graph, document_keys(xml)).items():
        graph[res]["key"] = key


def _serial(fields: dict[str, str]) -> str | None:
    serial = [f for f, t in fields.items() if t.split(" | ")[0] == "Serial"]
    return serial[0] if len(serial) == 1 else None


def _typed_key(fields: dict[str, str]) -> str | None:
    """The SDK typings type a Serial key as a plain non-nullable ``Integer``: the first such field."""
    return next((f for f, t in fields.items() if t == "Integer"), None)


def _fallback(fields: dict[str, str]) -> str | None:
    return _serial(fields) or _typed_key(fields) or next(iter(fields), None)


def _v7_key(graph: Graph, res: str, bundled: dict[str, str]) -> str | None:
    data = graph.get(res)
    if data is None:
        return None
    fields = data.get("fields", {})
    key = data.get("key")
    if key in fields:
        return key
    return bundled.get(res) or _fallback(fields)


@per_schema
def _keys(schema: V6Schema) -> dict[str, str | None]:
    bundled = _by_resource(schema.v7graph, _bundled_keys())
    return {res: _v7_key(schema.v7graph, res, bundled) for res in schema.v7graph}


def key_of(schema: V6Schema, v7_resource: str) -> str | None:
    """The key of a v7 resource (None: the graph has no field for it at all)."""
    return _keys(schema).get(v7_resource)


def v6_key(schema: V6Schema, info: ResourceInfo) -> str | None:
    """The key ``/v6/$metadata`` states for a v6 resource: its v7 resource's, or for a resource the proxy
    answers itself, the one its declaration gives."""
    if info.local or info.v7 not in schema.v7graph:
        return _fallback(schema.graph.get(info.name, {}).get("fields", {}))
    key = key_of(schema, info.v7)
    return next((n.v6 for n in info.names.values() if n.v7 == key), key)
