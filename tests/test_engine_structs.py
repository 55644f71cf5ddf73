"""List answers rewritten the struct way (msgspec decodes into slot classes, fixes them up and encodes them)
give the client exactly the bytes the dict way gives, whatever the rows hold; rows of another shape, floats
msgspec writes differently and values a translator does not expect go the dict way, and a plan whose rows
keep changing stops trying.

The plans are the engine's own (balena-sdk's v6 requests and hand-picked expands, as in
tests/test_engine_rowbuild.py); each answer's rows share one shape varied the ways upstream rows vary. The
first answer of a plan is parsed the dict way and teaches it the shape; the second is the struct way's.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson
import pytest
from test_engine_rowbuild import EXTRA_TARGETS, response_plans, sdk_targets, v7_row, variants

from proxy.engine import Engine, build_schema, structbuild
from proxy.engine import apply as applier
from proxy.engine.apply import UpstreamNotJSON, apply_plan
from proxy.engine.plan import CONST, DERIVE, ObjectPlan, Op, ResponsePlan
from proxy.engine.walk_context import HelperAlias
from proxy.engine.walk_helpers import _reading_helpers

# values orjson and msgspec must write alike (escapes, non-ASCII text, floats, 64-bit edges, nested values)
TRICKY = [
    'é ✓ \\ " \n \t \u2028 \x00 \x1f \x7f',
    "},{",
    0.1,
    -0.0,
    1e-7,
    2.5e-300,
    123456789.125,
    9999999999999998.0,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    {"__id": 3, "x": [1, "a", None]},
    [],
    {},
]


LEARN_MIN_BYTES = applier.STRUCT_LEARN_MIN_BYTES  # the proxy's own (the tests below learn from any answer)


@pytest.fixture(autouse=True)
def learn_from_any_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Struct rows learnt from the small answers these tests send (a proxy learns them from lists of 16 KiB)."""
    monkeypatch.setattr(applier, "STRUCT_LEARN_MIN_BYTES", 0)


def answer(plan: ResponsePlan, body: bytes, *, structs: bool = True) -> Any:
    """The client's bytes (or the exception class a translator raised); ``structs=False``: the dict way."""
    saved = plan.structs
    if not structs:
        plan.structs = applier._Structs(usable=False)
    try:
        return bytes(apply_plan(plan, body))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        return exc.__class__.__name__
    finally:
        if not structs:
            plan.structs = saved


def like(row: Any, rng: random.Random) -> Any:
    """A row of the same keys (and the same shapes of expanded rows) holding other values."""
    if not isinstance(row, dict):
        return row
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out[key] = [like(v, rng) for v in value[: rng.randint(0, len(value))] or value[:1]]
        elif isinstance(value, dict) and set(value) == {"__id"}:
            out[key] = {"__id": rng.randint(1, 99)} if rng.random() < 0.8 else None
        elif value is None or isinstance(value, (str, int, float)):
            out[key] = rng.choice(
                [value, value, None, "idle", "Downloading", 3, True, *TRICKY] if rng.random() < 0.5 else [value]
            )
        else:
            out[key] = copy.deepcopy(value)
    return out


def body_of(rows: list[Any]) -> bytes:
    return orjson.dumps({"d": rows})


