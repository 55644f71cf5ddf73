"""``$filter`` of the request walk: member paths renamed (``walk_path``), lambdas and counts walked in their
target's scope, constants folded with three-valued logic (``logic``), derived values replaced by their
translators' v7 texts (or, for values declared by cases, evaluated once per case), and views' restrictions and
filter hooks applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxy.engine import logic as L
from proxy.engine.logic import Cond, Known, Walked
from proxy.engine.texts import decoded, expression, prefixed
from proxy.engine.walk_context import Scope, WalkContext, WalkError
from proxy.engine.walk_path import ConstantEnd, DerivedEnd, PathWalker, SpecialEnd, not_a_value
from proxy.odata import (
    SP,
    AliasRef,
    BinOp,
    Call,
    Expr,
    Group,
    In,
    Lambda,
    Literal,
    Not,
    Path,
    PathSeg,
    and_filter,
    iter_nodes,
)
from proxy.odata import Name as TreeName
from proxy.schema import v6schema as S
from proxy.schema.v6schema import Name, ResourceInfo
from translators import Derived


@dataclass(frozen=True)
class CasesSplit:
    """A derived value declared by cases met in an expression that its ``filter_values`` cannot translate:
    the path naming it, the name, its resource and the v7 path to that resource."""

    path: Path
    name: Name
    owner: ResourceInfo
    prefix: list[str]


@dataclass(frozen=True)
class ViewSplit:
    """A value path going on through a link to a view (a resource narrowed by ``extra_filter``): the path,
    the v7 path to the link's target and that target."""

    path: Path
    prefix: list[str]
    target: ResourceInfo


_VIEW_VAR = "v6_view"  # the lambda variable of the view membership test (never a client's: not a v6 name)


def derived_filter(rule: Derived, literal: Literal) -> str:
    """The v7 text for ``name eq literal`` of a derived value (``false``: no row)."""
    if literal.kind == "Null":
        return rule.filter_null[0]
    fv = rule.filter_values
    if callable(fv):
        return fv(literal.value)
    if fv is None:
        raise WalkError(400, f"{rule.name} cannot be used in $filter through the v6 proxy")
    try:
        return fv.get(literal.value, "false")
    except TypeError:  # a duration literal (a dict) never equals a derived value
        return "false"


def _the(node: Path) -> Callable[[Path], bool]:
    return lambda p: p is node


