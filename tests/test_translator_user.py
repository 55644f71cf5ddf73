"""translators.user and translators.device_history."""

from translator_helpers import engine, v7


def test_user_actor_is_an_integer_field():
    assert engine().schema.graph["user"]["fields"]["actor"] == "Integer"
    assert v7("/user?$select=id,actor") == "/user?$select=id,actor"


def test_device_history_is_cloud_only():
    assert "device_history" not in engine().schema.graph
    assert v7("/device_history?$filter=should_be_running__release eq 1", flavour="balena-cloud") == (
        "/device_history?$filter=is_pinned_on__release eq 1"
    )
