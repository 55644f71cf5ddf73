"""Evaluates an OData read against the store the way pinejs + PostgreSQL would.

Semantics kept from the real server (odata-to-abstract-sql compiled to PostgreSQL):
- ``x eq v`` is ``x IS NOT NULL AND x = v`` (so never NULL), ``eq null`` is ``IS NULL``, ``ne`` its negation;
  ordering comparisons and functions on NULL yield NULL, which filters a row out, and ``not(NULL)`` stays NULL;
- a quoted number compared with a number column is cast to a number (balena-sdk 12.x sends ``id eq '1'``);
- ``$orderby`` without a direction sorts descending; NULLs sort last ascending and first descending; text sorts
  by code point (the C collation); ties keep table order;
- lambdas and navigation paths see only rows the caller may read, as permissions apply to every join;
- a navigation path in ``$select``/``$filter``/``$orderby`` is a LEFT JOIN of its query (``scopes``): a missing
  to-one link reads as NULL and keeps the row, a collection yields the row once per member (duplicates, as SQL);
- ``any(v:E)`` is ``EXISTS(… WHERE E)`` and ``all(v:E)`` is ``NOT EXISTS(… WHERE NOT E)``: a NULL ``E`` neither
  satisfies any() nor fails all();
- names are resolved against the resource in scope (odata-dialect.md §6): lambda variables first, and inside a
  lambda a bare name means the lambda's resource.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .identity import READ, SECRETS, Caller
from .keys import is_unique_key
from .model import UNREADABLE, Model, Resource, load_model
from .moments import FarMoment, calendar, in_postgres_range, is_moment, shift
from .query import Alias, Bin, Call, ExpandItem, In, Lambda, Lit, Not, Options, Path, Request, Seg
from .store import Row, Store


class ODataError(Exception):
    """An API error: ``status`` and the JSON string body (``None``: empty body)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class Many(list):
    """Values reached through a collection navigation inside a path (compared with "any" semantics)."""


@dataclass
class Scope:
    resource: str
    row: Row
    vars: dict[str, tuple[str, Row]]
    # this scope's LEFT JOINed rows: (root, nav, ...) -> the row joined there (None: the join's NULL row); root ""
    # is the scope's own row, else an outer lambda variable (see ``Evaluator.scopes``)
    joins: dict[tuple[str, ...], Row | None] = field(default_factory=dict)
    own: str | None = None  # the lambda variable that stands for ``row`` (its paths are keyed under root "")


