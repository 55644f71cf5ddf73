"""Value rules of the real API on written rows that the simulator used to skip: 400 with the rule's text.

Two kinds, both answered ``400`` with a JSON string:

* open-balena-api hooks run on ``POST``, ``PATCH`` and ``PUT`` before the write (``POSTPARSE``):
  ``src/features/tags/validation.ts`` (a tag key with whitespace or a reserved ``io.resin.``/``io.balena.``
  prefix) and ``src/features/field-size-limits`` (``value`` lengths of tags and variables). They see only the
  values the request gives; and ``src/features/vars-schema/hooks`` (variable names and values).
* length necessities of ``src/balena.sbvr`` (the final model, whose rule texts v6 and v7 share), checked on the
  row as written (pinejs ``validateModel``); the message is the necessity as an ``It is necessary that …``
  sentence.
"""

from __future__ import annotations

import re
from typing import Any

from .evaluator import ODataError

RESERVED_NAMESPACES = ("io.resin.", "io.balena.")
JS_SPACE = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")  # JS /\s/
TAGS = ("application_tag", "device_tag", "release_tag")
# resource -> {field: max length}, as field-size-limits registers them
SIZE_LIMITS: dict[str, dict[str, int]] = {
    "device_tag": {"value": 10_000},
    **{
        name: {"value": 100_000}
        for name in (
            "application_config_variable",
            "application_environment_variable",
            "device_config_variable",
            "device_environment_variable",
            "device_service_environment_variable",
        )
    },
}
# (resource, field) -> (min length, max length, the necessity's words after "each ")
LENGTHS: dict[tuple[str, str], tuple[int, int, str]] = {
    ("application_tag", "tag_key"): (
        1,
        100,
        "application tag has a tag key that has a Length (Type) that is greater than 0 and is less than or equal to 100",
    ),
    ("device_tag", "tag_key"): (
        1,
        100,
        "device tag has a tag key that has a Length (Type) that is greater than 0 and is less than or equal to 100",
    ),
    ("release_tag", "tag_key"): (
        1,
        164,
        "release tag has a tag key that has a Length (Type) that is greater than 0 and is less than or equal to 164",
    ),
    ("service", "service_name"): (
        1,
        63,
        "service has a service name that has a Length (Type) that is greater than 0 and is less than or equal to 63",
    ),
    ("application", "app_name"): (
        4,
        100,
        "application has an app name that has a Length (Type) that is greater than or equal to 4 and is less than "
        "or equal to 100",
    ),
    ("application", "slug"): (
        6,
        321,
        "application has a slug that has a Length (Type) that is greater than or equal to 6 and is less than or "
        "equal to 321",
    ),
}


def _js_length(text: str) -> int:
    """``String#length``: UTF-16 code units (a character outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


ENV_VARS = (
    "application_environment_variable",
    "device_environment_variable",
    "service_environment_variable",
    "device_service_environment_variable",
)
CONFIG_VARS = ("application_config_variable", "device_config_variable")
VAR_NAMESPACES = ("RESIN_", "BALENA_")
RESERVED_VAR_NAMES = ("RESIN", "BALENA", "USER")
INVALID_ENV_VAR = re.compile(r"^[0-9]|[^A-Za-z0-9_]")  # JS /^\d|\W/
INVALID_CONFIG_VAR = re.compile(r"^[0-9:]|[^A-Za-z0-9_:]")


def check_var(resource: str, name: Any, value: Any) -> None:
    """vars-schema's env-var and config-var hooks (``src/features/vars-schema/env-vars.ts``)."""
    if isinstance(name, str) and resource in ENV_VARS + CONFIG_VARS:
        env = resource in ENV_VARS
        kind = "Environment variable" if env else "Configuration variable"
        if env and INVALID_ENV_VAR.search(name):
            raise ODataError(400, f"{kind} names can only contain alphanumeric characters and underscores.")
        if not env and INVALID_CONFIG_VAR.search(name):
            raise ODataError(400, f"{kind} names can only contain alphanumeric characters, underscores or a colon")
        if name in RESERVED_VAR_NAMES:
            raise ODataError(400, f"{kind}s {', '.join(RESERVED_VAR_NAMES)} are reserved")
        in_namespace = name.startswith(VAR_NAMESPACES)
        if env and in_namespace:
            raise ODataError(400, f"Environment variables beginning with {', '.join(VAR_NAMESPACES)} are reserved.")
        if not env and not in_namespace:
            raise ODataError(
                400,
                "Configuration variables must be part of one of the following namespaces: " + ", ".join(VAR_NAMESPACES),
            )
    if isinstance(value, str) and resource in ENV_VARS + CONFIG_VARS and ("\r" in value or "\n" in value):
        raise ODataError(400, "Variable values cannot contain line break characters")


def check_hooks(resource: str, body: Any) -> None:
    """The POSTPARSE hooks on the request's own values (``body`` is the parsed JSON object)."""
    if not isinstance(body, dict):
        return
    check_var(resource, body.get("name"), body.get("value"))
    key = body.get("tag_key")
    if resource in TAGS and isinstance(key, str):
        if JS_SPACE.search(key):
            raise ODataError(400, "Tag keys cannot contain whitespace.")
        for namespace in RESERVED_NAMESPACES:
            if key.startswith(namespace):
                raise ODataError(400, f"Tag keys beginning with {namespace} are reserved.")
    for field, limit in SIZE_LIMITS.get(resource, {}).items():
        value = body.get(field)
        if isinstance(value, str) and _js_length(value) > limit:
            term = resource.replace("_", " ")
            raise ODataError(
                400,
                f"It is necessary that each {term} has a {field} that has a Length (Type) that is less than or "
                f"equal to {limit}.",
            )


def check_lengths(resource: str, row: dict[str, Any]) -> None:
    """The length necessities on a row as it will be stored (PostgreSQL ``LENGTH``: characters)."""
    for (name, field), (low, high, words) in LENGTHS.items():
        value = row.get(field)
        if name == resource and isinstance(value, str) and not low <= len(value) <= high:
            raise ODataError(400, f"It is necessary that each {words}.")
