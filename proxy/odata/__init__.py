"""Lossless parser, tree and serializer for the pinejs OData URL dialect (balena API).

Public API (stable names; extend, don't rename):
- `parse_target(target) -> ODataUrl`: parse a raw request target after the version root
  (e.g. "/device(uuid='x')?$select=id") as the server does (pinejs's alias step, then the grammar);
  raises `ODataSyntaxError` exactly where the server rejects. `parse_odata(target)`: the grammar alone.
- `parse_expression(text) -> Expr`: parse a `$filter` expression (decoded text such as
  "is_final eq true") into new nodes that serialize canonically (spaces `%20`).
- `ODataUrl.serialize()`: identical bytes for an unchanged tree.
- node classes and editing helpers (tree.py, all re-exported here);

The grammar imports nothing else of the product (tests/test_layers.py checks). Test-only views of a tree
live beside their users: tests/odata_server_tree.py (the real parser's JSON shape) and tests/odata_scope.py
(a generic scoped name walker).
"""

from . import tree as _tree
from .errors import ODataSyntaxError
from .parser import parse_expression, parse_odata, parse_target
from .tree import *  # noqa: F403  (the node classes and helpers, listed in tree.__all__)

__all__ = [
    "parse_target",
    "parse_odata",
    "parse_expression",
    "ODataSyntaxError",
    *_tree.__all__,
]
