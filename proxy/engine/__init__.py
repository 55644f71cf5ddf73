"""The translation engine: schema-driven request walk, cached plans, body rules, plan applier.

How a request is walked (one module per job):
``core`` (the ``Engine``: plan cache, body rules) → ``walk`` (the driver: resource path, each resource's options,
the answer) with its walkers sharing one ``walk_context.WalkContext``: ``walk_path`` (member paths),
``walk_select`` ($select/$expand), ``walk_helpers`` (what derived values read), ``walk_filter`` ($filter),
``walk_orderby`` ($orderby, local sort); ``logic`` (SQL's three-valued logic and folding), ``texts`` (translator
text as nodes), ``keys`` (each resource's key). The walk's result is a ``plan``, which ``apply`` runs on the
v7 answer; ``metadata`` writes ``/v6/$metadata``.
"""

from proxy.engine.core import Engine, build_schema
from proxy.engine.walk_context import WalkError

__all__ = ["Engine", "WalkError", "build_schema"]
