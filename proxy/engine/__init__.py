"""The translation engine: schema-driven request walk, cached plans, body rules, plan applier."""

from proxy.engine.core import Engine, build_schema
from proxy.engine.walk_context import WalkError

__all__ = ["Engine", "WalkError", "build_schema"]
