"""The response plan owns every change to the answer: its body, the status text of a bodiless write, the
Location header; a body the plan must rewrite but cannot parse is a clear error, one it leaves alone goes
out byte for byte."""

from __future__ import annotations

import pytest

from proxy.engine import Engine, build_schema
from proxy.engine.apply import UpstreamNotJSON, apply_plan, client_body, client_location
from proxy.engine.plan import ResponsePlan


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(build_schema("balena-cloud"))


def test_location_is_spelled_as_the_client_spelled_the_resource(engine: Engine) -> None:
    plan = engine.translate("POST", "/my_application").plan
    assert plan is not None
    assert client_location(plan, "/v7/application(@id)?@id=6") == "/v6/my_application(@id)?@id=6"
    assert client_location(plan, "/v7/device(@id)?@id=5") == "/v6/device(@id)?@id=5"
    assert client_location(plan, "https://elsewhere/x") == "https://elsewhere/x"
    assert client_location(ResponsePlan(kind="raw"), "/v7/device(1)") == "/v7/device(1)"


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("PATCH", 200, (b'"OK"', "application/json; charset=utf-8")),
        ("POST", 201, (b'"Created"', "application/json; charset=utf-8")),
        ("DELETE", 204, (b"", None)),
        ("GET", 200, (b"", None)),
        ("PATCH", 404, (b"", None)),
    ],
)
def test_a_bodiless_answer_to_a_write_says_what_v6_said(method: str, status: int, expected: tuple) -> None:
    assert client_body(ResponsePlan(kind="raw"), method, status, b"") == expected


def test_a_body_the_plan_rewrites_must_be_json(engine: Engine) -> None:
    plan = engine.translate("GET", "/device?$select=id,should_be_running__release").plan
    assert plan is not None
    with pytest.raises(UpstreamNotJSON, match="unexpected"):
        client_body(plan, "GET", 200, b'{"d": [{"id": 1,')
    assert client_body(plan, "GET", 500, b"<html>") == (b"<html>", None)  # errors are not the plan's


def test_a_body_the_plan_leaves_alone_goes_out_untouched(engine: Engine) -> None:
    plan = engine.translate("GET", "/application?$select=id").plan
    assert plan is not None
    body = b'{ "d" : [ {"id": 1} ] }'
    assert apply_plan(plan, body) is body
    assert apply_plan(ResponsePlan(kind="raw"), b"not json") == b"not json"
