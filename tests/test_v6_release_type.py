"""release.release_type (spec row 11) through the running proxy against the simulator: any function or
comparison in $filter is translated exactly (one branch per is_final value, folded), and a write body with a
non-string release_type is the v6 validator's 400."""

from __future__ import annotations

import pytest
from v6_proxy import call

FILTERS = [
    ("startswith(release_type,'f')", lambda r: r["release_type"].startswith("f")),
    ("not startswith(release_type,'f')", lambda r: not r["release_type"].startswith("f")),
    ("endswith(release_type,'aft')", lambda r: r["release_type"].endswith("aft")),
    ("contains(release_type,'in')", lambda r: "in" in r["release_type"]),
    ("substringof('dr',release_type)", lambda r: "dr" in r["release_type"]),
    ("length(release_type) eq 5", lambda r: len(r["release_type"]) == 5),
    ("tolower(release_type) eq 'draft'", lambda r: r["release_type"] == "draft"),
    ("toupper(release_type) eq 'FINAL'", lambda r: r["release_type"] == "final"),
    ("indexof(release_type,'a') eq 2", lambda r: r["release_type"].find("a") == 2),
    ("substring(release_type,0,1) eq 'd'", lambda r: r["release_type"][:1] == "d"),
    ("release_type gt 'e'", lambda r: r["release_type"] > "e"),
    ("release_type le 'draft'", lambda r: r["release_type"] <= "draft"),
    ("startswith(release_type,'f') and id gt 2", lambda r: r["release_type"] == "final" and r["id"] > 2),
    (
        "startswith(release_type,commit)",
        lambda r: r["commit"] is not None and r["release_type"].startswith(r["commit"]),
    ),
    ("concat(release_type,commit) ne 'x'", lambda r: r["commit"] is not None),
]


@pytest.mark.parametrize("text, keep", FILTERS, ids=[f for f, _ in FILTERS])
async def test_functions_over_release_type_keep_the_rows_v6_kept(pair, text, keep):
    status, everything = await call(pair.proxy_url, "GET", "/v6/release?$select=id,release_type,commit&$orderby=id asc")
    assert status == 200
    rows = everything["d"]
    assert {r["release_type"] for r in rows} == {"final", "draft"}  # the fleet has both
    status, body = await call(pair.proxy_url, "GET", f"/v6/release?$select=id&$orderby=id asc&$filter={text}")
    assert status == 200, body
    assert [r["id"] for r in body["d"]] == [r["id"] for r in rows if keep(r)]


async def test_a_function_over_release_type_inside_a_lambda(pair):
    status, body = await call(
        pair.proxy_url,
        "GET",
        "/v6/application?$select=id&$orderby=id asc&$filter=owns__release/any(r:startswith(r/release_type,'d'))",
    )
    assert status == 200
    status, drafts = await call(
        pair.proxy_url,
        "GET",
        "/v6/application?$select=id&$orderby=id asc&$filter=owns__release/any(r:r/release_type eq 'draft')",
    )
    assert body == drafts and body["d"]


@pytest.mark.parametrize("value", [5, True, {"a": 1}, ["final"], None])
async def test_a_non_string_release_type_in_a_body_is_400_empty(pair, value):
    before = len(pair.upstream_requests)
    assert await call(pair.proxy_url, "PATCH", "/v6/release(1)", {"release_type": value}) == (400, None)
    assert await call(
        pair.proxy_url,
        "POST",
        "/v6/release",
        {
            "release_type": value,
            "belongs_to__application": 1,
            "commit": "abc",
            "composition": {},
            "status": "success",
            "source": "cloud",
        },
    ) == (400, None)
    assert [r for r in pair.upstream_requests[before:] if r[0] in ("PATCH", "POST")] == []


async def test_a_function_folds_to_a_plain_v7_condition(pair):
    status, _ = await call(pair.proxy_url, "GET", "/v6/release?$select=id&$filter=startswith(release_type,'f')")
    assert status == 200
    method, path, _status = pair.upstream_requests[-1]
    assert (method, path) == ("GET", "/v7/release?$select=id&$filter=is_final%20eq%20true")
