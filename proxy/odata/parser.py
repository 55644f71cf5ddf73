"""Recursive-descent parser mirroring `odata-parser.pegjs` (@balena/odata-parser 4.3.5) rule by rule.

Why hand-written: the grammar is a PEG (ordered choice that commits, prefix-matched keywords, literal
fallbacks to names, arity checks, context-dependent whitespace) and the tree must keep every raw spelling.
Each method below is named after the pegjs rule it mirrors and returns `(node, end)` or None (no match,
position unchanged), exactly like a PEG rule; a choice commits to its first matching alternative.
Tokens are matched with precompiled regexes (possessive where PEG does not backtrack).

Values are decoded where the server decodes them (decodeURIComponent in the rule actions); a bad escape
there throws in the server (answered 500) and raises ODataSyntaxError here.

`datetime'...'`/`date'...'` contents are read as V8's Date.parse reads them in the server (jsdate.py:
ES5 ISO strings and V8's legacy forms, `Jan 1 2024`, `2024/01/01`, `1`); text it rejects is a property name.

Known differences from the server (documented, tested where possible):
- Nesting deeper than Python's recursion limit allows (~150 levels of parentheses) is refused here.
- Bind numbering of the server's backtracked alternatives is not reproduced (meaningless: the values
  are the same; compare with `resolve_binds` in tests/odata_server_tree.py).
- pinejs (not the parser) re-decodes URLs holding `@alias` definitions (odata-dialect.md §5.4):
  `parse_target` applies that step too (pinejs.py), `parse_odata` is the grammar alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar, cast

from .decode import URIDecodeError, decode_uri_component
from .errors import ODataSyntaxError
from .jsdate import js_date_parse
from .pinejs import split_aliases
from .tree import (
    BUILTIN_ARITY,
    OPERATOR_PRECEDENCE,
    AliasOption,
    AliasRef,
    BinOp,
    Call,
    CountOption,
    CountSpec,
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
    Lambda,
    Literal,
    MethodCall,
    Name,
    NamedKey,
    Not,
    ODataUrl,
    OptionList,
    OrderByOption,
    OrderItem,
    Path,
    PathSeg,
    PathSegment,
    QueryOption,
    SelectOption,
    SkipOption,
    TopOption,
    canonicalize,
)

__all__ = ["js_date_parse", "parse_expression", "parse_odata", "parse_target"]

_SP = r"(?:[ +]|%20)"
_NAME = re.compile(r"[^:/?#\[\]@!$*&()+,;= %]+").match
# _TEXT and _SPACES can match the empty string, so their match never fails (typed so, at no run-time cost).
_TotalMatch = Callable[[str, int], re.Match[str]]
_TEXT = cast(_TotalMatch, re.compile(r"[^:/?#\[\]@!$*&()+,;=]*").match)
_SPACES = cast(_TotalMatch, re.compile(_SP + r"*").match)
_BOUNDARY = re.compile(r"(?=\()|" + _SP + r"+").match
_OPERAND = re.compile(_SP + r"*(eq|ne|gt|ge|lt|le|and|or|sub|add|mod|div|mul)(?:(?=\()|" + _SP + r"+)").match
_IN = re.compile(r"(?:(?=\()|" + _SP + r"+)in(?:(?=\()|" + _SP + r"+)").match
_NOT = re.compile(_SP + r"*not((?=\()|" + _SP + r"+)").match
_NUMBER = re.compile(r"(\+|%2B|-)?([0-9]+(?:\.[0-9]+)?)").match
_UINT = re.compile(r"[0-9]+").match
_APOS = r"(?:'|%27)"
_QUOTED = re.compile(_APOS + r"((?:(?!" + _APOS + r").|" + _APOS + _APOS + r")*+)" + _APOS, re.S).match
_APOS_PAIR = re.compile(_APOS + _APOS)
_BUILTIN = re.compile(r"(" + "|".join(sorted(BUILTIN_ARITY, key=lambda n: (-len(n), n))) + r")\(").match
_LAMBDA = re.compile(r"(any|all)\(").match
_DOLLAR = re.compile(r"\$|%24").match
_CONTENT_TYPE = re.compile(r"[A-Za-z]+/[A-Za-z]+(?:\+[A-Za-z]+)?|json|atom|xml").match
_METADATA = re.compile(r";(?:odata\.)?metadata=(none|minimal|full)").match
_DURATION_HEAD = re.compile(r"duration" + _APOS + r"(\+|%2B|-)?P(?:([0-9]+)D)?").match
_DURATION_TIME = re.compile(r"T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+\.[0-9]+|[0-9]+)S)?").match
_APOS_AT = re.compile(_APOS).match
# first characters that can start a match (cheap gates before trying a regex)
_BUILTIN_FIRST = frozenset(name[0] for name in BUILTIN_ARITY)
_NOT_FIRST = frozenset("n +%")
_NUMBER_FIRST = frozenset("0123456789+-%")
_SPACE_FIRST = frozenset(" +%")
_AFTER_VALUE = _SPACE_FIRST | frozenset(op[0] for op in OPERATOR_PRECEDENCE)

_PREC = OPERATOR_PRECEDENCE
T = TypeVar("T")


def _decode(text: str) -> str:
    try:
        return decode_uri_component(text)
    except URIDecodeError as exc:
        raise _Fatal(str(exc)) from None


class _Fatal(Exception):
    """Stops the whole parse (the server's URIError from decodeURIComponent)."""


# ------------------------------------------------------------------------------------------ parser


class _Parser:
    __slots__ = ("aliases", "n", "no_primitive", "no_value", "s", "stop")

    def __init__(self, s: str) -> None:
        self.s = s
        self.n = len(s)
        self.aliases: set[str] = set()
        # positions where FilterByValue / Primitive are known to fail (they depend on nothing else):
        # remembering them keeps adversarial nesting such as "((((((a" linear, like peggy's cache
        self.no_value: set[int] = set()
        self.no_primitive: set[int] = set()
        self.stop = 0  # where the resource path + options parse ended (for the error message)

    # -------------------------------------------------------------------------------- URL / paths

    def odata(self) -> ODataUrl | None:
        s = self.s
        r = self.path_segment(0, top=True)
        if r is not None:
            if r[1] == self.n:
                return ODataUrl("resource", r[0])
            self.stop = r[1]
        if s == "/$metadata":
            return ODataUrl("metadata")
        if s == "/":
            return ODataUrl("serviceroot")
        return None

    def path_segment(self, pos: int, top: bool) -> tuple[PathSegment, int] | None:
        """PathSegment (top) / SubPathSegment (not top)."""
        s, n = self.s, self.n
        content_ref = False
        if pos < n and s[pos] == "/":
            m = _NAME(s, pos + 1)
            if m is None:
                return None
        elif top and pos < n and s[pos] == "$":
            m = _NAME(s, pos + 1)
            if m is None:
                return None
            content_ref = True
        else:
            return None
        seg = PathSegment(Name(m.group()), content_ref=content_ref)
        pos = m.end()
        if top and not content_ref:
            key = self.key(pos)
            if key is not None:
                seg.key, pos = key
                pos = self._child(seg, pos)
            elif s.startswith("/$count", pos):
                seg.count = True
                pos += 7
        elif top:  # ContentReference
            pos = self._child(seg, pos)
        else:
            key = self.key(pos)
            if key is not None:
                seg.key, pos = key
            pos = self._child(seg, pos)
            if s.startswith("/$count", pos):
                seg.count = True
                pos += 7
        if pos < n and s[pos] == "?":
            pos += 1
            r = self.query_options(pos, nested=False)
            if r is not None:
                seg.query, pos = r
            else:
                seg.query = OptionList()
        return seg, pos

    def _child(self, seg: PathSegment, pos: int) -> int:
        """`( '/$links' SubPathSegment / SubPathSegment )?`"""
        if self.s.startswith("/$links", pos):
            r = self.path_segment(pos + 7, top=False)
            if r is not None:
                seg.child, pos = r
                seg.link = True
                return pos
        r = self.path_segment(pos, top=False)
        if r is not None:
            seg.child, pos = r
        return pos

    def key(self, pos: int) -> tuple[Key, int] | None:
        s, n = self.s, self.n
        if pos >= n or s[pos] != "(":
            return None
        p = pos + 1
        bound = self.key_bind(p)
        if bound is not None:
            value, p = bound
            if p < n and s[p] == ")":
                return Key(value), p + 1
            return None
        r = self.named_key(p)
        if r is None:
            return None
        named = [r[0]]
        p = r[1]
        while p < n and s[p] == ",":
            r = self.named_key(p + 1)
            if r is None:
                break
            named.append(r[0])
            p = r[1]
        if p < n and s[p] == ")":
            return Key(None, named), p + 1
        return None

    def named_key(self, pos: int) -> tuple[NamedKey, int] | None:
        s = self.s
        m = _NAME(s, pos)
        if m is None or m.end() >= self.n or s[m.end()] != "=":
            return None
        r = self.key_bind(m.end() + 1)
        if r is None:
            return None
        return NamedKey(Name(m.group()), r[0]), r[1]

    @staticmethod
    def choice(pos: int, *alternatives: Callable[[int], tuple[T, int] | None]) -> tuple[T, int] | None:
        """PEG ordered choice: the first alternative that matches."""
        for alternative in alternatives:
            r = alternative(pos)
            if r is not None:
                return r
        return None

    def key_bind(self, pos: int) -> tuple[Literal | AliasRef, int] | None:
        """KeyBind: NumberBind / QuotedTextBind / ParameterAlias."""
        return self.choice(pos, self.number_bind, self.quoted_text_bind, self.parameter_alias)

    # ------------------------------------------------------------------------------ query options

    def query_options(self, pos: int, nested: bool) -> tuple[OptionList, int] | None:
        s, n = self.s, self.n
        r = self.query_option(pos)
        if r is None:
            return None
        opts = OptionList([r[0]], [], nested)
        pos = r[1]
        while pos < n:
            c = s[pos]
            if c == "&" or (nested and c == ";"):
                r = self.query_option(pos + 1)
                if r is None:
                    break
                opts.seps.append(c)
                opts.options.append(r[0])
                pos = r[1]
            else:
                break
        return opts, pos

    def query_option(self, pos: int) -> tuple[QueryOption, int] | None:
        s = self.s
        m = _DOLLAR(s, pos)
        if m is not None:
            r = self.system_option(m.end(), m.group())
            if r is not None:
                return r
        # OperationParam: Text '=' Text (decoded as they match)
        m = _TEXT(s, pos)
        name_raw = m.group()
        _decode(name_raw)
        p = m.end()
        if p < self.n and s[p] == "=":
            m2 = _TEXT(s, p + 1)
            _decode(m2.group())
            return CustomOption(name_raw, m2.group()), m2.end()
        # ParameterAliasOption
        if pos < self.n and s[pos] == "@":
            m = _TEXT(s, pos + 1)
            name = _decode(m.group())
            p = m.end()
            if p < self.n and s[p] == "=":
                value = self.alias_value(p + 1)
                if value is not None and name not in self.aliases:
                    self.aliases.add(name)
                    return AliasOption(m.group(), value[0]), value[1]
        return None

    def alias_value(self, pos: int) -> tuple[Literal, int] | None:
        """ParameterAliasOption's value: Number / Boolean / QuotedText / Date (no null, no duration)."""
        return self.choice(pos, self.number_bind, self.boolean_bind, self.quoted_text_bind, self.date_bind)

    def system_option(self, pos: int, dollar: str) -> tuple[QueryOption, int] | None:
        """A `$name=value` option OData defines: the query's shape (select, filter, expand, orderby) or its
        paging and format; None when the value does not parse (then it is read as a custom option)."""
        return self.shape_option(pos, dollar) or self.paging_option(pos, dollar)

    def shape_option(self, pos: int, dollar: str) -> tuple[QueryOption, int] | None:
        """$select, $filter, $expand, $orderby."""
        s = self.s
        if s.startswith("select=", pos):
            p = pos + 7
            if s.startswith("*", p):
                return SelectOption([], True, dollar), p + 1
            paths = self.comma_list(p, self.property_path)
            if paths is not None:
                return SelectOption(paths[0], False, dollar), paths[1]
        if s.startswith("filter=", pos):
            expr = self.filter_expression(pos + 7)
            if expr is not None:
                return FilterOption(expr[0], dollar), expr[1]
        if s.startswith("expand=", pos):
            expands = self.comma_list(pos + 7, self.expand_path)
            if expands is not None:
                return ExpandOption(expands[0], dollar), expands[1]
        if s.startswith("orderby=", pos):
            orders = self.comma_list(pos + 8, self.sort_property)
            if orders is not None:
                return OrderByOption(orders[0], dollar), orders[1]
        return None

    def paging_option(self, pos: int, dollar: str) -> tuple[QueryOption, int] | None:
        """$top, $skip, $count, $inlinecount, $format."""
        s = self.s
        if s.startswith("top=", pos):
            m = _UINT(s, pos + 4)
            if m is not None:
                return TopOption(int(m.group()), m.group(), dollar), m.end()
        if s.startswith("skip=", pos):
            m = _UINT(s, pos + 5)
            if m is not None:
                return SkipOption(int(m.group()), m.group(), dollar), m.end()
        if s.startswith("count=", pos):
            p = pos + 6
            if s.startswith("true", p):
                return CountOption(True, dollar), p + 4
            if s.startswith("false", p):
                return CountOption(False, dollar), p + 5
        if s.startswith("inlinecount=", pos):
            p = pos + 12
            for word in ("allpages", "none"):
                if s.startswith(word, p):
                    return InlineCountOption(word, dollar), p + len(word)
            m = _TEXT(s, p)
            _decode(m.group())
            return InlineCountOption(m.group(), dollar), m.end()
        if s.startswith("format=", pos):
            m = _CONTENT_TYPE(s, pos + 7)
            if m is not None:
                md = _METADATA(s, m.end())
                if md is not None:
                    return FormatOption(m.group(), md.group(1), md.group(), dollar), md.end()
                return FormatOption(m.group(), None, "", dollar), m.end()
        return None

    def comma_list(self, pos: int, item: Callable[[int], tuple[T, int] | None]) -> tuple[list[T], int] | None:
        """`item|1..,','|`: one or more items separated by `,` (no whitespace around it)."""
        r = item(pos)
        if r is None:
            return None
        items = [r[0]]
        pos = r[1]
        s, n = self.s, self.n
        while pos < n and s[pos] == ",":
            r = item(pos + 1)
            if r is None:
                break
            items.append(r[0])
            pos = r[1]
        return items, pos

    def args(self, pos: int) -> tuple[list[Expr], list[str], int]:
        """`FilterByExpression|0..,spaces ',' spaces|` for function/method arguments (raw separators kept)."""
        s, n = self.s, self.n
        args: list[Expr] = []
        seps: list[str] = []
        r = self.expr_loop(pos, 0)
        if r is not None:
            args.append(r[0])
            pos = r[1]
            while True:
                p = _SPACES(s, pos).end()
                if p < n and s[p] == ",":
                    sp2 = _SPACES(s, p + 1)
                    r = self.expr_loop(sp2.end(), 0)
                    if r is not None:
                        seps.append(s[pos : sp2.end()])
                        args.append(r[0])
                        pos = r[1]
                        continue
                break
        return args, seps, pos

    def property_path(self, pos: int) -> tuple[Path, int] | None:
        s, n = self.s, self.n
        m = _NAME(s, pos)
        if m is None:
            return None
        segs: list[PathSeg] = []
        path = Path(segs)
        while True:
            seg = PathSeg(Name(m.group()))
            segs.append(seg)
            pos = m.end()
            if pos < n and s[pos] == "/":
                m = _NAME(s, pos + 1)
                if m is not None:
                    continue
                if s.startswith("/$count", pos):
                    pos += 7
                    count = CountSpec()
                    if pos < n and s[pos] == "(":
                        d = _DOLLAR(s, pos + 1)
                        if d is not None and s.startswith("filter=", d.end()):
                            r = self.filter_expression(d.end() + 7)
                            if r is not None and r[1] < n and s[r[1]] == ")":
                                count.filter = r[0]
                                count.dollar = d.group()
                                pos = r[1] + 1
                    path.count = count
                return path, pos
            key = self.key(pos)
            if key is not None:
                seg.key, pos = key
                if pos < n and s[pos] == "/":
                    m = _NAME(s, pos + 1)
                    if m is not None:
                        continue
            return path, pos

    def expand_path(self, pos: int) -> tuple[ExpandItem, int] | None:
        s, n = self.s, self.n
        m = _NAME(s, pos)
        if m is None:
            return None
        item = ExpandItem(Name(m.group()))
        pos = m.end()
        if s.startswith("/$count", pos):
            item.count = True
            pos += 7
        if pos < n and s[pos] == "(":
            opts = self.query_options(pos + 1, nested=True)
            if opts is not None:
                if opts[1] < n and s[opts[1]] == ")":
                    item.options = opts[0]
                    pos = opts[1] + 1
            elif pos + 1 < n and s[pos + 1] == ")":
                item.options = OptionList(nested=True)
                pos += 2
        if pos < n and s[pos] == "/":
            r = self.property_path(pos + 1)
            if r is not None:
                item.tail, pos = r
        return item, pos

    def sort_property(self, pos: int) -> tuple[OrderItem, int] | None:
        r = self.property_path(pos)
        if r is None:
            return None
        path, pos = r
        s = self.s
        b = _BOUNDARY(s, pos)
        if b is not None:
            p = b.end()
            if s.startswith("asc", p):
                return OrderItem(path, s[pos : p + 3]), p + 3
            if s.startswith("desc", p):
                return OrderItem(path, s[pos : p + 4]), p + 4
        return OrderItem(path, None), pos

    # -------------------------------------------------------------------------------- $filter

    def filter_expression(self, pos: int) -> tuple[Expr, int] | None:
        return self.expr_loop(pos, 0)

    def expr_loop(self, pos: int, min_prec: int) -> tuple[Expr, int] | None:
        r = self.value(pos)
        if r is None:
            return None
        lhs, pos = r
        s, n = self.s, self.n
        while True:
            # an operator starts with whitespace or its letter; `in` with whitespace (gate before regexes)
            c = s[pos] if pos < n else ""
            if c not in _AFTER_VALUE:
                return lhs, pos
            m = _OPERAND(s, pos)
            if m is not None:
                op = m.group(1)
                prec = _PREC[op] + 1
                if prec > min_prec:
                    r = self.expr_loop(m.end(), prec)
                    if r is not None:
                        if type(lhs) is BinOp and lhs.op == op:
                            lhs.operands.append(r[0])
                            lhs.seps.append(m.group())
                        else:
                            lhs = BinOp(op, [lhs, r[0]], [m.group()])
                        pos = r[1]
                        continue
            m = _IN(s, pos) if c in _SPACE_FIRST else None
            if m is not None:
                group = self.grouped_primitive(m.end())
                if group is not None:
                    items, item_seps, open_ws, close_ws, pos = group
                    lhs = In(lhs, items, m.group(), item_seps, open_ws, close_ws)
                    continue
            return lhs, pos

    def value(self, pos: int) -> tuple[Expr, int] | None:
        """FilterByValue (failures memoised)."""
        if pos in self.no_value:
            return None
        r = self._value(pos)
        if r is None:
            self.no_value.add(pos)
        return r

    def _value(self, pos: int) -> tuple[Expr, int] | None:
        s, n = self.s, self.n
        if pos >= n:
            return None
        c = s[pos]
        if c == "(":  # GroupedPrecedenceExpression
            r: tuple[Expr, int] | None = self.grouped(pos, self.filter_expression)
            if r is not None:
                return r
        m = _BUILTIN(s, pos) if c in _BUILTIN_FIRST else None
        if m is not None:
            r = self.builtin_call(m)
            if r is not None:
                return r
        m = _NOT(s, pos) if c in _NOT_FIRST else None
        if m is not None:
            r = self.value(m.end())
            if r is not None:
                lead = s[pos : m.start(1) - 3]
                return Not(r[0], m.group(1), lead), r[1]
        if c == "@":
            r = self.parameter_alias(pos)
            if r is not None:
                return r
        return self.primitive(pos)

    def grouped(self, pos: int, inner: Callable[[int], tuple[Expr, int] | None]) -> tuple[Group, int] | None:
        """`'(' spaces inner spaces ')'` at `pos` (which holds the `(`)."""
        s, n = self.s, self.n
        o = _SPACES(s, pos + 1)
        r = inner(o.end())
        if r is not None:
            cl = _SPACES(s, r[1])
            if cl.end() < n and s[cl.end()] == ")":
                return Group(r[0], o.group(), cl.group()), cl.end() + 1
        return None

    def builtin_call(self, m: re.Match[str]) -> tuple[Expr, int] | None:
        """FilterMethodCallExpression: name '(' spaces args spaces &{arity} ')'."""
        s, n = self.s, self.n
        name = m.group(1)
        o = _SPACES(s, m.end())
        args, seps, pos = self.args(o.end())
        if len(args) not in BUILTIN_ARITY[name]:
            return None
        cl = _SPACES(s, pos)
        p = cl.end()
        if p < n and s[p] == ")":
            return Call(name, args, seps, o.group(), cl.group()), p + 1
        return None

    def parameter_alias(self, pos: int) -> tuple[AliasRef, int] | None:
        s = self.s
        if pos < self.n and s[pos] == "@":
            m = _NAME(s, pos + 1)
            if m is not None:
                return AliasRef(Name(m.group())), m.end()
        return None

    def primitive(self, pos: int) -> tuple[Expr, int] | None:
        """Primitive (failures memoised)."""
        if pos in self.no_primitive:
            return None
        r = self._primitive(pos)
        if r is None:
            self.no_primitive.add(pos)
        return r

    def _primitive(self, pos: int) -> tuple[Expr, int] | None:
        s, n = self.s, self.n
        if pos >= n:
            return None
        c = s[pos]
        if c == "(":
            r: tuple[Expr, int] | None = self.grouped(pos, self.primitive)
            if r is not None:
                return r
        if c == "'" or c == "%":
            r = self.quoted_text_bind(pos)
            if r is not None:
                return r
        if c in _NUMBER_FIRST:
            r = self.number_bind(pos)
            if r is not None:
                return r
        if c == "t" or c == "f":
            r = self.boolean_bind(pos)
            if r is not None:
                return r
        if c == "n" and s.startswith("null", pos):
            return Literal("Null", None, "null"), pos + 4
        if c == "d":
            r = self.date_bind(pos)
            if r is not None:
                return r
            r = self.duration(pos)
            if r is not None:
                return r
        r = self.lambda_property_path(pos)
        if r is not None:
            return r
        return self.property_path(pos)

    def quoted_text_bind(self, pos: int) -> tuple[Literal, int] | None:
        m = _QUOTED(self.s, pos)
        if m is None:
            return None
        body = m.group(1)
        if "'" in body or "%27" in body:
            body = _APOS_PAIR.sub("'", body)
        return Literal("Text", _decode(body), m.group()), m.end()

    def number_bind(self, pos: int) -> tuple[Literal, int] | None:
        m = _NUMBER(self.s, pos)
        if m is None:
            return None
        sign, digits = m.groups()
        value: int | float = float(digits) if "." in digits else int(digits)
        if sign == "-":
            value = -value
        return Literal("Real", value, m.group()), m.end()

    def boolean_bind(self, pos: int) -> tuple[Literal, int] | None:
        s = self.s
        if s.startswith("true", pos):
            return Literal("Boolean", True, "true"), pos + 4
        if s.startswith("false", pos):
            return Literal("Boolean", False, "false"), pos + 5
        return None

    def date_bind(self, pos: int) -> tuple[Literal, int] | None:
        s = self.s
        if s.startswith("datetime", pos):
            kind, p = "DateTime", pos + 8
        elif s.startswith("date", pos):
            kind, p = "Date", pos + 4
        else:
            return None
        m = _QUOTED(s, p)
        if m is None:
            return None
        body = _APOS_PAIR.sub("'", m.group(1))
        text = _decode(body)
        ms = js_date_parse(text)
        if ms is None:
            return None
        return Literal(kind, ms, s[pos : m.end()], text), m.end()

    def duration(self, pos: int) -> tuple[Literal, int] | None:
        s = self.s
        m = _DURATION_HEAD(s, pos)
        if m is None:
            return None
        sign, day_s = m.groups()
        day = int(day_s) if day_s else None
        p = m.end()
        hour = minute = second = None
        has_time = False
        t = _DURATION_TIME(s, p)
        if t is not None and t.end() > p:
            h, mi, se = t.groups()
            hour = int(h) if h else None
            minute = int(mi) if mi else None
            if se:
                second = float(se) if "." in se else int(se)
            if hour or minute or second:  # JS truthiness: zero parts do not count
                has_time = True
                p = t.end()
            else:
                hour = minute = second = None
        if not (day or has_time):
            return None
        a = _APOS_AT(s, p)
        if a is None:
            return None
        value = {
            "negative": sign == "-",
            "day": day or None,
            "hour": hour or None,
            "minute": minute or None,
            "second": second or None,
        }
        return Literal("Duration", value, s[pos : a.end()]), a.end()

    def lambda_property_path(self, pos: int) -> tuple[Path, int] | None:
        s, n = self.s, self.n
        m = _NAME(s, pos)
        if m is None:
            return None
        q = m.end()
        if q >= n or s[q] != "/":
            return None
        q += 1
        seg = PathSeg(Name(m.group()))
        nested = self.lambda_property_path(q)
        if nested is not None:
            nested[0].segments.insert(0, seg)
            return nested
        lm = _LAMBDA(s, q)
        if lm is not None:
            o = _SPACES(s, lm.end())
            v = _NAME(s, o.end())
            if v is not None and v.end() < n and s[v.end()] == ":":
                body = self.expr_loop(v.end() + 1, 0)
                if body is not None:
                    cl = _SPACES(s, body[1])
                    if cl.end() < n and s[cl.end()] == ")":
                        lam = Lambda(lm.group(1), Name(v.group()), body[0], o.group(), cl.group())
                        return Path([seg], lambda_=lam), cl.end() + 1
        call = self.resource_method_call(q)
        if call is not None:
            return Path([seg], method=call[0]), call[1]
        return None

    def resource_method_call(self, pos: int) -> tuple[MethodCall, int] | None:
        """ResourceMethodCall: name '(' spaces ( args spaces / '' ) ')'."""
        s, n = self.s, self.n
        m = _NAME(s, pos)
        if m is None or m.end() >= n or s[m.end()] != "(":
            return None
        o = _SPACES(s, m.end() + 1)
        args, seps, p = self.args(o.end())
        close_ws = ""
        if args:
            cl = _SPACES(s, p)
            close_ws, p = cl.group(), cl.end()
        if p < n and s[p] == ")":
            return MethodCall(Name(m.group()), args, seps, o.group(), close_ws), p + 1
        return None

    def grouped_primitive(self, pos: int) -> tuple[list[Expr], list[str], str, str, int] | None:
        s, n = self.s, self.n
        if pos >= n or s[pos] != "(":
            return None
        o = _SPACES(s, pos + 1)
        r = self.primitive(o.end())
        if r is None:
            return None
        items = [r[0]]
        seps: list[str] = []
        p = r[1]
        while p < n and s[p] == ",":
            sp = _SPACES(s, p + 1)
            r = self.primitive(sp.end())
            if r is None:
                break
            seps.append(s[p : sp.end()])
            items.append(r[0])
            p = r[1]
        cl = _SPACES(s, p)
        if cl.end() < n and s[cl.end()] == ")":
            return items, seps, o.group(), cl.group(), cl.end() + 1
        return None


def parse_target(target: str) -> ODataUrl:
    """Parse a raw request target (after the version root, e.g. "/device(1)?$select=id") as the server
    does: pinejs's alias step first (pinejs.py, odata-dialect.md §5.4), then the grammar."""
    split = split_aliases(target)
    if split is None:
        return parse_odata(target)
    main, alias_text = split
    url = parse_odata(main)
    parser = _Parser(alias_text)  # its own parse: alias names bound in the main query do not clash
    try:
        r = parser.query_options(0, nested=False)
    except _Fatal as exc:
        raise ODataSyntaxError(f"Malformed url: {exc}", target) from None
    except RecursionError:
        raise ODataSyntaxError("Malformed url: nesting too deep", target) from None
    if r is None or r[1] != len(alias_text):
        raise ODataSyntaxError("Malformed url: unreadable parameter alias", target)
    if url.kind != "resource":  # pragma: no cover - a '?' after /$metadata or / never parses
        raise ODataSyntaxError("Malformed url: options on a path without a resource", target)
    query = url.ensure_query()
    for option in r[0].options:
        if query.options:
            query.seps.append("&")
        query.options.append(option)
    url.alias_options = tuple(r[0].options)
    return url


def parse_odata(target: str) -> ODataUrl:
    """The grammar alone (@balena/odata-parser's `parse`), on the raw text: no alias step."""
    parser = _Parser(target)
    try:
        url = parser.odata()
    except _Fatal as exc:
        raise ODataSyntaxError(f"Malformed url: {exc}", target) from None
    except RecursionError:
        raise ODataSyntaxError("Malformed url: nesting too deep", target) from None
    if url is None:
        where = parser.stop
        found = repr(target[where]) if where < len(target) else "end of input"
        raise ODataSyntaxError(f"Malformed url: unexpected {found} at offset {where}", target, where)
    return url


def parse_expression(text: str) -> Expr:
    """Parse a `$filter` expression (e.g. "is_final eq true") into NEW nodes in canonical form."""
    parser = _Parser(text)
    try:
        r = parser.filter_expression(0)
    except _Fatal as exc:
        raise ODataSyntaxError(f"Malformed expression: {exc}", text) from None
    if r is None or r[1] != len(text):
        where = 0 if r is None else r[1]
        raise ODataSyntaxError(f"Malformed expression: cannot read past offset {where}", text, where)
    canonicalize(r[0])
    return r[0]
