"""The engine object the v6 handler holds: the v6 schema, the plan cache and the body rules."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from proxy.engine import texts
from proxy.engine.keys import annotate_graph_keys
from proxy.engine.walk import Translation, translate_target
from proxy.schema.graph import Graph, merge_metadata, v7_graph
from proxy.schema.v6schema import CONST, DERIVED, ResourceInfo, V6Schema
from translators import BodyError, Translator
from translators.registry import load_translators


def build_schema(
    flavour: str, metadata_xml: str | None = None, translators: list[Translator] | None = None
) -> V6Schema:
    """The v6 schema for an upstream flavour (validating every translator: errors stop the proxy)."""
    graph: Graph = v7_graph(flavour)
    if metadata_xml:
        merge_metadata(graph, metadata_xml)
        annotate_graph_keys(graph, metadata_xml)
    return V6Schema(graph, translators if translators is not None else load_translators(flavour), flavour)


class Engine:
    """Translates v6 requests; caches (method, target) → translation in an LRU (plans are reusable)."""

    def __init__(
        self,
        schema: V6Schema,
        *,
        plan_cache_size: int = 1024,
        unknown_names: str = "drop",
        max_local_sort_rows: int = 10000,
    ) -> None:
        self.schema = schema
        texts.learn_schema(schema)
        self.cache_size = plan_cache_size
        self.unknown_names = unknown_names
        self.max_local_sort_rows = max_local_sort_rows
        self._cache: OrderedDict[tuple[str, str], Translation] = OrderedDict()
        # body-hook look-ups, keyed by (credential hash, key): (time, value)
        self.lookup_cache: dict[tuple[str | None, str], tuple[float, Any]] = {}

    def replace_schema(self, schema: V6Schema) -> None:
        """Serve with ``schema`` from now on (e.g. merged with the upstream's $metadata); cached plans made
        with the old one are dropped."""
        self.schema = schema
        texts.learn_schema(schema)
        self._cache.clear()

    def translate(self, method: str, target: str) -> Translation:
        key = (method, target)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        result = translate_target(
            self.schema,
            method,
            target,
            unknown_names=self.unknown_names,
            max_local_sort_rows=self.max_local_sort_rows,
        )
        if self.cache_size > 0:
            self._cache[key] = result
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result

    async def translate_body(self, info: ResourceInfo, body: Any, ctx: Any) -> Any:
        """A v6 JSON body → v7 (hooks, guards, renames). Raises BodyError."""
        if not isinstance(body, dict):
            return body
        merged = info.merged
        if merged is not None:
            for hook in merged.pre_body_hooks:
                await hook(ctx, body)
        out: dict[str, Any] = {}
        v7_fields = self.schema.v7graph.get(info.v7, {})
        v7_names = set(v7_fields.get("fields", {})) | set(v7_fields.get("navigation", {}))
        for key, value in body.items():
            n = info.names.get(key)
            if n is None:
                if key in v7_names:
                    ctx.record(f"body.{info.name}.{key}.v7_only_dropped")
                    continue  # a v7-only name: v6 ignored it, v7 would not
                out[key] = value  # unknown to both: v7 ignores it as v6 did
                continue
            if n.kind == CONST:
                if n.rejects_non_null_body and value is not None:
                    raise BodyError(400, None)
                out[key] = value  # v7 ignores it as v6 did (spec §5.9)
                continue
            if n.kind == DERIVED and not n.v7:
                continue
            v7name = n.v7 or key
            if v7name != key:
                ctx.record(f"body.{info.name}.{key}.rename")
            out[v7name] = value
        if merged is not None:
            for hook in merged.body_hooks:
                await hook(ctx, out)
        return out
