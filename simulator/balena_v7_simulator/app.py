"""The aiohttp application that plays the v7 balena API (plus the few non-OData endpoints clients call).

Envelopes and errors follow pinejs (spec §4): ``{"d": [...]}`` for reads (also by key), ``{"d": n}`` for
``$count``, 201 + the entity + ``Location`` for POST, an empty 200 for PATCH/PUT/DELETE, 401 empty for an
unknown resource or a missing/unknown token, 400 ``"Malformed url: '...'"`` for a URL the parser rejects.
PUT replaces the whole row or inserts it (``put.py``); ``POST /v7/<resource>(<id>)/canAccess`` answers the
caller's permission on one row.

Like the real API (open-balena-api ``fixProtocolMiddleware`` in ``src/index.ts``, with express's ``trust proxy``
on), ``trust_proxy=True`` (the default) answers ``301`` to ``https://<API host><url>`` every request that
carries ``X-Forwarded-For`` unless its ``X-Forwarded-Proto`` says ``https`` (``/ping`` exempt). Request lines
over 16 KiB get the Node server's ``431`` with an empty body (``max_request_line``).
Device provisioning and state endpoints are in ``device_api.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from proxy.errors import malformed_url_message
from proxy.odata import ODataSyntaxError, parse_target

from . import device_api, ir, put, rules, writes
from .bodies import body_of, body_parser
from .compression import compress
from .cors import browser_headers, cors
from .etag import etags
from .evaluator import Evaluator, ODataError
from .identity import READ, WRITE, Caller, authenticate, whoami_body
from .metadata import metadata_xml
from .model import load_model
from .query import Options, Request
from .store import SIM_STORE, Store, load_dataset
from .validation import validate_body


@dataclass(frozen=True)
class SimulatorConfig:
    flavour: str = "balena-cloud"
    unknown_name_status: int = 500
    log_interval: float = 1.0
    trust_proxy: bool = True
    api_host: str | None = None  # the host redirects name; None: the request's own Host


SIM_CONFIG: web.AppKey[SimulatorConfig] = web.AppKey("sim_config", SimulatorConfig)
SIM_LOG: web.AppKey[list] = web.AppKey("sim_log", list)  # (method, raw path, status) of every request served
# (method, raw path, exception) of every request a simulator bug answered: an exception no rule of the real API
# accounts for. The deliberate 500s (the real server's TranslationError or database error) are not in it.
SIM_CRASHES: web.AppKey[list] = web.AppKey("sim_crashes", list)
# The real API's Node server reads up to 16 KiB of request line and headers and answers 431 with an empty body
# above it (measured: a 13.9 KB URL is served, an 18.9 KB one gets 431). aiohttp's own parser limits are set
# above that (serve the app with SIMULATOR_RUNNER_OPTIONS) so the middleware below decides, as Node would.
MAX_HEAD_BYTES = 16384
# auto_decompress off: the body is decoded by ``bodies.body_parser`` as body-parser decodes it (an undecodable
# gzip body is a 400 there; aiohttp's parser would fail the connection instead).
SIMULATOR_RUNNER_OPTIONS: dict[str, int | bool] = {
    "max_line_size": 1 << 20,
    "max_field_size": 1 << 20,
    "auto_decompress": False,
}


@web.middleware
async def record(request: web.Request, handler) -> web.StreamResponse:
    """Keep what was asked and answered, so tests can check every request the proxy sent upstream (and any
    exception a route let escape: a simulator bug, answered as express answers one, 500 with an empty body)."""
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("simulator_error", extra={"target": request.raw_path})
        request.app[SIM_CRASHES].append((request.method, request.raw_path, repr(exc)))
        response = empty(500)
    request.app[SIM_LOG].append((request.method, request.raw_path, response.status))
    return response


@web.middleware
async def no_route(request: web.Request, handler) -> web.StreamResponse:
    """open-balena-api's last middleware, ``response.status(404).end()``: a path (or a method) no route takes is
    an empty 404, not aiohttp's ``404: Not Found`` / ``405: Method Not Allowed`` text."""
    try:
        return await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return empty(404)


