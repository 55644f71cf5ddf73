"""Editing the tree: renames touch only their bytes; new nodes serialize canonically and the real parser
reads every edited URL as meant (precedence-aware parentheses, literal escaping)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from odata_server_tree import expression_to_server, resolve_binds, to_server_tree

from proxy.odata import (
    BinOp,
    ExpandOption,
    FilterOption,
    Group,
    Literal,
    Name,
    ODataSyntaxError,
    OrderByOption,
    Path,
    SelectOption,
    TopOption,
    and_filter,
    iter_nodes,
    parse_expression,
    parse_target,
    replace_expr,
)


def server_filter(oracle, url: str):
    verdict = oracle.parse(url)
    assert verdict["accepted"], url
    return resolve_binds(verdict["parse"])["options"]["$filter"]


def test_rename_changes_only_that_name() -> None:
    target = "/device?$filter=(a%20eq%201)and(b+eq+%27x%27)&$orderby=a,b%20asc&$select=a"
    url = parse_target(target)
    a_in_filter = url.query.filter.expr.operands[0].inner.operands[0].segments[0].name  # type: ignore[union-attr]
    a_in_filter.rename("alpha")
    assert url.serialize() == "/device?$filter=(alpha%20eq%201)and(b+eq+%27x%27)&$orderby=a,b%20asc&$select=a"


def test_invalid_new_names_are_refused() -> None:
    name = Name("a")
    for bad in ("", "a b", "a/b", "a%20", "a(1)", "a,b", "$x"):
        with pytest.raises(ValueError):
            name.rename(bad)
    assert not Name("nullable").safe_in_filter and not Name("1a").safe_in_filter
    assert Name("not_x").safe_in_filter


def test_parse_expression_gives_canonical_new_nodes() -> None:
    expr = parse_expression("is_final eq true and name eq 'a b/c' and  x in ('a', 'b')")
    assert expr.serialize() == ("is_final%20eq%20true%20and%20name%20eq%20'a%20b%2Fc'%20and%20x%20in%20('a','b')")
    with pytest.raises(ODataSyntaxError):
        parse_expression("a eq")


OLD = [
    "a eq 1",
    "a eq 1 or b eq 2",
    "a eq 1 and b eq 2",
    "(a eq 1)",
    "not(a)",
    "a in (1,2)",
    "x/any(y:y eq 1)",
    "a eq 1 or b eq 2 and c eq 3",
]
EXTRA = ["c eq 3", "c eq 3 or d eq 4", "c eq 3 and d eq 4", "c", "not c", "c add 1 eq 2"]


@pytest.mark.parametrize("old", OLD)
@pytest.mark.parametrize("extra", EXTRA)
def test_and_filter_keeps_both_meanings(odata_oracle, old: str, extra: str) -> None:
    url = parse_target("/device?$filter=" + old.replace(" ", "%20") + "&$top=1")
    url.query.and_filter(parse_expression(extra))  # type: ignore[union-attr]
    out = url.serialize()
    assert old.replace(" ", "%20") in out and out.endswith("&$top=1")
    old_tree = server_filter(odata_oracle, "/x?$filter=(" + old + ")")
    extra_tree = server_filter(odata_oracle, "/x?$filter=(" + extra + ")")
    expected = (old_tree if isinstance(old_tree, list) and old_tree[0] == "and" else ["and", old_tree]) + [extra_tree]
    assert server_filter(odata_oracle, out) == expected


def test_and_filter_adds_a_filter_when_there_is_none() -> None:
    url = parse_target("/device?$select=id")
    url.query.and_filter(parse_expression("is_online eq true"))  # type: ignore[union-attr]
    assert url.serialize() == "/device?$select=id&$filter=is_online%20eq%20true"
    assert and_filter(None, Literal.boolean(True)).serialize() == "true"


def test_replace_a_comparison_with_an_or_adds_parentheses(odata_oracle) -> None:
    url = parse_target("/device?$filter=x%20eq%201%20and%20overall_status%20eq%20'idle'")
    chain = url.query.filter.expr  # type: ignore[union-attr]
    assert isinstance(chain, BinOp) and chain.op == "and"
    inserted = replace_expr(chain, chain.operands[1], parse_expression("status eq 'a' or status eq 'b'"))
    assert isinstance(inserted, Group)
    out = url.serialize()
    assert out == "/device?$filter=x%20eq%201%20and%20(status%20eq%20'a'%20or%20status%20eq%20'b')"
    assert server_filter(odata_oracle, out) == [
        "and",
        ["eq", {"name": "x"}, {"$bind": ["Real", 1.0]}],
        [
            "or",
            ["eq", {"name": "status"}, {"$bind": ["Text", "a"]}],
            ["eq", {"name": "status"}, {"$bind": ["Text", "b"]}],
        ],
    ]


@pytest.mark.parametrize(
    "text, old, new, expected",
    [
        ("a add b eq 1", "b", "c sub d", "a%20add%20(c%20sub%20d)%20eq%201"),
        ("a sub b", "a", "c add d", "c%20add%20d%20sub%20b"),  # sub binds looser than add: no parentheses
        ("a add b", "a", "c sub d", "(c%20sub%20d)%20add%20b"),
        ("not a", "a", "b eq 1", "not%20(b%20eq%201)"),
        ("a in (1)", "a", "b add 1", "(b%20add%201)%20in%20(1)"),
        ("contains(a,'x')", "a", "b or c", "contains(b%20or%20c,'x')"),
    ],
)
def test_replace_expr_parenthesises_by_pinejs_precedence(odata_oracle, text, old, new, expected) -> None:
    expr = parse_expression(text)
    target = next(n for n in iter_nodes(expr) if isinstance(n, Path) and n.names == [old])
    parent = next(n for n in iter_nodes(expr) if target in list(n.children()))
    replacement = parse_expression(new)
    replace_expr(parent, target, replacement)
    assert expr.serialize() == expected
    # the server reads it as our tree (whose structure is the intended one)
    verdict = odata_oracle.parse_expression(expected)
    assert verdict["accepted"]
    assert resolve_binds(verdict["parse"]) == resolve_binds(expression_to_server(expr))
    assert resolve_binds(expression_to_server(parse_expression(new))) in _subtrees(resolve_binds(verdict["parse"]))


def _subtrees(tree):
    yield tree
    if isinstance(tree, list):
        for item in tree:
            yield from _subtrees(item)
    elif isinstance(tree, dict):
        for item in tree.values():
            yield from _subtrees(item)


@pytest.mark.parametrize(
    "literal, kind, value",
    [
        (Literal.text("O'Brien & co/100% #1 +x é"), "Text", "O'Brien & co/100% #1 +x é"),
        (Literal.text(""), "Text", ""),
        (Literal.text_("it's"), "Text", "it's"),
        (Literal.number(1), "Real", 1.0),
        (Literal.number(-2.5), "Real", -2.5),
        (Literal.number(0.0000001), "Real", 0.0000001),
        (Literal.boolean(False), "Boolean", False),
        (Literal.datetime(datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)), "Date Time", 1704164645678.0),
        (Literal.date(date(2024, 1, 1)), "Date", 1704067200000.0),
    ],
)
def test_new_literals_are_read_back_as_their_value(odata_oracle, literal, kind, value) -> None:
    tree = server_filter(odata_oracle, "/x?$filter=a%20eq%20" + literal.serialize())
    assert tree == ["eq", {"name": "a"}, {"$bind": [kind, value]}]


def test_null_and_duration_literals(odata_oracle) -> None:
    assert server_filter(odata_oracle, "/x?$filter=a%20eq%20" + Literal.null().serialize()) == [
        "eq",
        {"name": "a"},
        None,
    ]
    duration = Literal.duration(negative=True, day=1, hour=2, second=1.5)
    assert duration.serialize() == "duration'-P1DT2H1.5S'"
    assert server_filter(odata_oracle, "/x?$filter=a%20lt%20" + duration.serialize())[2] == {
        "negative": True,
        "day": 1.0,
        "hour": 2.0,
        "second": 1.5,
    }
    with pytest.raises(ValueError):
        Literal.number(float("inf"))


def test_select_expand_orderby_editing() -> None:
    url = parse_target("/device?$select=id,uuid&$expand=a($select=x),b&$orderby=id,name%20asc&$top=5")
    query = url.query
    assert query is not None
    select = query.select
    assert isinstance(select, SelectOption)
    select.add("device_name")
    select.remove(select.items[1])
    expand = query.expand
    assert isinstance(expand, ExpandOption)
    expand.remove(expand.items[0])
    orderby = query.orderby
    assert isinstance(orderby, OrderByOption)
    assert [i.direction for i in orderby.items] == [None, "asc"]
    assert [i.effective_direction for i in orderby.items] == ["desc", "asc"]
    orderby.items[1].path.segments[0].name.rename("device_name")
    orderby.remove(orderby.items[0])
    assert url.serialize() == "/device?$select=id,device_name&$expand=b&$orderby=device_name%20asc&$top=5"
    query.remove(query.get("$top"))  # type: ignore[arg-type]
    query.remove(orderby)
    assert url.serialize() == "/device?$select=id,device_name&$expand=b"


def test_nested_options_get_semicolons_and_new_options_are_canonical(odata_oracle) -> None:
    url = parse_target("/application?$expand=owns__device($select=id)")
    item = url.query.expand.items[0]  # type: ignore[union-attr]
    nested = item.ensure_options()
    nested.add(FilterOption(parse_expression("is_online eq true")))
    nested.add(TopOption(3))
    url.query.add(SelectOption([Path.of("id"), Path.of("app_name")]))  # type: ignore[union-attr]
    out = url.serialize()
    assert out == (
        "/application?$expand=owns__device($select=id;$filter=is_online%20eq%20true;$top=3)&$select=id,app_name"
    )
    verdict = odata_oracle.parse(out)
    assert verdict["accepted"]
    assert resolve_binds(verdict["parse"]) == resolve_binds(to_server_tree(url))


def test_server_view_of_an_expression_follows_pinejs_precedence() -> None:
    expr = parse_expression("a eq 1 or b eq 2 and (c or d) or e")
    assert resolve_binds(expression_to_server(expr)) == [
        "or",
        [
            "and",
            ["or", ["eq", {"name": "a"}, {"$bind": ["Real", 1.0]}], ["eq", {"name": "b"}, {"$bind": ["Real", 2.0]}]],
            ["or", {"name": "c"}, {"name": "d"}],
        ],
        {"name": "e"},
    ]
    assert resolve_binds(expression_to_server(parse_expression("(a or b) or c"))) == [
        "or",
        {"name": "a"},
        {"name": "b"},
        {"name": "c"},
    ]


def test_calls_are_arity_checked() -> None:
    from proxy.odata import Call

    assert Call("contains", [Path.of("a"), Literal.text("x")]).serialize() == "contains(a,'x')"
    for name, args in (("contains", [Path.of("a")]), ("nosuch", []), ("now", [Path.of("a")])):
        with pytest.raises(ValueError):
            Call(name, args)


def test_url_views() -> None:
    url = parse_target("/device(1)/belongs_to__application?$select=id")
    assert [s.name.text for s in url.segments] == ["device", "belongs_to__application"]
    assert url.resource == "device" and url.query is not None and url.query.select is not None
    bare = parse_target("/device")
    assert bare.query is None
    bare.ensure_query().add(TopOption(1))
    assert bare.serialize() == "/device?$top=1"
    assert parse_target("/").kind == "serviceroot" and parse_target("/$metadata").kind == "metadata"


def test_last_duplicate_option_is_the_effective_one() -> None:
    url = parse_target("/device?$filter=a%20eq%201&$filter=b%20eq%202")
    assert url.query.filter.expr.serialize() == "b%20eq%202"  # type: ignore[union-attr]
    assert len(url.query.all("$filter")) == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "target",
    [
        "/device?$filter=name%20eq%20'%E9'",  # a lone Latin-1 byte: the server's URIError (500)
        "/device?$filter=name%20eq%20'100%'",
        "/device?x=%zz",
    ],
)
def test_bad_percent_escapes_are_syntax_errors(odata_oracle, target: str) -> None:
    assert odata_oracle.parse(target)["kind"] == "URIError"
    with pytest.raises(ODataSyntaxError):
        parse_target(target)


def test_syntax_errors_say_where_parsing_stopped() -> None:
    with pytest.raises(ODataSyntaxError) as info:
        parse_target("/device?$filter=a%20eq%201&$orderby=a, b")
    assert info.value.position == len("/device?$filter=a%20eq%201&$orderby=a")
    assert "unexpected ','" in str(info.value)
