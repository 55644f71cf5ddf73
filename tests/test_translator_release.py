"""translators.release: release_type ↔ is_final, contract as jsonb::text, pinned devices rename."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from translator_helpers import FakeContext, engine, v7

from proxy.odata.pinejs import split_aliases
from translators import BodyError
from translators.coercions import NotJson, jsonb_text, parse_json_text
from translators.release import CONFLICT_MESSAGE, RELEASE_TYPE_MESSAGE, contract_body, release_type_body


async def test_release_type_body():
    body = {"release_type": "final"}
    await release_type_body(FakeContext(), body)
    assert body == {"is_final": True}
    body = {"release_type": "draft", "is_final": False}
    await release_type_body(FakeContext(), body)
    assert body == {"is_final": False}
    with pytest.raises(BodyError) as err:
        await release_type_body(FakeContext(), {"release_type": "other"})
    assert (err.value.status, err.value.message) == (400, RELEASE_TYPE_MESSAGE)
    with pytest.raises(BodyError) as err:
        await release_type_body(FakeContext(), {"release_type": "final", "is_final": False})
    assert (err.value.status, err.value.message) == (400, CONFLICT_MESSAGE)
    with pytest.raises(BodyError) as err:
        await release_type_body(FakeContext(), {"release_type": None})
    assert (err.value.status, err.value.message) == (400, None)


def test_jsonb_text_form():
    """PostgreSQL jsonb::text: keys by byte length then bytes, ', ' and ': ', non-ASCII kept."""
    assert jsonb_text({"bb": 1, "a": [1, {"z": None, "yy": "é"}], "c": 'q"\\\t\x01'}) == (
        '{"a": [1, {"z": null, "yy": "é"}], "c": "q\\"\\\\\\t\\u0001", "bb": 1}'
    )
    assert jsonb_text([]) == "[]" and jsonb_text({}) == "{}" and jsonb_text(None) is None
    assert jsonb_text({"n": 1.5, "m": 2.0, "big": 1e21}) == '{"m": 2, "n": 1.5, "big": 1e+21}'


async def test_contract_body():
    body = {"contract": '{"a": [1]}'}
    await contract_body(FakeContext(), body)
    assert body == {"contract": {"a": [1]}}
    for bad in ("notjson", '"x"', 5, None):
        with pytest.raises(BodyError):
            await contract_body(FakeContext(), {"contract": bad})
    with pytest.raises(NotJson):
        parse_json_text("5")


def test_urls():
    assert v7("/release?$select=id&$filter=release_type eq 'final'") == "/release?$select=id&$filter=(is_final eq true)"
    assert v7("/release?$select=id&$filter=release_type eq 'x'") == "/release?$select=id&$filter=false"
    assert v7("/release?$select=id&$filter=release_type eq null") == "/release?$select=id&$filter=false"
    assert v7("/release?$select=id&$orderby=release_type desc") == "/release?$select=id&$orderby=is_final desc"
    assert v7("/release?$expand=should_be_running_on__device($select=id)&$select=id") == (
        "/release?$expand=is_pinned_to__device($select=id)&$select=id"
    )


def test_parameter_alias_values_are_translated_too():
    target = engine("open-balena").translate("GET", "/release?$select=id&$filter=release_type%20eq%20@t&@t='final'")
    assert target.v7_target is not None
    split = split_aliases(target.v7_target)  # what the upstream parses: pinejs's alias step (odata-dialect §5.4)
    assert split is not None
    assert (unquote(split[0]), split[1]) == ("/release?$select=id&$filter=(is_final eq true)", "@t='final'")


def test_jsonb_text_matches_the_recorded_v6_contracts():
    """The real v6 server's contract strings for the snapshot's v7 contract objects (PostgreSQL jsonb::text)."""
    import json
    from pathlib import Path

    snapshot = json.loads((Path(__file__).parent / "fixtures/open-balena-pairs/snapshot.json").read_text())
    v7 = {r["id"]: r["contract"] for r in snapshot["v7"]["release"]["body"]["d"]}
    v6 = {r["id"]: r["contract"] for r in snapshot["v6"]["release"]["body"]["d"]}
    assert sum(1 for c in v6.values() if c) == 3
    for rid, text in v6.items():
        assert jsonb_text(v7[rid]) == text
