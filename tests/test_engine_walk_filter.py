"""The $filter walker on its own (proxy.engine.walk_filter): v6 conditions in, v7 conditions out, with the
built-in translators' schema. The end-to-end tests (tests/test_v6_*.py) check the same through the proxy."""

from __future__ import annotations

import pytest

from proxy.engine import build_schema
from proxy.engine.walk import Walk
from proxy.engine.walk_context import WalkError
from proxy.odata import parse_expression

SCHEMA = build_schema("open-balena")


def walk(resource: str, text: str, *, every: bool = False) -> tuple[str, list[str]]:
    """The v7 condition (decoded) and the features the walk recorded."""
    w = Walk(SCHEMA)
    out = w.filters.walk_expr(parse_expression(text), SCHEMA.resources[resource], {}, every=every)
    return out.serialize().replace("%20", " "), w.ctx.features


@pytest.mark.parametrize(
    "resource, v6, v7",
    [
        # renamed navigations, in paths and lambdas
        ("device", "should_be_running__release/id eq 1", "is_pinned_on__release/id eq 1"),
        ("device", "should_be_running__release/any(r:r/id eq 1)", "is_pinned_on__release/any(r:r/id eq 1)"),
        # a removed field reads as NULL: eq null is TRUE, an ordering against NULL is NULL (no row)
        ("device", "logs_channel eq null", "true"),
        ("device", "logs_channel ne null", "false"),
        # SQL three-valued logic: NULL or E keeps E's rows and is never FALSE, so not(NULL or E) keeps none,
        # while not(NULL and E) keeps the rows where E is FALSE
        ("device", "vpn_address gt 'a' or id eq 1", "id eq 1"),
        ("device", "not (vpn_address gt 'a' or id eq 1)", "false"),
        ("device", "not (vpn_address gt 'a' and id eq 1)", "not(id eq 1)"),
        # derived values: eq/ne through the translator's text, other uses once per declared case
        ("release", "release_type eq 'final'", "(is_final eq true)"),
        ("release", "release_type ne 'draft'", "not(is_final eq false)"),
        ("release", "startswith(release_type,'fi')", "is_final eq true"),
        ("release", "release_type gt 'e'", "is_final eq true"),
        # always-empty navigations: any() is FALSE, all() is TRUE, without asking upstream
        ("device", "manages__device/any(d:d/id eq 1)", "false"),
        ("device", "manages__device/all(d:d/id eq 1)", "true"),
        # a constant inside a lambda body folds there
        ("application", "owns__device/any(d:d/logs_channel eq null)", "owns__device/any(d:true)"),
    ],
)
def test_v6_conditions_become_the_v7_conditions_that_keep_the_same_rows(resource, v6, v7):
    assert walk(resource, v6)[0] == v7


def test_all_fails_a_member_only_where_the_body_is_false():
    # pinejs: all(v:E) is NOT EXISTS(... WHERE NOT E); a NULL body never fails a member
    assert walk("device", "vpn_address gt 'a'", every=True)[0] == "true"
    assert walk("device", "vpn_address gt 'a'")[0] == "false"


def test_the_walk_records_what_it_translated():
    assert walk("release", "release_type eq 'final'")[1] == ["release.release_type.filter"]
    assert walk("release", "startswith(release_type,'fi')")[1] == ["release.release_type.filter_cases"]
    assert walk("device", "logs_channel eq null")[1] == ["device.logs_channel.filter_constant"]


@pytest.mark.parametrize(
    "resource, v6, message",
    [
        ("device", "no_such_field eq 1", r"Unknown field 'no_such_field' on 'device' in \$filter"),
        ("device", "manages__device eq 1", "manages__device is a navigation and cannot be used as a value"),
    ],
)
def test_what_has_no_v7_spelling_is_a_clear_400(resource, v6, message):
    with pytest.raises(WalkError, match=message) as raised:
        walk(resource, v6)
    assert raised.value.status == 400


def test_a_derived_value_without_cases_compares_only_by_eq_ne_in():
    schema = build_schema("balena-cloud")
    view = schema.resources["supervisor_release"]
    assert Walk(schema).filters.walk_expr(parse_expression("supervisor_version eq 'v1.2'"), view, {}).serialize() == (
        "(raw_version%20eq%20'1.2')"
    )
    with pytest.raises(WalkError, match="supervisor_version cannot be used with gt") as raised:
        Walk(schema).filters.walk_expr(parse_expression("supervisor_version gt 'v1'"), view, {})
    assert raised.value.status == 400


def test_a_view_restricts_the_members_a_lambda_sees():
    schema = build_schema("balena-cloud")
    w = Walk(schema)
    out = w.filters.walk_expr(
        parse_expression("should_be_managed_by__supervisor_release/any(s:s/id eq 1)"), schema.resources["device"], {}
    )
    text = out.serialize().replace("%20", " ")
    assert text.startswith("should_be_managed_by__release/any(s:s/id eq 1 and (s/status eq 'success' and ")
    assert "s/belongs_to__application/any(a:startswith(a/slug," in text  # the view's text under the variable
    assert "supervisor_release.extra_filter" in w.ctx.features
