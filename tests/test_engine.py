"""The engine itself: no field names in its code, the plan cache, the applier's rules."""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path

import orjson

from proxy.engine import Engine, build_schema
from proxy.engine.apply import LocalSortOverflow, apply_plan, sort_rows
from proxy.engine.plan import CHILD, COPY, ObjectPlan, Op, ResponsePlan, SortKey

ROOT = Path(__file__).parent.parent
# Python identifiers / OData conventions that happen to be spelled like some model name
GENERIC = {
    "application",
    "feature",
    "handle",
    "id",
    "key",
    "location",
    "message",
    "name",
    "origin",  # HTTP's word (a redirect's origin) in proxy/v6.py, also some resource's field
    "plan",
    "role",
    "scope",
    "status",
    "value",
}


def test_the_engine_knows_no_field():
    graph = json.loads((ROOT / "proxy/data/resource-graph.json").read_text())
    names = set()
    for g in graph.values():
        for res, data in g.items():
            names |= {res, *data["fields"], *data["navigation"], *data.get("aliases", [])}
    files = (
        glob.glob(str(ROOT / "proxy/engine/*.py"))
        + glob.glob(str(ROOT / "proxy/schema/*.py"))
        + [str(ROOT / "proxy/v6.py")]
    )
    for path in files:
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", Path(path).read_text()))
        assert (names & words) - GENERIC == set(), path


def test_the_engine_takes_keys_from_the_models():
    """``id`` is allowed as a word (GENERIC) but never as a name the engine assumes: keys come from the graph."""
    for path in glob.glob(str(ROOT / "proxy/engine/*.py")):
        text = Path(path).read_text()
        assert not re.search(r"""["']id["']|Name=\\?"id\\?"|\$select=id\b""", text), path


def test_plans_are_cached_per_method_and_target_in_an_lru():
    engine = Engine(build_schema("open-balena"), plan_cache_size=2)
    a = engine.translate("GET", "/device?$select=id")
    assert engine.translate("GET", "/device?$select=id") is a
    assert engine.translate("PATCH", "/device?$select=id") is not a
    engine.translate("GET", "/release")
    engine.translate("GET", "/image")  # evicts the oldest (GET device, PATCH device were used before)
    assert len(engine._cache) == 2
    assert ("GET", "/device?$select=id") not in engine._cache


def test_unchanged_resources_take_the_fast_path():
    engine = Engine(build_schema("open-balena"))
    plan = engine.translate("GET", "/device_type?$select=slug,id").plan
    body = b'{"d": [ {"slug":"x", "id":1} ]}'
    assert apply_plan(plan, body) is body
    plan = engine.translate("GET", "/device_type").plan
    assert apply_plan(plan, body) is body
    assert engine.translate("GET", "/device?$select=id,should_be_running__release").plan.objects.trivial is False


def test_local_sort_follows_postgresql_null_order():
    rows = [{"v": "b"}, {"v": None}, {"v": "a"}, {"v": "B"}]
    assert [r["v"] for r in sort_rows(list(rows), (SortKey("v", None, False),))] == ["B", "a", "b", None]
    assert [r["v"] for r in sort_rows(list(rows), (SortKey("v", None, True),))] == [None, "b", "a", "B"]


def test_local_sort_overflow():
    sort = (SortKey("a", None, False),)
    plan = ResponsePlan(
        kind="rows", objects=ObjectPlan("r", "r", [Op("a", COPY, "a")], sort=sort).finish(), max_local_rows=1
    )
    try:
        apply_plan(plan, orjson.dumps({"d": [{"a": 1}, {"a": 2}]}))
    except LocalSortOverflow as exc:
        assert exc.args == (1,)
    else:
        raise AssertionError("no overflow")


def test_nested_local_sorts_count_over_the_whole_answer():
    """Each parent's expanded rows are sorted and paged on their own, and all of them count against the limit."""
    child = ObjectPlan("c", "c", [Op("a", COPY, "a")], sort=(SortKey("a", None, True),), top=1, skip=1).finish()
    parents = ObjectPlan("p", "p", [Op("kids", CHILD, "kids", child)]).finish()
    body = orjson.dumps({"d": [{"kids": [{"a": 1}, {"a": 3}, {"a": 2}]}, {"kids": [{"a": 5}, {"a": 4}]}]})
    plan = ResponsePlan(kind="rows", objects=parents, max_local_rows=5)
    assert orjson.loads(apply_plan(plan, body)) == {"d": [{"kids": [{"a": 2}]}, {"kids": [{"a": 4}]}]}
    plan = ResponsePlan(kind="rows", objects=parents, max_local_rows=4)
    try:
        apply_plan(plan, body)
    except LocalSortOverflow as exc:
        assert exc.args == (4,)
    else:
        raise AssertionError("no overflow")


def test_post_entity_gets_the_full_v6_shape():
    engine = Engine(build_schema("open-balena"))
    plan = engine.translate("POST", "/application").plan
    pair = json.loads(
        (ROOT / "tests/fixtures/open-balena-pairs/01_v6_post_application_device_type_slug.json").read_text()
    )
    v6 = pair["response"]["body"]
    v7 = {k: v for k, v in v6.items() if k != "depends_on__application"}
    v7["actor"] = {"__id": v6["actor"]}
    out = json.loads(apply_plan(plan, orjson.dumps(v7)))
    assert out == v6 and list(out) == list(v6)


def test_unknown_upstream_keys_never_replace_translated_values():
    engine = Engine(build_schema("open-balena"))
    plan = engine.translate("GET", "/release(1)").plan
    body = orjson.dumps({"d": [{"id": 1, "is_final": True, "cloud_extra": 1, "contract": {"b": 1, "a": 2}}]})
    row = json.loads(apply_plan(plan, body))["d"][0]
    assert row == {"id": 1, "cloud_extra": 1, "contract": '{"a": 2, "b": 1}', "release_type": "final", "is_final": True}
    # v6 key order; the unknown key follows the key that preceded it upstream (is_final)
    assert list(row) == ["id", "contract", "release_type", "is_final", "cloud_extra"]


def test_every_reference_url_translates_or_is_refused_cleanly():
    """The 312 URLs of the parser reference cases (tests/fixtures/odata/): the engine either translates them or
    answers a deliberate 4xx; it never fails in another way."""
    from proxy.engine.walk import WalkError
    from proxy.odata import ODataSyntaxError

    cases = json.loads((ROOT / "tests/fixtures/odata/odata-parser-cases.json").read_text())
    engine = Engine(build_schema("balena-cloud"), plan_cache_size=0)
    outcomes = {"ok": 0, "refused": 0, "syntax": 0}
    for case in cases:
        for method in ("GET", "PATCH", "POST"):
            try:
                engine.translate(method, case["url"])
                outcomes["ok"] += 1
            except WalkError as exc:
                assert exc.status in (400, 401)
                outcomes["refused"] += 1
            except ODataSyntaxError:
                assert not case["accepted"]
                outcomes["syntax"] += 1
    assert outcomes["ok"] > 200
