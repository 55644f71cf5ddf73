"""A faithful v7 balena API simulator (an aiohttp app over an in-memory dataset), for tests and the demo.

    app = create_simulator_app()                      # the bundled balenaCloud-like fleet
    app = create_simulator_app(ds, flavour="open-balena", unknown_name_status=400)
    store_of(app).rows("device")                      # state, for assertions after writes
"""

from aiohttp import web

from .app import SIM_CONFIG, SIM_STORE, SimulatorConfig, create_simulator_app
from .model import load_model
from .store import Store, load_dataset


def store_of(app: web.Application) -> Store:
    """The live store behind a simulator app."""
    return app[SIM_STORE]


__all__ = ["create_simulator_app", "load_dataset", "load_model", "store_of", "Store", "SimulatorConfig",
           "SIM_STORE", "SIM_CONFIG"]
