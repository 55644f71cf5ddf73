"""Our tree in the real server parser's JSON shape (`{tree, binds}` of @balena/odata-parser 4.3.5).

Why: this is the server's own view of a URL — n-ary operator arrays (a chain of one operator is flattened,
even through parentheses), `eqany` for `in`, binds for literals — which is what evaluation must follow
(the simulator) and what the tests compare with the real parser's output, once, here.

Bind numbering follows parse order.  The real parser also leaks binds from alternatives it backtracks
out of (e.g. `contains('x')` read as a keyed property after the call's arity check failed), so compare
trees with binds resolved (`resolve_binds`), which is also the meaning that matters.
"""

from __future__ import annotations

from typing import Any

from proxy.odata.tree import (
    AliasOption,
    AliasRef,
    BinOp,
    Call,
    CountOption,
    CustomOption,
    ExpandItem,
    ExpandOption,
    Expr,
    FilterOption,
    FormatOption,
    Group,
    In,
    InlineCountOption,
    Key,
    Literal,
    Not,
    ODataUrl,
    OptionList,
    OrderByOption,
    Path,
    PathSegment,
    SelectOption,
    SkipOption,
    TopOption,
)

__all__ = ["expression_to_server", "resolve_binds", "to_server_tree"]

_BIND_TYPE = {"Text": "Text", "Real": "Real", "Boolean": "Boolean", "DateTime": "Date Time", "Date": "Date"}


class _Conv:
    def __init__(self) -> None:
        self.binds: list[Any] = []
        self.skip: tuple[Any, ...] = ()  # options written elsewhere (pinejs's alias options)

    def bind(self, value: Any) -> dict[str, int]:
        self.binds.append(value)
        return {"bind": len(self.binds) - 1}

    # ------------------------------------------------------------------------------------- paths
    def segment(self, seg: PathSegment) -> dict[str, Any]:
        if seg.content_ref:
            b = self.bind(["ContentReference", seg.name.text])
            out: dict[str, Any] = {"resource": b, "key": b}
        else:
            out = {"resource": seg.name.text}
            if seg.key is not None:
                out["key"] = self.key(seg.key)
        if seg.child is not None:
            out["link" if seg.link else "property"] = self.segment(seg.child)
        if seg.count:
            out["count"] = True
        if seg.query is not None and seg.query.options:
            opts = self.options(seg.query)
            if opts:
                out["options"] = opts
        return out

    def key(self, key: Key) -> Any:
        if key.value is not None:
            return self.key_value(key.value)
        return {nk.name.text: self.key_value(nk.value) for nk in key.named}

    def key_value(self, value: Literal | AliasRef) -> Any:
        if isinstance(value, AliasRef):
            return {"bind": "@" + value.name.text}
        return self.literal(value)

    def options(self, opts: OptionList) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for opt in opts.options:
            if any(opt is a for a in self.skip):
                continue
            if isinstance(opt, SelectOption):
                out["$select"] = "*" if opt.star else {"properties": [self.path(p) for p in opt.items]}
            elif isinstance(opt, FilterOption):
                out["$filter"] = self.expr(opt.expr)
            elif isinstance(opt, ExpandOption):
                out["$expand"] = {"properties": [self.expand_item(i) for i in opt.items]}
            elif isinstance(opt, OrderByOption):
                props = []
                for item in opt.items:
                    p = self.path(item.path)
                    p["order"] = item.effective_direction
                    props.append(p)
                out["$orderby"] = {"properties": props}
            elif isinstance(opt, TopOption):
                out["$top"] = self.bind(["Integer", opt.value])
            elif isinstance(opt, SkipOption):
                out["$skip"] = self.bind(["Integer", opt.value])
            elif isinstance(opt, CountOption):
                out["$count"] = opt.value
            elif isinstance(opt, InlineCountOption):
                out["$inlinecount"] = opt.value
            elif isinstance(opt, FormatOption):
                out["$format"] = {"type": opt.type, "metadata": opt.metadata} if opt.metadata else opt.type
            elif isinstance(opt, CustomOption):
                out[opt.name] = opt.value
            elif isinstance(opt, AliasOption):
                out["@" + opt.name] = self.plain_literal(opt.value)
        return out

    def expand_item(self, item: ExpandItem) -> dict[str, Any]:
        out: dict[str, Any] = {"name": item.name.text}
        if item.count:
            out["count"] = True
        if item.options is not None and item.options.options:
            out["options"] = self.options(item.options)
        if item.tail is not None:
            out["property"] = self.path(item.tail)
        return out

    def path(self, path: Path) -> dict[str, Any]:
        head: dict[str, Any] = {}
        node = head
        last = len(path.segments) - 1
        for i, seg in enumerate(path.segments):
            node["name"] = seg.name.text
            if seg.key is not None:
                node["key"] = self.key(seg.key)
            if i < last:
                nxt: dict[str, Any] = {}
                node["property"] = nxt
                node = nxt
        if path.count is not None:
            if path.count.filter is not None:
                node["options"] = {"$filter": self.expr(path.count.filter)}
            node["count"] = True
        elif path.lambda_ is not None:
            lam = path.lambda_
            node["lambda"] = {"expression": self.expr(lam.body), "identifier": lam.var.text, "method": lam.kind}
        elif path.method is not None:
            node["method"] = [
                "call",
                {"args": [self.expr(a) for a in path.method.args], "method": path.method.name.text},
            ]
        return head

    # -------------------------------------------------------------------------------- expressions
    def plain_literal(self, lit: Literal) -> Any:
        if lit.kind == "Null":
            return None
        if lit.kind == "Duration":
            return {k: v for k, v in lit.value.items() if v is not None}
        return [_BIND_TYPE[lit.kind], lit.value]

    def literal(self, lit: Literal) -> Any:
        if lit.kind in _BIND_TYPE:
            return self.bind([_BIND_TYPE[lit.kind], lit.value])
        return self.plain_literal(lit)

    def expr(self, e: Expr) -> Any:
        if isinstance(e, Literal):
            return self.literal(e)
        if isinstance(e, Path):
            return self.path(e)
        if isinstance(e, BinOp):
            first = self.expr(e.operands[0])
            arr = first if isinstance(first, list) and first and first[0] == e.op else [e.op, first]
            for operand in e.operands[1:]:
                arr.append(self.expr(operand))
            return arr
        if isinstance(e, Group):
            return self.expr(e.inner)
        if isinstance(e, Not):
            return ["not", self.expr(e.operand)]
        if isinstance(e, Call):
            return ["call", {"args": [self.expr(a) for a in e.args], "method": e.name}]
        if isinstance(e, AliasRef):
            return {"bind": "@" + e.name.text}
        if isinstance(e, In):
            lhs = self.expr(e.operand)
            values = []
            for item in e.items:
                while isinstance(item, Group):
                    item = item.inner
                if isinstance(item, Literal) and item.kind in _BIND_TYPE:
                    values.append([_BIND_TYPE[item.kind], item.value])
                else:
                    self.expr(item)  # allocate any binds it holds, as the server does
                    values.append(["Null"])
            return ["eqany", lhs, self.bind(["List", values])]
        raise TypeError(f"not an expression node: {type(e).__name__}")


