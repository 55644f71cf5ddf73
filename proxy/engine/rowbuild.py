"""Row builders: an object plan compiled, for one shape of upstream row, into one function that builds
the v6 row in a few C-level steps.

Rows of one answer nearly always share their keys, so which ops write a key, which upstream keys are
dropped and where open-ended extras go is decided once per shape, not once per row and field. The v6
row starts as a copy of a template dict holding the v6 keys in v6 order (constants already in place),
then the upstream row is merged into it (keys it shares with the template land in their v6 place), the
upstream keys v6 does not show are deleted, and only the values that differ are set one by one
(renames, unwrapped references, derived values, expanded children). A builder first checks that a row
has the shape it was built for (its length, the template keys the row must not have, and the key order
where extras are placed by it) and hands any other row to the interpreting applier, which stays the
definition of what a plan means: a builder must produce exactly what it would.

Example: for ``{"a": 1, "b": {"__id": 7}, "z": "x"}`` under the plan "copy a, unwrap b, constant k"
(z is dropped) the generated function is::

    def build(row):
        if len(row) != 3 or 'k' in row:
            return _other(row)
        out = _template.copy()   # {'a': None, 'b': None, 'k': <constant>, 'z': None}
        out.update(row)
        if len(out) != 4:
            return _other(row)
        del out['z']
        out['b'] = _unwrap(row['b'])
        return out
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy.engine.plan import CHILD, COERCE, CONST, COPY, DERIVE, PATH, UNWRAP, ObjectPlan, Op

RowBuilder = Callable[[dict[str, Any]], Any]
MAX_SHAPES = 16  # builders kept per plan (keyed by row length); other shapes are interpreted


def unwrap(value: Any) -> Any:
    """``{"__id": n}`` → n; anything else unchanged."""
    return value["__id"] if value.__class__ is dict and "__id" in value else value


def needs_interpreter(plan: ObjectPlan, row: dict[str, Any]) -> bool:
    """Shapes the builder does not handle: URIs to rewrite, or two ops writing one key."""
    return "__metadata" in row or len({op.key for op in plan.ops}) != len(plan.ops)


def compile_row(
    plan: ObjectPlan,
    row: dict[str, Any],
    other: RowBuilder,
    child_rows: Callable[[ObjectPlan, Any], Any],
    path_value: Callable[[Op, dict[str, Any]], Any],
) -> RowBuilder:
    """The builder for rows shaped like ``row`` (same keys; same order when extras are placed by it).

    ``other`` handles rows of another shape; ``child_rows(plan, value)`` applies a child plan to an
    expanded navigation's value; ``path_value(op, row)`` computes a ``PATH`` op.
    """
    scope: dict[str, Any] = {"_other": other, "_unwrap": unwrap, "_child_rows": child_rows, "_path_value": path_value}
    written, assign = _assignments(plan, row, scope)
    extras = [k for k in row if k not in plan.known] if plan.open_ended else []
    order = _with_extras(plan, row, list(written), extras) if extras else list(written)
    shown = set(order)
    dropped = [k for k in row if k not in shown]  # at the template's end, so the merge never grows the dict
    template = {k: written.get(k) for k in order}
    template.update(dict.fromkeys(dropped))
    scope["_template"] = template
    if extras:
        scope["_shape"] = tuple(row)
        guard = "tuple(row) != _shape"  # extras are placed by the order of the upstream keys
    else:
        # same length and none of the template keys the shape lacks: after a merge that added no key,
        # the row has exactly the shape's keys
        guard = " or ".join([f"len(row) != {len(row)}", *(f"{k!r} in row" for k in template if k not in row)])
    lines = [
        "def build(row):",
        f"    if {guard}:",
        "        return _other(row)",
        "    out = _template.copy()",
        "    out.update(row)",
    ]
    if not extras:
        lines += [f"    if len(out) != {len(template)}:", "        return _other(row)"]
    if dropped:
        lines.append("    del " + ", ".join(f"out[{k!r}]" for k in dropped))
    lines += [f"    out[{key!r}] = {expr}" for key, expr in assign.items()]
    lines.append("    return out")
    exec(compile("\n".join(lines), f"<row builder {plan.resource}>", "exec"), scope)
    builder: RowBuilder = scope["build"]
    return builder


def _assignments(plan: ObjectPlan, row: dict[str, Any], scope: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """For ``row``'s shape: every v6 key the plan writes with its template value (a constant, else None), in
    plan order, and the expression setting each key whose value is not the merged upstream one (the values
    it needs are put in ``scope``)."""
    written: dict[str, Any] = {}
    assign: dict[str, str] = {}
    for i, op in enumerate(plan.ops):
        src, key = op.src, op.key
        if op.kind == CONST:
            written[key] = op.arg
            if key in row:  # the merge brought the upstream's value: put the constant back
                scope[f"_v{i}"] = op.arg
                assign[key] = f"_v{i}"
        elif op.kind == DERIVE:
            scope[f"_f{i}"] = op.arg
            written[key], assign[key] = None, f"_f{i}(row)"
        elif op.kind == PATH:
            scope[f"_op{i}"] = op
            written[key], assign[key] = None, f"_path_value(_op{i}, row)"
        elif src is not None and src in row:
            get = f"row[{src!r}]"
            written[key] = None
            if op.kind == COPY and src != key:
                assign[key] = get
            elif op.kind == UNWRAP:
                assign[key] = f"_unwrap({get})"
            elif op.kind == COERCE:
                scope[f"_f{i}"] = op.arg
                assign[key] = f"_f{i}({get})"
            elif op.kind == CHILD:
                scope[f"_p{i}"] = op.arg
                assign[key] = f"_child_rows(_p{i}, {get})"
    return written, assign


def _with_extras(plan: ObjectPlan, row: dict[str, Any], written: list[str], extras: list[str]) -> list[str]:
    """The v6 key order with the keys the graph does not name kept after the known key that precedes them
    upstream (decision 11; the interpreter's ``_place_extra``), never replacing a key the plan writes."""
    extra_set = set(extras)
    after: dict[str | None, list[str]] = {}
    previous: str | None = None
    for k in row:
        if k in extra_set:
            if k != "__metadata" and k not in written:
                after.setdefault(previous, []).append(k)
        elif k in plan.key_of_src:
            previous = plan.key_of_src[k]
    order = list(after.get(None, []))
    for key in written:
        order.append(key)
        order.extend(after.get(key, []))
    return order
