"""The $select/$expand walker on its own (proxy.engine.walk_select): the v7 $select/$expand and the response ops
that turn v7 objects back into v6 ones."""

from __future__ import annotations

from proxy.engine import build_schema
from proxy.engine.plan import CHILD, CONST, COPY, DERIVE, UNWRAP, ObjectPlan
from proxy.engine.walk import Walk
from proxy.odata import parse_target

SCHEMA = build_schema("open-balena")
DEVICE = SCHEMA.resources["device"]


def test_selected_names_become_v7_names_and_ops():
    w = Walk(SCHEMA)
    options = parse_target("/device?$select=id,should_be_running__release,actor,logs_channel,overall_status,nope").query
    assert options is not None and options.select is not None
    helpers: set[str] = set()
    ops = [w.selects.walk_select_item(p, DEVICE, options.select, helpers) for p in list(options.select.items)]
    kinds = [(op.key, op.kind, op.src) for op in ops if op is not None]
    assert kinds == [
        ("id", COPY, "id"),
        ("should_be_running__release", COPY, "is_pinned_on__release"),
        ("actor", UNWRAP, "actor"),
        ("logs_channel", CONST, None),  # answered by the proxy: not asked upstream
        ("overall_status", DERIVE, None),
    ]
    assert options.serialize() == "$select=id,is_pinned_on__release,actor"
    assert {"overall_status", "download_progress", "status"} <= helpers  # the derived value's helper fields
    assert [(u.name, u.option) for u in w.ctx.unknown] == [("nope", "$select")]  # dropped (decision 1)


def test_an_expanded_navigation_gets_a_child_plan_and_an_always_empty_one_is_answered_locally():
    w = Walk(SCHEMA)
    options = parse_target("/device?$expand=should_be_running__release($select=id,release_type),manages__device").query
    assert options is not None and options.expand is not None
    expand = options.expand
    ops = [w.selects.walk_expand_item(item, DEVICE, expand) for item in list(expand.items)]
    child, empty = ops
    assert child is not None and child.kind == CHILD and child.src == "is_pinned_on__release"
    assert isinstance(child.arg, ObjectPlan) and [op.key for op in child.arg.ops] == ["id", "release_type"]
    assert empty is not None and (empty.kind, empty.arg) == (CONST, [])
    assert options.serialize() == "$expand=is_pinned_on__release($select=id,is_final)"


def test_a_tail_path_in_expand_is_walked_as_the_nested_expand_it_means():
    w = Walk(SCHEMA)
    options = parse_target("/device?$expand=should_be_running__release/belongs_to__application").query
    assert options is not None and options.expand is not None
    expand = options.expand
    w.selects.walk_expand_item(expand.items[0], DEVICE, expand)
    assert options.serialize() == "$expand=is_pinned_on__release($expand=belongs_to__application)"


def test_without_select_every_v6_name_is_listed_in_v6_key_order():
    w = Walk(SCHEMA)
    plan = ObjectPlan(resource="release", v7_resource="release")
    release = SCHEMA.resources["release"]
    w.selects.full_ops(release, plan)
    assert [op.key for op in plan.ops] == release.key_order
    assert plan.open_ended