class Evaluator:
    """One request's evaluation context: the store, the caller, and how unknown names are answered."""

    def __init__(
        self, store: Store, caller: Caller, unknown_name_status: int = 500, aliases: dict[str, Any] | None = None
    ) -> None:
        self.store = store
        self.model: Model = store.model
        self.caller = caller
        self.unknown_name_status = unknown_name_status
        self.aliases = aliases or {}
        self._access: dict[tuple[str, int], tuple[Row, int]] = {}
        self.full_metadata = False  # $format=json;odata.metadata=full: __metadata / __deferred URIs
        self.requested_name: str | None = None  # the top-level resource as the client spelled it

    # -- errors and names ----------------------------------------------------------------------------------
    def unknown(self, name: str) -> ODataError:
        if self.unknown_name_status == 500:
            return ODataError(500)
        return ODataError(self.unknown_name_status, f"Unknown property '{name}'")

    def resource(self, name: str) -> Resource:
        res = self.model.resolve(name)
        if res is None or res.name in UNREADABLE:
            raise ODataError(401)
        return res

    def nav_target(self, res: Resource, name: str) -> Resource:
        if name not in res.navigation:
            raise self.unknown(name)
        target = self.model.resolve(res.navigation[name])
        if target is None or target.name in UNREADABLE:
            raise ODataError(401)
        return target

    # -- visibility ----------------------------------------------------------------------------------------
    def can(self, resource: str, row: Row, level: int = READ) -> bool:
        key = (resource, id(row))
        cached = self._access.get(key)
        if cached is None or cached[0] is not row:  # the row is kept alive with its entry: ids stay unique
            cached = (row, self.caller.access(self.store, resource, row))
            self._access[key] = cached
        return cached[1] >= level

    def visible(self, resource: str, rows: Iterable[Row], level: int = READ) -> list[Row]:
        return [r for r in rows if self.can(resource, r, level)]

    def follow(self, res: Resource, row: Row, nav: str) -> tuple[Resource, list[Row]]:
        """Rows reached from ``row`` through navigation ``nav`` (only those the caller may read)."""
        target = self.nav_target(res, nav)
        if nav in res.many:
            back = res.back_column.get(nav)
            if back is None:
                return target, []
            rows = self.store.where(target.name, back, row.get("id"))
            return target, self.visible(target.name, rows)
        column = res.fk_column.get(nav)
        if column is None:
            return target, []
        fk = self.store.value(res.name, row, column)
        if fk is None:
            return target, []
        found = self.store.get(target.name, fk)
        return target, ([found] if found is not None and self.can(target.name, found) else [])

    # -- validation of names (before any row is read, so an empty table still fails) ----------------------
    def check_options(self, res: Resource, opts: Options) -> None:
        if opts.select is not None:
            for name in opts.select:
                current, names = res, name.split("/")
                for nav in names[:-1]:  # $select=nav/.../name: the navigations are LEFT JOINed (AddSelectFields)
                    current = self.nav_target(current, nav)
                last = names[-1]
                if last in current.fields or (last in current.navigation and last not in current.many):
                    continue
                raise self.unknown(last)
        for item in opts.expand:
            target = self.nav_target(res, item.nav)
            # a counted expand ignores its $select/$orderby/$top/$skip, names included (Expands, AddQueryOptions)
            counted = Options(filter=item.options.filter, expand=item.options.expand)
            self.check_options(target, counted if item.count else item.options)
        if opts.filter is not None:
            self.check_expr(res, opts.filter, {})
        for expr, _direction in opts.orderby:
            self.check_expr(res, expr, {})
        self.check_joins(join_exprs(opts), {}, None)

    def check_joins(self, exprs: list[Any], vars_: dict[str, Any], own: str | None) -> None:
        """pinejs joins a path's navigations only when the first one is not joined yet in that query
        (``AddJoinNavigation`` throws on an existing alias and ``AddJoins`` swallows the error for the whole
        path). A later path that goes deeper through an already joined navigation then names a table that is not
        in the query (`a/x eq 1 and a/b/y eq 2`; the other order works): PostgreSQL fails, a 500 with no body."""
        joined: set[tuple[str, ...]] = set()
        for expr in exprs:
            for chain in self._join_chains(expr, vars_, own):
                prefixes = {chain[:i] for i in range(2, len(chain) + 1)}
                if chain[:2] not in joined:
                    joined |= prefixes
                elif not prefixes <= joined:
                    raise ODataError(500)

    def check_expr(self, res: Resource, expr: Any, vars_: dict[str, Resource]) -> None:
        if isinstance(expr, Path):
            self.check_path(res, expr.segs, vars_)
        elif isinstance(expr, Bin):
            for arg in expr.args:
                self.check_expr(res, arg, vars_)
        elif isinstance(expr, (Not,)):
            self.check_expr(res, expr.arg, vars_)
        elif isinstance(expr, Call):
            for arg in expr.args:
                self.check_expr(res, arg, vars_)
        elif isinstance(expr, In):
            self.check_expr(res, expr.arg, vars_)
            if not self.in_operand(res, expr.arg, vars_):
                raise ODataError(500)

    def in_operand(self, res: Resource, expr: Any, vars_: dict[str, Resource]) -> bool:
        """abstract-sql-compiler's ``In``/``NotIn`` take a plain field only (``Field()`` throws a SyntaxError
        otherwise, a 500 from pinejs), and odata-to-abstract-sql reads a ``Date Time`` field in a ``$filter`` as
        ``DATE_TRUNC('milliseconds', field, 'UTC')`` (``ReferencedProperty``), which is no field either: ``in``
        works on a column (or a link's id) that is not a Date Time, not on a function, literal or ``$count``."""
        if not isinstance(expr, Path):
            return False
        segs, current = expr.segs, res
        if segs[0].name in vars_:
            if len(segs) == 1:
                return True  # a bare lambda variable (left as it was)
            current, segs = vars_[segs[0].name], segs[1:]
        for seg in segs[:-1]:
            current = self.nav_target(current, seg.name)
        last = segs[-1]
        if last.lam is not None or last.count:
            return False
        return not current.fields.get(last.name, "").startswith("Date Time")

    def check_path(self, res: Resource, segs: list[Seg], vars_: dict[str, Resource]) -> None:
        current = res
        first = True
        for i, seg in enumerate(segs):
            last = i == len(segs) - 1
            if first and seg.name in vars_ and not last:
                current = vars_[seg.name]
                first = False
                continue
            if first and seg.name in vars_ and last and seg.lam is None and not seg.count:
                return  # a bare lambda variable
            first = False
            if seg.name in current.navigation:
                target = self.nav_target(current, seg.name)
                if seg.lam is not None:
                    self.check_expr(target, seg.lam.body, {**vars_, seg.lam.var: target})
                    self.check_joins([seg.lam.body], {**vars_, seg.lam.var: target}, seg.lam.var)
                    return
                if seg.count:
                    if seg.count_filter is not None:
                        self.check_expr(target, seg.count_filter, vars_)
                        self.check_joins([seg.count_filter], vars_, None)
                    return
                if last:
                    return  # an FK compared as a value
                current = target
                continue
            if seg.name in current.fields and last and seg.lam is None and not seg.count:
                return
            raise self.unknown(seg.name)

    # -- reading -------------------------------------------------------------------------------------------
    def target_rows(self, req: Request) -> tuple[Resource, list[Row]]:
        """Rows addressed by the resource path (key and navigation segments), before options."""
        res = self.resource(req.resource)
        rows = self.by_key(res, req.key) if req.key is not None else self.visible(res.name, self.store.rows(res.name))
        for seg in req.navs:
            if seg.name not in res.navigation:
                raise self.unknown(seg.name)
            collected: list[Row] = []
            target = self.nav_target(res, seg.name)
            for row in rows:
                _, reached = self.follow(res, row, seg.name)
                collected.extend(reached)
            res, rows = target, collected
            if seg.key is not None:
                wanted = {id(r) for r in self.by_key(res, seg.key)}
                rows = [r for r in rows if id(r) in wanted]
        return res, rows

    def path_resource(self, req: Request) -> Resource:
        """The resource the options apply to: the last segment of the resource path."""
        res = self.resource(req.resource)
        for seg in req.navs:
            res = self.nav_target(res, seg.name)
        return res

    def by_key(self, res: Resource, key: Any) -> list[Row]:
        if not isinstance(key, dict):
            key = {"id": key}
        for name in key:
            if name not in res.fields and (name not in res.key_order or name in res.many):
                raise self.unknown(name)
        if not is_unique_key(res.name, key, res.name in load_model("open-balena").resources):
            raise ODataError(500)  # KeySyntaxError, a TranslationError for pinejs (keys.py)
        wanted = {name: _key_value(res.type_of(name), self.literal(value)) for name, value in key.items()}
        rows = self.store.rows(res.name)
        out = []
        for row in rows:
            if all(compare("eq", self.store.value(res.name, row, name), value) for name, value in wanted.items()):
                out.append(row)
        return self.visible(res.name, out)

    def literal(self, value: Any) -> Any:
        if isinstance(value, Lit):
            return value.value
        if isinstance(value, Alias):
            return self.alias(value.name)
        return value

    def alias(self, name: str) -> Any:
        if name not in self.aliases:
            raise ODataError(500)
        value = self.aliases[name]
        return value.value if isinstance(value, Lit) else value

    def apply_options(
        self, res: Resource, rows: list[Row], opts: Options, outer: dict[str, tuple[str, Row]] | None = None
    ) -> list[Row]:
        return [sc.row for sc in self.apply_scoped(res, rows, opts, outer)]

    def apply_scoped(
        self, res: Resource, rows: list[Row], opts: Options, outer: dict[str, tuple[str, Row]] | None = None
    ) -> list[Scope]:
        """``$filter``, ``$orderby``, ``$skip``, ``$top`` over ``rows``. Navigation paths in ``$select``,
        ``$filter`` and ``$orderby`` are LEFT JOINs of this query, so a row comes out once per joined combination
        that passes (several times through a collection, as in SQL); each comes with its scope (its joined rows)."""
        exprs = join_exprs(opts)
        found = [
            sc
            for r in rows
            for sc in self.scopes(res.name, r, exprs, dict(outer or {}))
            if opts.filter is None or self.eval(opts.filter, sc) is True
        ]
        for expr, direction in reversed(opts.orderby):
            keyed = [(sort_key(self.eval(expr, sc), direction), sc) for sc in found]
            keyed.sort(key=lambda kv: kv[0], reverse=(direction != "asc"))
            found = [sc for _, sc in keyed]
        if opts.skip:
            found = found[opts.skip :]
        if opts.top is not None:
            found = found[: opts.top]
        return found

    def count_matching(
        self, resource: str, rows: list[Row], flt: Any, vars_: dict[str, tuple[str, Row]], own: str | None = None
    ) -> int:
        """``COUNT(*)`` of a ``$count`` subquery: joined combinations of ``rows`` for which ``flt`` is TRUE."""
        if flt is None:
            return len(rows)
        return sum(1 for r in rows for sc in self.scopes(resource, r, [flt], vars_, own) if self.eval(flt, sc) is True)

    # -- the LEFT JOINs of one scope (odata-to-abstract-sql ``AddJoins``) ----------------------------------
    def scopes(
        self, resource: str, row: Row, exprs: list[Any], vars_: dict[str, tuple[str, Row]], own: str | None = None
    ) -> list[Scope]:
        """One scope per combination of the rows LEFT JOINed for the navigation paths in ``exprs``: a to-one
        link gives its row or the NULL row, a collection each member (or the NULL row when empty). ``own`` is a
        lambda variable standing for ``row`` itself (its paths join the same tables as bare paths)."""
        trie: dict[str, Any] = {}
        for expr in exprs:
            for chain in self._join_chains(expr, vars_, own):
                node = trie
                for name in chain:
                    node = node.setdefault(name, {})
        combos: list[dict[tuple[str, ...], Row | None]] = [{}]
        for root, sub in trie.items():
            base_resource, base_row = (resource, row) if root == "" else vars_[root]
            base = self.model.resolve(base_resource)
            assert base is not None
            found = self._join_rows(base, base_row, (root,), sub)
            combos = [{**a, **b} for a in combos for b in found]
        return [Scope(resource, row, vars_, joins, own) for joins in combos]

    def _join_rows(
        self, res: Resource, row: Row | None, prefix: tuple[str, ...], trie: dict[str, Any]
    ) -> list[dict[tuple[str, ...], Row | None]]:
        combos: list[dict[tuple[str, ...], Row | None]] = [{}]
        for nav, sub in trie.items():
            key = (*prefix, nav)
            target = self.nav_target(res, nav)
            members: list[Row | None] = [None] if row is None else list(self.follow(res, row, nav)[1])
            options = [{key: m, **inner} for m in (members or [None]) for inner in self._join_rows(target, m, key, sub)]
            combos = [{**a, **b} for a in combos for b in options]
        return combos

    def _join_chains(self, expr: Any, vars_: dict[str, Any], own: str | None) -> Iterable[tuple[str, ...]]:
        """(root, nav, ...) for each path of ``expr`` that navigates, up to its last navigation; not inside
        lambda bodies or ``$count`` filters, which are subqueries with their own joins."""
        if isinstance(expr, Path):
            segs = expr.segs
            root = ""
            if segs[0].name in vars_:
                root = "" if segs[0].name == own else segs[0].name
                segs = segs[1:]
            chain: list[str] = []
            for seg in segs[:-1]:
                if seg.lam is not None or seg.count or seg.key is not None:
                    break
                chain.append(seg.name)
            if chain:
                yield (root, *chain)
        elif isinstance(expr, (Bin, Call)):
            for arg in expr.args:
                yield from self._join_chains(arg, vars_, own)
        elif isinstance(expr, Not | In):
            yield from self._join_chains(expr.arg, vars_, own)

    def render(
        self, res: Resource, row: Row, opts: Options, name: str | None = None, scope: Scope | None = None
    ) -> dict[str, Any]:
        """One entity as v7 answers it: expanded navigations first, then the selected (or all) fields. A
        ``$select=nav/name`` is the joined row's column under the key ``name`` (raw: pinejs's output processing
        follows the base resource's fields, not the joined one's), read from ``scope``'s joins."""
        out: dict[str, Any] = {}
        uri = f"/v7/{name or res.name}(@id)?@id={row.get('id')}"
        for item in opts.expand:
            out[item.nav] = self.render_expand(res, row, item)
        expanded = set(out)
        names = opts.select if opts.select is not None else self.default_columns(res)
        for name in names:
            if "/" in name:
                key = name.rsplit("/", 1)[1]
                if key not in expanded:  # a second column of the same name overwrites the first, as in a JS row
                    value = self.eval_path(select_path(name).segs, scope or Scope(res.name, row, {}))
                    out[key] = (value[0] if value else None) if isinstance(value, Many) else value
                continue
            if name in expanded:
                continue
            out[name] = self.output_value(res, row, name)
        if self.full_metadata:  # pinejs adds it after the row's fields (odata-response.ts `process`)
            out["__metadata"] = {"uri": uri}
        return out

    def default_columns(self, res: Resource) -> list[str]:
        hidden = set() if self.caller.superuser else SECRETS.get(res.name, set())
        return [c for c in res.key_order if c not in hidden]

    def output_value(self, res: Resource, row: Row, name: str) -> Any:
        column = res.fk_column.get(name, name)
        value = self.store.value(res.name, row, column)
        if name in res.navigation and name not in res.many:
            if value is None:
                return None
            if self.full_metadata:
                return {"__id": value, "__deferred": {"uri": f"/v7/{res.navigation[name]}(@id)?@id={value}"}}
            return {"__id": value}
        return value

    def render_expand(self, res: Resource, row: Row, item: ExpandItem) -> Any:
        target, rows = self.follow(res, row, item.nav)
        if item.count:
            return self.count_matching(target.name, rows, item.options.filter, {})
        return [
            self.render(target, sc.row, item.options, scope=sc) for sc in self.apply_scoped(target, rows, item.options)
        ]

    # -- expressions ---------------------------------------------------------------------------------------
    def eval(self, expr: Any, scope: Scope) -> Any:
        if isinstance(expr, Lit):
            return expr.value
        if isinstance(expr, Alias):
            return self.alias(expr.name)
        if isinstance(expr, Path):
            return self.eval_path(expr.segs, scope)
        if isinstance(expr, Bin):
            return self.eval_bin(expr, scope)
        if isinstance(expr, Not):
            value = self.eval(expr.arg, scope)
            return None if value is None else not truthy(value)
        if isinstance(expr, In):
            value = self.eval(expr.arg, scope)
            candidates = [self.eval(v, scope) for v in expr.values]
            # every candidate is compared (no short cut): PostgreSQL reads each bound value, and a bad one fails
            if isinstance(value, Many):
                return any([sql_equals(v, c) is True for v in value for c in candidates])
            if value is None:
                return None
            # SQL IN: TRUE if one value is equal, else NULL if one is NULL (`2 IN (1, NULL)`), else FALSE; the
            # optimiser's NotIn for `not (… in …)` is its negation, so a NULL value makes it keep no row
            outcomes = [sql_equals(value, c) for c in candidates]
            if any(o is True for o in outcomes):
                return True
            return None if None in outcomes else False
        if isinstance(expr, Call):
            return call(expr.name, [self.eval(a, scope) for a in expr.args])
        raise ODataError(500)

    def eval_bin(self, expr: Bin, scope: Scope) -> Any:
        op = expr.op
        if op in ("and", "or"):
            result: Any = op == "and"
            for arg in expr.args:
                value = self.eval(arg, scope)
                value = any_true(value) if isinstance(value, Many) else value
                if value is None:
                    if result is not None and ((op == "and") == bool(result)):
                        result = None
                    continue
                value = truthy(value)
                if op == "and" and not value:
                    return False
                if op == "or" and value:
                    return True
            return result
        left = self.eval(expr.args[0], scope)
        right = self.eval(expr.args[1], scope)  # the server reads only the first two operands
        if op in ("add", "sub", "mul", "div", "mod"):
            return arithmetic(op, left, right)
        if isinstance(left, Many) or isinstance(right, Many):
            lefts = left if isinstance(left, Many) else [left]
            rights = right if isinstance(right, Many) else [right]
            return any(compare(op, a, b) is True for a in lefts for b in rights)
        return compare(op, left, right)

    def eval_path(self, segs: list[Seg], scope: Scope) -> Any:
        resource, row = scope.resource, scope.row
        index = 0
        root = ""
        if segs[0].name in scope.vars:
            resource, row = scope.vars[segs[0].name]
            index = 1
            if len(segs) == 1:
                return row.get("id")
            root = "" if segs[0].name == scope.own else segs[0].name
        res = self.model.resolve(resource)
        assert res is not None
        return self._walk(res, [row], segs[index:], scope, many=False, key=(root,))

    def _walk(
        self,
        res: Resource,
        rows: list[Row | None],
        segs: list[Seg],
        scope: Scope,
        many: bool,
        key: tuple[str, ...] | None = None,
    ) -> Any:
        """Follows ``segs`` from ``rows``. A navigation path is a LEFT JOIN in pinejs (odata-to-abstract-sql >= 8
        ``AddJoins`` -> ``joinResource``; the server runs 10.x), so a missing or unreadable to-one link is one NULL
        row (``None`` here): its fields are NULL, a lambda below it sees no members, a ``$count`` below it is 0,
        and the base row is kept. (The inner join of ``AddExtraFroms`` is odata-to-abstract-sql <= 7.)

        ``key`` is the path walked so far as a key of ``scope.joins``: a navigation the scope joined reads the
        one row of this combination (``scopes`` multiplies the base row over a collection's members, as SQL
        does). A path the scope did not join (a key segment) follows every row, a collection giving ``Many``
        values compared with "any member" semantics."""
        seg = segs[0]
        last = len(segs) == 1
        if seg.name in res.navigation and (not last or seg.lam is not None or seg.count):
            target = self.nav_target(res, seg.name)
            to_many = seg.name in res.many
            results: list[Any] = []
            joined_key = (*key, seg.name) if key is not None and seg.key is None else None
            joined = joined_key is not None and joined_key in scope.joins and seg.lam is None and not seg.count
            if joined:
                to_many = False  # this combination's one row
            for row in rows:
                if joined:
                    reached: list[Row | None] = [scope.joins[joined_key]]  # type: ignore[index]
                else:
                    reached = [] if row is None else list(self.follow(res, row, seg.name)[1])
                if seg.lam is not None:
                    results.append(self.lambda_(target, reached, seg.lam, scope))  # type: ignore[arg-type]
                elif seg.count:
                    results.append(
                        self.count_matching(
                            target.name,
                            reached,
                            seg.count_filter,  # type: ignore[arg-type]
                            scope.vars,
                        )
                    )
                else:
                    if not reached and not to_many:
                        reached = [None]  # the LEFT JOIN's NULL row
                    sub = self._walk(target, reached, segs[1:], scope, many or to_many, joined_key if joined else None)
                    if isinstance(sub, Many):
                        results.extend(sub)
                    else:
                        results.append(sub)
            if seg.lam is not None or seg.count:
                return results[0] if len(results) == 1 and not many else Many(results)
            if many or to_many or len(results) != 1:
                return Many(results)
            return results[0]
        # a field (or an FK used as a value) of the rows reached so far
        column = res.fk_column.get(seg.name, seg.name)
        values = [None if r is None else self.store.value(res.name, r, column) for r in rows]
        column_type = res.fields.get(column, "")
        if column_type.startswith("Date Time"):
            values = [Timestamp(v) if isinstance(v, str) else v for v in values]
        elif column_type.split(" | ")[0] in ("Text", "Short Text") or column_type.startswith("Enum: '"):
            values = [ColumnText(v) if isinstance(v, str) else v for v in values]
        if many or len(values) != 1:
            return Many(values)
        return values[0]

    def lambda_(self, target: Resource, rows: list[Row], lam: Lambda, scope: Scope) -> bool:
        outcomes = (
            self.eval(lam.body, sc)
            for r in rows
            for sc in self.scopes(target.name, r, [lam.body], {**scope.vars, lam.var: (target.name, r)}, lam.var)
        )
        if lam.kind == "any":  # EXISTS(SELECT … WHERE body): a NULL body does not satisfy it
            return any(truthy(o) if o is not None else False for o in outcomes)
        # NOT EXISTS(SELECT … WHERE NOT body): only a FALSE body fails all(); NOT NULL is NULL, which selects nothing
        return not any(o is not None and not truthy(o) for o in outcomes)


