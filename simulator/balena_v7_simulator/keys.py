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
UNIQUE_INDEXES: dict[str, tuple[str, str]] = {  # in the fact type's role order
    "application_config_variable": ("application", "name"),
    "application_environment_variable": ("application", "name"),
    "application_tag": ("application", "tag_key"),
    "device_config_variable": ("device", "name"),
    "device_environment_variable": ("device", "name"),
    "device_service_environment_variable": ("service_install", "name"),
    "device_tag": ("device", "tag_key"),
    "device_type_alias": ("device_type", "is_referenced_by__alias"),
    "image_environment_variable": ("release_image", "name"),
    "image_install": ("device", "installs__image"),
    "image_label": ("release_image", "label_name"),
    "organization_membership": ("user", "is_member_of__organization"),
    "release_asset": ("release", "asset_key"),
    "release_image": ("image", "is_part_of__release"),
    "release_tag": ("release", "tag_key"),
    "service": ("application", "service_name"),
    "service_environment_variable": ("service", "name"),
    "service_install": ("device", "installs__service"),
    "service_label": ("service", "label_name"),
    "user_permission": ("user", "permission"),
    "user_public_key": ("user", "public_key"),
    "user_role": ("user", "role"),
}


def is_unique_key(resource: str, names: Iterable[str], known: bool) -> bool:
    """Whether ``BaseKey`` accepts these fields as a key of ``resource`` (``known``: in the open-balena model)."""
    fields = frozenset(names)
    if not known:
        return True
    if len(fields) == 1 and (fields == {"id"} or fields <= UNIQUE_FIELDS.get(resource, frozenset())):
        return True
    return fields == frozenset(UNIQUE_INDEXES.get(resource, ()))


def unique_violation(resource: str, columns: tuple[str, ...]) -> str:
    """pinejs ``prettifyConstraintError`` on PostgreSQL's ``duplicate key value violates unique constraint``: the
    columns read back from the constraint's default name ``<table>_<col>_<col>_key`` (``"release" and "asset_key"
    must be unique.``, as open-balena-api's own tests expect), or, when PostgreSQL had to shorten that name to 63
    bytes, ``Unique key constraint violated``."""
    sql = [column.replace("__", "-").replace("_", " ") for column in columns]
    name = f"{resource.replace('_', ' ')}_{'_'.join(sql)}_key"
    if len(name.encode()) > 63:
        return "Unique key constraint violated"
    return " and ".join(f'"{column}"' for column in columns) + " must be unique."
