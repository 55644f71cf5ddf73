"""End-to-end on the balena-cloud simulator pair, derived values and views reached by other routes than a plain
read: odata.metadata=full URIs name the v6 resource of each row, a derived navigation after a key is answered
as its $expand, and a derived value's helper is computed from the client's own $expand."""

from __future__ import annotations

import json

from v6_proxy import call


# ------------------------------------------------------------------------------------------ metadata=full URIs
async def test_full_metadata_uris_name_the_v6_resource_of_the_row(cloud_pair):
    fmt = "$format=json;odata.metadata=full"
    status, body = await call(cloud_pair.proxy_url, "GET", f"/v6/supervisor_release?$top=1&{fmt}")
    assert status == 200, body
    row = body["d"][0]
    assert row["__metadata"]["uri"] == f"/v6/supervisor_release(@id)?@id={row['id']}"
    deferred = row["is_for__device_type"]["__deferred"]["uri"]
    assert deferred.startswith("/v6/device_type(@id)?@id="), deferred
    assert "/v7/" not in json.dumps(body)
    status, body = await call(cloud_pair.proxy_url, "GET", f"/v6/my_application?$top=1&$select=id,app_name&{fmt}")
    row = body["d"][0]
    assert row["__metadata"]["uri"] == f"/v6/my_application(@id)?@id={row['id']}"
    status, body = await call(cloud_pair.proxy_url, "GET", f"/v6/application?$top=1&$select=id&{fmt}")
    row = body["d"][0]
    assert row["__metadata"]["uri"] == f"/v6/application(@id)?@id={row['id']}"


# ------------------------------------------------------------------------------------------ derived navigation path
async def test_a_derived_navigation_after_a_key_is_answered_as_its_expand(cloud_pair):
    """``/supervisor_release(k)/is_for__device_type`` answers what ``$expand=is_for__device_type`` holds, with
    the client's own options (it reached v7 untranslated and failed with a 500)."""
    url = cloud_pair.proxy_url
    status, expanded = await call(
        url, "GET", "/v6/supervisor_release?$top=1&$select=id&$expand=is_for__device_type($select=slug)"
    )
    assert status == 200, expanded
    row = expanded["d"][0]
    assert row["is_for__device_type"], row
    key = row["id"]
    assert await call(url, "GET", f"/v6/supervisor_release({key})/is_for__device_type?$select=slug") == (
        200,
        {"d": row["is_for__device_type"]},
    )
    assert await call(url, "GET", f"/v6/supervisor_release({key})/is_for__device_type/$count") == (
        200,
        {"d": len(row["is_for__device_type"])},
    )
    assert await call(
        url, "GET", f"/v6/supervisor_release({key})/is_for__device_type?$select=slug&$filter=slug eq 'nope'"
    ) == (200, {"d": []})
    assert await call(url, "GET", "/v6/supervisor_release(999999)/is_for__device_type?$select=slug") == (200, {"d": []})
    status, _body = await call(
        url, "GET", "/v6/device?$top=1&$expand=should_be_managed_by__supervisor_release/is_for__device_type"
    )
    assert status == 200


# ------------------------------------------------------------------------------------------ helper from the client's expand
async def test_overall_status_with_every_spelling_of_its_helper_expanded(cloud_pair):
    """v6 answers 200: the proxy computes the downloading-installs helper from the client's own expanded rows
    (selected names the helper reads are fetched and cut back again)."""
    url = cloud_pair.proxy_url
    status, plain = await call(url, "GET", "/v6/device?$select=id,overall_status")
    assert status == 200
    want = {r["id"]: r["overall_status"] for r in plain["d"]}
    assert "updating" in want.values()
    navs = ("device__installs__image", "image_install", "installs__image")
    status, body = await call(
        url, "GET", "/v6/device?$select=id,overall_status&$expand=" + ",".join(f"{n}($select=id)" for n in navs)
    )
    assert status == 200, body
    assert {r["id"]: r["overall_status"] for r in body["d"]} == want
    for row in body["d"]:
        for nav in navs:
            assert all(list(i) == ["id"] for i in row[nav]), row  # only what the client selected
    status, body = await call(url, "GET", "/v6/device?$expand=" + ",".join(navs))
    assert status == 200, body
    assert {r["id"]: r["overall_status"] for r in body["d"]} == want
    # a filtered, paged or counted expansion does not hold every row: still the 400
    status, body = await call(
        url,
        "GET",
        "/v6/device?$select=id,overall_status&$expand=device__installs__image($top=1),"
        "image_install($filter=id eq 1),installs__image/$count",
    )
    assert (status, body) == (400, "downloading_installs cannot be computed with this $expand through the v6 proxy")
