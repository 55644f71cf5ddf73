"""A faithful v7 balena API simulator (an aiohttp app over an in-memory dataset), for tests and the demo.

    app = create_simulator_app()                       # the bundled balenaCloud-like fleet (data/fleet.json)
    app = create_simulator_app(ds, flavour="open-balena", unknown_name_status=400)
    store_of(app).rows("device")                       # live state, for assertions after writes
    async with running_pair() as pair: ...             # simulator + translating proxy on loopback (harness.py)

Endpoints: ``/v7/...`` (GET/POST/PATCH/PUT/MERGE/DELETE/OPTIONS, ``/$count``, keys and alternate keys,
``/<resource>(<id>)/canAccess``), ``/v7/$metadata``, ``/ping``, ``/whoami``, ``/user/v1/whoami``,
``/actor/v1/whoami``, ``/device/v2/<uuid>/logs`` (``?stream=1``: newline-delimited JSON, chunked, endless
unless ``count=N``). Credentials: ``Authorization: Bearer <token>`` or ``?apikey=<token>``.

Dataset format: ``{"tables": {resource: [row, ...]}, "auth": {"tokens": {token: user_id}, "superusers": [ids]},
"logs": {uuid: [line, ...]}}``; rows hold raw columns (a foreign key is an id; ``{"__id": n}`` is accepted), and
computed fields are derived on read. Test names for the bundled fleet are in ``fixtures.py``.
"""

from aiohttp import web

from .app import SIM_CONFIG, SIM_STORE, SimulatorConfig, create_simulator_app
from .model import load_model
from .store import Store, load_dataset


def store_of(app: web.Application) -> Store:
    """The live store behind a simulator app."""
    return app[SIM_STORE]


__all__ = [
    "SIM_CONFIG",
    "SIM_STORE",
    "SimulatorConfig",
    "Store",
    "create_simulator_app",
    "load_dataset",
    "load_model",
    "store_of",
]
