"""Per-client rollout: which mode serves a ``/v6/`` request, and the deprecation signals of translated answers.

``v6_mode_rules`` lets an operator move clients to translation one at a time: an ordered list of
``PATTERN=MODE`` rules, PATTERN a shell-style glob matched case-sensitively against the client
(``X-Balena-Client``, else the user agent, else ``""``); the first match wins and unmatched clients are
translated. ``v6_mode = "forward"`` stays the absolute rollback whatever the rules say. Every ``/v6/`` access
event says which mode served it (``v6_mode``) and which resource it named (``resource``).
"""

from __future__ import annotations

import calendar
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import formatdate
from fnmatch import fnmatchcase
from urllib.parse import unquote

from aiohttp import web

from .forward import forward
from .logs import LOG_EXTRA
from .settings import Settings, split_rule
from .shadow import SHADOW, KeptBody, client_answer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_name(request: web.BaseRequest) -> str:
    """Who the client says it is: ``X-Balena-Client``, else its user agent, else ``""``."""
    headers = request.headers
    return headers.get("X-Balena-Client") or headers.get("User-Agent") or ""


def v6_resource(raw_path: str) -> str:
    """The resource a ``/v6/...`` target names (``/v6/device(1)?$x`` -> ``device``), decoded; ``""`` for none."""
    rest = raw_path[4:] if raw_path.startswith("/v6/") else ""
    for stop in "?(/#":
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    return unquote(rest)


class Rules:
    """The parsed ``v6_mode_rules``; :meth:`mode` is the mode for one client."""

    def __init__(self, settings: Settings) -> None:
        self.absolute = settings.v6_mode if settings.v6_mode == "forward" else None
        self.rules = tuple(split_rule(rule) for rule in settings.v6_mode_rules)

    def mode(self, client: str) -> str:
        if self.absolute is not None:
            return self.absolute
        for pattern, mode in self.rules:
            if fnmatchcase(client, pattern):
                return mode
        return "translate"


def deprecation_headers(settings: Settings) -> dict[str, str]:
    """``Deprecation`` (RFC 9745, ``@epoch``), ``Sunset`` (RFC 8594, an HTTP-date) and the deprecation ``Link``."""
    headers = {"Deprecation": f"@{_epoch(settings.deprecation_date)}"}
    if settings.sunset_date:
        headers["Sunset"] = formatdate(_epoch(settings.sunset_date), usegmt=True)
    if settings.deprecation_link:
        headers["Link"] = f'<{settings.deprecation_link}>; rel="deprecation"'
    return headers


def _epoch(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return calendar.timegm(moment.utctimetuple())


def v6_entry(translate: Handler | None, settings: Settings) -> Handler:
    """The handler of every ``/v6/...`` route: forwards or translates per the rules, labels the access
    event, adds the deprecation headers to translated answers and hands the answer to the shadow hook."""
    rules = Rules(settings)
    extra_headers = deprecation_headers(settings) if settings.deprecation_headers else {}

    async def entry(request: web.Request) -> web.StreamResponse:
        mode = rules.mode(client_name(request)) if translate is not None else "forward"
        request[LOG_EXTRA].update(v6_mode=mode, resource=v6_resource(request.raw_path))
        shadow = request.app.get(SHADOW)
        sampled = shadow is not None and shadow.pick(request)
        if mode == "forward":
            if not sampled:
                return await forward(request)
            assert shadow is not None
            kept = KeptBody()
            forwarded = await forward(request, keep=kept)
            shadow.start(request, mode, forwarded.status, client_answer(request, forwarded, kept))
            return forwarded
        assert translate is not None
        response = await translate(request)
        if extra_headers and not response.prepared:
            response.headers.update(extra_headers)
        if sampled:
            assert shadow is not None
            shadow.start(request, mode, response.status, client_answer(request, response))
        return response

    return entry
