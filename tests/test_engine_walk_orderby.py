"""The $orderby walker on its own (proxy.engine.walk_orderby): renamed keys, constants dropped, derived values
sorted by their v7 field or, when v7 has none, by the proxy itself (decision 2)."""

from __future__ import annotations

import pytest

from proxy.engine import build_schema
from proxy.engine.plan import ObjectPlan
from proxy.engine.walk import Walk
from proxy.engine.walk_context import WalkError
from proxy.odata import parse_target

SCHEMA = build_schema("open-balena")


def walk(resource: str, query: str, *, kind: str = "rows", method: str = "GET", top: bool = True):
    w = Walk(SCHEMA, max_local_sort_rows=100)
    w.ctx.kind, w.ctx.method = kind, method
    options = parse_target(f"/{resource}?{query}").query
    assert options is not None and options.orderby is not None
    info = SCHEMA.resources[resource]
    plan = ObjectPlan(resource=resource, v7_resource=info.v7)
    helpers: set[str] = set()
    w.orderbys.walk_orderby(options.orderby, options, info, plan, helpers, top=top)
    return options.serialize().replace("%20", " "), plan, helpers, w.ctx


def test_keys_are_renamed_and_constants_order_nothing():
    text, plan, _, ctx = walk("device", "$orderby=should_be_running__release/id desc,logs_channel asc")
    assert text == "$orderby=is_pinned_on__release/id desc"
    assert plan.sort == ()
    assert "device.logs_channel.orderby_constant" in ctx.features


def test_a_derived_value_with_a_v7_field_that_sorts_alike_is_sorted_upstream():
    text, plan, _, _ = walk("release", "$orderby=release_type desc")
    assert (text, plan.sort) == ("$orderby=is_final desc", ())


def test_a_derived_value_without_one_is_sorted_and_paged_by_the_proxy():
    text, plan, helpers, ctx = walk("device", "$orderby=overall_status asc,id desc&$top=5&$skip=2")
    assert text == "$top=101"  # one row more than the proxy sorts, to tell an overflow
    assert (plan.top, plan.skip, plan.local_limit) == (5, 2, 100)
    assert [(k.src, k.compute is not None, k.descending) for k in plan.sort] == [
        (None, True, False),
        ("id", False, True),
    ]
    assert {"overall_status", "status", "id"} <= helpers  # what the value is computed from is fetched
    assert ctx.local_sort_label == "overall_status"


def test_a_count_drops_an_ordering_the_proxy_would_do():
    text, plan, _, ctx = walk("device", "$orderby=overall_status", kind="count")
    assert (text, plan.sort) == ("", ())
    assert ctx.features == ["device.overall_status.orderby_dropped"]


def test_paging_by_a_local_order_where_the_proxy_cannot_is_a_400():
    with pytest.raises(WalkError, match="on a PATCH") as raised:
        walk("device", "$orderby=overall_status&$top=1", kind="raw", method="PATCH")
    assert raised.value.status == 400


def test_inside_expand_the_proxy_sorts_and_pages_per_parent():
    """Each parent's rows are sorted and paged by the applier (issue 12); v7 is asked for one row more per
    parent than the proxy may sort."""
    text, plan, _, ctx = walk("device", "$orderby=overall_status desc&$top=1&$skip=2", top=False)
    assert text == "$top=101"
    assert (plan.top, plan.skip, plan.local_limit) == (1, 2, 100)
    assert [(k.src, k.descending) for k in plan.sort] == [(None, True)]
    assert ctx.local_sort_label == "overall_status"


def test_without_select_a_key_before_the_local_one_names_every_field_the_answer_reads_and_the_path():
    """No $select: pinejs answers every field either way, so the walk names the fields the plain answer
    reads (and the helpers), adds the key's path (a join the $filter path shares), leaves out the link the client expands, and the plan still
    writes every v6 key with the joined column hidden."""
    from proxy.engine.walk import translate_target

    plain = translate_target(SCHEMA, "GET", "/device?$expand=belongs_to__application")
    target = (
        "/device?$expand=belongs_to__application($filter=id gt 1)&$filter=device_tag/tag_key ne 'a'"
        "&$orderby=device_tag/tag_key,overall_status"
    )
    tr = translate_target(SCHEMA, "GET", target)
    assert tr.v7_target is not None and tr.plan is not None and tr.plan.objects is not None
    select = next(p for p in tr.v7_target.split("&") if p.startswith("$select="))[len("$select=") :].split(",")
    assert select[-1] == "device_tag/tag_key"
    assert "belongs_to__application" not in select  # the expansion takes the name
    assert {"id", "status", "overall_status", "is_of__device_type"} <= set(select)
    assert plain.plan is not None and plain.plan.objects is not None
    assert [op.key for op in tr.plan.objects.ops] == [op.key for op in plain.plan.objects.ops]
    assert "tag_key" in tr.plan.objects.known and tr.plan.objects.open_ended
