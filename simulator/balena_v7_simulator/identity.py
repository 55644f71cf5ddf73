"""Who is asking, and which rows they may read or write.

Tokens belong to users (``dataset["auth"]["tokens"]``); users belong to organizations through
``organization_membership``; fleets belong to organizations. A member reads and writes everything under the
fleets of their organizations, reads public fleets (the ``balena_os/<arch>-supervisor`` fleets) and their
releases, reads the shared catalogues (device types, architectures...), and sees only their own user row and
direct-access rows, as on the real API. A superuser (``dataset["auth"]["superusers"]``) sees everything
readable, like open-balena's ``admin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .store import Row, Store

# resource -> (FK column, parent resource) leading up to an application (or device) that decides access
PARENT: dict[str, tuple[str, str]] = {
    "device": ("belongs_to__application", "application"),
    "release": ("belongs_to__application", "application"),
    "service": ("application", "application"),
    "image": ("is_a_build_of__service", "service"),
    "image_install": ("device", "device"),
    "service_install": ("device", "device"),
    "release_image": ("is_part_of__release", "release"),
    "release_tag": ("release", "release"),
    "release_asset": ("release", "release"),
    "image_label": ("release_image", "release_image"),
    "image_environment_variable": ("release_image", "release_image"),
    "service_label": ("service", "service"),
    "service_environment_variable": ("service", "service"),
    "device_service_environment_variable": ("service_install", "service_install"),
    "device_environment_variable": ("device", "device"),
    "device_config_variable": ("device", "device"),
    "device_tag": ("device", "device"),
    "application_environment_variable": ("application", "application"),
    "application_config_variable": ("application", "application"),
    "application_tag": ("application", "application"),
    "device_history": ("belongs_to__application", "application"),
}
CATALOGUES = frozenset(
    {"device_type", "device_type_alias", "cpu_architecture", "device_family", "device_manufacturer", "application_type"}
)
# Columns only a superuser reads.
SECRETS = {"user": {"password", "jwt_secret"}}

READ, WRITE = 1, 2


@dataclass
class Caller:
    """The authenticated user of one request."""

    user_id: int
    superuser: bool = False
    organizations: set[int] = field(default_factory=set)

    def access(self, store: Store, resource: str, row: Row) -> int:
        """0 (invisible), READ or WRITE for one row."""
        if self.superuser:
            return WRITE
        if resource == "application":
            if row.get("organization") in self.organizations:
                return WRITE
            return READ if row.get("is_public") else 0
        if resource in PARENT:
            column, parent = PARENT[resource]
            parent_row = store.get(parent, row.get(column))
            if parent_row is None:
                return 0
            return self.access(store, parent, parent_row)
        if resource in CATALOGUES:
            return READ
        if resource == "organization":
            return READ if row.get("id") in self.organizations else 0
        if resource == "organization_membership":
            return READ if row.get("is_member_of__organization") in self.organizations else 0
        if resource == "user":
            return READ if row.get("id") == self.user_id else 0
        if resource in ("user__has_direct_access_to__application", "user_public_key", "api_key"):
            return WRITE if row.get("user") == self.user_id else 0
        return 0


def token_of(request: web.Request) -> str | None:
    """The credential: ``Authorization: Bearer <t>`` or the ``apikey`` query parameter."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.rel_url.query.get("apikey") or None


def authenticate(store: Store, request: web.Request) -> Caller | None:
    return caller_for_token(store, token_of(request))


def caller_for_token(store: Store, token: str | None) -> Caller | None:
    """The user a token belongs to, with their organizations; None for a missing or unknown token."""
    if token is None:
        return None
    user_id = store.auth.get("tokens", {}).get(token)
    if user_id is None or store.get("user", user_id) is None:
        return None
    orgs = {m["is_member_of__organization"] for m in store.where("organization_membership", "user", user_id)}
    return Caller(user_id=user_id, superuser=user_id in store.auth.get("superusers", []), organizations=orgs)


def user_of(store: Store, caller: Caller) -> Row:
    return store.get("user", caller.user_id) or {}


def whoami_body(store: Store, caller: Caller, kind: str) -> dict[str, Any]:
    """The bodies of /user/v1/whoami, /actor/v1/whoami and /whoami."""
    user = user_of(store, caller)
    if kind == "actor":
        return {
            "id": user.get("actor"),
            "actorType": "user",
            "actorTypeId": user.get("id"),
            "username": user.get("username"),
            "email": user.get("email"),
        }
    return {"id": user.get("id"), "username": user.get("username"), "email": user.get("email")}
