"""translators.my_application: application restricted to direct access; actor stays a reference."""

from translator_helpers import engine, v7


def test_resource_and_filter():
    assert (
        v7("/my_application?$select=id")
        == "/application?$select=id&$filter=is_directly_accessible_by__user/any(dau:true)"
    )
    assert (
        v7("/my_application(3)", method="PATCH")
        == "/application(3)?$filter=is_directly_accessible_by__user/any(dau:true)"
    )


def test_actor_is_not_unwrapped_and_direct_access_is_unknown():
    info = engine().schema.resources["my_application"]
    assert info.names["actor"].kind == "nav"
    assert "is_directly_accessible_by__user" not in info.names
