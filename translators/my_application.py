"""v6 ``my_application``: v7 ``application`` restricted to the caller's directly accessible ones.

A clone of v6 application made before the integer ``actor`` (so ``actor`` stays ``{"__id": n}``) and before
``is_directly_accessible_by__user`` existed. Application body hooks do not fire for it (spec §2.5).
"""

from __future__ import annotations

from translators import Hide, Translator
from translators.application import DEPENDED_ON_BY, DEPENDS_ON

TRANSLATORS = [
    Translator(
        resource="my_application",
        v7_resource="application",
        metadata_after="device_type_alias",
        extra_filter="is_directly_accessible_by__user/any(dau:true)",
        migration=(
            "my_application is gone in v7: query application with "
            "$filter=is_directly_accessible_by__user/any(dau:true)."
        ),
        rules=(DEPENDS_ON, DEPENDED_ON_BY, Hide("is_directly_accessible_by__user")),
    )
]
