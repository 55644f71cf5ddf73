"""The v6 graph is derived from the bundled v7 graph by the translators' declarations, and validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.engine import build_schema
from proxy.engine.metadata import metadata_document
from proxy.schema.derive import TranslatorError
from proxy.schema.graph import bundled_graph, graph_from_metadata, merge_metadata, v7_graph
from translators import Constant, Hide, Rename, Translator, Unwrap
from translators.registry import load_translators

FIXTURES = Path(__file__).parent / "fixtures" / "engine"


def test_derived_open_balena_v6_graph_equals_the_reference():
    schema = build_schema("open-balena", translators=load_translators("open-balena", include_thirdparty=False))
    reference = bundled_graph("open_balena_v6")
    assert set(schema.graph) == set(reference)
    for name, want in reference.items():
        got = schema.graph[name]
        assert list(got["fields"].items()) == list(want["fields"].items()), name  # types and field order
        assert got["navigation"] == want["navigation"], name
        assert set(got["many"]) == set(want["many"]), name
        assert got["key_order"] == want["key_order"], name
        assert got.get("aliases") == want.get("aliases"), name


def test_generated_metadata_reproduces_the_server_document():
    schema = build_schema("open-balena", translators=load_translators("open-balena", include_thirdparty=False))
    assert metadata_document(schema) == (FIXTURES / "v6-metadata.xml").read_text(encoding="utf-8")


def test_balena_cloud_graph_has_the_cloud_only_v6_items():
    schema = build_schema("balena-cloud")
    assert "supervisor_release" in schema.graph and "device_history" in schema.graph
    device = schema.graph["device"]
    assert device["navigation"]["should_be_managed_by__supervisor_release"] == "supervisor_release"
    assert "should_be_managed_by__release" not in device["navigation"]
    assert "is_active" in device["fields"]  # a cloud-only v7 field passes through
    assert "release_asset" not in schema.graph


@pytest.mark.parametrize(
    "rule, message",
    [
        (Rename("x", "no_such_field"), "names 'no_such_field'"),
        (Hide("typo_field"), "names 'typo_field'"),
        (Unwrap("nope"), "names 'nope'"),
        (Constant("gone", "Short Text | null", after="not_there"), "after 'not_there'"),
        (
            Rename("pinned", "is_pinned_on__release", target="device"),
            "leads to 'device', which does not stand on v7 'release'",
        ),
    ],
)
def test_a_rule_naming_something_the_graph_lacks_is_a_startup_error(rule, message):
    translators = [
        *load_translators("open-balena", include_thirdparty=False),
        Translator(resource="device", rules=(rule,)),
    ]
    with pytest.raises(TranslatorError, match=message):
        build_schema("open-balena", translators=translators)


def test_a_navigation_to_a_resource_missing_in_v6_must_be_hidden():
    translators = [t for t in load_translators("open-balena", include_thirdparty=False) if t.resource != "release"]
    with pytest.raises(TranslatorError, match="release_asset"):
        build_schema("open-balena", translators=translators)


def test_upstream_metadata_adds_fields_the_bundled_graph_lacks():
    graph = v7_graph("open-balena")
    xml = (
        '<EntityType Name="device"><Key><PropertyRef Name="id" /></Key>'
        '<Property Name="brand_new_field" Type="Edm.String" Nullable="true" />'
        '<Property Name="id" Type="Edm.Int64" Nullable="false" /></EntityType>'
    )
    assert "device.brand_new_field" in merge_metadata(graph, xml)
    assert graph["device"]["fields"]["brand_new_field"] == "Text | null"
    schema = build_schema("open-balena", metadata_xml=xml)
    assert schema.resources["device"].names["brand_new_field"].kind == "field"
    assert graph_from_metadata(xml)["device"]["key_order"] == ["brand_new_field", "id"]


def test_resource_names_and_aliases():
    schema = build_schema("open-balena")
    info, v7 = schema.resource("device__has__name")
    assert (info.name, v7) == ("device_config_variable", "device__has__config_var_name")
    assert schema.resource("release_asset") is None
    assert schema.resource("my_application")[1] == "application"
    assert schema.navigation_target("release", "should_be_running_on__device") == "device"


def test_a_broken_plugin_stops_the_proxy_at_startup(monkeypatch):
    from conftest import test_settings

    import translators.registry as registry
    from proxy.app import create_app

    broken = Translator(resource="device", rules=(Rename("old_name", "not_a_v7_field"),))
    monkeypatch.setattr(registry, "thirdparty_translators", lambda: [("broken", [broken])])
    with pytest.raises(TranslatorError, match="not_a_v7_field"):
        create_app(test_settings(v6_mode="translate", upstream_flavour="open-balena"))
