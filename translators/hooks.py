"""Body hooks shared by translators: rules that need an upstream look-up with the caller's credentials."""

from __future__ import annotations

from typing import Any

from translators import BodyContext, BodyError, BodyHook


def _rows(reply: Any, what: str) -> list[dict[str, Any]]:
    """The ``d`` rows of a look-up; an answer of another shape is the upstream's fault (502)."""
    rows = reply.get("d") if isinstance(reply, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("id"), int) for r in rows):
        raise BodyError(502, f"Upstream unavailable: the look-up of {what} answered an unexpected body")
    return rows


def _odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def device_type_to_reference(v7_field: str) -> BodyHook:
    """POST only (spec §1 rows 24/25): ``device_type`` (slug or alias) → ``<v7_field>`` = its id.

    Looked up as the real v6 hook did, with the caller's credentials, cached briefly per credential;
    an unknown slug is 404 ``"Unknown device type <slug>"``.
    """

    async def hook(ctx: BodyContext, body: dict[str, Any]) -> None:
        if ctx.method != "POST" or "device_type" not in body:
            return
        slug = body["device_type"]
        if not isinstance(slug, str):
            return
        from urllib.parse import quote

        query = "$top=1&$select=id,slug&$filter=" + quote(
            f"device_type_alias/any(dta:dta/is_referenced_by__alias eq {_odata_string(slug)})", safe="()/:,'$="
        )

        async def look_up() -> Any:
            return await ctx.get_json("/v7/device_type?" + query)

        reply = await ctx.cached("device_type:" + slug, look_up)
        rows = _rows(reply, "/v7/device_type")
        if not rows:
            raise BodyError(404, f"Unknown device type {slug}")
        body[v7_field] = rows[0]["id"]
        del body["device_type"]
        ctx.record("body.device_type_lookup")

    hook.__name__ = f"device_type_to_{v7_field}"
    return hook


NO_ORGANIZATION = "organization is required: none could be chosen for this user; pass organization"


async def default_organization(ctx: BodyContext, body: dict[str, Any]) -> None:
    """POST application without ``organization`` (decision 3): configured default, else the caller's
    personal organization (handle == username), else their only one, else 400."""
    if ctx.method != "POST" or body.get("organization") is not None:
        return
    configured = getattr(ctx.settings, "default_organization", None)
    if configured:
        if str(configured).isdigit():
            body["organization"] = int(configured)
            ctx.record("body.organization_default")
            return
        reply = await ctx.get_json(
            "/v7/organization?$select=id&$filter=handle%20eq%20" + _quote(_odata_string(str(configured)))
        )
        rows = _rows(reply, "/v7/organization")
        if rows:
            body["organization"] = rows[0]["id"]
            ctx.record("body.organization_default")
            return
        raise BodyError(400, NO_ORGANIZATION)
    whoami = await ctx.get_json("/user/v1/whoami")
    if not isinstance(whoami, dict):
        raise BodyError(502, "Upstream unavailable: the look-up of /user/v1/whoami answered an unexpected body")
    username = whoami.get("username")
    reply = await ctx.get_json("/v7/organization?$select=id,handle")
    rows = _rows(reply, "/v7/organization")
    chosen = [r for r in rows if username is not None and r.get("handle") == username]
    if not chosen and len(rows) == 1:
        chosen = rows
    if not chosen:
        raise BodyError(400, NO_ORGANIZATION)
    body["organization"] = chosen[0]["id"]
    ctx.record("body.organization_default")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="'")