@web.middleware
async def head_limit(request: web.Request, handler) -> web.StreamResponse:
    """Node's 431: request line and headers together over :data:`MAX_HEAD_BYTES`."""
    size = len(request.method) + len(request.raw_path) + len("  HTTP/1.1\r\n")
    size += sum(len(name) + len(value) + 4 for name, value in request.raw_headers)
    if size > MAX_HEAD_BYTES:
        response = web.Response(status=431)
        response.force_close()
        return response
    return await handler(request)


@web.middleware
async def fix_protocol(request: web.Request, handler) -> web.StreamResponse:
    """open-balena-api's ``fixProtocolMiddleware`` with ``trust proxy`` on: plain HTTP that came through a proxy
    (``X-Forwarded-For`` present) is sent to https unless the proxy says the client used https."""
    config = request.app[SIM_CONFIG]
    if not config.trust_proxy or request.raw_path == "/ping":
        return await handler(request)
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()  # express: first value
    if proto == "https" or "X-Forwarded-For" not in request.headers:
        return await handler(request)
    location = f"https://{config.api_host or request.host}{request.raw_path}"
    body = b"" if request.method == "HEAD" else f"Moved Permanently. Redirecting to {location}".encode()
    return web.Response(
        status=301, body=body, headers={"Location": location, "Content-Type": "text/plain; charset=utf-8"}
    )


JSON_TYPE = "application/json"
log = logging.getLogger("balena_v7_simulator")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(
        body=orjson.dumps(body), status=status, content_type=JSON_TYPE, charset="utf-8", headers=headers
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


def empty(status: int = 200) -> web.Response:
    return web.Response(status=status)


def error_response(err: ODataError) -> web.Response:
    if err.message is None:
        return empty(err.status)
    return json_response(err.message, status=err.status)


def _caller(request: web.Request) -> Caller | None:
    return authenticate(request.app[SIM_STORE], request)


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="OK")


async def whoami(request: web.Request) -> web.Response:
    caller = _caller(request)
    if caller is None:
        return empty(401)
    kind = "actor" if request.path.startswith("/actor/") else "user"
    return json_response(whoami_body(request.app[SIM_STORE], caller, kind))


async def metadata(request: web.Request) -> web.Response:
    """pinejs sends the XML through ``res.json``: a JSON string, with ``content-type: xml``."""
    xml = metadata_xml(request.app[SIM_CONFIG].flavour)
    return web.Response(body=json.dumps(xml).encode(), headers={"Content-Type": "xml"})


async def device_logs(request: web.Request) -> web.StreamResponse:
    """``/device/v2/<uuid>/logs``: JSON history, or with ``stream=1`` newline-delimited JSON, streamed.

    The stream sends the stored lines, then one synthetic line per ``log_interval`` seconds until the client
    goes away or ``count`` lines (a query parameter, for bounded tests) have been sent."""
    store = request.app[SIM_STORE]
    caller = _caller(request)
    if caller is None:
        return empty(401)
    uuid = request.match_info["uuid"]
    devices = [d for d in store.where("device", "uuid", uuid) if caller.access(store, "device", d)]
    if not devices:
        return empty(404)
    history = list(store.logs.get(uuid, []))
    if request.rel_url.query.get("stream") not in ("1", "true"):
        return json_response(history)
    limit = request.rel_url.query.get("count")
    remaining = int(limit) if limit and limit.isdigit() else None
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", **browser_headers(request)})
    response.enable_chunked_encoding()
    await response.prepare(request)
    sent = 0
    for line in history:
        if remaining is not None and sent >= remaining:
            return response
        await response.write(orjson.dumps(line) + b"\n")
        sent += 1
    tick = 0
    while remaining is None or sent < remaining:
        await asyncio.sleep(request.app[SIM_CONFIG].log_interval)
        tick += 1
        line = {
            "message": f"heartbeat {tick}",
            "timestamp": 1767607300000 + tick,
            "isStdErr": False,
            "isSystem": True,
            "serviceId": None,
        }
        await response.write(orjson.dumps(line) + b"\n")
        sent += 1
    await response.write_eof()
    return response