def select_path(name: str) -> Path:
    return Path([Seg(n) for n in name.split("/")])


def join_exprs(opts: Options) -> list[Any]:
    """The expressions whose navigation paths one query LEFT JOINs, in pinejs's order: $select, $filter,
    $orderby."""
    selected = [select_path(n) for n in opts.select or [] if "/" in n]
    return selected + ([opts.filter] if opts.filter is not None else []) + [e for e, _ in opts.orderby]


# -- PostgreSQL-like value semantics ------------------------------------------------------------------------
def truthy(value: Any) -> bool:
    if isinstance(value, Many):
        return any_true(value)
    return bool(value)


def any_true(values: Many) -> bool:
    return any(v is True for v in values)


def _key_value(column_type: str, value: Any) -> Any:
    """A key value as PostgreSQL reads pinejs's untyped bind parameter ``"t"."col" = $1``: in the column's type.

    node-postgres sends a number as its text, so ``device(uuid=1)`` looks for the uuid ``'1'`` (no error); a text
    key on an integer column must read as an integer (``device('5')`` is device 5) or the database fails: 500
    (``invalid input syntax for type integer``, a ``DatabaseError``, pinejs ``convertToHttpError``)."""
    text_column = column_type.split(" | ")[0] in ("Text", "Short Text") or column_type.startswith("Enum: '")
    if text_column and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ODataError(500) from None  # PostgreSQL: invalid input syntax for type integer
        return int(number) if number == number.to_integral_value() else number
    return value


