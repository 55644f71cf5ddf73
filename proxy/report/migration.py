"""The migration step for a v6 feature: the text its translator rule carries, else its rule kind's default.

A feature name (``v6_features`` in the access log) is ``<resource>.<name>.<what>`` for a rule on a field or
navigation, ``<resource>.<what>`` for the resource itself, and ``body.<resource>.<name>.<what>`` or
``body.<what>`` for request-body rules. The rule is found by resource and name in the loaded translators.
"""

from __future__ import annotations

from collections.abc import Iterable

from translators import AliasRename, Coerce, Constant, Derived, EmptyNavigation, Hide, Rename, Translator, Unwrap

GUIDE = "See balena's API v7 migration guide."

# Default text per rule kind ({...} filled from the rule's own fields).
RULE_DEFAULTS: dict[type, str] = {
    Rename: "Renamed in v7: use {v7} instead of {v6} in $select, $expand, $filter, $orderby and request bodies.",
    Constant: "{name} was removed in v7 (v6 always answered {value}): stop selecting, filtering on or writing it.",
    EmptyNavigation: "{name} was removed in v7 (it was always empty): drop it from $expand and $filter.",
    Unwrap: 'v7 answers {name} as a reference {{"__id": n}}: read its __id.',
    Coerce: "{name} has another JSON type in v7: read the v7 value as it comes (no v6 conversion).",
    Derived: "{name} does not exist in v7: select {helpers} and compute it in the client.",
    AliasRename: "The alias {v6} is {v7} in v7: use {v7}.",
    Hide: "{v7} is v7-only and was never part of v6.",
}

# Default text for features that belong to a resource or a body rule rather than to a named field rule.
KIND_DEFAULTS: dict[str, str] = {
    "resource_name": "The v6 resource {resource} is {v7_resource} in v7: use {v7_resource}.",
    "extra_filter": "{resource} is {v7_resource} in v7 with a restriction: query {v7_resource} and add the filter.",
    "local_empty": "{resource} does not exist in v7 (v6 answered it empty): stop calling it.",
    "local_sort": "v7 orders this field differently: sort the answer in the client.",
    "local_sort_path": "v7 orders this field differently: sort the answer in the client.",
    "local_sort_link_rebuilt": "v7 orders this field differently: sort the answer in the client.",
    "local_sort_per_parent": "v7 orders this field differently: sort and page each parent's expanded rows in the client.",
    "local_sort_count": "Sorted next to a value v7 orders differently: $expand the navigation's $count and sort in the client.",
    "unknown_prefix_skipped": "v6 skipped the unknown name at the start of this $filter or $orderby path: remove it.",
    "extra_filter_value": "{resource} is {v7_resource} in v7 with a restriction: a value read through a link to it was "
    "null in v6 where the linked row is outside it; add that restriction to the filter.",
    "orderby_dropped": "Ordering by this field has no v7 equivalent: sort in the client.",
    "navigation_path": "This navigation path reads differently in v7: use $expand on the v7 navigation instead.",
    "null_link_path": "This link was removed in v7: the path always answers empty; stop calling it.",
    "from_client_expand": "A value computed from fields this request expands: select them in v7 and compute it.",
    "v7_only_dropped": "The body names a v7-only field that v6 ignored: remove it (v7 applies it).",
    "device_type_lookup": "v7 takes the device type's id in is_for__device_type (look it up by slug first).",
    "organization_default": "v7 requires organization when creating an application: send it.",
    "release_type_body": "release_type is gone in v7: write is_final (true for 'final') instead.",
    "contract_body": "v7 stores contract as JSON: send an object, not a JSON text.",
}


def _rule_name(rule: object) -> str | None:
    for attribute in ("v6", "name"):
        value = getattr(rule, attribute, None)
        if isinstance(value, str):
            return value
    return None


class MigrationTexts:
    """Looks features up in ``translators`` (all flavours: a report may cover either upstream)."""

    def __init__(self, translators: Iterable[Translator]) -> None:
        self.rules: dict[tuple[str, str], object] = {}
        self.resources: dict[str, Translator] = {}
        for translator in translators:
            self.resources.setdefault(translator.resource, translator)
            for rule in translator.rules:
                name = _rule_name(rule)
                if name is not None:
                    self.rules.setdefault((translator.resource, name), rule)

    def text(self, feature: str) -> str:
        parts = feature.split(".")
        if parts[0] == "body" and len(parts) >= 3:
            parts = parts[1:]
        what = parts[-1]
        resource = parts[0]
        if len(parts) >= 3:
            rule = self.rules.get((resource, parts[1]))
            own = getattr(rule, "migration", None)
            if own:
                return str(own)
            default = RULE_DEFAULTS.get(type(rule)) if rule is not None and what not in KIND_DEFAULTS else None
            if default:
                return default.format_map(_fields(rule))
        translator = self.resources.get(resource)
        if translator is not None and translator.migration and len(parts) == 2:
            return translator.migration
        default = KIND_DEFAULTS.get(what)
        if default is not None:
            v7_resource = translator.v7_resource if translator is not None and translator.v7_resource else resource
            return default.format(resource=resource, v7_resource=v7_resource)
        if translator is not None and translator.migration:
            return translator.migration
        return GUIDE


def _fields(rule: object) -> dict[str, str]:
    values: dict[str, str] = {}
    for key in ("v6", "v7", "name"):
        value = getattr(rule, key, None)
        if isinstance(value, str):
            values[key] = value
    value = getattr(rule, "value", None)
    values["value"] = "null" if value is None else repr(value)
    helpers = getattr(rule, "helpers", ())
    values["helpers"] = ", ".join(helpers) if helpers else "the fields it depends on"
    return values
