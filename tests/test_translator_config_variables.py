"""translators.config_variables: v6 raw names device__has__name / application__has__name."""

from translator_helpers import v7


def test_resource_and_navigation_names():
    assert v7("/device__has__name?$select=id") == "/device__has__config_var_name?$select=id"
    assert v7("/application__has__name(1)", method="DELETE") == "/application__has__config_var_name(1)"
    assert v7("/device_config_variable?$select=id") == "/device_config_variable?$select=id"
    assert v7("/device?$select=id&$filter=device__has__name/any(c:c/name eq 'A')") == (
        "/device?$select=id&$filter=device__has__config_var_name/any(c:c/name eq 'A')"
    )
