"""Requests the fuzz test found the simulator answering with a 500 of its own: the real API's answers to them.

Each test names the source of the real rule (open-balena-api, pinejs, odata-to-abstract-sql, sbvr-types,
body-parser, finalhandler). The simulator is served on a real socket with ``SIMULATOR_RUNNER_OPTIONS`` (as the
harness serves it), so the request body reaches it exactly as sent, Content-Encoding included.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from balena_v7_simulator import create_simulator_app, store_of
from balena_v7_simulator.app import SIM_CRASHES, SIMULATOR_RUNNER_OPTIONS
from balena_v7_simulator.fixtures import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {"Content-Type": "application/json"}
# express's finalhandler (1.x, express 4) with NODE_ENV=production: the status message in a minimal page
PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
    "<body>\n<pre>{}</pre>\n</body>\n</html>\n"
)


class Sim:
    def __init__(self, app: web.Application, url: str) -> None:
        self.app = app
        self.url = url

    async def send(self, method: str, target: str, body: bytes = b"", **headers: str) -> tuple[int, bytes, Any]:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.request(
                method, self.url + target, data=body, headers={**ADMIN, **headers}, skip_auto_headers=["Content-Type"]
            ) as response:
                return response.status, await response.read(), response.headers

    @property
    def crashes(self) -> list[tuple[str, str, str]]:
        return self.app[SIM_CRASHES]


@pytest.fixture
async def sim(serve_app: Callable[..., Awaitable[str]]) -> Sim:
    app = create_simulator_app()
    return Sim(app, await serve_app(app, **SIMULATOR_RUNNER_OPTIONS))


def note_of(sim: Sim, device_id: int = 1) -> Any:
    return store_of(sim.app).get("device", device_id)["note"]


# -- request bodies: body-parser 2 as open-balena-api installs it (src/index.ts setupMiddleware) ---------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "GZIP"])
async def test_a_body_that_does_not_inflate_is_body_parsers_400_page(sim: Sim, coding: str) -> None:
    """body-parser lib/read.js: a decompression stream error is ``createError(400, …)``; no error handler in
    open-balena-api, so finalhandler answers (production: the status message as HTML)."""
    status, body, headers = await sim.send(
        "PATCH", "/v7/device(1)", b'{"note": "not compressed"}', **JSON, **{"Content-Encoding": coding}
    )
    assert (status, body.decode()) == (400, PAGE.format("Bad Request"))
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == "default-src 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert note_of(sim) != "not compressed"
    assert sim.crashes == []


async def test_a_bad_body_is_refused_before_authentication(sim: Sim) -> None:
    """The body parser runs before the jwt middleware and the routes: no token needed to get its 400."""
    async with aiohttp.ClientSession() as session:
        async with session.patch(
            sim.url + "/v7/device(1)", data=b"xx", headers={**JSON, "Content-Encoding": "gzip"}
        ) as response:
            assert (response.status, await response.text()) == (400, PAGE.format("Bad Request"))


@pytest.mark.parametrize(
    ("coding", "packed"),
    [("gzip", gzip.compress(b'{"note": "packed"}')), ("deflate", zlib.compress(b'{"note": "packed"}'))],
)
async def test_a_compressed_json_body_is_inflated_and_applied(sim: Sim, coding: str, packed: bytes) -> None:
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", packed, **JSON, **{"Content-Encoding": coding})
    assert (status, body) == (200, b"")
    assert note_of(sim) == "packed"


async def test_a_truncated_gzip_body_is_a_400(sim: Sim) -> None:
    packed = gzip.compress(b'{"note": "cut"}')[:-6]  # Node's zlib: "unexpected end of file"
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", packed, **JSON, **{"Content-Encoding": "gzip"})
    assert (status, body.decode()) == (400, PAGE.format("Bad Request"))


async def test_an_unknown_content_encoding_is_415(sim: Sim) -> None:
    """body-parser createDecompressionStream: ``415 unsupported content encoding "x"``."""
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", b'{"note": "x"}', **JSON, **{"Content-Encoding": "x"})
    assert (status, body.decode()) == (415, PAGE.format("Unsupported Media Type"))
    assert note_of(sim) != "x"


@pytest.mark.parametrize("content_type", ["text/plain", "json; x=1", ""])
async def test_a_body_that_is_not_json_is_never_read(sim: Sim, content_type: str) -> None:
    """open-balena-api parses JSON only for ``application/…json`` types: any other body is not read (even one
    that would not inflate) and the request sees ``{}``, so a PATCH has no fields to update."""
    headers = {"Content-Encoding": "gzip", **({"Content-Type": content_type} if content_type else {})}
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", b'{"note": "ignored"}', **headers)
    assert (status, body) == (400, b'"No fields to update"')
    assert note_of(sim) != "ignored"


async def test_a_vendor_json_type_is_parsed(sim: Sim) -> None:
    status, _, _ = await sim.send(
        "PATCH", "/v7/device(1)", b'{"note": "vendor"}', **{"Content-Type": "application/vnd.x+json; charset=utf-8"}
    )
    assert status == 200
    assert note_of(sim) == "vendor"


@pytest.mark.parametrize("payload", [b'"note"', b"5", b"null", b"  true", b"{bad json"])
async def test_json_that_is_not_an_object_or_array_is_refused_by_the_parser(sim: Sim, payload: bytes) -> None:
    """body-parser json is strict by default: the first character must be ``{`` or ``[``; a parse failure is
    also its 400."""
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", payload, **JSON)
    assert (status, body.decode()) == (400, PAGE.format("Bad Request"))


async def test_an_empty_json_body_is_an_empty_object(sim: Sim) -> None:
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", b"", **JSON)
    assert (status, body) == (400, b'"No fields to update"')


async def test_a_body_over_512_kib_is_413(sim: Sim) -> None:
    """``bodyParser.json({ limit: '512kb' })``; counted after inflating."""
    big = b'{"note": "' + b"x" * (512 * 1024) + b'"}'
    status, body, _ = await sim.send("PATCH", "/v7/device(1)", big, **JSON)
    assert (status, body.decode()) == (413, PAGE.format("Payload Too Large"))
    status, _, _ = await sim.send("PATCH", "/v7/device(1)", gzip.compress(big), **JSON, **{"Content-Encoding": "gzip"})
    assert status == 413


async def test_the_undecodable_body_through_the_proxy_is_the_simulators_400_not_a_502(
    sim: Sim, start_proxy: Callable[..., Awaitable[Any]]
) -> None:
    """What the fuzz test saw: aiohttp's parser used to fail the connection on such a body (a 502 upstream)."""
    proxy = await start_proxy(sim.url)
    async with aiohttp.ClientSession() as session:
        async with session.patch(
            proxy.url + "/v7/device(1)", data=b"\x00garbage", headers={**ADMIN, **JSON, "Content-Encoding": "gzip"}
        ) as response:
            assert response.status == 400
    assert sim.crashes == []


# -- a property path: a field name where a navigation is expected -----------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "POST"])
async def test_a_field_after_a_key_is_the_translators_500(sim: Sim, method: str) -> None:
    """odata-to-abstract-sql ``PathSegment`` treats ``device(1)/device_name`` as a navigation: ``Resource()`` ->
    ``ResolveRelationship`` finds no relationship to a resource and throws; pinejs uri-parser rethrows any
    translator error as ``TranslationError``, which ``convertToHttpError`` makes an ``InternalRequestError``:
    500, empty body. A deliberate answer of the simulator, not a crash."""
    before = dict(store_of(sim.app).get("device", 1))
    status, body, _ = await sim.send(method, "/v7/device(1)/device_name", b'{"device_name": "renamed"}', **JSON)
    assert (status, body) == (500, b"")
    assert store_of(sim.app).get("device", 1) == before
    assert sim.crashes == []


# -- a key of the wrong type -------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/v7/device('')", "/v7/device('abc')", "/v7/device_type('raspberrypi3')"])
@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_text_key_on_an_integer_id_is_the_databases_500(sim: Sim, target: str, method: str) -> None:
    """The key is an untyped bind ``"device"."id" = $1``; PostgreSQL reads ``''`` as an integer and fails
    (invalid input syntax), a ``DatabaseError`` that pinejs answers 500 with an empty body."""
    status, body, _ = await sim.send(method, target)
    assert (status, body) == (500, b"")
    assert sim.crashes == []


async def test_a_text_key_that_reads_as_an_integer_finds_the_row(sim: Sim) -> None:
    status, body, _ = await sim.send("GET", "/v7/device('1')?$select=id")
    assert (status, body) == (200, b'{"d":[{"id":1}]}')


async def test_a_number_key_on_a_text_column_finds_nothing(sim: Sim) -> None:
    """node-postgres sends the number as text and the parameter takes the column's type: no error, no row."""
    status, body, _ = await sim.send("GET", "/v7/device(uuid=1)")
    assert (status, body) == (200, b'{"d":[]}')


@pytest.mark.parametrize(("key", "message"), [("''", '"id" is not a number: '), ("'abc'", '"id" is not a number: abc')])
async def test_a_put_with_a_text_key_on_an_integer_id_is_the_bind_checks_400(sim: Sim, key: str, message: str) -> None:
    """A PUT writes its key too (odata-to-abstract-sql ``PathKey`` -> ``addBodyKey``), so pinejs validates it
    as the id column (sbvr-types ``validate.integer``: JS parseInt) before any query: ``getAndCheckBindValues``
    throws ``BadRequestError('"id" is not a number: …')``, a 400 with that JSON string. Nothing is written."""
    count = len(store_of(sim.app).rows("service"))
    status, body, _ = await sim.send("PUT", f"/v7/service({key})", b'{"service_name": "s"}', **JSON)
    assert (status, body.decode()) == (400, '"' + message.replace('"', '\\"') + '"')
    assert len(store_of(sim.app).rows("service")) == count


async def test_a_patch_without_fields_is_400_before_its_key_is_looked_up(sim: Sim) -> None:
    """uri-parser checks for an empty PATCH body before translating, so a bad key never reaches the database."""
    status, body, _ = await sim.send("PATCH", "/v7/service('x')", b"{}", **JSON)
    assert (status, body) == (400, b'"No fields to update"')


# -- what is not a rule of the real API: a simulator bug, kept apart for the fuzz test ---------------------------


async def test_an_exception_in_the_simulator_is_a_500_recorded_as_a_crash(
    serve_app: Callable[..., Awaitable[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Express answers an unexpected error with 500; the simulator does too, and records it in ``SIM_CRASHES``
    (``Pair.simulator_crashes``), which tests/test_fuzz.py requires to stay empty. Its deliberate 500s are not
    recorded (see the tests above)."""
    import balena_v7_simulator.app as sim_app

    def broken(*_: Any) -> None:
        raise RuntimeError("a simulator bug")

    async def broken_route(*_: Any) -> None:
        broken()

    monkeypatch.setattr(sim_app, "read", broken)  # inside the OData handler
    monkeypatch.setattr(sim_app, "ping", broken_route)  # a route of its own (bound when the app is built)
    app = create_simulator_app()
    sim = Sim(app, await serve_app(app, **SIMULATOR_RUNNER_OPTIONS))
    assert (await sim.send("GET", "/v7/device(1)"))[:2] == (500, b"")
    assert (await sim.send("GET", "/ping"))[:2] == (500, b"")
    assert sim.crashes == [
        ("GET", "/v7/device(1)", "RuntimeError('a simulator bug')"),
        ("GET", "/ping", "RuntimeError('a simulator bug')"),
    ]
