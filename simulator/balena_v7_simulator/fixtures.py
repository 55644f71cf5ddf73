"""Names tests and the demo use to talk to the bundled fleet (``data/fleet.json``).

Each device label names the state it is in; ``DEVICE_STATUS`` gives the v7 ``overall_status`` the simulator
computes for it (balenaCloud flavour) and the value a v6 client must see through the proxy (spec §2.4).
"""

from __future__ import annotations

from .fleetgen import TOKENS

ALICE_TOKEN = "alice-token"  # member of organizations 'alice' (personal) and 'acme'
BOB_TOKEN = "bob-token"  # member of 'bob' only
ADMIN_TOKEN = "admin-token"  # superuser

APP_SLUG = "acme/myapp"
APP_ID = 1
PERSONAL_ORG = "alice"
DEVICE_TYPE = "raspberrypi4-64"

# label -> (uuid, v7 overall_status, v6 overall_status)
DEVICE_STATUS: dict[str, tuple[str, str, str]] = {
    "operational": ("01" + "d" * 30, "operational", "idle"),
    "reduced": ("02" + "d" * 30, "reduced-functionality", "idle"),
    "offline": ("03" + "d" * 30, "disconnected", "offline"),
    "configuring": ("04" + "d" * 30, "configuring", "configuring"),
    "updating": ("05" + "d" * 30, "updating", "updating"),
    "updating-installs": ("06" + "d" * 30, "updating", "updating"),
    "post-provisioning": ("07" + "d" * 30, "post-provisioning", "post-provisioning"),
    "inactive": ("08" + "d" * 30, "inactive", "inactive"),
    "configuring-dl": ("09" + "d" * 30, "configuring", "updating"),
    "reduced-dl": ("0a" + "d" * 30, "reduced-functionality", "updating"),
    "timeout": ("0b" + "d" * 30, "reduced-functionality", "idle"),
    "pinned": ("0c" + "d" * 30, "operational", "idle"),
    "novpn-control": ("0d" + "d" * 30, "operational", "idle"),
}
RELEASES = {"v1.0.0": "a" * 31 + "1", "v1.1.0": "b" * 32, "draft": "c" * 31 + "3", "failed": "d" * 31 + "4"}
FLEET_TARGET_RELEASE = 2

__all__ = [
    "ADMIN_TOKEN",
    "ALICE_TOKEN",
    "APP_ID",
    "APP_SLUG",
    "BOB_TOKEN",
    "DEVICE_STATUS",
    "DEVICE_TYPE",
    "FLEET_TARGET_RELEASE",
    "PERSONAL_ORG",
    "RELEASES",
    "TOKENS",
]
