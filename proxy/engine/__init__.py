"""The translation engine: schema-driven request walk, cached plans, body rules, plan applier."""

from proxy.engine.core import Engine, build_schema

__all__ = ["Engine", "build_schema"]
