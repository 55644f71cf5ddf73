"""translators.device: renames, constants, integer actor and the exact v6 overall_status."""

from __future__ import annotations

import pytest
from translator_helpers import FakeContext, v7

from translators.device import OVERALL_STATUS_FILTER, TRANSLATORS, v6_overall_status
from translators.hooks import device_type_to_reference

BASE = {
    "is_connected_to_vpn": True,
    "last_connectivity_event": "t",
    "api_heartbeat_state": "online",
    "download_progress": None,
    "status": "Idle",
    "downloading_installs": 0,
}


@pytest.mark.parametrize(
    "v7_status, changes, v6_status",
    [
        ("inactive", {}, "inactive"),
        ("post-provisioning", {}, "post-provisioning"),
        ("updating", {}, "updating"),
        ("disconnected", {}, "offline"),
        ("operational", {}, "idle"),
        ("configuring", {}, "configuring"),
        ("configuring", {"download_progress": 10, "status": "Downloading"}, "updating"),
        # pre-provisioning devices stay configuring even while "downloading"
        (
            "configuring",
            {
                "download_progress": 10,
                "status": "Downloading",
                "is_connected_to_vpn": False,
                "last_connectivity_event": None,
                "api_heartbeat_state": "unknown",
            },
            "configuring",
        ),
        ("reduced-functionality", {}, "idle"),
        ("reduced-functionality", {"download_progress": 5, "status": "Downloading"}, "updating"),
        ("reduced-functionality", {"downloading_installs": 2}, "updating"),
        ("reduced-functionality", {"download_progress": 5, "status": "Idle"}, "idle"),
    ],
)
def test_overall_status_exact_mapping(v7_status, changes, v6_status):
    assert v6_overall_status({**BASE, **changes, "overall_status": v7_status}) == v6_status


def test_overall_status_filter_covers_every_v6_value():
    assert set(OVERALL_STATUS_FILTER) == {"inactive", "post-provisioning", "offline", "updating", "configuring", "idle"}


def test_device_translator_declares_the_removed_fields():
    names = {getattr(r, "name", None) or getattr(r, "v6", None) for r in TRANSLATORS[0].rules}
    assert {
        "logs_channel",
        "vpn_address",
        "is_managed_by__device",
        "manages__device",
        "actor",
        "should_be_running__release",
        "overall_status",
    } <= names


def test_urls():
    assert v7("/device?$select=id,should_be_running__release") == "/device?$select=id,is_pinned_on__release"
    assert v7("/device?$select=id,logs_channel&$filter=vpn_address eq null") == "/device?$select=id&$filter=true"
    assert v7("/device?$select=id&$orderby=logs_channel asc,id desc") == "/device?$select=id&$orderby=id desc"
    assert v7("/device?$select=id&$expand=manages__device/$count") == "/device?$select=id"


async def test_device_type_hook_post_only():
    hook = device_type_to_reference("is_of__device_type")
    ctx = FakeContext("PATCH")
    body = {"device_type": "rpi"}
    await hook(ctx, body)
    assert body == {"device_type": "rpi"} and ctx.asked == []
    ctx = FakeContext("POST", {"/v7/device_type?": {"d": [{"id": 3, "slug": "raspberry-pi"}]}})
    body = {"device_type": "rpi", "is_of__device_type": 9}
    await hook(ctx, body)
    assert body == {"is_of__device_type": 3}


def test_counts_of_always_empty_navigations_are_zero():
    assert v7("/device?$select=id&$filter=manages__device/$count eq 0&$orderby=manages__device/$count desc,id") == (
        "/device?$select=id&$filter=0 eq 0&$orderby=id"
    )
