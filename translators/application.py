"""v6 ``application``: integer actor, removed dependency links, POST ``device_type`` and organization."""

from __future__ import annotations

from translators import Constant, EmptyNavigation, Translator, Unwrap
from translators.hooks import default_organization, device_type_to_reference

ACTOR = Unwrap("actor")
DEPENDS_ON = Constant(
    "depends_on__application",
    "application",
    target="application",
    after="should_be_running__release",
    reject_non_null_body=True,
)
DEPENDED_ON_BY = EmptyNavigation("is_depended_on_by__application", "application")

TRANSLATORS = [
    Translator(
        resource="application",
        doc="v6 application over v7 application",
        rules=(ACTOR, DEPENDS_ON, DEPENDED_ON_BY),
        pre_body_hooks=(device_type_to_reference("is_for__device_type"), default_organization),
    )
]
