"""v6 ``device``: pinned release rename, removed fields, integer actor, the exact v6 ``overall_status``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from translators import (
    Constant,
    Derived,
    DerivedFilter,
    DerivedOrder,
    EmptyNavigation,
    HelperExpand,
    Hide,
    Rename,
    Translator,
    Unwrap,
)
from translators.hooks import device_type_to_reference

# spec §2.4: the v7 filter pieces that decide where v6 and v7 statuses differ.
D = "download_progress ne null and status eq 'Downloading'"
I = "image_install/any(ii:ii/download_progress ne null and ii/status eq 'Downloading')"  # noqa: E741
P = "is_connected_to_vpn eq false and last_connectivity_event eq null and api_heartbeat_state eq 'unknown'"

OVERALL_STATUS_FILTER = {
    "inactive": "overall_status eq 'inactive'",
    "post-provisioning": "overall_status eq 'post-provisioning'",
    "offline": "overall_status eq 'disconnected'",
    "updating": (
        f"overall_status eq 'updating' or (overall_status eq 'reduced-functionality' and (({D}) or ({I})))"
        f" or (overall_status eq 'configuring' and ({D}) and not ({P}))"
    ),
    "configuring": f"overall_status eq 'configuring' and not (({D}) and not ({P}))",
    "idle": f"overall_status eq 'operational' or (overall_status eq 'reduced-functionality' and not ({D}) and not ({I}))",
}

_SAME = {"inactive", "post-provisioning", "updating"}


def v6_overall_status(row: Mapping[str, Any]) -> Any:
    """The v6 value from the v7 one and its helper fields (spec §2.4, exact mapping)."""
    v7 = row.get("overall_status")
    if v7 in _SAME:
        return v7
    if v7 == "disconnected":
        return "offline"
    if v7 == "operational":
        return "idle"
    downloading = row.get("download_progress") is not None and row.get("status") == "Downloading"
    if v7 == "configuring":
        pre_provisioning = (
            row.get("is_connected_to_vpn") is False
            and row.get("last_connectivity_event") is None
            and row.get("api_heartbeat_state") == "unknown"
        )
        return "updating" if downloading and not pre_provisioning else "configuring"
    if v7 == "reduced-functionality":
        installs = row.get("downloading_installs") or 0
        return "updating" if downloading or installs > 0 else "idle"
    return v7


OVERALL_STATUS = Derived(
    name="overall_status",
    type="Short Text",
    replaces="overall_status",
    helpers=(
        "overall_status",
        "download_progress",
        "status",
        "is_connected_to_vpn",
        "last_connectivity_event",
        "api_heartbeat_state",
    ),
    helper_expands={
        "downloading_installs": HelperExpand(
            ("image_install", "device__installs__image", "installs__image"),
            count=True,
            count_where="download_progress ne null and status eq 'Downloading'",
        )
    },
    compute=v6_overall_status,
    filter=DerivedFilter(
        values=OVERALL_STATUS_FILTER,
        # the v6 value is exactly one of these where its v7 condition holds (the conditions never overlap):
        # any other use in $filter (functions, gt/lt, comparisons with other fields) is folded per value
        cases=tuple((text, value) for value, text in OVERALL_STATUS_FILTER.items()),
    ),
    order=DerivedOrder(by=None, local_sort_label="overall_status"),
    migration=(
        "v7 reports more detailed statuses: 'offline' is now 'disconnected', and 'idle' is split into "
        "'operational' (connected to the API and cloudlink) and 'reduced-functionality' (one of the two failing); "
        "configuring, inactive, post-provisioning and updating stay. Handle the new values, in $filter too."
    ),
)

TRANSLATORS = [
    Translator(
        resource="device",
        doc="v6 device over v7 device",
        rules=(
            Rename("should_be_running__release", "is_pinned_on__release"),
            Hide("changed_api_heartbeat_state_on__date"),
            Unwrap("actor"),
            Constant("logs_channel", "Short Text | null", after="is_locked_until__date"),
            Constant("vpn_address", "Short Text | null", after="public_address"),
            Constant(
                "is_managed_by__device",
                "device",
                target="device",
                after="should_be_operated_by__release",
                reject_non_null_body=True,
            ),
            EmptyNavigation("image__is_downloaded_by__device", "gateway_download"),
            EmptyNavigation("gateway_download", "gateway_download"),
            EmptyNavigation("downloads__image", "gateway_download"),
            EmptyNavigation("manages__device", "device"),
            OVERALL_STATUS,
        ),
        pre_body_hooks=(device_type_to_reference("is_of__device_type"),),
    )
]
