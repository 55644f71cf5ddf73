"""Translator text as nodes (proxy.engine.texts): declared text is parsed once and every use gets nodes of
its own, since the walk edits what it puts into a request."""

from __future__ import annotations

from proxy.engine import build_schema, texts
from proxy.engine.core import Engine
from proxy.odata import BinOp, parse_expression
from translators import HelperExpand


def test_every_use_of_declared_text_gets_its_own_nodes():
    text = "is_final eq true and semver_major gt 0"
    texts.learn([text])
    first = texts.expression(text)
    assert isinstance(first, BinOp)
    first.operands.pop()  # the walk edits nodes in place
    second = texts.expression(text)
    assert second.serialize() == parse_expression(text).serialize()
    assert first.serialize() != second.serialize()


def test_an_engine_learns_every_condition_its_translators_declare():
    schema = build_schema("balena-cloud")
    Engine(schema)
    declared = schema.declared_texts()
    assert "is_final eq true" in declared  # a filter value
    assert any("-supervisor" in t for t in declared)  # a view's extra_filter
    assert all(t in texts._parsed for t in declared)


def test_prefixed_text_reads_under_a_path_but_leaves_lambda_variables_alone():
    node = texts.prefixed("status eq 'ok' and owns__x/any(x:x/id eq 1)", ["d"], keep={"v"})
    assert node.serialize().replace("%20", " ") == "d/status eq 'ok' and d/owns__x/any(x:x/id eq 1)"
    assert texts.prefixed("v/id eq 1", ["d"], keep={"v"}).serialize() == "v/id%20eq%201"  # the client's variable


def test_helper_expansions_are_built_as_nodes():
    counted = HelperExpand(("nav",), count=True, count_where="status eq 'Downloading'")
    assert texts.helper_item("nav", counted).serialize() == "nav/$count($filter=status%20eq%20'Downloading')"
    rows = HelperExpand(("nav",), select=("a", "b"))
    assert texts.helper_item("nav", rows).serialize() == "nav($select=a,b)"
    assert texts.helper_item("nav", HelperExpand(("nav",), count=True)).serialize() == "nav/$count"


def test_walks_through_links_to_a_view_parse_no_translator_text(monkeypatch):
    """A view's restriction put under a link to it ($select, $filter, $expand, a path through the link) is
    declared text too: after the engine is built, walking parses nothing (every plan-cache miss used to parse
    the parenthesised restriction again)."""
    engine = Engine(build_schema("balena-cloud"))
    parsed: list[str] = []
    real = texts.parse_expression
    monkeypatch.setattr(texts, "parse_expression", lambda text: parsed.append(text) or real(text))
    link = "should_be_managed_by__supervisor_release"
    for target in (
        f"/device?$select=id,{link}/created_at",
        f"/device?$filter={link}/id eq 5",
        f"/device?$expand={link}",
        f"/device(1)/{link}",
        "/supervisor_release?$filter=id eq 1",
    ):
        assert engine.translate("GET", target).v7_target
    assert parsed == []
    restriction = engine.schema.resources["supervisor_release"].restriction
    assert restriction.startswith("(") and restriction in texts._parsed