class FilterWalker:
    """Translates v6 conditions into v7 ones."""

    def __init__(self, ctx: WalkContext, paths: PathWalker) -> None:
        self.ctx = ctx
        self.paths = paths
        self.viewed: set[int] = set()  # id() of value paths through a view already split (_by_view)

    def walk_tail(self, path: Path, target: ResourceInfo, scope: Scope, option: str) -> None:
        """The ``/$count(…)`` or lambda after a navigation path. A target narrowed by ``extra_filter`` counts
        and quantifies only its own rows (``restrict``); a bare value path through it (``nav/name``) is
        not narrowed."""
        if path.count is not None:
            if path.count.filter is not None:
                path.count.filter = self.walk_expr(path.count.filter, target, scope)
            for text in target.extra_filters:
                path.count.filter = and_filter(path.count.filter, expression(text))
                self.ctx.feature(f"{target.name}.extra_filter")
        if path.lambda_ is not None:
            lam: Lambda = path.lambda_
            inner = dict(scope)
            inner[lam.var.text] = target
            every = lam.kind == "all"
            lam.body = self.restricted_condition(
                self.walk_expr(lam.body, target, inner, every=every), target, lam.var.text, every
            )

    def walk_expr(self, expr: Expr, resource: ResourceInfo, scope: Scope, *, every: bool = False) -> Expr:
        """The v7 condition for a v6 one in a position where only TRUE keeps a row (``$filter``, an ``any()``
        body, a ``$count`` filter) or, with ``every``, an ``all()`` body: pinejs compiles ``all(v:E)`` to
        ``NOT EXISTS(… WHERE NOT E)``, so there a member fails only where E is FALSE, not where it is NULL."""
        result = self._expr(expr, resource, scope)
        if not isinstance(result, (Known, Cond)):
            return result
        if every:
            return L.condition(L.negated(L.falsity(result)))
        return L.condition(L.truth(result))

    def _expr(self, expr: Expr, resource: ResourceInfo, scope: Scope) -> Walked:
        if isinstance(expr, Group):
            inner = self._expr(expr.inner, resource, scope)
            if isinstance(inner, (Known, Cond)):
                return inner
            expr.inner = inner
            return expr
        if isinstance(expr, Not):
            operand = self._expr(expr.operand, resource, scope)
            if isinstance(operand, Known):
                return Known(None if operand.value is None else not operand.value)
            if isinstance(operand, Cond):
                return Cond(operand.false, operand.true)  # not NULL is NULL: TRUE and FALSE swap, NULL stays
            expr.operand = operand
            return expr
        if isinstance(expr, (BinOp, Call, In)) and not (isinstance(expr, BinOp) and expr.op in ("and", "or")):
            through = self._through_view(expr, resource, scope)
            if through is not None:
                return self._by_view(expr, through, resource, scope)
            split = self._cases_target(expr, resource, scope)
            if split is not None:
                return self._by_cases(expr, split, resource, scope)
        if isinstance(expr, BinOp):
            if expr.op in ("and", "or"):
                return self._logic(expr, resource, scope)
            if expr.op in L.COMPARISONS and len(expr.operands) == 2:
                return self._comparison(expr, resource, scope)
            L.set_operands(expr, [self._value(o, resource, scope, expr.op) for o in expr.operands])
            return expr
        if isinstance(expr, In):
            return self._in(expr, resource, scope)
        if isinstance(expr, Path):
            return self._bool_path(expr, resource, scope)
        if isinstance(expr, Call):
            return self._call(expr, resource, scope)
        return expr

    def _logic(self, expr: BinOp, resource: ResourceInfo, scope: Scope) -> Walked:
        operands = [self._expr(o, resource, scope) for o in expr.operands]
        if any(isinstance(o, Cond) or (isinstance(o, Known) and o.value is None) for o in operands) and not all(
            isinstance(o, Known) for o in operands
        ):
            # a NULL next to v7 conditions: SQL's three-valued and/or (NULL and FALSE is FALSE, NULL or TRUE
            # is TRUE, otherwise NULL), carried as "TRUE where …, FALSE where …" for an enclosing not()
            truths, falsities = [L.truth(o) for o in operands], [L.falsity(o) for o in operands]
            if expr.op == "and":
                return L.cond(L.joined("and", truths), L.joined("or", falsities))
            return L.cond(L.joined("or", truths), L.joined("and", falsities))
        knowns = [o for o in operands if isinstance(o, Known)]
        if len(knowns) == len(operands):
            return Known(L.known_logic(expr.op, [k.value for k in knowns]))
        exprs: list[Expr] = []
        for o in operands:
            assert not isinstance(o, Cond)  # a Cond made the three-valued case above
            exprs.append(Literal.boolean(bool(o.value)) if isinstance(o, Known) else o)
        L.set_operands(expr, exprs)
        return expr

    def _value(self, operand: Expr, resource: ResourceInfo, scope: Scope, context: str) -> Expr:
        """An operand that must stay a value (arithmetic, function argument)."""
        if isinstance(operand, Path):
            found = self.paths.walk_path(operand, resource, scope, "$filter")
            if isinstance(found, ConstantEnd):
                if operand.count is not None:
                    return Literal.number(0)  # an always-empty navigation counts 0
                if found.name.kind == S.EMPTY and found.at_end:
                    raise not_a_value(found.name)
                return L.literal_of(found.name.constant_value)
            if isinstance(found, DerivedEnd):
                raise WalkError(400, f"{found.name.v6} cannot be used with {context} through the v6 proxy")
            return operand
        if isinstance(operand, Group):
            operand.inner = self._value(operand.inner, resource, scope, context)
            return operand
        if isinstance(operand, BinOp) and operand.op in ("and", "or"):
            # a condition compared as a value (`(a or b) eq true`): only a two-valued result has a v7 spelling
            r = self._logic(operand, resource, scope)
            if isinstance(r, Cond) or (isinstance(r, Known) and r.value is None):
                raise WalkError(400, "a condition on a removed field cannot be used as a value through the v6 proxy")
            if isinstance(r, (Known, Cond)):
                return Literal.boolean(bool(r.value) if isinstance(r, Known) else False)
            return r
        if isinstance(operand, BinOp):
            L.set_operands(operand, [self._value(o, resource, scope, operand.op) for o in operand.operands])
            return operand
        if isinstance(operand, Call):
            c = self._call(operand, resource, scope)
            return L.literal_of(c.value) if isinstance(c, Known) else c
        if isinstance(operand, Not):  # `not a eq b` is `(not a) eq b`: not binds one value
            operand.operand = self._value(operand.operand, resource, scope, "not")
            return operand
        if isinstance(operand, In):
            i = self._in(operand, resource, scope)
            if isinstance(i, Cond):
                raise WalkError(400, "an in list holding null cannot be used as a value through the v6 proxy")
            return L.literal_of(i.value) if isinstance(i, Known) else i
        return operand

    def _call(self, call: Call, resource: ResourceInfo, scope: Scope) -> Expr | Known:
        args: list[Expr] = []
        for a in call.args:
            if isinstance(a, Path):
                found = self.paths.walk_path(a, resource, scope, "$filter")
                if isinstance(found, ConstantEnd):
                    # a function of a NULL constant is NULL (false in a WHERE)
                    self.ctx.feature(f"{resource.name}.{found.name.v6}.filter_constant")
                    return Known(None)
                if isinstance(found, DerivedEnd):
                    raise WalkError(400, f"{found.name.v6} cannot be used with {call.name}() through the v6 proxy")
                args.append(a)
            else:
                args.append(self._value(a, resource, scope, call.name + "()"))
        call.args = args
        return call

    def _bool_path(self, path: Path, resource: ResourceInfo, scope: Scope) -> Walked:
        # lambdas on renamed or always-empty navigations, filter hooks of views
        if path.lambda_ is not None and path.segments:
            special = self._special_lambda(path, resource, scope)
            if special is not None:
                return special
        found = self.paths.walk_path(path, resource, scope, "$filter")
        if isinstance(found, ConstantEnd):
            value = found.name.constant_value if found.at_end else None  # a path through a NULL link is NULL
            return Known(value if isinstance(value, bool) else None)
        if isinstance(found, DerivedEnd):
            raise WalkError(400, f"{found.name.v6} cannot be used as a condition through the v6 proxy")
        return path

    def _special_lambda(self, path: Path, resource: ResourceInfo, scope: Scope) -> Walked | None:
        """A lambda over an always-empty navigation (or below a NULL link: no member) or over a derived
        navigation a view's filter hook rewrites; None: an ordinary lambda."""
        ctx = self.ctx
        lam = path.lambda_
        assert lam is not None
        segs = path.segments
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
            n = ctx.require(cur, names[i], "$filter")
            if n.kind in (S.EMPTY, S.CONST):
                if i != len(segs) - 1:
                    self.paths.null_link(n, cur, names, i, "$filter")  # below a NULL link: no member
                else:
                    ctx.feature(f"{cur.name}.{n.v6}.empty_lambda")
                return Known(lam.kind == "all")
            if n.kind == S.DERIVED:
                hook = cur.merged.filter_hooks.get(n.v6) if cur.merged else None
                # a hook rewrites any(); all() over a derived navigation has no rewrite
                if hook is None or i != len(segs) - 1 or n.target is None or lam.kind != "any":
                    raise WalkError(400, f"{n.v6} cannot be used with a lambda through the v6 proxy")
                target = ctx.res(n.target)
                inner = dict(scope)
                inner[lam.var.text] = target
                body = self.walk_expr(lam.body, target, inner)
                ctx.feature(f"{cur.name}.{n.v6}.filter_hook")
                return prefixed(hook(lam.var.text, decoded(body.serialize())), prefix, keep=set(scope))
            if n.kind == S.NAV and n.target:
                cur = ctx.res(n.target)
                prefix.append(n.v7 or names[i])
        return None

    def _cases_target(self, expr: Expr, resource: ResourceInfo, scope: Scope) -> CasesSplit | None:
        """A derived value declared by ``cases`` used in ``expr`` other than as ``name eq/ne literal`` or
        ``name in (literals)`` (those have ``filter_values``), else None."""
        for node in iter_nodes(expr):
            if not isinstance(node, Path) or node.lambda_ is not None or node.count is not None:
                continue
            if not L.mentions(expr, _the(node)):
                continue  # inside a lambda body: walked in its own scope
            found = self.paths.peek(node, resource, scope)
            if found is None or found.constant or not found.name.derived.cases:
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
            return CasesSplit(node, found.name, found.owner, found.prefix)
        return None

    def _through_view(self, expr: Expr, resource: ResourceInfo, scope: Scope) -> ViewSplit | None:
        """A value path in ``expr`` that goes on through a link to a resource narrowed by ``extra_filter``
        (``link/name``, the view being the link's target), not yet split; None if there is none."""
        for node in iter_nodes(expr):
            if not isinstance(node, Path) or node.lambda_ is not None or node.count is not None:
                continue
            if id(node) in self.viewed or not L.mentions(expr, _the(node)):
                continue
            names = node.names
            cur, start, prefix = resource, 0, []
            if names and names[0] in scope:
                cur, start = scope[names[0]], 1
                prefix.append(names[0])
            for i in range(start, len(names) - 1):
                n = self.ctx.lookup(cur, names[i])
                if n is None or n.kind != S.NAV or not n.target:
                    break
                prefix.append(n.v7 or names[i])
                cur = self.ctx.res(n.target)
                if cur.extra_filters:
                    return ViewSplit(node, prefix, cur)
        return None

    def _by_view(self, expr: Expr, split: ViewSplit, resource: ResourceInfo, scope: Scope) -> Walked:
        """``E(link/name)`` where the link's target is a view: on the server the link joins only the view's
        rows, so the value is NULL where the linked row is outside it. TRUE where (``link/any(v:X)`` and
        ``E``) or (not ``link/any(v:X)`` and ``E(NULL)``), FALSE likewise, ``X`` the view's restriction."""
        names = split.path.names
        # the NULL branch is taken before the walk renames the paths of ``expr`` in place
        null_branch = L.substitute(expr, lambda p: p.names == names and p.lambda_ is None and p.count is None, None)
        self.viewed.add(id(split.path))
        inside = self._expr(expr, resource, scope)
        outside = self._expr(null_branch, resource, scope)
        if not isinstance(outside, (Known, Cond)):
            outside = L.fold(outside)
            if isinstance(outside, Literal) and outside.kind in ("Boolean", "Null"):
                outside = Known(outside.value)
        restriction = split.target.restriction

        def member() -> Expr:
            body = prefixed(restriction, [_VIEW_VAR])
            return Path([PathSeg(TreeName(p)) for p in split.prefix], lambda_=Lambda("any", TreeName(_VIEW_VAR), body))

        self.ctx.feature(f"{split.target.name}.extra_filter_value")
        # the value's own paths come before the membership lambda: a lambda over a path of two or more links
        # joins all but its last into the query, and pinejs joins a path's links only where its first one is
        # not joined yet, so a deeper path after it names a table the query lacks (a 500 where v6 answered)
        true = L.joined(
            "or",
            [L.joined("and", [L.truth(inside), member()]), L.joined("and", [L.truth(outside), L.negated(member())])],
        )
        false = L.joined(
            "or",
            [
                L.joined("and", [L.falsity(inside), member()]),
                L.joined("and", [L.falsity(outside), L.negated(member())]),
            ],
        )
        return L.cond(true, false)

    def _by_cases(self, expr: Expr, split: CasesSplit, resource: ResourceInfo, scope: Scope) -> Walked:
        """``E(x)`` for a derived ``x`` declared by cases ``(Ci, Vi)``: TRUE where some ``Ci and E(Vi)`` is,
        FALSE where some ``Ci and not E(Vi)`` is, NULL elsewhere; each ``E(Vi)`` is walked (other names
        renamed) and folded on its literals (``logic.fold``)."""
        names = split.path.names
        trues: list[bool | Expr] = []
        falses: list[bool | Expr] = []
        for condition, value in split.name.derived.cases:
            branch = L.substitute(expr, lambda p: p.names == names and p.lambda_ is None and p.count is None, value)
            walked = self._expr(branch, resource, scope)
            if not isinstance(walked, (Known, Cond)):
                walked = L.fold(walked)
                if isinstance(walked, Literal) and walked.kind in ("Boolean", "Null"):
                    walked = Known(walked.value)
            trues.append(L.joined("and", [prefixed(condition, split.prefix), L.truth(walked)]))
            falses.append(L.joined("and", [prefixed(condition, split.prefix), L.falsity(walked)]))
        self.ctx.feature(f"{split.owner.name}.{split.name.v6}.filter_cases")
        return L.cond(L.joined("or", trues), L.joined("or", falses))

    def _literal(self, node: Expr) -> Expr:
        """A parameter alias (``@x``) stands for its literal where a translator needs the value."""
        if isinstance(node, AliasRef):
            return self.ctx.aliases.get(node.name.text, node)
        return node

    def _comparison(self, expr: BinOp, resource: ResourceInfo, scope: Scope) -> Walked:
        left, right = expr.operands
        for this, other, flipped in ((left, right, False), (right, left, True)):
            other = self._literal(other)
            if not isinstance(this, Path):
                continue
            found = self.paths.peek(this, resource, scope)
            if found is None:
                continue
            n = found.name
            if found.constant:
                self.ctx.feature(f"{found.owner.name}.{n.v6}.filter_constant")
                return self._constant_comparison(n.constant_value, expr.op, other, flipped, resource, scope)
            if expr.op not in ("eq", "ne") or not isinstance(other, Literal):
                raise WalkError(400, f"{n.v6} cannot be used with {expr.op} through the v6 proxy")
            self.ctx.feature(f"{found.owner.name}.{n.v6}.filter")
            text = derived_filter(n.derived, other)
            if text in ("true", "false"):
                value = text == "true"
                return Known(value if expr.op == "eq" else not value)
            node = prefixed(text, found.prefix)
            if expr.op == "ne":
                return Not(Group(node))
            return Group(node)
        L.set_operands(expr, [self._value(o, resource, scope, expr.op) for o in expr.operands])
        return expr

    def _constant_comparison(
        self, value: object, op: str, other: Expr, flipped: bool, resource: ResourceInfo, scope: Scope
    ) -> Walked:
        """``constant op other`` (``other op constant`` when ``flipped``). pinejs compiles eq/ne to
        IS [NOT] DISTINCT FROM, so NULL eq NULL is TRUE and a NULL constant eq E is ``E eq null``; an
        ordering against NULL is NULL."""
        op = op if flipped else L.MIRRORED[op]  # now ``other op constant``
        if isinstance(other, Path):
            found = self.paths.peek(other, resource, scope)
            if found is not None and found.constant:
                other = L.literal_of(found.name.constant_value)
        if isinstance(other, Literal):
            return Known(L.compare_constant(value, L.MIRRORED[op], other))
        operand = self._value(other, resource, scope, op)
        if value is None and op not in ("eq", "ne"):
            return Known(None)
        return BinOp(op, [Group(operand) if isinstance(operand, BinOp) else operand, L.literal_of(value)])

    def _in(self, expr: In, resource: ResourceInfo, scope: Scope) -> Walked:
        if isinstance(expr.operand, Path):
            found = self.paths.peek(expr.operand, resource, scope)
            if found is not None and found.constant:
                return self._constant_in(found.name.constant_value, expr)
            if found is not None:
                return self._derived_in(found, expr)
        operand = self._value(expr.operand, resource, scope, "in")
        if operand is not expr.operand:
            expr.operand = operand
            expr.sep = f"{SP}in{SP}"  # `x in(…)` is only valid after a closing parenthesis
        return expr

    def _constant_in(self, value: object, expr: In) -> Known:
        """SQL IN: TRUE on a match, else NULL if the value or an item is NULL (a path item reads as NULL on
        the server), else FALSE."""
        if value is None:
            return Known(None)
        items = [self._literal(i) for i in expr.items]
        if any(isinstance(i, Literal) and L.compare_constant(value, "eq", i) is True for i in items):
            return Known(True)
        if any(not isinstance(i, Literal) or i.kind == "Null" for i in items):
            return Known(None)
        return Known(False)

    def _derived_in(self, found: SpecialEnd, expr: In) -> Walked:
        n = found.name
        self.ctx.feature(f"{found.owner.name}.{n.v6}.filter")
        parts = []
        null_item = False
        for item in map(self._literal, expr.items):
            if not isinstance(item, Literal):
                raise WalkError(400, f"{n.v6} cannot be used with in through the v6 proxy")
            if item.kind == "Null":
                null_item = True  # SQL: x IN (…, NULL) is NULL, not FALSE, where nothing matches
                continue
            parts.append(derived_filter(n.derived, item))
        parts = [p for p in parts if p != "false"]
        if "true" in parts:
            return Known(True)
        match: bool | Expr = Group(prefixed(" or ".join(f"({p})" for p in parts), found.prefix)) if parts else False
        if null_item:
            return L.cond(match, False)
        return match if not isinstance(match, bool) else Known(False)

    def restricted_condition(self, body: Expr, target: ResourceInfo, var: str, every: bool) -> Expr:
        """A walked lambda body over a navigation to a resource narrowed by ``extra_filter``: only members
        inside it count. ``any(v:B)`` → ``any(v:B and X)``; ``all(v:B)`` → ``all(v:not(X) or B)`` (pinejs
        fails a member of all() only where the body is FALSE, so a member outside the view never fails).
        ``X`` is the translator's text with every name under ``v``."""
        if not target.extra_filters:
            return body
        self.ctx.feature(f"{target.name}.extra_filter")
        parts = [prefixed(text, [var]) for text in target.extra_filters]
        restriction: Expr = parts[0]
        for part in parts[1:]:
            restriction = and_filter(restriction, part)
        if every:
            negated = L.negated(restriction)
            assert not isinstance(negated, bool)
            return BinOp("or", [negated, Group(body) if isinstance(body, BinOp) else body])
        return and_filter(Group(body) if isinstance(body, BinOp) and body.op == "or" else body, restriction)
