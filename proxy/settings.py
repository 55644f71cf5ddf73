"""Settings: one frozen dataclass, layered defaults < TOML file < environment < command line.

Every field is one setting. Its TOML key is the field name, its environment variable is
``PROXY_<FIELD NAME IN UPPER CASE>`` and its command-line flag is ``--field-name``. The packaged
``proxy/default_settings.toml`` holds the defaults an installed proxy starts from (a test keeps it equal
to the dataclass defaults below), so a wheel or an image needs nothing from the source tree.

Changing a default means changing it here, in ``proxy/default_settings.toml``, in
``config/balena-v6-proxy.example.toml`` and in the README's table; tests fail until all four agree.

A bad value raises :class:`SettingsError` whose message is one line naming the setting; the CLI prints
that line and exits non-zero instead of showing a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yarl

ENV_PREFIX = "PROXY_"
# A TOML file read right above the packaged defaults and below everything the user sets: an image or a
# package sets its own defaults there (the Dockerfile: host 0.0.0.0, JSON logs) without outranking --config.
DEFAULTS_FILE_ENV = "PROXY_DEFAULTS_FILE"
# balena's announcement of API v7 with its migration guide (the ``Link: rel="deprecation"`` default).
DEFAULT_DEPRECATION_LINK = "https://blog.balena.io/balena-api-v7-new-features-breaking-changes-and-migration-guide/"
# Fields that change between two reads of the same row (heartbeats, timestamps): not a translation difference.
DEFAULT_SHADOW_IGNORE = (
    "api_heartbeat_state",
    "last_connectivity_event",
    "last_vpn_event",
    "last_update_status_event",
    "modified_at",
)
# Settings holding a list of strings: a TOML array, a JSON array in the environment, a repeatable flag.
LIST_SETTINGS = frozenset({"v6_mode_rules", "shadow_ignore"})
V6_MODES = ("forward", "translate")


class SettingsError(ValueError):
    """A setting has a bad value; ``str()`` is one line that names the setting."""


@dataclass(frozen=True)
class Settings:
    """Everything the proxy can be configured with (see README "Configuration")."""

    upstream: str = "https://api.balena-cloud.com"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_connections: int = 1024
    log_format: str = "auto"  # "json" | "console" | "auto" (console on a terminal, else json)
    log_level: str = "info"
    v6_mode: str = "translate"  # "translate" | "forward" (the rollback switch)
    upstream_flavour: str = "auto"  # "auto" | "balena-cloud" | "open-balena" (see chosen_flavour)
    unknown_names: str = "drop"  # "drop" | "reject"
    max_local_sort_rows: int = 10000
    max_body_bytes: int = 1048576
    max_request_line_bytes: int = 65536
    default_organization: str | None = None
    upstream_api_key: str | None = None
    ca_bundle: str | None = None
    insecure: bool = False
    forwarded_headers: str = "keep"  # "keep" | "append"
    runtime_file: str | None = None
    connect_timeout: float = 10.0
    first_byte_timeout: float = 60.0
    stream_idle_timeout: float = 300.0
    shutdown_timeout: float = 8.0
    shutdown_delay: float = 0.0
    device_type_cache_ttl: float = 60.0
    plan_cache_size: int = 1024
    log_file: str | None = None
    log_file_max_bytes: int = 104857600
    log_file_backups: int = 5
    v6_mode_rules: tuple[str, ...] = ()
    deprecation_headers: bool = False
    deprecation_date: str = "2024-07-19"  # the day the v7 model was released
    sunset_date: str | None = None
    deprecation_link: str = DEFAULT_DEPRECATION_LINK
    metrics_path: str = "/metrics"
    shadow_share: float = 0.0
    shadow_ignore: tuple[str, ...] = DEFAULT_SHADOW_IGNORE
    shadow_max_in_flight: int = 8
    gzip_level: int = 5

    def __post_init__(self) -> None:
        _validate(self)

    def describe(self) -> dict[str, Any]:
        """The settings as a dict that is safe to log (the API key is masked)."""
        values = dataclasses.asdict(self)
        if values["upstream_api_key"]:
            values["upstream_api_key"] = "***"
        values["upstream_flavour_chosen"], values["upstream_flavour_reason"] = chosen_flavour(self)
        return values

    @property
    def flavour(self) -> str:
        """The v7 model the upstream serves: ``upstream_flavour`` with ``auto`` resolved."""
        return chosen_flavour(self)[0]


# One line per setting: shown by ``--help`` and mirrored in the README's configuration reference.
HELP: dict[str, str] = {
    "upstream": "base URL of the v7 API the proxy forwards to",
    "host": "address to listen on (0.0.0.0 in the container)",
    "port": "TCP port to listen on (0 = any free port)",
    "workers": "number of processes sharing the port via SO_REUSEPORT, each with its own caches",
    "max_connections": "connections one process keeps open at most (0 = no limit); more wait in the listen backlog until one closes",
    "log_format": "json, console, or auto (console on a terminal, json otherwise)",
    "log_level": "debug, info, warning or error",
    "v6_mode": "translate /v6/ requests, or forward them untouched (the rollback switch)",
    "upstream_flavour": (
        "which v7 model the upstream serves: balena-cloud, open-balena, or auto (balena-cloud for"
        " *.balena-cloud.com, open-balena otherwise)"
    ),
    "unknown_names": "what to do with v6 names that have no v7 counterpart: drop them or reject the request",
    "max_local_sort_rows": "most rows the proxy will sort/page itself when the upstream cannot",
    "max_body_bytes": "largest request body the translator reads into memory (pass-through bodies stream)",
    "max_request_line_bytes": "longest request line (method, URL, version) accepted; longer ones get 431",
    "default_organization": "organization handle used when a v6 application create names none",
    "upstream_api_key": "API key used only to read /v7/$metadata at start-up",
    "ca_bundle": "PEM file of extra CA certificates trusted for the upstream (added to the system store)",
    "insecure": "do not verify the upstream's TLS certificate (logged loudly; testing only)",
    "runtime_file": "file where serve writes the address it listens on (read by the healthcheck command)",
    "forwarded_headers": (
        "keep: pass the client's X-Forwarded-* untouched, add none; append: add the client to X-Forwarded-For"
        " and set X-Forwarded-Proto/-Host when absent (only when the API trusts the proxy)"
    ),
    "connect_timeout": "seconds to open a connection to the upstream",
    "first_byte_timeout": "seconds to wait for the upstream's response headers",
    "stream_idle_timeout": "seconds a response body may stay silent before the stream is cut (no total limit)",
    "shutdown_timeout": "seconds requests in flight get to finish after SIGTERM; open streams are closed then",
    "shutdown_delay": (
        "seconds the proxy keeps accepting and serving after SIGTERM while /readyz answers 503, so load"
        " balancers stop sending traffic before it stops accepting; shutdown_timeout follows"
    ),
    "device_type_cache_ttl": "seconds device-type look-ups are cached",
    "plan_cache_size": "number of translated query plans cached per worker",
    "log_file": "also append every log event to this file as JSON lines (one file per worker: FILE.N, and FILE.supervisor for their parent)",
    "log_file_max_bytes": "size at which the log file is rotated",
    "log_file_backups": "number of rotated log files kept (FILE.1 ... FILE.N)",
    "v6_mode_rules": "ordered PATTERN=MODE rules choosing translate or forward per client (first match wins)",
    "deprecation_headers": "add Deprecation, Sunset and Link headers to translated /v6/ answers",
    "deprecation_date": "ISO 8601 date announced in the Deprecation header",
    "sunset_date": "ISO 8601 date announced in the Sunset header (none when unset)",
    "deprecation_link": 'URL sent as Link: <URL>; rel="deprecation"',
    "metrics_path": "path of the Prometheus metrics endpoint (empty disables it)",
    "shadow_share": "share (0 to 1) of GET /v6/ requests also run the other way and compared",
    "shadow_ignore": "field names ignored at any depth when shadow answers are compared",
    "shadow_max_in_flight": "most shadow calls running at once per worker (beyond it they are skipped)",
    "gzip_level": "gzip level (1-9) of translated answers to clients that accept gzip; 0 sends them uncompressed",
}

FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}
_TYPES = typing.get_type_hints(Settings)

CHOICES: dict[str, tuple[str, ...]] = {
    "log_format": ("json", "console", "auto"),
    "log_level": ("debug", "info", "warning", "error"),
    "v6_mode": ("forward", "translate"),
    "upstream_flavour": ("auto", "balena-cloud", "open-balena"),
    "forwarded_headers": ("keep", "append"),
    "unknown_names": ("drop", "reject"),
}
# Lower bounds for numbers; port 0 means "any free port" (handy for tests).
MINIMUM: dict[str, float] = {
    "port": 0,
    "workers": 1,
    "max_connections": 0,
    "max_local_sort_rows": 0,
    "max_body_bytes": 1,
    "max_request_line_bytes": 1024,
    "plan_cache_size": 0,
    "device_type_cache_ttl": 0,
    "log_file_max_bytes": 1,
    "log_file_backups": 0,
    "shadow_share": 0,
    "shadow_max_in_flight": 1,
    "shutdown_delay": 0,
    "gzip_level": 0,
}
POSITIVE = ("connect_timeout", "first_byte_timeout", "stream_idle_timeout", "shutdown_timeout")


def env_var(name: str) -> str:
    """The environment variable for setting ``name``."""
    return ENV_PREFIX + name.upper()


def cli_flag(name: str) -> str:
    """The command-line flag for setting ``name`` (singular for a repeatable list flag)."""
    return "--" + (name[:-1] if name == "v6_mode_rules" else name).replace("_", "-")


def base_type(name: str) -> type:
    """The value type of a setting with ``Optional`` unwrapped (str, int, float, bool or tuple)."""
    if name in LIST_SETTINGS:
        return tuple
    hint = _TYPES[name]
    if isinstance(hint, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if not isinstance(hint, type):  # pragma: no cover - every field is a plain type or Optional of one
        raise TypeError(f"setting {name!r} has an unsupported type {hint!r}")
    return hint


def is_optional(name: str) -> bool:
    return isinstance(_TYPES[name], types.UnionType)


def _problem(name: str, message: str) -> SettingsError:
    return SettingsError(f"setting '{name}' ({env_var(name)}, {cli_flag(name)}): {message}")


def _bad(name: str, value: Any, expected: str) -> SettingsError:
    return _problem(name, f"expected {expected}, got {value!r}")


def coerce(name: str, value: Any) -> Any:
    """Convert a raw value (a string from the environment or the CLI, or a TOML value) to the setting's type."""
    if name not in FIELDS:
        raise SettingsError(f"unknown setting '{name}'")
    kind = base_type(name)
    if kind is tuple:
        return _coerce_list(name, value)
    if value is None or (isinstance(value, str) and value == "" and is_optional(name)):
        if is_optional(name):
            return None
        raise _bad(name, value, f"a {kind.__name__}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise _bad(name, value, "true or false")
    if kind is int:
        if isinstance(value, bool):
            raise _bad(name, value, "an integer")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise _bad(name, value, "an integer") from None
    if kind is float:
        if isinstance(value, bool):
            raise _bad(name, value, "a number")
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise _bad(name, value, "a number (seconds)") from None
    if not isinstance(value, str):
        raise _bad(name, value, "a string")
    return value.strip().lower() if name in CHOICES else value


def _coerce_list(name: str, value: Any) -> tuple[str, ...]:
    """A list of strings: a TOML array, a JSON array (environment), or the values of a repeated flag."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        try:
            value = json.loads(text)
        except ValueError:
            raise _bad(name, value, 'a JSON array of strings, e.g. ["a", "b"]') from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise _bad(name, value, "a list of strings")
    return tuple(value)


def split_rule(rule: str) -> tuple[str, str]:
    """``PATTERN=MODE`` split at the last ``=`` (a pattern may contain ``=``)."""
    pattern, sep, mode = rule.rpartition("=")
    if not sep or mode.strip().lower() not in V6_MODES:
        raise _bad("v6_mode_rules", rule, "PATTERN=translate or PATTERN=forward")
    return pattern, mode.strip().lower()


def _validate_date(name: str, value: str | None) -> None:
    if value is None:
        return
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise _bad(name, value, "an ISO 8601 date, e.g. 2026-12-31") from None


def _validate(settings: Settings) -> None:
    for name in LIST_SETTINGS:
        value = getattr(settings, name)
        if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
            raise _bad(name, value, "a list of strings")
    for rule in settings.v6_mode_rules:
        split_rule(rule)
    _validate_date("deprecation_date", settings.deprecation_date)
    _validate_date("sunset_date", settings.sunset_date)
    if settings.gzip_level > 9:
        raise _bad("gzip_level", settings.gzip_level, "a gzip level from 0 (off) to 9")
    if settings.shadow_share > 1:
        raise _bad("shadow_share", settings.shadow_share, "a share between 0 and 1")
    metrics_path = settings.metrics_path
    if metrics_path and (
        not metrics_path.startswith("/")
        or metrics_path.startswith("/v6")
        or metrics_path in ("/healthz", "/readyz", "/readyz/upstream")
    ):
        raise _bad(
            "metrics_path", metrics_path, "an absolute path outside /v6, not a health check (or empty to disable)"
        )
    for name in FIELDS:
        if name in LIST_SETTINGS:
            continue
        value = getattr(settings, name)
        kind = base_type(name)
        if value is None and is_optional(name):
            continue
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        int_for_float = kind is float and isinstance(value, int) and not isinstance(value, bool)
        if wrong and not int_for_float:
            raise _bad(name, value, f"a {kind.__name__}")
    for name, allowed in CHOICES.items():
        if getattr(settings, name) not in allowed:
            raise _bad(name, getattr(settings, name), "one of " + ", ".join(allowed))
    for name, low in MINIMUM.items():
        if getattr(settings, name) < low:
            raise _bad(name, getattr(settings, name), f"a number >= {low:g}")
    for name in POSITIVE:
        if getattr(settings, name) <= 0:
            raise _bad(name, getattr(settings, name), "a number of seconds > 0")
    if settings.port > 65535:
        raise _bad("port", settings.port, "a port number (0-65535)")
    _validate_upstream(settings.upstream)
    if settings.ca_bundle is not None and not Path(settings.ca_bundle).is_file():
        raise _problem("ca_bundle", f"file not found: {settings.ca_bundle!r}")
    if not settings.host:
        raise _bad("host", settings.host, "a host name or address")


BALENA_CLOUD_DOMAIN = "balena-cloud.com"


def chosen_flavour(settings: Settings) -> tuple[str, str]:
    """The v7 model for ``settings`` and why: ``auto`` picks balena-cloud for balenaCloud's own hosts
    (``api.balena-cloud.com``, ``*.balena-cloud.com``) and open-balena for every other host."""
    if settings.upstream_flavour != "auto":
        return settings.upstream_flavour, "set by upstream_flavour"
    host = (yarl.URL(settings.upstream).host or "").lower().rstrip(".")
    if host == BALENA_CLOUD_DOMAIN or host.endswith("." + BALENA_CLOUD_DOMAIN):
        return "balena-cloud", f"auto: upstream host {host} is balenaCloud"
    return "open-balena", f"auto: upstream host {host} is not a *.{BALENA_CLOUD_DOMAIN} host"


def _validate_upstream(upstream: str) -> None:
    try:
        url = yarl.URL(upstream)
    except (ValueError, TypeError):
        raise _bad("upstream", upstream, "an http:// or https:// URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _bad("upstream", upstream, "an http:// or https:// URL")
    if url.query_string or url.fragment:
        raise _bad("upstream", upstream, "a URL without query or fragment")
    if url.user is not None or url.password is not None:  # it would be dropped: each client sends its own
        # named without its value: that would show the password
        raise _problem("upstream", "expected a URL without user or password (clients send their own credentials)")


def packaged_defaults() -> dict[str, Any]:
    """The values in the packaged ``proxy/default_settings.toml``."""
    text = resources.files("proxy").joinpath("default_settings.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a settings file; keys may be flat or under a ``[proxy]`` table."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {os.fspath(path)}") from None
    except OSError as exc:
        raise SettingsError(f"config file {os.fspath(path)}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {os.fspath(path)} is not valid TOML: {exc}") from None
    if isinstance(data.get("proxy"), dict):
        nested = data.pop("proxy")
        data = {**data, **nested}
    for key in data:
        if key not in FIELDS:
            raise SettingsError(f"unknown setting '{key}' in config file {os.fspath(path)}")
    return data


def from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The ``PROXY_*`` variables that name a setting (others are ignored)."""
    return {name: env[env_var(name)] for name in FIELDS if env_var(name) in env}


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: packaged defaults < the defaults file (``PROXY_DEFAULTS_FILE``, the container image's
    own defaults) < ``config_file`` (or ``PROXY_CONFIG``) < ``env`` (``PROXY_*``) < ``overrides``.

    ``env`` defaults to ``os.environ``; pass ``{}`` in tests for isolation. ``overrides`` values may be
    typed values or strings (as they come from the command line); ``None`` values are ignored.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    layers: list[Mapping[str, Any]] = [packaged_defaults()]
    if env.get(DEFAULTS_FILE_ENV):
        layers.append(read_toml(env[DEFAULTS_FILE_ENV]))
    if config_file is None and env.get("PROXY_CONFIG"):
        config_file = env["PROXY_CONFIG"]
    if config_file is not None:
        layers.append(read_toml(config_file))
    layers.append(from_env(env))
    layers.append({k: v for k, v in (overrides or {}).items() if v is not None})
    for layer in layers:
        for name, raw in layer.items():
            values[name] = coerce(name, raw)
    return Settings(**values)
