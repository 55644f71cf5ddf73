"""translators.registry: the built-ins are listed explicitly; flavours select which apply."""

import importlib
import pkgutil

import pytest

import translators
from proxy.engine import build_schema
from proxy.schema.derive import TranslatorError
from translators import Rename, Translator
from translators.registry import BUILTIN_MODULES, builtin_translators, load_translators

FLAVOURS = ("open-balena", "balena-cloud")


def test_builtins():
    resources = {t.resource for t in builtin_translators()}
    assert {
        "device",
        "application",
        "my_application",
        "release",
        "image",
        "user",
        "device_history",
        "gateway_download",
        "supervisor_release",
        "device_config_variable",
        "release_asset",
    } <= resources


def test_every_translator_module_in_the_package_is_a_builtin():
    """A module declaring TRANSLATORS that the registry does not list would silently never load."""
    declaring = {
        f"translators.{m.name}"
        for m in pkgutil.iter_modules(translators.__path__)
        if hasattr(importlib.import_module(f"translators.{m.name}"), "TRANSLATORS")
    }
    assert declaring == set(BUILTIN_MODULES)


@pytest.mark.parametrize("module", BUILTIN_MODULES)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_each_builtin_module_loads_and_validates_against_both_graphs(module, flavour):
    """Every module's translators are in the flavour's schema: each of its resources is in the v6 graph (or,
    v7-only, absent from it) and every v6 name it declares resolves."""
    schema = build_schema(flavour, translators=load_translators(flavour, include_thirdparty=False))
    own = [t for t in importlib.import_module(module).TRANSLATORS if flavour in t.flavours]
    for t in own:
        if t.v7_only:
            assert schema.resource(t.resource) is None
            continue
        info, _ = schema.resource(t.resource)
        for rule in t.rules:
            name = getattr(rule, "name", None) or getattr(rule, "v6", None)
            if name is not None and type(rule).__name__ != "AliasRename":
                assert name in info.names, f"{module}: {t.resource}.{name}"


def test_a_rule_naming_a_missing_field_stops_start_up_with_a_clear_message():
    broken = Translator(resource="release", rules=(Rename("old_name", "no_such_v7_field"),))
    with pytest.raises(TranslatorError, match="release: Rename names 'no_such_v7_field', which v7 release lacks"):
        build_schema("balena-cloud", translators=[*load_translators("balena-cloud", include_thirdparty=False), broken])


def test_flavours():
    assert "supervisor_release" not in {t.resource for t in load_translators("open-balena", include_thirdparty=False)}
    assert "supervisor_release" in {t.resource for t in load_translators("balena-cloud", include_thirdparty=False)}