def parse_datetime(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _pg_bool(value: Any) -> Any:
    """A value compared with a boolean, read as PostgreSQL's ``boolin`` reads the untyped bind's text (node-postgres
    sends ``1`` as ``'1'``, ``true`` as ``'true'``): ``t``/``true``/``y``/``yes``/``on``/``1`` and their negations,
    unique prefixes allowed; anything else is ``invalid input syntax for type boolean``, a ``DatabaseError``
    (500). The other way round, ``true`` bound against an integer column fails the same way, unless the integer
    is 0 or 1 (the simulator cannot tell the column from the literal)."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower() if not isinstance(value, float) or not value.is_integer() else str(int(value))
    if text in ("1", "0"):
        return text == "1"
    for word, meaning in (("true", True), ("false", False), ("yes", True), ("no", False)):
        if text and word.startswith(text):
            return meaning
    if text in ("on", "off", "of"):
        return text == "on"
    raise ODataError(500)


class Timestamp(str):
    """A Date Time column's value (its stored ISO text) read by a filter: compared with a text literal, the
    literal is read as PostgreSQL reads an untyped parameter in a ``timestamptz`` comparison."""


class ColumnText(str):
    """A Text column's value read by a filter: a number compared with it is bound as its text (node-postgres
    sends ``1`` as ``'1'``, PostgreSQL reads the parameter as text), so ``device_name eq 1`` matches nothing and
    is no error (a text literal against an integer column is: ``invalid input syntax for type integer``)."""


def _number_text(value: int | float | Decimal) -> str:
    """JavaScript's ``String(n)`` for the numbers a literal can be (``1``, ``1.5``; integral floats lose ``.0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


