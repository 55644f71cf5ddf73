"""Properties of the simulator's query evaluator, over the bundled fleet (hypothesis picks the queries).

- ``$filter`` combinators behave as sets: ``A and B`` is the intersection, ``A or B`` the union, ``not(A)`` the
  complement (for predicates that are never NULL, as pinejs's ``eq``/``ne`` never are);
- paging a totally ordered read with ``$top``/``$skip`` gives back the whole read, page by page;
- ``$orderby`` on a nullable column puts NULLs last ascending and first descending, the rest in reverse order.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balena_v7_simulator import app as sim_app
from balena_v7_simulator import ir
from balena_v7_simulator.evaluator import Evaluator
from balena_v7_simulator.fixtures import ALICE_TOKEN
from balena_v7_simulator.identity import caller_for_token
from balena_v7_simulator.model import load_model
from balena_v7_simulator.store import Store, load_dataset
from proxy.odata import parse_target

pytestmark = pytest.mark.slow  # property tests over generated filters

STORE = Store(load_model("balena-cloud"), load_dataset())

CALLER = caller_for_token(STORE, ALICE_TOKEN)

ATOMS = [
    "api_heartbeat_state%20eq%20'online'",
    "is_connected_to_vpn%20eq%20true",
    "is_pinned_on__release%20ne%20null",
    "overall_status%20eq%20'operational'",
    "overall_status%20ne%20'updating'",
    "device_tag/any(t:t/value%20eq%20'lab')",
    "startswith(device_name,'dev-u')",
    "id%20in%20(1,3,5,20)",
    "download_progress%20eq%20null",
    "belongs_to__application/slug%20eq%20'acme%2Fmyapp'",
    "image_install/any(ii:ii/status%20eq%20'Downloading')",
    "image_install/$count%20gt%202",
]


def ids(target: str) -> list[int]:
    req = ir.request(parse_target(target))
    ev = Evaluator(STORE, CALLER, 500, req.aliases)
    response = sim_app.read(ev, req)
    return [row["id"] for row in orjson.loads(response.body)["d"]]


ALL = set(ids("/device?$select=id"))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ATOMS), st.sampled_from(ATOMS))
def test_filter_combinators_are_set_operations(a, b):
    left, right = set(ids(f"/device?$select=id&$filter={a}")), set(ids(f"/device?$select=id&$filter={b}"))
    assert set(ids(f"/device?$select=id&$filter=({a})%20and%20({b})")) == left & right
    assert set(ids(f"/device?$select=id&$filter=({a})%20or%20({b})")) == left | right
    assert set(ids(f"/device?$select=id&$filter=not({a})")) == ALL - left


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=6), st.sampled_from(["device_name", "overall_status", "cpu_temp"]))
def test_paging_returns_the_whole_ordered_read(size, column):
    order = f"$orderby={column}%20asc,id%20desc"
    full = ids(f"/device?$select=id&{order}")
    pages = []
    for start in range(0, len(full) + size, size):
        pages.extend(ids(f"/device?$select=id&{order}&$top={size}&$skip={start}"))
    assert pages == full


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["is_pinned_on__release", "download_progress", "overall_progress", "last_connectivity_event"]))
def test_nulls_last_ascending_first_descending(column):
    nulls = set(ids(f"/device?$select=id&$filter={column}%20eq%20null"))
    asc = ids(f"/device?$select=id&$orderby={column}%20asc,id%20asc")
    desc = ids(f"/device?$select=id&$orderby={column}%20desc,id%20asc")
    assert set(asc[len(asc) - len(nulls) :]) == nulls and set(desc[: len(nulls)]) == nulls
    non_null_asc = [i for i in asc if i not in nulls]
    non_null_desc = [i for i in desc if i not in nulls]
    values = (
        {row["id"]: row[column] for row in STORE.rows("device")}
        if column != "overall_progress"
        else {row["id"]: STORE.overall_progress(row) for row in STORE.rows("device")}
    )
    assert [values[i] for i in non_null_asc] == sorted(values[i] for i in non_null_asc)
    assert [values[i] for i in non_null_desc] == sorted((values[i] for i in non_null_desc), reverse=True)