def to_server_tree(url: ODataUrl) -> dict[str, Any]:
    """`{"tree": ..., "binds": [...]}` as the real parser returns for this URL."""
    conv = _Conv()
    if url.kind == "metadata":
        tree: Any = {"resource": "$metadata"}
    elif url.kind == "serviceroot":
        tree = {"resource": "$serviceroot"}
    else:
        assert url.root is not None
        conv.skip = url.alias_options or ()
        tree = conv.segment(url.root)
        if url.alias_options:
            # pinejs sets the options read from the alias entries on the ROOT's options, from a parse of
            # their own: its bind numbers are not the main parse's (pinejs copies only the `@` binds over)
            own = _Conv()
            extra = own.options(OptionList(list(url.alias_options)))
            tree.setdefault("options", {}).update(extra)
    return {"tree": tree, "binds": conv.binds}


def expression_to_server(expr: Expr) -> dict[str, Any]:
    """A `$filter` expression in the server's shape: `{"tree": expr, "binds": [...]}`."""
    conv = _Conv()
    return {"tree": conv.expr(expr), "binds": conv.binds}


def resolve_binds(result: dict[str, Any]) -> Any:
    """The tree with every numeric `{bind: n}` replaced by `{"$bind": binds[n]}` (numbers as floats),
    so trees compare by meaning rather than bind numbering."""
    binds = result["binds"]

    def walk(x: Any) -> Any:
        if isinstance(x, dict):
            if len(x) == 1 and "bind" in x and isinstance(x["bind"], int) and not isinstance(x["bind"], bool):
                return {"$bind": walk(binds[x["bind"]])}
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return float(x)
        return x

    return walk(result["tree"])
