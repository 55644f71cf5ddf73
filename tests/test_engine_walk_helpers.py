"""The helpers of derived values on their own (proxy.engine.walk_helpers): a helper navigation is expanded
under a spelling the client did not use, or read from the client's own expansion where that is exact."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.engine import build_schema
from proxy.engine.plan import DERIVE, ObjectPlan
from proxy.engine.walk import Walk
from proxy.engine.walk_context import WalkError
from proxy.odata import parse_target

SCHEMA = build_schema("open-balena")
DEVICE = SCHEMA.resources["device"]
SPELLINGS = ("image_install", "device__installs__image", "installs__image")


def walk(query: str) -> tuple[str, ObjectPlan, Walk]:
    w = Walk(SCHEMA)
    options = parse_target("/device?" + query).query
    assert options is not None
    plan = ObjectPlan(resource="device", v7_resource="device")
    w.walk_options(options, DEVICE, plan, top=True)
    w.selects.finish_plan(options, plan, DEVICE)
    return options.serialize().replace("%20", " "), plan, w


def overall_status(plan: ObjectPlan, row: dict[str, Any]) -> Any:
    (op,) = [op for op in plan.ops if op.kind == DERIVE]
    return op.arg(row)


def test_the_helper_is_expanded_under_a_spelling_the_client_did_not_use():
    text, plan, _ = walk("$select=overall_status")
    assert text.endswith("&$expand=image_install/$count($filter=download_progress ne null and status eq 'Downloading')")
    # the count arrives under the spelling used and is handed to the translator under its own key
    row = {"overall_status": "reduced-functionality", "image_install": 2, "download_progress": None}
    assert overall_status(plan, row) == "updating"
    assert overall_status(plan, {**row, "image_install": 0}) == "idle"


def test_when_the_client_expands_every_spelling_the_helper_is_counted_from_its_rows():
    text, plan, w = walk("$select=overall_status&$expand=" + ",".join(SPELLINGS))
    assert text.endswith("&$expand=image_install,device__installs__image,installs__image")
    assert "downloading_installs.from_client_expand" in w.ctx.features
    downloading = {"download_progress": 5, "status": "Downloading"}
    row = {"overall_status": "reduced-functionality", "image_install": [downloading], "installs__image": []}
    assert overall_status(plan, row) == "updating"
    assert overall_status(plan, {**row, "image_install": [{**downloading, "status": "Installed"}]}) == "idle"


def test_an_expansion_that_does_not_hold_every_row_is_not_used_and_without_one_it_is_a_400():
    _, _, w = walk(
        "$select=overall_status&$expand=image_install($filter=id eq 1),device__installs__image,installs__image"
    )
    assert w.ctx.helper_aliases  # device__installs__image holds every row: that one is read
    with pytest.raises(WalkError, match="downloading_installs cannot be computed with this") as raised:
        walk(
            "$select=overall_status&$expand=image_install($top=1),"
            "device__installs__image($skip=1),installs__image/$count"
        )
    assert raised.value.status == 400
