"""The member-path walker on its own (proxy.engine.walk_path): names renamed in place, and what a path ends on
said as a dataclass."""

from __future__ import annotations

import pytest

from proxy.engine import build_schema
from proxy.engine.walk import Walk
from proxy.engine.walk_context import WalkError
from proxy.engine.walk_path import ConstantEnd, DerivedEnd, LambdaVariable, MemberEnd, ThroughField
from proxy.odata import Path, parse_expression

SCHEMA = build_schema("open-balena")
DEVICE = SCHEMA.resources["device"]


def path(text: str) -> Path:
    node = parse_expression(text)
    assert isinstance(node, Path)
    return node


def test_a_plain_path_is_renamed_in_place_and_ends_on_its_last_name():
    w = Walk(SCHEMA)
    p = path("should_be_running__release/belongs_to__application/app_name")
    end = w.paths.walk_path(p, DEVICE, {}, "$filter")
    assert isinstance(end, MemberEnd)
    assert end.name is not None and end.name.v6 == "app_name" and end.owner.name == "application"
    assert p.serialize() == "is_pinned_on__release/belongs_to__application/app_name"
    assert w.ctx.features == ["device.should_be_running__release.rename"]


def test_a_removed_field_and_a_path_through_a_removed_link_are_constants():
    w = Walk(SCHEMA)
    at_end = w.paths.walk_path(path("logs_channel"), DEVICE, {}, "$filter")
    assert isinstance(at_end, ConstantEnd) and at_end.at_end and at_end.name.constant_value is None
    through = w.paths.walk_path(path("is_managed_by__device/device_name"), DEVICE, {}, "$filter")
    # pinejs LEFT JOINs the link: the value at the end is NULL
    assert isinstance(through, ConstantEnd) and not through.at_end
    assert "device.is_managed_by__device.null_link_path" in w.ctx.features


def test_derived_values_and_paths_through_fields_are_left_to_the_caller():
    w = Walk(SCHEMA)
    derived = w.paths.walk_path(path("overall_status"), DEVICE, {}, "$filter")
    assert isinstance(derived, DerivedEnd) and derived.owner is DEVICE
    through = w.paths.walk_path(path("device_name/length"), DEVICE, {}, "$filter")
    assert isinstance(through, ThroughField) and through.name.v6 == "device_name"


def test_a_lambda_variable_stands_for_its_resource_and_its_tail_is_walked():
    w = Walk(SCHEMA)
    release = SCHEMA.resources["release"]
    p = path("r/should_be_running_on__device/$count($filter=logs_channel eq null)")
    end = w.paths.walk_path(p, DEVICE, {"r": release}, "$filter")
    assert isinstance(end, MemberEnd) and end.owner is DEVICE
    assert p.serialize().replace("%20", " ") == "r/is_pinned_to__device/$count($filter=true)"
    alone = w.paths.walk_path(path("r"), DEVICE, {"r": release}, "$filter")
    assert isinstance(alone, LambdaVariable) and alone.resource is release


def test_peek_names_the_v7_path_to_a_derived_value_without_renaming():
    w = Walk(SCHEMA)
    p = path("should_be_running__release/release_type")
    end = w.paths.peek(p, DEVICE, {})
    assert end is not None and not end.constant
    assert end.name.v6 == "release_type" and end.owner.name == "release"
    assert end.prefix == ["is_pinned_on__release"]  # translator text for it is written under this path
    assert p.serialize() == "should_be_running__release/release_type"
    assert w.paths.peek(path("device_name"), DEVICE, {}) is None


def test_an_unknown_name_in_a_path_is_a_400():
    with pytest.raises(WalkError, match="Unknown field 'nope' on 'release'") as raised:
        Walk(SCHEMA).paths.walk_path(path("should_be_running__release/nope"), DEVICE, {}, "$orderby")
    assert raised.value.status == 400
