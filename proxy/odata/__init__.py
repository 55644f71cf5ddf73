"""Lossless parser, tree and serializer for the pinejs OData URL dialect (balena API).

Public API (stable names; extend, don't rename):
- `parse_target(target) -> ODataUrl`: parse a raw request target after the version root
  (e.g. "/device(uuid='x')?$select=id") as the server does (pinejs's alias step, then the grammar);
  raises `ODataSyntaxError` exactly where the server rejects. `parse_odata(target)`: the grammar alone.
- `parse_expression(text) -> Expr`: parse a `$filter` expression (decoded text such as
  "is_final eq true") into new nodes that serialize canonically (spaces `%20`).
- `ODataUrl.serialize()`: identical bytes for an unchanged tree.
- node classes and editing helpers (tree.py, all re-exported here);
- `walk_names(url, schema, visitor)` / `walk_expression(...)` (scope.py): every renamable name with the
  resource it belongs to (§6 scoping);
- `to_server_tree(url)` / `expression_to_server(expr)` (server_tree.py): the real parser's JSON view
  (n-ary operator arrays, binds), `resolve_binds(result)`;
- `malformed_url_message(full_url)`: the 400 body text with apikey values masked.
"""

from . import tree as _tree
from .errors import ODataSyntaxError, malformed_url_message, mask_apikey
from .parser import parse_expression, parse_odata, parse_target
from .scope import SKIP, Schema, Site, walk_expression, walk_names
from .server_tree import expression_to_server, resolve_binds, to_server_tree
from .tree import *  # noqa: F403  (the node classes and helpers, listed in tree.__all__)

__all__ = [
    "parse_target",
    "parse_odata",
    "parse_expression",
    "ODataSyntaxError",
    "malformed_url_message",
    "mask_apikey",
    "walk_names",
    "walk_expression",
    "Schema",
    "Site",
    "SKIP",
    "to_server_tree",
    "expression_to_server",
    "resolve_binds",
    *_tree.__all__,
]