async def odata(request: web.Request) -> web.StreamResponse:
    if request.method == "OPTIONS":
        return empty(200)
    store = request.app[SIM_STORE]
    config = request.app[SIM_CONFIG]
    raw = request.raw_path
    target = raw[len("/v7") :]
    if target.split("?")[0] in ("/$metadata", "/"):
        return await metadata(request)
    caller = _caller(request)
    if caller is None:
        return empty(401)
    try:
        url = parse_target(target)
    except ODataSyntaxError:
        return json_response(malformed_url_message(raw), status=400)
    try:
        req = ir.request(url)
        ev = Evaluator(store, caller, config.unknown_name_status, req.aliases)
        ev.full_metadata = req.options.metadata == "full"
        if request.method == "HEAD":
            # express hands a HEAD to the GET route with its method kept, and pinejs knows no HEAD: its permission
            # check and odata-to-abstract-sql's Resource() run first (an unknown resource fails as for a GET),
            # then match() throws 'Unknown method "HEAD"', a TranslationError: 500, empty body
            ev.path_resource(req)
            raise ODataError(500)
        if request.method == "GET":
            return read(ev, req)
        body = body_of(request)
        if request.method == "POST" and req.navs and req.navs[-1].name == "canAccess":
            return can_access(ev, req, body)
        if request.method in ("POST", "PATCH", "PUT", "MERGE"):
            target = ev.path_resource(req)
            validate_body(target, body, writes.REQUIRED.get(target.name, ()))  # pinejs: before hooks, URL checks
            rules.check_hooks(target.name, body)
        if request.method == "POST":
            return create(ev, req, body)
        if request.method in ("PATCH", "MERGE") and body == {}:
            raise ODataError(400, "No fields to update")  # uri-parser, before translation: no row is looked up
        if request.method == "PUT":
            one_row = req.key is not None and not req.navs
            if one_row:
                _check_put_key(ev, req)
            res, rows = _write_targets(ev, req)
            put.put(ev, res, rows, body, _key_values(req.key) if one_row else None)
            return empty(200)
        if request.method in ("PATCH", "MERGE"):
            res, rows = _write_targets(ev, req)
            writes.patch(ev, res, rows, body)
            return empty(200)
        if request.method == "DELETE":
            res, rows = _write_targets(ev, req)
            writes.delete(ev, res, rows)
            return empty(200)
        return empty(405)
    except ODataError as err:
        return error_response(err)
    except Exception as exc:  # a simulator bug; pinejs answers an unexpected error with 500, empty body
        log.exception("simulator_error", extra={"target": raw})
        request.app[SIM_CRASHES].append((request.method, raw, repr(exc)))
        return empty(500)


def _write_targets(ev: Evaluator, req: Request) -> tuple[Any, list]:
    """Rows a PATCH/PUT/DELETE addresses: the key, or the rows its ``$filter``, ``$orderby``, ``$top`` and
    ``$skip`` select (odata-to-abstract-sql ``AddQueryOptions`` puts all four in the write's subquery)."""
    res, rows = ev.target_rows(req)
    o = req.options
    selecting = Options(filter=o.filter, orderby=o.orderby, top=o.top, skip=o.skip)
    ev.check_options(res, selecting)
    # pinejs writes `WHERE id IN (SELECT … LEFT JOIN …)`: a row a collection path joined twice is written once
    matched = {id(row): row for row in ev.apply_options(res, rows, selecting)}
    return res, list(matched.values())


INTEGER_TYPES = ("Serial", "Integer")  # sbvr-types validate.integer


