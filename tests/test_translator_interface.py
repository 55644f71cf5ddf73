"""The translator interface checks itself: a wrong declaration fails where it is written (at import of the
module declaring it), naming the module and the rule; options of several translators combine as declared."""

from __future__ import annotations

import pytest

from translators import (
    Coerce,
    Constant,
    DeclarationError,
    Derived,
    DerivedFilter,
    DerivedOrder,
    HelperExpand,
    Hide,
    LocalResource,
    Rename,
    Translator,
    TranslatorConflict,
    merge_translators,
)


def _compute(row: object) -> None:
    return None


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Rename("old name", "new_name"), r"Rename\('old name', 'new_name'\): v6 must be a name"),
        (lambda: Hide(""), r"Hide\(''\): v7 must be a name"),
        (lambda: Constant("gone", "Short Text", value=[1]), r"Constant\('gone'\): value must be a JSON scalar"),
        (lambda: Constant("link", "device", value=1, target="device"), "value must be None"),
        (lambda: Coerce("size", None, to_v6="js_integer"), r"Coerce\('size'\): to_v6 must be a function"),  # type: ignore[arg-type]
        (lambda: Derived("x", "Text", helpers="is_final", compute=_compute), "helpers must be a tuple"),  # type: ignore[arg-type]
        (
            lambda: Derived("x", "Text", ("a",), _compute, filter=DerivedFilter(values={"v": "a eq"})),
            r"values\['v'\] 'a eq' is not an OData condition",
        ),
        (
            lambda: DerivedFilter(cases=(("a eq 1", "one"), "b eq 2")),
            "cases must hold pairs",
        ),
        (lambda: DerivedOrder(by="not a field"), "by must be a name"),
        (
            lambda: Derived("x", "Text", (), _compute, helper_expands={"k": (("nav",), "$select=a")}),  # type: ignore[dict-item]
            r"helper_expands\['k'\] must be a HelperExpand",
        ),
        (lambda: HelperExpand(("nav",), count_where="a eq 1"), "count_where needs count=True"),
        (lambda: HelperExpand("nav", select=("a",)), "navigations must be a tuple"),  # type: ignore[arg-type]
        (lambda: Translator("device", rules=[Hide("x")]), r"Translator\('device'\): rules must be a tuple"),  # type: ignore[arg-type]
        (lambda: Translator("device", rules=("x",)), "a rule must be"),  # type: ignore[arg-type]
        (lambda: Translator("device", extra_filter="a eq eq 1"), "extra_filter 'a eq eq 1' is not an OData condition"),
        (lambda: LocalResource({"id": "Serial"}, {}, ("id",), aliases="x"), "aliases must be a tuple"),  # type: ignore[arg-type]
    ],
)
def test_a_wrong_declaration_fails_where_it_is_written_naming_module_and_rule(build, message):
    with pytest.raises(DeclarationError, match=message) as raised:
        build()
    assert str(raised.value).startswith(f"{__name__}: ")  # the module that wrote the declaration


def test_every_built_in_declaration_passes_its_own_checks():
    from translators.registry import builtin_translators

    assert builtin_translators()  # importing them ran every check


def test_options_of_one_resource_combine_as_each_option_declares():
    async def hook_a(ctx: object, body: dict[str, object]) -> None: ...

    async def hook_b(ctx: object, body: dict[str, object]) -> None: ...

    first = Translator("x", rules=(Hide("a"),), extra_filter="a eq 1", pre_body_hooks=(hook_a,), doc="first")
    second = Translator("x", rules=(Hide("b"),), v7_resource="y", read_only=True, pre_body_hooks=(hook_b,))
    merged = merge_translators([first, second])["x"]
    assert merged.rules == (Hide("a"), Hide("b"))
    assert merged.v7_resource == "y" and merged.read_only
    assert merged.extra_filter == "a eq 1"
    assert merged.pre_body_hooks == (hook_a, hook_b)
    both = merge_translators([first, Translator("x", extra_filter="b eq 2")])["x"]
    assert both.extra_filter == "(a eq 1) and (b eq 2)"


def test_two_translators_naming_different_v7_resources_conflict():
    with pytest.raises(TranslatorConflict, match="x: v7_resource"):
        merge_translators([Translator("x", v7_resource="y"), Translator("x", v7_resource="z")])


def test_derived_keeps_filter_and_order_apart_from_the_value():
    rule = Derived(
        "kind",
        "Text",
        ("flag",),
        _compute,
        filter=DerivedFilter(values={"on": "flag eq true"}, cases=(("flag eq true", "on"),)),
        order=DerivedOrder(by="flag"),
    )
    assert rule.filter_values == {"on": "flag eq true"} and rule.order_by == "flag"
    assert rule.cases == (("flag eq true", "on"),) and rule.filter_null == ("false", "true")
