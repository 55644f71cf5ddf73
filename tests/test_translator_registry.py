"""translators.registry: the built-ins are listed explicitly; flavours select which apply."""

from translators.registry import BUILTIN_MODULES, builtin_translators, load_translators


def test_builtins():
    resources = {t.resource for t in builtin_translators()}
    assert {"device", "application", "my_application", "release", "image", "user", "device_history",
            "gateway_download", "supervisor_release", "device_config_variable", "release_asset"} <= resources
    assert len(BUILTIN_MODULES) == 10


def test_flavours():
    assert "supervisor_release" not in {t.resource for t in load_translators("open-balena", include_thirdparty=False)}
    assert "supervisor_release" in {t.resource for t in load_translators("balena-cloud", include_thirdparty=False)}