def _check_put_key(ev: Evaluator, req: Request) -> None:
    """A PUT's key is also written (odata-to-abstract-sql ``PathKey`` adds it to the body as ``<resource>.id``), so
    pinejs validates it as the column's type before any query: sbvr-types ``validate.integer`` is JS ``parseInt``,
    and what has no leading integer fails as ``BadRequestError('"id" is not a number: <value>')`` (abstract-sql.ts
    ``getAndCheckBindValues``): 400 with that JSON string. (A GET/PATCH/DELETE key is only compared: see
    ``evaluator._key_value``.)"""
    res = ev.resource(req.resource)
    for name, value in _key_values(req.key).items():
        value = ev.literal(value)
        if res.type_of(name).split(" | ")[0] not in INTEGER_TYPES or not isinstance(value, str):
            continue
        if JS_PARSE_INT.match(value) is None:
            raise ODataError(400, f'"{name}" is not a number: {value}')


JS_PARSE_INT = re.compile(r"^[\s\ufeff]*[+-]?[0-9]")


def _key_values(key: Any) -> dict[str, Any]:
    values = key if isinstance(key, dict) else {"id": key}
    return {name: getattr(value, "value", value) for name, value in values.items()}


def can_access(ev: Evaluator, req: Request, body: Any) -> web.Response:
    """``POST /v7/<resource>(<id>)/canAccess``: 200 with the id when the caller may act on the row, else 401."""
    wanted = str((body or {}).get("action") or (body or {}).get("method") or "").lower()
    action = READ if wanted in ("read", "get") else WRITE
    res = ev.resource(req.resource)
    rows = ev.by_key(res, req.key) if req.key is not None else []
    if not rows or not ev.can(res.name, rows[0], action):
        raise ODataError(401)
    return json_response({"d": [{"id": rows[0]["id"]}]})


def read(ev: Evaluator, req: Request) -> web.Response:
    # /$count: pinejs ignores $select, $orderby, $top and $skip (AddQueryOptions, AddCountField), names included
    checked = Options(filter=req.options.filter, expand=req.options.expand) if req.count else req.options
    ev.check_options(ev.path_resource(req), checked)
    res, rows = ev.target_rows(req)
    if req.count:
        rows = ev.apply_options(res, rows, Options(filter=req.options.filter))
        return json_response({"d": len(rows)})
    name = req.resource if not req.navs else None
    return json_response(
        {"d": [ev.render(res, sc.row, req.options, name, sc) for sc in ev.apply_scoped(res, rows, req.options)]}
    )


def create(ev: Evaluator, req: Request, body: Any) -> web.Response:
    res = ev.resource(req.resource)
    if req.key is not None or req.navs:
        raise ODataError(405)
    row = writes.post(ev, res, body)
    location = f"/v7/{req.resource}(@id)?@id={row['id']}"
    if req.options.custom.get("returnResource") in ("0", "false"):
        return json_response({"id": row["id"]}, status=201, headers={"Location": location})
    entity = ev.render(res, row, Options(), req.resource)
    return json_response(entity, status=201, headers={"Location": location})


def create_simulator_app(
    dataset: dict | None = None,
    *,
    flavour: str = "balena-cloud",
    unknown_name_status: int = 500,
    log_interval: float = 1.0,
    trust_proxy: bool = True,
    api_host: str | None = None,
) -> web.Application:
    """A v7 API over ``dataset`` (default: the bundled fleet) in the given flavour."""
    model = load_model(flavour)
    app = web.Application(middlewares=[record, head_limit, fix_protocol, cors, compress, etags, body_parser, no_route])
    app[SIM_LOG] = []
    app[SIM_CRASHES] = []
    app[SIM_STORE] = Store(model, dataset if dataset is not None else load_dataset("fleet"))
    app[SIM_CONFIG] = SimulatorConfig(flavour, unknown_name_status, log_interval, trust_proxy, api_host)
    app.router.add_route("*", "/ping", ping)  # express app.use('/ping'): every method
    for path in ("/whoami", "/user/v1/whoami", "/actor/v1/whoami"):
        app.router.add_get(path, whoami)
    app.router.add_get("/device/v2/{uuid}/logs", device_logs)
    device_api.add_routes(app)
    app.router.add_route("*", "/v7/{tail:.*}", odata)
    return app
