"""Settings: layering, validation messages, and the packaged/documented defaults staying in step."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from proxy.settings import FIELDS, HELP, Settings, SettingsError, cli_flag, env_var, load_settings, packaged_defaults

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "balena-v6-proxy.example.toml"


def test_packaged_defaults_equal_the_dataclass_defaults():
    defaults = {name: value for name, value in dataclasses.asdict(Settings()).items() if value is not None}
    packaged = {name: tuple(v) if isinstance(v, list) else v for name, v in packaged_defaults().items()}
    assert packaged == defaults
    assert load_settings(env={}) == Settings()


def test_example_file_documents_every_setting_and_loads():
    text = EXAMPLE.read_text()
    for name in FIELDS:
        assert f"{name} =" in text and env_var(name) in text and cli_flag(name) in text
        assert HELP[name] in text
    assert load_settings(EXAMPLE, env={}) == Settings()


def test_layers_defaults_toml_env_cli(tmp_path):
    config = tmp_path / "proxy.toml"
    config.write_text('upstream = "http://toml.example"\nport = 9000\nworkers = 3\n[proxy]\nlog_level = "debug"\n')
    env = {"PROXY_PORT": "9100", "PROXY_INSECURE": "yes", "PROXY_FIRST_BYTE_TIMEOUT": "2.5", "UNRELATED": "x"}
    settings = load_settings(config, env=env, overrides={"workers": "2", "host": None})
    assert settings.upstream == "http://toml.example"  # TOML over default
    assert settings.port == 9100  # env over TOML
    assert settings.workers == 2  # CLI over TOML
    assert settings.host == "127.0.0.1"  # None override = not given
    assert settings.insecure is True and settings.first_byte_timeout == 2.5 and settings.log_level == "debug"


def test_config_file_from_environment(tmp_path):
    config = tmp_path / "p.toml"
    config.write_text('v6_mode = "translate"\n')
    assert load_settings(env={"PROXY_CONFIG": str(config)}).v6_mode == "translate"


def test_empty_env_value_unsets_an_optional_setting():
    assert load_settings(env={"PROXY_DEFAULT_ORGANIZATION": ""}).default_organization is None
    assert load_settings(env={"PROXY_DEFAULT_ORGANIZATION": "acme"}).default_organization == "acme"


def test_an_upstream_with_credentials_is_refused_without_showing_them():
    with pytest.raises(SettingsError) as error:
        load_settings(env={}, overrides={"upstream": "https://me:secret@api.example"})
    assert "secret" not in str(error.value) and "without user or password" in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"port": "eighty"}, "'port' (PROXY_PORT, --port): expected an integer, got 'eighty'"),
        ({"port": 70000}, "'port'"),
        ({"workers": 0}, "'workers'"),
        ({"upstream": "ftp://x"}, "'upstream' (PROXY_UPSTREAM, --upstream): expected an http:// or https:// URL"),
        ({"upstream": "api.balena-cloud.com"}, "'upstream'"),
        ({"upstream": "https://me:secret@api.example"}, "expected a URL without user or password"),
        ({"v6_mode": "translat"}, "'v6_mode' (PROXY_V6_MODE, --v6-mode): expected one of forward, translate"),
        ({"log_format": "xml"}, "'log_format'"),
        ({"insecure": "maybe"}, "'insecure' (PROXY_INSECURE, --insecure): expected true or false"),
        ({"connect_timeout": "0"}, "'connect_timeout'"),
        ({"shutdown_timeout": "soon"}, "'shutdown_timeout'"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "'ca_bundle' (PROXY_CA_BUNDLE, --ca-bundle): file not found"),
    ],
)
def test_bad_values_name_the_setting_in_one_line(overrides, named):
    with pytest.raises(SettingsError) as error:
        load_settings(env={}, overrides=overrides)
    message = str(error.value)
    assert named in message and "\n" not in message


def test_bad_config_files(tmp_path):
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('upstrem = "http://x"\n')
    with pytest.raises(SettingsError, match="unknown setting 'upstrem' in config file"):
        load_settings(unknown, env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings(broken, env={})
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", env={})
    typed = tmp_path / "typed.toml"
    typed.write_text('port = "80"\nworkers = true\n')
    with pytest.raises(SettingsError, match="'workers'"):
        load_settings(typed, env={})


def test_describe_masks_the_api_key():
    assert load_settings(env={}, overrides={"upstream_api_key": "k"}).describe()["upstream_api_key"] == "***"


def test_toml_reference_is_valid_toml():
    tomllib.loads(EXAMPLE.read_text())


def test_readme_configuration_reference_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    defaults = Settings()
    for name in FIELDS:
        value = getattr(defaults, name)
        if isinstance(value, tuple):
            value = "[" + ", ".join(f'"{item}"' for item in value) + "]"
        shown = "unset" if value is None else f"`{str(value).lower() if isinstance(value, bool) else value}`"
        assert f"| `{name}` | `{env_var(name)}` | `{cli_flag(name)}` | {shown} | {HELP[name]} |" in readme


@pytest.mark.parametrize(
    ("upstream", "chosen"),
    [
        ("https://api.balena-cloud.com", "balena-cloud"),
        ("https://API.Balena-Cloud.com./", "balena-cloud"),
        ("https://api.staging.balena-cloud.com", "balena-cloud"),
        ("http://127.0.0.1:48080", "open-balena"),
        ("https://api.my-open-balena.example", "open-balena"),
        ("https://notbalena-cloud.com", "open-balena"),
    ],
)
def test_auto_flavour_follows_the_upstream_host(upstream, chosen):
    settings = load_settings(env={}, overrides={"upstream": upstream})
    assert settings.upstream_flavour == "auto" and settings.flavour == chosen
    described = settings.describe()
    assert described["upstream_flavour_chosen"] == chosen and described["upstream_flavour_reason"].startswith("auto: ")
    pinned = load_settings(env={}, overrides={"upstream": upstream, "upstream_flavour": "balena-cloud"})
    assert (
        pinned.flavour == "balena-cloud" and pinned.describe()["upstream_flavour_reason"] == "set by upstream_flavour"
    )
