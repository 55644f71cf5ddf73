"""The scope walker visits every renamable name with the resource it belongs to (odata-dialect.md §6)."""

from __future__ import annotations

import pytest
from odata_scope import SKIP, Site, walk_expression, walk_names

from proxy.odata import Name, parse_expression, parse_target

NAVS = {
    "device": {
        "belongs_to__application": "application",
        "device_tag": "device_tag",
        "should_be_running__release": "release",
        "is_running__release": "release",
    },
    "application": {"owns__device": "device", "owns__release": "release", "organization": "organization"},
    "release": {"belongs_to__application": "application"},
    "device_tag": {"device": "device"},
}


class Schema:
    def navigation_target(self, resource: str, name: str) -> str | None:
        return NAVS.get(resource, {}).get(name)


def visits(target: str) -> list[tuple[str | None, str, str]]:
    seen: list[tuple[str | None, str, str]] = []
    walk_names(parse_target(target), Schema(), lambda res, name, role, site: seen.append((res, name.text, role)))
    return seen


def test_path_key_and_options_resolve_against_the_last_segment() -> None:
    assert visits("/device(uuid='x')/belongs_to__application?$select=app_name&$filter=slug%20eq%20'a'") == [
        (None, "device", "resource"),
        ("device", "uuid", "key"),
        ("device", "belongs_to__application", "path"),
        ("application", "app_name", "select"),
        ("application", "slug", "filter"),
    ]


def test_nested_expand_options_resolve_against_the_navigation_target() -> None:
    target = (
        "/application?$expand=owns__device($select=uuid;$expand=device_tag($select=tag_key)"
        "&$filter=is_online%20eq%20true;$orderby=device_name%20asc),owns__release/$count"
        "&$select=owns__device/uuid"
    )
    assert visits(target) == [
        (None, "application", "resource"),
        ("application", "owns__device", "expand"),
        ("device", "uuid", "select"),
        ("device", "device_tag", "expand"),
        ("device_tag", "tag_key", "select"),
        ("device", "is_online", "filter"),
        ("device", "device_name", "orderby"),
        ("application", "owns__release", "expand"),
        ("application", "owns__device", "select"),
        ("device", "uuid", "select"),
    ]


def test_expand_tail_is_a_nested_expand() -> None:
    assert visits("/device?$expand=belongs_to__application($select=id)/organization") == [
        (None, "device", "resource"),
        ("device", "belongs_to__application", "expand"),
        ("application", "id", "select"),
        ("application", "organization", "expand"),
    ]


def test_lambda_variables_shadow_and_bare_names_resolve_against_the_lambda_target() -> None:
    target = (
        "/application?$filter=owns__device/any(d:d/device_tag/any(t:t/tag_key%20eq%20'x'"
        "%20and%20d/uuid%20eq%20'y'%20and%20value%20eq%20'z')%20and%20is_online%20eq%20true)"
        "%20and%20app_name%20eq%20'a'"
    )
    assert visits(target) == [
        (None, "application", "resource"),
        ("application", "owns__device", "filter"),
        ("device", "device_tag", "filter"),
        ("device_tag", "tag_key", "filter"),
        ("device", "uuid", "filter"),  # outer variable still visible
        ("device_tag", "value", "filter"),  # bare name: innermost lambda's target
        ("device", "is_online", "filter"),  # bare name in the outer body
        ("application", "app_name", "filter"),
    ]


def test_a_lambda_variable_named_like_a_field_is_never_visited() -> None:
    assert visits("/application?$filter=owns__device/any(id:id/uuid%20eq%20'x')%20and%20id%20eq%201") == [
        (None, "application", "resource"),
        ("application", "owns__device", "filter"),
        ("device", "uuid", "filter"),
        ("application", "id", "filter"),  # outside the lambda `id` is the field again
    ]


def test_count_filters_resolve_against_the_counted_collection() -> None:
    target = (
        "/application?$filter=owns__device/$count($filter=is_online%20eq%20true)%20ge%201"
        "&$orderby=owns__release/$count($filter=status%20eq%20'success')%20desc,app_name"
    )
    assert visits(target) == [
        (None, "application", "resource"),
        ("application", "owns__device", "filter"),
        ("device", "is_online", "filter"),
        ("application", "owns__release", "orderby"),
        ("release", "status", "filter"),
        ("application", "app_name", "orderby"),
    ]


def test_unresolvable_names_get_no_resource() -> None:
    assert visits("/device?$filter=mystery/field%20eq%201%20and%20belongs_to__application/x/y%20eq%202") == [
        (None, "device", "resource"),
        ("device", "mystery", "filter"),
        (None, "field", "filter"),
        ("device", "belongs_to__application", "filter"),
        ("application", "x", "filter"),
        (None, "y", "filter"),
    ]


def test_aliases_methods_functions_and_literals_are_not_names() -> None:
    target = (
        "/device?$filter=belongs_to__application/canAccess()%20and%20contains(device_name,'x')"
        "%20and%20uuid%20eq%20@u%20and%20datetime'garbage'%20eq%201&@u='x'&apikey=k"
    )
    assert visits(target) == [
        (None, "device", "resource"),
        ("device", "belongs_to__application", "filter"),
        ("device", "device_name", "filter"),
        ("device", "uuid", "filter"),
        ("device", "datetime'garbage'", "filter"),  # the server reads a malformed literal as a name
    ]


def test_keys_inside_filter_paths_belong_to_the_keyed_resource() -> None:
    assert visits("/application?$filter=owns__device(uuid='x')/device_name%20eq%20'a'") == [
        (None, "application", "resource"),
        ("application", "owns__device", "filter"),
        ("device", "uuid", "key"),
        ("device", "device_name", "filter"),
    ]


def test_renaming_through_the_walker_is_scoped() -> None:
    """v6 device.should_be_running__release is renamed; release's and application's names are not."""
    url = parse_target(
        "/device?$select=should_be_running__release&$expand=should_be_running__release"
        "($select=id),belongs_to__application($filter=owns__device/any(d:"
        "d/should_be_running__release%20eq%201))"
    )

    def rename(resource: str | None, name: Name, role: str, site: Site) -> None:
        if resource == "device" and name.text == "should_be_running__release":
            name.rename("is_pinned_on__release")

    walk_names(url, Schema(), rename)
    assert url.serialize() == (
        "/device?$select=is_pinned_on__release&$expand=is_pinned_on__release($select=id),"
        "belongs_to__application($filter=owns__device/any(d:d/is_pinned_on__release%20eq%201))"
    )


def test_skip_stops_descending_and_site_gives_the_owner() -> None:
    url = parse_target("/application?$expand=owns__device($select=uuid),owns__release($select=id)")
    seen = []

    def visitor(resource: str | None, name: Name, role: str, site: Site):
        seen.append(name.text)
        assert site.ancestors[0] is url
        if name.text == "owns__device":
            assert type(site.node).__name__ == "ExpandItem" and site.parent is not None
            return SKIP
        return None

    walk_names(url, Schema(), visitor)
    assert seen == ["application", "owns__device", "owns__release", "id"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("d/uuid eq 'x' and is_online eq true", [("device", "uuid"), ("application", "is_online")]),
    ],
)
def test_walk_expression_with_lambda_variables(text, expected) -> None:
    seen = []
    walk_expression(
        parse_expression(text),
        "application",
        Schema(),
        lambda res, name, role, site: seen.append((res, name.text)),
        lambdas={"d": "device"},
    )
    assert seen == expected
