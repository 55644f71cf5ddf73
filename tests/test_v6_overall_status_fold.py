"""Functions and comparisons over overall_status in $filter (issue 12 item 1, decision 2): folded per v6 value
into an `or` of the v7 conditions of the values that satisfy them, as real v6 evaluated them in SQL.

The differential test generates filter expressions over the v6 value (hypothesis, bounded) and compares two
answers of the same simulator: the proxy's (the v6 expression, translated and run on the v7 data) and the
simulator's own evaluator run on a table of the v6 values — every device's `note` is set to its v6
`overall_status`, and the same expression over `note` is asked from `/v7/` directly. One evaluator, SQL's
semantics (NULL arguments, `eq null`, code-point text order, PostgreSQL's `substring`), no second hand-written
one. Each expression is asked at the top level, in `/$count`, in a lambda from the fleet and in a nested
`$expand(...;$filter=...)`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balena_v7_simulator.fixtures import ADMIN_TOKEN, DEVICE_STATUS
from balena_v7_simulator.harness import Pair, running_pair

V6_VALUES = ["inactive", "post-provisioning", "configuring", "offline", "updating", "idle"]
V6_BY_UUID = {uuid: v6 for uuid, _v7, v6 in DEVICE_STATUS.values()}


class PairThread:
    """The simulator and the proxy served from a loop of their own, so a synchronous hypothesis test can
    call them (loopback only, stopped at the end of the module)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._cm = running_pair(flavour="balena-cloud")
        self.pair: Pair = asyncio.run_coroutine_threadsafe(self._cm.__aenter__(), self.loop).result(60)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cm.__aexit__(None, None, None), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def call(self, base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            base + path.replace(" ", "%20"),
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def v6(self, path: str) -> tuple[int, Any]:
        return self.call(self.pair.proxy_url, "GET", "/v6" + path)

    def v7(self, path: str) -> tuple[int, Any]:
        return self.call(self.pair.simulator_url, "GET", "/v7" + path)


@pytest.fixture(scope="module")
def table():
    """The pair, with every device's `note` holding its v6 overall_status (the table of v6 values)."""
    running = PairThread()
    try:
        status, body = running.v6("/device?$select=id,uuid,overall_status")
        assert status == 200
        seen = {r["uuid"]: r["overall_status"] for r in body["d"]}
        assert {u: seen[u] for u in V6_BY_UUID} == V6_BY_UUID  # the exact v6 values (test_v6_overall_status)
        assert set(seen.values()) == set(V6_VALUES)  # every v6 value is in the fleet
        for row in body["d"]:
            status, _ = running.call(
                running.pair.simulator_url, "PATCH", f"/v7/device({row['id']})", {"note": row["overall_status"]}
            )
            assert status == 200
        yield running
    finally:
        running.close()


# ------------------------------------------------------------------------------------------ generator
PIECES = sorted(
    {v[i:j] for v in V6_VALUES for i in range(len(v)) for j in (i + 1, i + 2, i + 3, len(v)) if j <= len(v)}
)
TEXTS = [*V6_VALUES, "", "x", "IDLE", "Idle", "UPDATING", " idle", "idle ", "offline ", "zz", "-", "a", "~"]
COMPARE = ["eq", "ne", "gt", "ge", "lt", "le"]


@st.composite
def text(draw) -> str:
    return draw(st.sampled_from(TEXTS + PIECES))


@st.composite
def atom(draw, s: str, other: str) -> str:
    t, t2 = draw(text()), draw(text())
    op = draw(st.sampled_from(COMPARE))
    n = draw(st.integers(-2, 18))
    kind = draw(st.integers(0, 21))
    return [
        f"startswith({s},'{t}')",
        f"endswith({s},'{t}')",
        f"contains({s},'{t}')",
        f"substringof('{t}',{s})",
        f"indexof({s},'{t}') {op} {n}",
        f"length({s}) {op} {n}",
        f"tolower({s}) {op} '{t}'",
        f"toupper({s}) {op} '{t.upper()}'",
        f"trim(concat(' ',{s})) {op} '{t}'",
        f"substring({s},{n}) {op} '{t}'",
        f"substring({s},{n},{draw(st.integers(0, 6))}) eq '{t}'",
        f"concat({s},'{t}') {op} '{t2}'",
        f"concat('{t}',{s}) {op} '{t2}'",
        f"replace({s},'{t or 'i'}','{t2}') {op} '{t}'",
        f"{s} {op} '{t}'",
        f"'{t}' {op} {s}",
        f"{s} {draw(st.sampled_from(['eq', 'ne', 'gt']))} null",
        f"{s} in ('{t}','{t2}')",
        f"length({s}) add {n} gt 10",
        f"startswith({s},null)",
        f"{s} {op} {other}",
        f"startswith({other},substring({s},0,1))",
    ][kind]


@st.composite
def expression(draw, s: str, other: str, depth: int = 2) -> str:
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(atom(s, other))
    kind = draw(st.integers(0, 3))
    left = draw(expression(s, other, depth - 1))
    if kind == 0:
        return f"not ({left})"
    if kind == 1:
        return f"not {left}" if left.startswith(("startswith", "contains", "endswith")) else f"not({left})"
    op = draw(st.sampled_from(["and", "or"]))
    return f"({left}) {op} ({draw(expression(s, other, depth - 1))})"


@st.composite
def case(draw) -> tuple[str, str, str]:
    """(scope, the v6 expression, the same over the table's `note`)."""
    scope = draw(st.sampled_from(["device", "count", "lambda", "expand"]))
    var = "d/" if scope == "lambda" else ""
    expr = draw(expression("{S}", var + "device_name"))
    return scope, expr.replace("{S}", var + "overall_status"), expr.replace("{S}", var + "note")


def ids(rows: list[dict]) -> list[int]:
    return sorted(r["id"] for r in rows)


@pytest.mark.slow  # property test: 250 generated filters against the evaluated table
@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(c=case())
def test_filters_over_overall_status_select_the_rows_v6_selected(table, c) -> None:
    scope, v6_expr, table_expr = c
    if scope == "device":
        paths = [f"/device?$select=id&$filter={e}" for e in (v6_expr, table_expr)]
    elif scope == "count":
        paths = [f"/device/$count?$filter={e}" for e in (v6_expr, table_expr)]
    elif scope == "lambda":
        paths = [f"/application?$select=id&$filter=owns__device/any(d:{e})" for e in (v6_expr, table_expr)]
    else:
        paths = [f"/application?$select=id&$expand=owns__device($select=id;$filter={e})" for e in (v6_expr, table_expr)]
    got_status, got = table.v6(paths[0])
    want_status, want = table.v7(paths[1])
    assert got_status == want_status, (paths[0], got, want)
    if want_status != 200:
        return
    if scope == "count":
        assert got == want, paths[0]
    elif scope == "expand":
        assert {a["id"]: ids(a["owns__device"]) for a in got["d"]} == {
            a["id"]: ids(a["owns__device"]) for a in want["d"]
        }, paths[0]
    else:
        assert ids(got["d"]) == ids(want["d"]), paths[0]


# ------------------------------------------------------------------------------- the issue's own list
LISTED = [
    "startswith(overall_status,'upd')",
    "contains(overall_status,'in')",
    "endswith(overall_status,'ine')",
    "substringof('fig',overall_status)",
    "indexof(overall_status,'d') eq 1",
    "length(overall_status) eq 4",
    "tolower(overall_status) eq 'idle'",
    "toupper(overall_status) eq 'OFFLINE'",
    "trim(overall_status) eq 'updating'",
    "substring(overall_status,0,3) eq 'con'",
    "concat(overall_status,'!') eq 'idle!'",
    "overall_status gt 'idle'",
    "overall_status ge 'offline'",
    "overall_status lt 'inactive'",
    "overall_status le 'configuring'",
    "not startswith(overall_status,'i')",
    "startswith(overall_status,'i') and id gt 0",
    "startswith(overall_status,'o') or overall_status eq 'updating'",
    "overall_status gt device_name",
]


@pytest.mark.parametrize("expr", LISTED)
def test_the_listed_uses_answer_200_with_the_rows_v6_kept(table, expr) -> None:
    status, got = table.v6(f"/device?$select=id,overall_status&$filter={expr}")
    assert status == 200, got
    _, want = table.v7(f"/device?$select=id&$filter={expr.replace('overall_status', 'note')}")
    assert ids(got["d"]) == ids(want["d"])
    assert got["d"], expr  # the fleet has rows for each of these


def test_a_lambda_from_the_fleet_and_a_count(table) -> None:
    status, body = table.v6("/application?$select=id&$filter=owns__device/any(d:startswith(d/overall_status,'idl'))")
    assert status == 200 and body["d"]
    _, want = table.v7("/application?$select=id&$filter=owns__device/any(d:startswith(d/note,'idl'))")
    assert ids(body["d"]) == ids(want["d"])
    status, body = table.v6("/device/$count?$filter=startswith(overall_status,'upd')")
    assert status == 200
    assert body["d"] == table.v7("/device/$count?$filter=startswith(note,'upd')")[1]["d"] > 0


def test_a_count_filter_and_an_expand_filter_inside_a_lambda(table) -> None:
    for v6, table_expr in [
        (
            "owns__device/$count($filter=startswith(overall_status,'upd')) gt 0",
            "owns__device/$count($filter=startswith(note,'upd')) gt 0",
        ),
        (
            "owns__device/any(d:d/overall_status gt 'idle' and not contains(d/overall_status,'-'))",
            "owns__device/any(d:d/note gt 'idle' and not contains(d/note,'-'))",
        ),
    ]:
        status, got = table.v6(f"/application?$select=id&$filter={v6}")
        assert status == 200, got
        _, want = table.v7(f"/application?$select=id&$filter={table_expr}")
        assert ids(got["d"]) == ids(want["d"]) and got["d"], v6
