"""``$filter`` of the request walk: member paths renamed, lambdas and counts walked in their target's scope,
constants folded with three-valued logic (``proxy.engine.walk_truth``), derived values replaced by their
translators' v7 texts, and views' restrictions and filter hooks applied.

``FilterWalk`` is a part of ``proxy.engine.walk.Walker`` (its state lives there)."""

from __future__ import annotations

from typing import Any

from proxy.engine.walk_support import (
    _MIRRORED,
    COMPARISONS,
    WalkError,
    _compare_constant,
    _constant_value,
    _decoded,
    _derived_filter,
    _not_a_value,
    _prefixed,
    expression,
)
from proxy.engine.walk_truth import _Cond, _cond, _condition, _falsity, _joined, _negated, _set_operands, _Tri, _truth
from proxy.odata import SP, AliasRef, BinOp, Call, Expr, Group, In, Lambda, Literal, Not, Path, and_filter, iter_nodes
from proxy.schema import v6schema as S
from proxy.schema.fold import fold, mentions, substitute
from proxy.schema.fold import literal_of as _null_or  # a Python value as an OData literal (None → null)
from proxy.schema.v6schema import Name, ResourceInfo


class FilterWalk:
    """$filter methods of ``Walker``."""

    # ------------------------------------------------------------------ $filter
    def walk_path(self, path: Path, resource: ResourceInfo, scope: dict[str, ResourceInfo], option: str) -> Any:
        """Rename a member path in place; returns the final Name (or a resource for lambda roots),
        or a marker tuple for names that are constants/derived."""
        current = resource
        segs = path.segments
        start = 0
        if segs and segs[0].name.text in scope and segs[0].key is None:
            current = scope[segs[0].name.text]
            start = 1
            if len(segs) == 1:
                self._walk_tail(path, current, scope, option)
                return ("var", current)
        last: Name | None = None
        for i in range(start, len(segs)):
            name = segs[i].name.text
            n = self.lookup(current, name)
            if n is None:
                self.unknown_name(name, current, option)
            if n.kind in (S.CONST, S.EMPTY):
                if i != len(segs) - 1:
                    return ("const", self.null_link(n, current, path.names, i, option), False)
                return ("const", n, True)
            if n.kind == S.DERIVED:
                if i != len(segs) - 1:
                    raise WalkError(400, f"{name} cannot be used with a path through the v6 proxy")
                return ("derived", n, current)
            if n.v7 and n.v7 != name:
                segs[i].name.rename(n.v7)
                self.feature(f"{current.name}.{name}.rename")
            last = n
            if n.kind == S.NAV and n.target:
                current = self.res(n.target)
            elif i != len(segs) - 1:
                # a path through a field: leave it for the server to judge
                return ("field", n)
        if last is not None and last.kind == S.NAV:
            self._walk_tail(path, current, scope, option)
        return ("name", last, current)

    def _walk_tail(self, path: Path, target: ResourceInfo, scope: dict[str, ResourceInfo], option: str) -> None:
        """The ``/$count(…)`` or lambda after a navigation path. A target narrowed by ``extra_filter`` counts
        and quantifies only its own rows (``restrict``); a bare value path through it (``nav/name``) is
        not narrowed."""
        if path.count is not None:
            if path.count.filter is not None:
                path.count.filter = self.walk_expr(path.count.filter, target, scope)
            for text in target.extra_filters:
                path.count.filter = and_filter(path.count.filter, expression(text))
                self.feature(f"{target.name}.extra_filter")
        if path.lambda_ is not None:
            lam: Lambda = path.lambda_
            inner = dict(scope)
            inner[lam.var.text] = target
            every = lam.kind == "all"
            lam.body = self.restricted_condition(
                self.walk_expr(lam.body, target, inner, every=every), target, lam.var.text, every
            )

    def walk_expr(
        self, expr: Expr, resource: ResourceInfo, scope: dict[str, ResourceInfo], *, every: bool = False
    ) -> Expr:
        """The v7 condition for a v6 one in a position where only TRUE keeps a row (``$filter``, an ``any()``
        body, a ``$count`` filter) or, with ``every``, an ``all()`` body: pinejs compiles ``all(v:E)`` to
        ``NOT EXISTS(… WHERE NOT E)``, so there a member fails only where E is FALSE, not where it is NULL."""
        result = self._expr(expr, resource, scope)
        if not isinstance(result, (_Tri, _Cond)):
            return result
        if every:
            return _condition(_negated(_falsity(result)))
        return _condition(_truth(result))

    def _expr(self, expr: Expr, resource: ResourceInfo, scope: dict[str, ResourceInfo]) -> Any:
        if isinstance(expr, Group):
            inner = self._expr(expr.inner, resource, scope)
            if isinstance(inner, (_Tri, _Cond)):
                return inner
            expr.inner = inner
            return expr
        if isinstance(expr, Not):
            inner = self._expr(expr.operand, resource, scope)
            if isinstance(inner, _Tri):
                return _Tri(None if inner.value is None else not inner.value)
            if isinstance(inner, _Cond):
                return _Cond(inner.false, inner.true)  # not NULL is NULL: TRUE and FALSE swap, NULL stays
            expr.operand = inner
            return expr
        if isinstance(expr, (BinOp, Call, In)) and not (isinstance(expr, BinOp) and expr.op in ("and", "or")):
            split = self._cases_target(expr, resource, scope)
            if split is not None:
                return self._by_cases(expr, split, resource, scope)
        if isinstance(expr, BinOp):
            if expr.op in ("and", "or"):
                return self._logic(expr, resource, scope)
            if expr.op in COMPARISONS and len(expr.operands) == 2:
                return self._comparison(expr, resource, scope)
            _set_operands(expr, [self._value(o, resource, scope, expr.op) for o in expr.operands])
            return expr
        if isinstance(expr, In):
            return self._in(expr, resource, scope)
        if isinstance(expr, Path):
            return self._bool_path(expr, resource, scope)
        if isinstance(expr, Call):
            return self._call(expr, resource, scope)
        return expr

    def _logic(self, expr: BinOp, resource: ResourceInfo, scope: dict) -> Any:
        operands = [self._expr(o, resource, scope) for o in expr.operands]
        if any(isinstance(o, _Cond) or (isinstance(o, _Tri) and o.value is None) for o in operands) and not all(
            isinstance(o, _Tri) for o in operands
        ):
            # a NULL next to v7 conditions: SQL's three-valued and/or (NULL and FALSE is FALSE, NULL or TRUE
            # is TRUE, otherwise NULL), carried as "TRUE where …, FALSE where …" for an enclosing not()
            truths, falsities = [_truth(o) for o in operands], [_falsity(o) for o in operands]
            if expr.op == "and":
                return _cond(_joined("and", truths), _joined("or", falsities))
            return _cond(_joined("or", truths), _joined("and", falsities))
        consts = [o for o in operands if isinstance(o, _Tri)]
        if len(consts) == len(operands):
            values = [c.value for c in consts]
            if expr.op == "and":
                if any(v is False for v in values):
                    return _Tri(False)
                return _Tri(None if any(v is None for v in values) else True)
            if any(v is True for v in values):
                return _Tri(True)
            return _Tri(None if any(v is None for v in values) else False)
        _set_operands(expr, [Literal.boolean(bool(o.value)) if isinstance(o, _Tri) else o for o in operands])
        return expr

    def _value(self, operand: Expr, resource: ResourceInfo, scope: dict, context: str) -> Expr:
        """An operand that must stay a value (arithmetic, function argument)."""
        if isinstance(operand, Path):
            found = self.walk_path(operand, resource, scope, "$filter")
            if found[0] == "const":
                n = found[1]
                if operand.count is not None:
                    return Literal.number(0)  # an always-empty navigation counts 0
                if n.kind == S.EMPTY and found[2]:
                    raise _not_a_value(n)
                return _null_or(_constant_value(n))
            if found[0] == "derived":
                raise WalkError(400, f"{found[1].v6} cannot be used with {context} through the v6 proxy")
            return operand
        if isinstance(operand, Group):
            operand.inner = self._value(operand.inner, resource, scope, context)
            return operand
        if isinstance(operand, BinOp) and operand.op in ("and", "or"):
            # a condition compared as a value (`(a or b) eq true`): only a two-valued result has a v7 spelling
            r = self._logic(operand, resource, scope)
            if isinstance(r, _Cond) or (isinstance(r, _Tri) and r.value is None):
                raise WalkError(400, "a condition on a removed field cannot be used as a value through the v6 proxy")
            return Literal.boolean(r.value) if isinstance(r, _Tri) else r
        if isinstance(operand, BinOp):
            _set_operands(operand, [self._value(o, resource, scope, operand.op) for o in operand.operands])
            return operand
        if isinstance(operand, Call):
            r = self._call(operand, resource, scope)
            if isinstance(r, _Tri):
                return _null_or(r.value)
            return r
        if isinstance(operand, Not):  # `not a eq b` is `(not a) eq b`: not binds one value
            operand.operand = self._value(operand.operand, resource, scope, "not")
            return operand
        if isinstance(operand, In):
            r = self._in(operand, resource, scope)
            if isinstance(r, _Cond):
                raise WalkError(400, "an in list holding null cannot be used as a value through the v6 proxy")
            return _null_or(r.value) if isinstance(r, _Tri) else r
        return operand

    def _call(self, call: Call, resource: ResourceInfo, scope: dict) -> Any:
        args = []
        for a in call.args:
            if isinstance(a, Path):
                found = self.walk_path(a, resource, scope, "$filter")
                if found[0] == "const":
                    # a function of a NULL constant is NULL (false in a WHERE)
                    self.feature(f"{resource.name}.{found[1].v6}.filter_constant")
                    return _Tri(None)
                if found[0] == "derived":
                    raise WalkError(400, f"{found[1].v6} cannot be used with {call.name}() through the v6 proxy")
                args.append(a)
            else:
                args.append(self._value(a, resource, scope, call.name + "()"))
        call.args = args
        return call

    def _bool_path(self, path: Path, resource: ResourceInfo, scope: dict) -> Any:
        # lambdas on renamed or always-empty navigations, filter hooks of views
        segs = path.segments
        if path.lambda_ is not None and segs:
            owner = resource
            names = path.names
            start = 0
            prefix: list[str] = []  # the v7 path to the owner of the last name (hook text is written for it)
            if names[0] in scope:
                owner = scope[names[0]]
                start = 1
                prefix.append(names[0])
            # walk to the last navigation's owner to see if it is special
            cur = owner
            for i in range(start, len(segs)):
                n = self.lookup(cur, names[i])
                if n is None:
                    self.unknown_name(names[i], cur, "$filter")
                if n.kind in (S.EMPTY, S.CONST):
                    if i != len(segs) - 1:
                        self.null_link(n, cur, names, i, "$filter")  # below a NULL link: no member
                    else:
                        self.feature(f"{cur.name}.{n.v6}.empty_lambda")
                    return _Tri(path.lambda_.kind == "all")
                if n.kind == S.DERIVED:
                    hook = cur.merged.filter_hooks.get(n.v6) if cur.merged else None
                    # a hook rewrites any(); all() over a derived navigation has no rewrite
                    if hook is None or i != len(segs) - 1 or n.target is None or path.lambda_.kind != "any":
                        raise WalkError(400, f"{n.v6} cannot be used with a lambda through the v6 proxy")
                    lam = path.lambda_
                    target = self.res(n.target)
                    inner = dict(scope)
                    inner[lam.var.text] = target
                    body = self.walk_expr(lam.body, target, inner)
                    self.feature(f"{cur.name}.{n.v6}.filter_hook")
                    return _prefixed(hook(lam.var.text, _decoded(body.serialize())), prefix, keep=set(scope))
                if n.kind == S.NAV and n.target:
                    cur = self.res(n.target)
                    prefix.append(n.v7 or names[i])
        found = self.walk_path(path, resource, scope, "$filter")
        if found[0] == "const":
            value = _constant_value(found[1]) if found[2] else None  # a path through a NULL link is NULL
            return _Tri(value if isinstance(value, bool) else None)
        if found[0] == "derived":
            raise WalkError(400, f"{found[1].v6} cannot be used as a condition through the v6 proxy")
        return path

    def _cases_target(self, expr: Expr, resource: ResourceInfo, scope: dict) -> tuple | None:
        """A derived value declared by ``cases`` used in ``expr`` other than as ``name eq/ne literal`` or
        ``name in (literals)`` (those have ``filter_values``): (path, Name, owner, v7 prefix), else None."""
        for node in iter_nodes(expr):
            if not isinstance(node, Path) or node.lambda_ is not None or node.count is not None:
                continue
            if not mentions(expr, lambda p: p is node):
                continue  # inside a lambda body: walked in its own scope
            found = self._peek(node, resource, scope)
            if found is None or found[0] != "derived" or not found[1].rule.cases:
                continue
            if (
                isinstance(expr, BinOp)
                and expr.op in ("eq", "ne")
                and len(expr.operands) == 2
                and node in expr.operands
            ):
                other = expr.operands[1] if expr.operands[0] is node else expr.operands[0]
                if isinstance(self._literal(other), Literal):
                    return None
            if (
                isinstance(expr, In)
                and expr.operand is node
                and all(isinstance(self._literal(i), Literal) for i in expr.items)
            ):
                return None
            return (node, *found[1:])
        return None

    def _by_cases(self, expr: Expr, split: tuple, resource: ResourceInfo, scope: dict) -> Any:
        """``E(x)`` for a derived ``x`` declared by cases ``(Ci, Vi)``: TRUE where some ``Ci and E(Vi)`` is,
        FALSE where some ``Ci and not E(Vi)`` is, NULL elsewhere; each ``E(Vi)`` is walked (other names
        renamed) and folded on its literals (proxy.schema.fold)."""
        path, n, owner, prefix = split
        names = path.names
        trues: list = []
        falses: list = []
        for condition, value in n.rule.cases:
            branch = substitute(expr, lambda p: p.names == names and p.lambda_ is None and p.count is None, value)
            walked = self._expr(branch, resource, scope)
            if not isinstance(walked, (_Tri, _Cond)):
                walked = fold(walked)
                if isinstance(walked, Literal) and walked.kind in ("Boolean", "Null"):
                    walked = _Tri(walked.value)
            trues.append(_joined("and", [_prefixed(condition, prefix), _truth(walked)]))
            falses.append(_joined("and", [_prefixed(condition, prefix), _falsity(walked)]))
        self.feature(f"{owner.name}.{n.v6}.filter_cases")
        return _cond(_joined("or", trues), _joined("or", falses))

    def _literal(self, node: Expr) -> Expr:
        """A parameter alias (``@x``) stands for its literal where a translator needs the value."""
        if isinstance(node, AliasRef):
            return self.aliases.get(node.name.text, node)
        return node

    def _comparison(self, expr: BinOp, resource: ResourceInfo, scope: dict) -> Any:
        left, right = expr.operands
        for this, other, flipped in ((left, right, False), (right, left, True)):
            other = self._literal(other)
            if isinstance(this, Path):
                found = self._peek(this, resource, scope)
                if found is None:
                    continue
                kind, n, owner, prefix = found
                if kind == "const":
                    self.feature(f"{owner.name}.{n.v6}.filter_constant")
                    return self._constant_comparison(_constant_value(n), expr.op, other, flipped, resource, scope)
                if kind == "derived":
                    rule = n.rule
                    if expr.op not in ("eq", "ne") or not isinstance(other, Literal):
                        raise WalkError(400, f"{n.v6} cannot be used with {expr.op} through the v6 proxy")
                    self.feature(f"{owner.name}.{n.v6}.filter")
                    text = _derived_filter(rule, other)
                    if text in ("true", "false"):
                        value = text == "true"
                        return _Tri(value if expr.op == "eq" else not value)
                    node = _prefixed(text, prefix)
                    if expr.op == "ne":
                        return Not(Group(node))
                    return Group(node)
        _set_operands(expr, [self._value(o, resource, scope, expr.op) for o in expr.operands])
        return expr

    def _constant_comparison(
        self, value: Any, op: str, other: Expr, flipped: bool, resource: ResourceInfo, scope: dict
    ) -> Any:
        """``constant op other`` (``other op constant`` when ``flipped``). pinejs compiles eq/ne to
        IS [NOT] DISTINCT FROM, so NULL eq NULL is TRUE and a NULL constant eq E is ``E eq null``; an
        ordering against NULL is NULL."""
        op = op if flipped else _MIRRORED[op]  # now ``other op constant``
        if isinstance(other, Path):
            found = self._peek(other, resource, scope)
            if found is not None and found[0] == "const":
                other = _null_or(_constant_value(found[1]))
        if isinstance(other, Literal):
            return _Tri(_compare_constant(value, _MIRRORED[op], other))
        operand = self._value(other, resource, scope, op)
        if value is None and op not in ("eq", "ne"):
            return _Tri(None)
        return BinOp(op, [Group(operand) if isinstance(operand, BinOp) else operand, _null_or(value)])

    def _peek(self, path: Path, resource: ResourceInfo, scope: dict) -> tuple | None:
        """If the path ends on a constant or derived name: (kind, Name, owner resource, prefix); else None."""
        names = path.names
        if path.lambda_ is not None or path.count is not None:
            return None
        cur = resource
        start = 0
        prefix: list[str] = []
        if names and names[0] in scope:
            cur = scope[names[0]]
            start = 1
            prefix.append(names[0])
        for i in range(start, len(names)):
            n = self.lookup(cur, names[i])
            if n is None:
                return None
            if n.kind in (S.CONST, S.EMPTY):
                if i != len(names) - 1:
                    return ("const", self.null_link(n, cur, names, i, "$filter"), cur, prefix)
                if n.kind == S.EMPTY:
                    raise _not_a_value(n)
                return ("const", n, cur, prefix)
            if n.kind == S.DERIVED:
                return ("derived", n, cur, prefix) if i == len(names) - 1 else None
            if n.kind == S.NAV and n.target:
                cur = self.res(n.target)
                prefix.append(n.v7 or names[i])
            else:
                return None
        return None

    def _in(self, expr: In, resource: ResourceInfo, scope: dict) -> Any:
        if isinstance(expr.operand, Path):
            found = self._peek(expr.operand, resource, scope)
            if found is not None:
                kind, n, owner, prefix = found
                if kind == "const":
                    # SQL IN: TRUE on a match, else NULL if the value or an item is NULL (a path item reads as
                    # NULL on the server), else FALSE
                    value = _constant_value(n)
                    if value is None:
                        return _Tri(None)
                    items = [self._literal(i) for i in expr.items]
                    if any(isinstance(i, Literal) and _compare_constant(value, "eq", i) is True for i in items):
                        return _Tri(True)
                    if any(not isinstance(i, Literal) or i.kind == "Null" for i in items):
                        return _Tri(None)
                    return _Tri(False)
                if kind == "derived":
                    self.feature(f"{owner.name}.{n.v6}.filter")
                    parts = []
                    null_item = False
                    for item in map(self._literal, expr.items):
                        if not isinstance(item, Literal):
                            raise WalkError(400, f"{n.v6} cannot be used with in through the v6 proxy")
                        if item.kind == "Null":
                            null_item = True  # SQL: x IN (…, NULL) is NULL, not FALSE, where nothing matches
                            continue
                        parts.append(_derived_filter(n.rule, item))
                    parts = [p for p in parts if p != "false"]
                    if "true" in parts:
                        return _Tri(True)
                    match: Any = Group(_prefixed(" or ".join(f"({p})" for p in parts), prefix)) if parts else False
                    if null_item:
                        return _cond(match, False)
                    return match if parts else _Tri(False)
        operand = self._value(expr.operand, resource, scope, "in")
        if operand is not expr.operand:
            expr.operand = operand
            expr.sep = f"{SP}in{SP}"  # `x in(…)` is only valid after a closing parenthesis
        return expr

    def restricted_condition(self, body: Expr, target: ResourceInfo, var: str, every: bool) -> Expr:
        """A walked lambda body over a navigation to a resource narrowed by ``extra_filter``: only members
        inside it count. ``any(v:B)`` → ``any(v:B and X)``; ``all(v:B)`` → ``all(v:not(X) or B)`` (pinejs
        fails a member of all() only where the body is FALSE, so a member outside the view never fails).
        ``X`` is the translator's text with every name under ``v``."""
        if not target.extra_filters:
            return body
        self.feature(f"{target.name}.extra_filter")
        parts = [_prefixed(text, [var]) for text in target.extra_filters]
        restriction: Expr = parts[0]
        for part in parts[1:]:
            restriction = and_filter(restriction, part)
        if every:
            return BinOp("or", [_negated(restriction), Group(body) if isinstance(body, BinOp) else body])
        return and_filter(Group(body) if isinstance(body, BinOp) and body.op == "or" else body, restriction)
