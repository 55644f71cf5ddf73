"""The objects one application shares between its parts, by typed key. One small module that app.py (which
stores them) and the handlers (which read them) both import, so neither has to import the other."""

from __future__ import annotations

from aiohttp import web

from .engine import Engine
from .settings import Settings
from .upstream import Upstream

__all__ = ["ENGINE", "SETTINGS", "UPSTREAM"]

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
UPSTREAM: web.AppKey[Upstream] = web.AppKey("upstream", Upstream)
ENGINE: web.AppKey[Engine] = web.AppKey("v6_engine", Engine)
