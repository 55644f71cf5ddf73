"""v6 ``release``: pinned devices rename, ``release_type`` ↔ ``is_final``, ``contract`` as JSON text."""

from __future__ import annotations

from typing import Any

from translators import BodyContext, BodyError, Coerce, Derived, DerivedFilter, DerivedOrder, Hide, Rename, Translator
from translators.coercions import NotJson, jsonb_text, parse_json_text

RELEASE_TYPE_MESSAGE = 'It is necessary that each release has a release type that is "final" or "draft".'
CONFLICT_MESSAGE = "Conflict between the provided is_final and release_type values"


async def release_type_body(ctx: BodyContext, body: dict[str, Any]) -> None:
    """v6 hook (spec §1 row 11): 'final'/'draft' → is_final; other strings and conflicts → 400."""
    if "release_type" not in body:
        return
    value = body["release_type"]
    if not isinstance(value, str):
        raise BodyError(400, None)  # v6's validator: a required Short Text (null, 5, true, {} all fail)
    if value not in ("final", "draft"):
        raise BodyError(400, RELEASE_TYPE_MESSAGE)
    is_final = value == "final"
    if "is_final" in body and body["is_final"] != is_final:
        raise BodyError(400, CONFLICT_MESSAGE)
    del body["release_type"]
    body["is_final"] = is_final
    ctx.record("release.release_type_body")


async def contract_body(ctx: BodyContext, body: dict[str, Any]) -> None:
    """v6 accepted ``contract`` as JSON text; only objects/arrays pass (and not null, a v6 quirk)."""
    if "contract" not in body:
        return
    try:
        body["contract"] = parse_json_text(body["contract"])
    except NotJson:
        raise BodyError(400, None) from None
    ctx.record("release.contract_body")


RELEASE_TYPE = Derived(
    name="release_type",
    type="Enum: 'final' | 'draft'",
    helpers=("is_final",),
    compute=lambda row: "final" if row.get("is_final") else "draft",
    after="is_passing_tests",
    filter=DerivedFilter(
        values={"final": "is_final eq true", "draft": "is_final eq false"},
        null=("false", "true"),
        cases=(("is_final eq true", "final"), ("is_final eq false", "draft")),
    ),
    order=DerivedOrder(by="is_final"),
    migration="release_type is gone in v7: use the boolean is_final (true for 'final', false for 'draft').",
)

TRANSLATORS = [
    Translator(
        resource="release",
        doc="v6 release over v7 release",
        rules=(
            Rename("should_be_running_on__device", "is_pinned_to__device"),
            Hide("should_manage__device"),
            Hide("release__has__asset_key"),
            Hide("release_asset"),
            RELEASE_TYPE,
            Coerce("contract", None, to_v6=jsonb_text),
        ),
        pre_body_hooks=(release_type_body, contract_body),
    ),
    Translator(resource="release_asset", v7_only=True, doc="v7-only: release assets did not exist in v6"),
]
