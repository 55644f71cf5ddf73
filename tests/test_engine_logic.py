"""SQL's three-valued logic and constant comparison (proxy.engine.logic), as PostgreSQL evaluates what pinejs
compiles; the folding of expressions over literals is tested in test_engine_logic_fold.py."""

from __future__ import annotations

import itertools

import pytest

from proxy.engine import logic as L
from proxy.engine.logic import Cond, Known
from proxy.odata import Literal, parse_expression


@pytest.mark.parametrize(
    "value, op, literal, expected",
    [
        (None, "eq", Literal.null(), True),  # eq null is IS NULL
        (None, "ne", Literal.null(), False),
        (None, "eq", Literal.text("a"), False),  # x eq v is x IS NOT NULL AND x = v: FALSE, not NULL
        (None, "ne", Literal.text("a"), True),
        ("a", "eq", Literal.text("a"), True),
        (None, "gt", Literal.text("a"), None),  # an ordering against NULL is NULL
        ("b", "gt", Literal.text("a"), True),
        (1, "lt", Literal.text("a"), None),  # incomparable: left to SQL's NULL
    ],
)
def test_a_constant_compares_as_pinejs_compiles_it(value, op, literal, expected):
    assert L.compare_constant(value, op, literal) is expected


def test_known_values_combine_with_sql_and_or():
    assert L.known_logic("and", [True, None]) is None
    assert L.known_logic("and", [False, None]) is False
    assert L.known_logic("or", [True, None]) is True
    assert L.known_logic("or", [False, None]) is None


def test_joined_folds_constant_parts_and_keeps_the_rest():
    e = parse_expression("id eq 1")
    assert L.joined("and", [True, e]) is e
    assert L.joined("and", [False, e]) is False
    assert L.joined("or", [True, e]) is True
    assert L.joined("or", []) is False
    assert L.condition(L.joined("or", [e, parse_expression("id eq 2")])).serialize() == "id%20eq%201%20or%20id%20eq%202"


def test_null_next_to_a_condition_is_true_and_false_only_where_sql_says():
    e = parse_expression("id eq 1")
    # NULL or E: TRUE where E is TRUE, never FALSE
    either = L.cond(
        L.joined("or", [L.truth(Known(None)), L.truth(e)]), L.joined("and", [L.falsity(Known(None)), L.falsity(e)])
    )
    assert isinstance(either, Cond) and either.true is e and either.false is False
    assert L.cond(True, False) == Known(True) and L.cond(False, False) == Known(None)
    # where E is FALSE: not(E) (a NULL E stays NULL, so it is never read as FALSE)
    assert L.condition(L.falsity(e)).serialize() == "not(id%20eq%201)"


def test_literal_of_spells_python_values_as_odata():
    assert [L.literal_of(v).serialize() for v in (None, True, 3, "it's")] == ["null", "true", "3", "'it''s'"]


def test_known_logic_is_sqls_and_or_for_every_combination():
    """SQL's three-valued and/or is min/max over FALSE < NULL < TRUE: checked for every list of up to four
    values against that definition (known_logic and the folding share one implementation)."""
    rank = {False: 0, None: 1, True: 2}
    for size in range(1, 5):
        for values in itertools.product([True, False, None], repeat=size):
            lowest = min(values, key=rank.__getitem__)
            highest = max(values, key=rank.__getitem__)
            assert L.known_logic("and", list(values)) is lowest, values
            assert L.known_logic("or", list(values)) is highest, values
