"""The translation engine: a v6 request walked into a v7 one and a plan, the plan run on the v7 answer.

How a request is walked, one module per step (file names in the order a request meets them):

1. ``core``: the ``Engine``: (method, target) → ``Translation`` through a plan cache; body rules for writes.
2. ``walk``: the driver: the resource path, each resource's query options, the response plan. Its walkers
   share one ``walk_context.WalkContext`` (schema, scope, features, unknown names) and each does one job:
   ``walk_path`` (member paths such as ``a/b/c``), ``walk_select`` ($select/$expand), ``walk_helpers`` (the
   fields and expansions derived values read), ``walk_filter`` ($filter), ``walk_orderby`` ($orderby and
   the sorts the proxy does itself).
3. What the walkers lean on: ``logic`` (SQL's three-valued logic and constant folding, the one place a
   condition is decided before the server sees it), ``texts`` (translator text parsed once per schema, handed
   out as fresh nodes), ``keys`` (each resource's key).
4. ``plan``: what the walk leaves for the answer (``ResponsePlan``/``ObjectPlan``); ``apply`` runs it on the v7
   answer (and owns every change to it: body, status texts, ``Location``), with ``rowbuild`` compiling a plan
   into one function per row shape.
5. ``metadata``: ``/v6/$metadata``, generated from the same schema view (``proxy.schema.v6schema.Name``).
"""

from proxy.engine.core import Engine, build_schema
from proxy.engine.walk_context import WalkError

__all__ = ["Engine", "WalkError", "build_schema"]
