"""The captured balena-sdk requests (12.7.0, 14.5.0 v6; 15.0.0 v7) parse as the server parses them,
round-trip byte-identically, and a rename changes only the renamed name's bytes."""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

import pytest
from odata_scope import Site, walk_names
from odata_server_tree import resolve_binds, to_server_tree

from proxy.odata import Name, ODataUrl, parse_target

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "odata"))
from sdk_requests import load_sdk_requests

REQUESTS = load_sdk_requests()
TARGETS = sorted({r.target for r in REQUESTS})


class GraphSchema:
    """navigation_target from the bundled resource graph (the model the SDK talks to)."""

    def __init__(self, model: str) -> None:
        graph = json.loads(resources.files("proxy.data").joinpath("resource-graph.json").read_text())
        self.resources = graph[model]

    def navigation_target(self, resource: str, name: str) -> str | None:
        info = self.resources.get(resource)
        return info["navigation"].get(name) if info else None


V6 = GraphSchema("open_balena_v6")


def test_all_sdk_captures_are_loaded() -> None:
    assert {r.sdk for r in REQUESTS} == {"12.7.0", "14.5.0", "15.0.0"}
    assert len(REQUESTS) == 77
    assert (
        "/application?$filter=(slug%20eq%20'myorg%2Fmyapp')%20or%20(uuid%20eq%20'myorg%2Fmyapp')&$select=id" in TARGETS
    )


@pytest.mark.parametrize("target", TARGETS)
def test_sdk_target_parses_like_the_server_and_round_trips(odata_oracle, target: str) -> None:
    tree = parse_target(target)
    assert tree.serialize() == target
    verdict = odata_oracle.parse(target)
    assert verdict["accepted"]
    assert resolve_binds(to_server_tree(tree)) == resolve_binds(verdict["parse"])


def _visited(target: str) -> list[tuple[str | None, str, str]]:
    seen: list[tuple[str | None, str, str]] = []
    walk_names(parse_target(target), V6, lambda res, name, role, site: seen.append((res, name.text, role)))
    return seen


def _nth_name(tree: ODataUrl, index: int) -> Name:
    """The name ``walk_names`` visits ``index``-th in ``tree``."""
    visited: list[Name] = []
    walk_names(tree, V6, lambda res, name, role, site: visited.append(name))
    return visited[index]


@pytest.mark.parametrize("target", TARGETS)
def test_renaming_one_name_changes_only_its_bytes(odata_oracle, target: str) -> None:
    """Rename each visited name in turn: the new URL is the old one with exactly that name replaced, and
    the server reads it as our renamed tree."""
    count = len(_visited(target))
    assert count > 0
    for index in range(count):
        tree = parse_target(target)
        renamed = _nth_name(tree, index)
        old = renamed.text
        renamed.rename("zz_renamed")
        out = tree.serialize()
        prefix = 0
        while prefix < min(len(out), len(target)) and out[prefix] == target[prefix]:
            prefix += 1
        suffix = 0
        while suffix < min(len(out), len(target)) - prefix and out[-1 - suffix] == target[-1 - suffix]:
            suffix += 1
        assert target[prefix : len(target) - suffix] in old and out[prefix : len(out) - suffix] in "zz_renamed"
        assert len(out) - len(target) == len("zz_renamed") - len(old)
        verdict = odata_oracle.parse(out)
        assert verdict["accepted"], out
        assert resolve_binds(verdict["parse"]) == resolve_binds(to_server_tree(tree))


def test_sdk_pin_field_is_renamed_on_device_only() -> None:
    """v6 device.should_be_running__release is v7 is_pinned_on__release; application's keeps its name."""
    target = (
        "/device(uuid='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')?$select=should_be_running__release"
        "&$expand=belongs_to__application($select=should_be_running__release)"
    )
    tree = parse_target(target)

    def visitor(resource: str | None, name: Name, role: str, site: Site) -> None:
        if (resource, name.text) == ("device", "should_be_running__release"):
            name.rename("is_pinned_on__release")

    walk_names(tree, V6, visitor)
    assert tree.serialize() == (
        "/device(uuid='aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')?$select=is_pinned_on__release"
        "&$expand=belongs_to__application($select=should_be_running__release)"
    )