@pytest.fixture(params=["whole", "sliced"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sliced":  # a slice of a few hundred bytes: every answer is cut in places
        monkeypatch.setattr(applier, "SLICE_BYTES", 200)
        monkeypatch.setattr(applier, "SLICE_MIN_BYTES", 0)
        monkeypatch.setattr(applier, "STRUCT_SLICE_MIN_BYTES", 0)
    return str(request.param)


@pytest.mark.parametrize("flavour", ["balena-cloud", "open-balena"])
def test_struct_rows_answer_what_the_dict_way_answers(flavour: str, way: str) -> None:
    engine = Engine(build_schema(flavour))
    checked = hits = 0
    for target, plan in response_plans(engine, sdk_targets() + EXTRA_TARGETS):
        assert plan.objects is not None
        rng = random.Random(target + way)
        for _ in range(2):
            for row in variants(v7_row(plan.objects, rng), plan.objects, rng):
                first = [row, *(like(row, rng) for _ in range(3))]
                second = [like(row, rng) for _ in range(rng.randint(1, 6))]
                plan.structs = None  # a plan that has not seen an answer yet
                for rows in (first, second, second[:1]):
                    body = body_of(rows)
                    expected = answer(plan, body, structs=False)
                    assert answer(plan, body) == expected, (target, rows)
                    checked += 1
                hits += plan.structs.hits if plan.structs is not None else 0
    assert checked > 1000
    assert hits > 400  # the struct way, not the fallback, answered most second answers


def simple_plan(*ops: Op, open_ended: bool = False) -> ResponsePlan:
    objects = ObjectPlan("thing", "thing", list(ops), open_ended=open_ended).finish()
    return ResponsePlan(kind="rows", objects=objects)


def warm(plan: ResponsePlan, rows: list[Any]) -> None:
    """The plan's first answer (the dict way): it learns the rows' shape."""
    apply_plan(plan, body_of(rows))
    assert plan.structs is not None and plan.structs.ready is not None


def test_a_view_of_the_row_is_the_mapping_a_derived_value_reads() -> None:
    """Everything a translator's function may do with the row it is given: read, test, iterate, and set and
    delete a key for the call (the helper wrapper does) and put a value back, without the answer changing."""

    def probe(row: Any) -> Any:
        assert isinstance(row, Mapping)
        seen = [row.get("a"), row.get("nope", "dflt"), "a" in row, "nope" in row, row["b"], sorted(row), len(row)]
        try:
            row["nope"]
        except KeyError:
            seen.append("KeyError")
        row["helper"] = [1]
        seen += [row.get("helper"), "helper" in row, len(row)]
        del row["helper"]
        seen += ["helper" in row, row.get("helper", "gone"), sorted(row)]
        saved = row["a"]
        row["a"] = "for the call"
        seen.append(row.get("a"))
        row["a"] = saved
        return seen

    plan = simple_plan(Op("A", 0, "a"), Op("seen", DERIVE, None, probe), Op("b", 0, "b"), Op("k", CONST, None, "c"))
    rows = [{"a": i, "b": {"__id": i}, "z": "dropped"} for i in range(3)]
    warm(plan, rows)
    body = body_of(rows)
    expected = answer(plan, body, structs=False)
    assert answer(plan, body) == expected
    assert plan.structs is not None and plan.structs.hits == 1
    assert orjson.loads(expected)["d"][1] == {
        "A": 1,
        "seen": [
            *(1, "dflt", True, False, {"__id": 1}, ["a", "b", "z"], 3, "KeyError"),
            *([1], True, 4, False, "gone", ["a", "b", "z"], "for the call"),
        ],
        "b": {"__id": 1},
        "k": "c",
    }


@pytest.mark.parametrize(
    "number",
    [b"1e+21", b"-1.5E+300", b"1e16", b"12345678901234567.0", b"1E16", b"-2e17"],
)
def test_floats_msgspec_writes_differently_go_the_dict_way(number: bytes) -> None:
    """msgspec writes 1e16 as ``1e16``, orjson (and node) ``1e+16``: such an answer goes the dict way."""
    assert msgspec.json.encode(orjson.loads(number)) != orjson.dumps(orjson.loads(number))  # the difference
    plan = simple_plan(Op("id", 0, "id"), Op("size", 0, "cpu"))
    warm(plan, [{"id": 1, "cpu": 0.5}])
    body = b'{"d":[{"id":1,"cpu":0.5},{"id":2,"cpu":' + number + b"}]}"
    expected = answer(plan, body, structs=False)
    assert b"e+" in expected
    assert answer(plan, body) == expected
    assert plan.structs is not None and plan.structs.hits == 0
    assert plan.structs.misses == (0 if b"+" in number else 1)  # "e+": told apart by a look at the bytes
    assert answer(plan, b'{"d":[{"id":3,"cpu":1e-7}]}') == b'{"d":[{"id":3,"size":1e-7}]}'
    assert plan.structs.hits == 1  # other floats go the struct way


def test_rows_of_another_shape_go_the_dict_way_and_a_plan_that_keeps_missing_stops_trying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plan = simple_plan(Op("id", 0, "id"), Op("name", 0, "device_name"))
    warm(plan, [{"id": 1, "device_name": "a"}])
    structs = plan.structs
    assert structs is not None
    for i in range(40):  # the shape is right, then another one (an extra key, a key missing) every answer
        rows: list[Any] = [{"id": i, "device_name": "x"}]
        expected_hit = i < 10
        if not expected_hit:
            rows = [{"id": i, "device_name": "x", "extra": i}] if i % 2 else [{"id": i}]
        body = body_of(rows)
        assert answer(plan, body) == answer(plan, body, structs=False)
    assert structs.hits == 10
    assert structs.off and structs.misses == applier.STRUCT_MAX_MISSES
    monkeypatch.setattr(applier, "compile_rows", lambda *args: pytest.fail("compiled again"))
    body = body_of([{"id": 1, "device_name": "a"}])
    assert answer(plan, body) == answer(plan, body, structs=False)
    assert structs.hits == 10  # the dict way only from now on


def test_a_plan_used_for_long_survives_a_rare_miss_and_learns_the_new_shape() -> None:
    plan = simple_plan(Op("id", 0, "id"), Op("name", 0, "device_name"))
    warm(plan, [{"id": 1, "device_name": "a"}])
    structs = plan.structs
    assert structs is not None
    for i in range(200):
        rows: list[Any] = [{"id": i, "device_name": "x"}] if i < 100 else [{"id": i, "device_name": "x", "new": 1}]
        body = body_of(rows)
        assert answer(plan, body) == answer(plan, body, structs=False)
    assert not structs.off
    assert structs.misses == 1 and structs.hits == 100 + 99  # the new shape learnt from the answer that missed


def test_an_answer_that_is_not_json_is_still_refused() -> None:
    plan = simple_plan(Op("id", 0, "id"))
    warm(plan, [{"id": 1}])
    for body in (b'{"d":[{"id":1},]}', b'{"d":[{"id":"\xff"}]}', b'{"d":[{"id":1}', b'{"d":[{"id":"\\ud800"}]}'):
        with pytest.raises(UpstreamNotJSON):
            apply_plan(plan, body)


def test_what_the_struct_way_does_not_take() -> None:
    """URIs to rewrite, ``__metadata``, extras an open-ended plan places, and non-object rows: the dict way."""
    uris = simple_plan(Op("id", 0, "id"))
    uris.resource_names = {"device": "device"}
    apply_plan(uris, body_of([{"id": 1}]))
    assert uris.structs is not None and uris.structs.off

    meta = simple_plan(Op("id", 0, "id"))
    for _ in range(applier.STRUCT_MAX_MISSES):
        rows = [{"id": 1, "__metadata": {"uri": "/v7/device(1)"}}]
        assert answer(meta, body_of(rows)) == answer(meta, body_of(rows), structs=False)
    assert meta.structs is not None and meta.structs.off and meta.structs.hits == 0

    extras = simple_plan(Op("id", 0, "id"), Op("k", CONST, None, 1), open_ended=True)
    rows = [{"zz": 0, "id": 1}, {"zz": 0, "id": 2}]
    assert answer(extras, body_of(rows)) == answer(extras, body_of(rows), structs=False)
    assert extras.structs is not None and extras.structs.ready is None

    plain = simple_plan(Op("id", 0, "id"), Op("k", CONST, None, [1]))
    warm(plain, [{"id": 1}])
    for rows in ([None], [{"id": 1}, 5], [[{"id": 1}]]):
        assert answer(plain, body_of(rows)) == answer(plain, body_of(rows), structs=False)
    assert answer(plain, body_of([{"id": 7}])) == b'{"d":[{"id":7,"k":[1]}]}'


def test_a_large_answer_changing_shape_midway_is_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices go the struct way until one holds rows of another shape; that one and the rest the dict way."""
    monkeypatch.setattr(applier, "SLICE_BYTES", 300)
    monkeypatch.setattr(applier, "SLICE_MIN_BYTES", 0)
    monkeypatch.setattr(applier, "STRUCT_SLICE_MIN_BYTES", 0)
    plan = simple_plan(Op("id", 0, "id"), Op("ref", 2, "ref"), Op("name", 0, "device_name"))
    rows = [{"id": i, "ref": {"__id": i}, "device_name": 'a},{"b' * (i % 3)} for i in range(200)]
    warm(plan, rows[:1])
    rows[150]["extra"] = True
    body = body_of(rows)
    got = answer(plan, body)
    assert got == answer(plan, body, structs=False)
    assert plan.structs is not None and plan.structs.hits > 5 and plan.structs.misses == 1
    assert orjson.loads(got)["d"][150] == {"id": 150, "ref": 150, "name": ""}


def test_a_derived_value_reading_helpers_gets_them_in_its_view() -> None:
    """Speed, not meaning: the helper wrapper of walk_helpers is recognised (its function and reads), so the
    view holds the helpers instead of taking a Python call per set and delete on every row."""
    plan = Engine(build_schema("balena-cloud")).translate("GET", "/device?$select=id,overall_status").plan
    assert plan is not None and plan.objects is not None
    derive = next(op for op in plan.objects.ops if op.kind == DERIVE)
    assert structbuild._helper_reads(derive.arg) is not None
    assert structbuild._helper_reads(lambda row: row) is None


def test_struct_rows_are_learnt_from_lists_not_from_single_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan compiles struct rows only once it has answered a list large enough for them to pay off: the
    plan cache holds many plans that only ever read one row."""
    monkeypatch.setattr(applier, "STRUCT_LEARN_MIN_BYTES", LEARN_MIN_BYTES)
    plan = simple_plan(Op("id", 0, "id"), Op("name", 0, "device_name"))
    small = body_of([{"id": 1, "device_name": "x"}])
    for _ in range(3):
        assert answer(plan, small) == b'{"d":[{"id":1,"name":"x"}]}'
    assert plan.structs is not None and plan.structs.ready is None and plan.structs.misses == 0
    large = body_of([{"id": i, "device_name": "x" * 100} for i in range(200)])
    assert len(large) > LEARN_MIN_BYTES
    assert answer(plan, large) == answer(plan, large, structs=False)
    assert plan.structs.ready is not None
    assert answer(plan, small) == b'{"d":[{"id":1,"name":"x"}]}'
    assert plan.structs.hits == 1  # then every answer of the plan, small ones too


def test_an_answer_written_another_way_gives_the_same_bytes() -> None:
    """Escapes, spacing and number spellings other than orjson's own (a pretty-printing or non-node upstream):
    both ways decode to the same values and write them alike."""
    plan = simple_plan(Op("id", 0, "id"), Op("name", 0, "device_name"), Op("ref", 2, "ref"), Op("x", 0, "x"))
    warm(plan, [{"id": 1, "device_name": "a", "ref": None, "x": 0}])
    body = (
        b'{ "d" : [\n  { "id" : 1 , "device_name" : "\\u00e9\\/\\ud83d\\ude00\\u0041\\b" ,\n'
        b'"ref" : { "__id" : 7 } , "x" : [ 1.50 , 1E5 , -0 , 0.0001 , 1e-4 , 2.5e-5 , 100e-2 , true , null ] } ,\n'
        b'{"dev\\u0069ce_name":"b","id":2,"x":{"k" : [ ]},"ref":{"__id":8,"more":1}} ] }\n'
    )
    expected = answer(plan, body, structs=False)
    assert answer(plan, body) == expected
    assert plan.structs is not None and plan.structs.hits == 1
    assert orjson.loads(expected)["d"][1] == {"id": 2, "name": "b", "ref": 8, "x": {"k": []}}


def test_helpers_read_through_their_own_view_as_the_wrapper_sets_them() -> None:
    """A derived value reading helpers under its own keys: from expanded rows (as dicts, through a count
    computed from them), from a navigation the shape lacks (not set), and a second derived value after it
    that must not see the first one's helpers."""

    def counted(rows: Any) -> Any:
        return sum(1 for r in rows if isinstance(r, dict) and r.get("on")) if isinstance(rows, list) else None

    def status(row: Any) -> Any:
        return [row.get("on_kids"), row.get("all_kids"), row.get("absent", "unset"), "on_kids" in row, sorted(row)]

    def after(row: Any) -> Any:
        return ["on_kids" in row, row.get("all_kids"), len(row)]

    aliases = {
        "kids": HelperAlias("on_kids", counted),
        "kids_again": HelperAlias("absent"),
        "pets": HelperAlias("all_kids"),
    }
    kid = ObjectPlan("kid", "kid", [Op("id", 0, "id"), Op("on", 0, "on"), Op("k", CONST, None, 0)]).finish()
    plan = simple_plan(
        Op("kids", 5, "kids", kid),
        Op("status", DERIVE, None, _reading_helpers(status, aliases)),
        Op("after", DERIVE, None, after),
        Op("id", 0, "id"),
    )
    assert structbuild._helper_reads(plan.objects.ops[1].arg) is not None  # type: ignore[union-attr]
    rows = [
        {"id": i, "kids": [{"id": j, "on": j % 2 == 0, "dropped": 1} for j in range(i)], "pets": [{"n": i}]}
        for i in range(4)
    ]
    warm(plan, rows)
    body = body_of(rows)
    expected = answer(plan, body, structs=False)
    assert answer(plan, body) == expected
    assert plan.structs is not None and plan.structs.hits == 1
    assert orjson.loads(expected)["d"][3] == {
        "kids": [{"id": j, "on": j % 2 == 0, "k": 0} for j in range(3)],
        "status": [2, [{"n": 3}], "unset", True, ["all_kids", "id", "kids", "on_kids", "pets"]],
        "after": [False, None, 3],
        "id": 3,
    }