PG_SPECIAL_TIMES = ("now", "today", "tomorrow", "yesterday", "epoch", "infinity", "-infinity", "allballs")


def _pg_timestamp(text: str) -> datetime | str:
    """The literal as ``timestamptz`` input: ISO forms with ``T`` or a space, with or without a zone (none: the
    server's UTC); ``now``/``today``/... as PostgreSQL's special values. Text without a digit that is none of those
    is ``invalid input syntax for type timestamp with time zone``: a ``DatabaseError``, 500. Other text PostgreSQL
    might read (``Jan 5 2026``) is left as text, compared as before."""
    value = text.strip()
    lowered = value.lower()
    if lowered in PG_SPECIAL_TIMES:
        now = datetime.now(UTC)
        if lowered in ("infinity", "-infinity"):
            return datetime.max.replace(tzinfo=UTC) if lowered == "infinity" else datetime.min.replace(tzinfo=UTC)
        if lowered == "epoch":
            return datetime(1970, 1, 1, tzinfo=UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        shifts = {
            "today": midnight,
            "tomorrow": midnight + timedelta(days=1),
            "yesterday": midnight - timedelta(days=1),
        }
        return shifts.get(lowered, now)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        if not any(ch.isdigit() for ch in value):
            raise ODataError(500) from None
        return text
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Cast the two sides of a comparison to a common type, as PostgreSQL casts an untyped literal."""
    if isinstance(a, ColumnText) and isinstance(b, (int, float, Decimal)) and not isinstance(b, bool):
        return a, _number_text(b)
    if isinstance(b, ColumnText) and isinstance(a, (int, float, Decimal)) and not isinstance(a, bool):
        return _number_text(a), b
    if isinstance(a, Timestamp) or isinstance(b, Timestamp):
        left = _pg_timestamp(a) if isinstance(a, str) else a
        right = _pg_timestamp(b) if isinstance(b, str) else b
        if is_moment(left) and is_moment(right):
            return left, right
    if isinstance(a, bool) or isinstance(b, bool):
        return _pg_bool(a), _pg_bool(b)
    if isinstance(a, (int, float, Decimal)) and isinstance(b, str):
        return a, _number(b)
    if isinstance(b, (int, float, Decimal)) and isinstance(a, str):
        return _number(a), b
    if is_moment(a) and isinstance(b, str):
        return a, parse_datetime(b)
    if is_moment(b) and isinstance(a, str):
        return parse_datetime(a), b
    return a, b


def sql_equals(a: Any, b: Any) -> bool | None:
    """SQL ``=`` (as in ``IN``): NULL when a side is NULL (``eq`` is ``IS NOT DISTINCT FROM``, see ``compare``)."""
    if a is None or b is None:
        return None
    a, b = _align(a, b)
    return bool(a == b)


def compare(op: str, a: Any, b: Any) -> Any:
    """``eq``/``ne`` as pinejs compiles them (never NULL); ordering comparisons NULL on a NULL side."""
    if op == "eq":
        if b is None:
            return a is None
        if a is None:
            return False
        a, b = _align(a, b)
        return a == b
    if op == "ne":
        return not compare("eq", a, b)
    if a is None or b is None:
        return None
    a, b = _align(a, b)
    try:
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        if op == "le":
            return a <= b
    except TypeError:
        raise ODataError(500) from None
    raise ODataError(500)


def sort_key(value: Any, direction: str) -> tuple:
    if isinstance(value, Many):
        value = value[0] if value else None
    if isinstance(value, (dict, list)):
        value = str(value)
    if isinstance(value, Decimal):
        value = float(value)
    return (value is None, 0 if value is None else value)


def arithmetic(op: str, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if op == "mod":
        raise ODataError(500)  # odata-to-abstract-sql has no 'mod'
    if isinstance(b, timedelta) and (is_moment(a) or isinstance(a, str)):
        moment = a if is_moment(a) else parse_datetime(a)
        if moment is None:
            raise ODataError(500)
        moved = shift(moment, b if op == "add" else -b)
        if not in_postgres_range(moved):
            raise ODataError(500)  # PostgreSQL: timestamp out of range
        return moved
    a, b = _number(a), _number(b)
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if b == 0:
        raise ODataError(500)
    return Decimal(a) / Decimal(b)


def _as_moment(value: Any) -> datetime | FarMoment:
    moment = value if is_moment(value) else parse_datetime(str(value))
    if moment is None:
        raise ODataError(500)
    return moment


def _date_part(value: Any, part: str) -> Any:
    if value is None:
        return None
    moment, years = calendar(_as_moment(value))
    if part == "fractionalseconds":
        return moment.microsecond / 1_000_000
    if part == "year":
        year = moment.year + years
        return year if year > 0 else year - 1  # EXTRACT(YEAR ...): there is no year 0, 1 BC is -1
    return getattr(moment, part)


def _day_text(value: datetime | FarMoment) -> str:
    moment, years = calendar(value)
    year = moment.year + years
    return f"{year:04d}-{moment.month:02d}-{moment.day:02d}" if 0 < year <= 9999 else f"{year:+07d}{moment:-%m-%d}"


def _text(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any) -> Any:
        if any(a is None for a in args):
            return None
        return fn(*args)

    return wrapped


def _substring(s: str, start: int, length: Any) -> str:
    """PostgreSQL ``SUBSTRING(s FROM start + 1 [FOR length])``: positions before the first character
    count (``substring('idle', -2, 3)`` is ``'i'``), a negative length is an error (500)."""
    first = start + 1
    if length is None:
        return s[max(first - 1, 0) :]
    if int(length) < 0:
        raise ODataError(500)
    return s[max(first - 1, 0) : max(first - 1 + int(length), 0)]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": _text(lambda s, sub: str(sub) in str(s)),
    "substringof": _text(lambda sub, s: str(sub) in str(s)),
    "startswith": _text(lambda s, p: str(s).startswith(str(p))),
    "endswith": _text(lambda s, p: str(s).endswith(str(p))),
    "indexof": _text(lambda s, sub: str(s).find(str(sub))),
    "length": _text(lambda s: len(str(s))),
    "substring": _text(lambda s, start, length=None: _substring(str(s), int(start), length)),
    "tolower": _text(lambda s: str(s).lower()),
    "toupper": _text(lambda s: str(s).upper()),
    "trim": _text(lambda s: str(s).strip(" ")),
    "concat": _text(lambda a, b: f"{a}{b}"),
    "replace": _text(lambda s, old, new: str(s).replace(str(old), str(new)) if str(old) else str(s)),
    "round": _text(lambda n: int(Decimal(str(n)).quantize(Decimal(1), rounding="ROUND_HALF_UP"))),
    "floor": _text(lambda n: math.floor(n)),
    "ceiling": _text(lambda n: math.ceil(n)),
    "now": lambda: datetime.now(UTC),
    "totalseconds": _text(lambda d: d.total_seconds()),
    "date": _text(lambda v: _day_text(_as_moment(v))),
    "time": _text(lambda v: calendar(_as_moment(v))[0].time().isoformat()),
}
for _part in ("year", "month", "day", "hour", "minute", "second", "fractionalseconds"):
    FUNCTIONS[_part] = (lambda p: lambda v: _date_part(v, p))(_part)


def call(name: str, args: list[Any]) -> Any:
    fn = FUNCTIONS.get(name)
    if fn is None:
        raise ODataError(500)  # parsed, but the translator has no node for it
    # a function over a collection path reads its first value (pinejs would join; clients never send this)
    args = [(a[0] if a else None) if isinstance(a, Many) else a for a in args]
    return fn(*args)
