"""v6 ``supervisor_release`` (balenaCloud only, decision 4): a read-only view over v7 supervisor releases.

``device.should_be_managed_by__supervisor_release`` ↔ v7 ``should_be_managed_by__release`` (release ids).
On open-balena v6 had no supervisor field at all, so there the v7 name is simply hidden.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from translators import Constant, Derived, DerivedFilter, DerivedOrder, HelperExpand, Hide, Rename, Translator

SUPERVISOR_RELEASES = (
    "status eq 'success' and is_final eq true and is_invalidated eq false and semver_major gt 0 and "
    "belongs_to__application/any(a:startswith(a/slug,'balena_os/') and endswith(a/slug,'-supervisor') and "
    "a/is_public eq true and a/is_host eq false)"
)


def _version_filter(value: Any) -> str:
    text = str(value)
    if text.startswith("v"):
        text = text[1:]
    return "raw_version eq '" + text.replace("'", "''") + "'"


def _supervisor_version(row: Mapping[str, Any]) -> Any:
    raw = row.get("raw_version")
    return None if raw is None else "v" + raw


def _device_type(row: Mapping[str, Any]) -> Any:
    apps = row.get("supervisor_fleet")
    if isinstance(apps, list) and apps:
        return apps[0].get("is_for__device_type")
    return None


def device_type_lambda(variable: str, body: str) -> str:
    """``is_for__device_type/any(dt: …)`` → releases of the supervisor fleet for that device type's CPU
    architecture (v6 kept one supervisor per device type, v7 one per architecture)."""
    return (
        "belongs_to__application/any(sra:sra/is_for__device_type/any(sradt:sradt/is_of__cpu_architecture/"
        f"any(srca:srca/is_supported_by__device_type/any({variable}:{body}))))"
    )


TRANSLATORS = [
    Translator(
        resource="supervisor_release",
        v7_resource="release",
        flavours=("balena-cloud",),
        read_only=True,
        metadata_after="release_tag",
        extra_filter=SUPERVISOR_RELEASES,
        view=("created_at", "id", "note"),
        migration=(
            "supervisor_release is gone in v7: supervisor releases are releases of the public "
            "balena_os/<arch>-supervisor fleets; query release with is_final, status and that fleet's slug "
            "(as balena-sdk 15 does), and use raw_version for the version."
        ),
        rules=(
            Derived(
                name="supervisor_version",
                type="Short Text",
                helpers=("raw_version",),
                compute=_supervisor_version,
                after="id",
                filter=DerivedFilter(values=_version_filter),
                order=DerivedOrder(by="raw_version"),
            ),
            Constant("image_name", "Short Text | null", after="supervisor_version"),
            Constant("is_public", "Boolean", value=True, after="image_name"),
            Derived(
                name="is_for__device_type",
                type="device_type",
                helpers=(),
                helper_expands={
                    "supervisor_fleet": HelperExpand(("belongs_to__application",), select=("is_for__device_type",)),
                },
                compute=_device_type,
                after="note",
                expand_via=("belongs_to__application", "is_for__device_type"),
            ),
        ),
        filter_hooks={"is_for__device_type": device_type_lambda},
    ),
    Translator(
        resource="device",
        flavours=("balena-cloud",),
        rules=(
            Rename(
                "should_be_managed_by__supervisor_release", "should_be_managed_by__release", target="supervisor_release"
            ),
        ),
    ),
    Translator(resource="device", flavours=("open-balena",), rules=(Hide("should_be_managed_by__release"),)),
]
