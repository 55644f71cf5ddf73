"""Deciding view membership on an expanded row (proxy.engine.walk_views): what a restriction reads, and its
value under SQL's logic as the server computes it (a NULL condition keeps no row; ``any`` is EXISTS, ``all``
fails only where a related row's body is FALSE)."""

from __future__ import annotations

import pytest

from proxy.engine.walk_views import holds, restriction_reads
from proxy.odata import parse_expression

RESTRICTION = parse_expression(
    "state eq 'done' and level gt 0 and owner/any(o:startswith(o/slug,'sys/') and o/public eq true)"
)


def test_what_a_restriction_reads():
    reads = restriction_reads(RESTRICTION)
    assert reads is not None
    assert (reads.fields, reads.navs) == (("state", "level"), {"owner": ("slug", "public")})


@pytest.mark.parametrize(
    "text",
    ["a/b eq 1", "owner/$count gt 0", "owner/any(o:o/x/any(p:p/y eq 1))", "owner/any(o:o/x/y eq 1)"],
)
def test_a_restriction_reading_anything_else_is_not_evaluated(text):
    assert restriction_reads(parse_expression(text)) is None


def row(**changes):
    base = {"state": "done", "level": 2, "owner": [{"slug": "sys/x", "public": True}]}
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "inside"),
    [
        ({}, True),
        ({"state": "failed"}, False),
        ({"state": None}, False),  # NULL: not TRUE
        ({"level": 0}, False),
        ({"level": None}, False),
        ({"owner": []}, False),  # no related row: EXISTS is FALSE
        ({"owner": [{"slug": "app/x", "public": True}]}, False),
        ({"owner": [{"slug": None, "public": True}, {"slug": "sys/y", "public": True}]}, True),
    ],
)
def test_membership_follows_sql(changes, inside):
    assert holds(RESTRICTION, row(**changes)) is inside


def test_all_fails_only_where_a_body_is_false():
    expr = parse_expression("owner/all(o:o/public eq true) and not(state eq null)")
    assert holds(expr, row(owner=[])) is True
    assert holds(expr, row(owner=[{"public": None}])) is False  # eq true of NULL is FALSE, not NULL (pinejs)
    assert holds(expr, row(owner=[{"public": True}], state=None)) is False
    expr = parse_expression("owner/all(o:o/level gt 1)")
    assert holds(expr, row(owner=[{"level": None}])) is True  # NULL body: not FALSE
    assert holds(expr, row(owner=[{"level": 1}])) is False
