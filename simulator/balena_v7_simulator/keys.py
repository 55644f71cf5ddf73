"""Which named keys the real API accepts: ``resource(field=…)`` only where the fields are unique.

odata-to-abstract-sql ``BaseKey`` accepts a named key when its fields are one field whose index is ``UNIQUE`` or
``PRIMARY KEY``, or exactly the fields of a ``UNIQUE`` index (without a predicate); any other set of fields is a
``KeySyntaxError('Specified fields for path key that are not directly unique')`` and a field the table lacks a
``SyntaxError``. pinejs uri-parser turns either into ``TranslationError``: 500 with an empty body.

The unique fields are those of open-balena-api's ``v7.sbvr`` ``Necessity: each <field> is of exactly one
<term>``; the unique indexes are lf-to-abstract-sql's, one per fact type with a term form (``Fact type: device
has tag key`` / ``Term Form: device tag``: UNIQUE over its two roles). A resource the open-balena model lacks
(balenaCloud-only) is not known here: any of its columns is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable

UNIQUE_FIELDS: dict[str, frozenset[str]] = {
    "permission": frozenset({"name"}),
    "role": frozenset({"name"}),
    "user": frozenset({"username", "email"}),
    "api_key": frozenset({"key"}),
    "organization": frozenset({"handle"}),
    "application_type": frozenset({"slug"}),
    "application": frozenset({"slug", "uuid"}),
    "device": frozenset({"uuid"}),
    "device_type": frozenset({"slug"}),
    "cpu_architecture": frozenset({"slug"}),
    "device_manufacturer": frozenset({"slug"}),
    "device_family": frozenset({"slug"}),
}
UNIQUE_INDEXES: dict[str, frozenset[str]] = {
    "application_config_variable": frozenset({"application", "name"}),
    "application_environment_variable": frozenset({"application", "name"}),
    "application_tag": frozenset({"application", "tag_key"}),
    "device_config_variable": frozenset({"device", "name"}),
    "device_environment_variable": frozenset({"device", "name"}),
    "device_service_environment_variable": frozenset({"service_install", "name"}),
    "device_tag": frozenset({"device", "tag_key"}),
    "device_type_alias": frozenset({"device_type", "is_referenced_by__alias"}),
    "image_environment_variable": frozenset({"release_image", "name"}),
    "image_install": frozenset({"device", "installs__image"}),
    "image_label": frozenset({"release_image", "label_name"}),
    "organization_membership": frozenset({"user", "is_member_of__organization"}),
    "release_asset": frozenset({"release", "asset_key"}),
    "release_image": frozenset({"image", "is_part_of__release"}),
    "release_tag": frozenset({"release", "tag_key"}),
    "service": frozenset({"application", "service_name"}),
    "service_environment_variable": frozenset({"service", "name"}),
    "service_install": frozenset({"device", "installs__service"}),
    "service_label": frozenset({"service", "label_name"}),
    "user_permission": frozenset({"user", "permission"}),
    "user_public_key": frozenset({"user", "public_key"}),
    "user_role": frozenset({"user", "role"}),
}


def is_unique_key(resource: str, names: Iterable[str], known: bool) -> bool:
    """Whether ``BaseKey`` accepts these fields as a key of ``resource`` (``known``: in the open-balena model)."""
    fields = frozenset(names)
    if not known:
        return True
    if len(fields) == 1 and (fields == {"id"} or fields <= UNIQUE_FIELDS.get(resource, frozenset())):
        return True
    return fields == UNIQUE_INDEXES.get(resource)
