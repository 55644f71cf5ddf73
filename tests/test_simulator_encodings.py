"""Content codings as open-balena-api has them: request bodies through body-parser 2.3.0, answers through
expressjs compression 1.8.1 (``src/index.ts``; versions from its package-lock.json).

body-parser 2.3.0 ``createDecompressionStream`` inflates ``gzip``, ``deflate`` and ``br``; anything else, zstd
included (its zstd support came after 2.3.0), is ``415 unsupported content encoding``. compression compresses
answers of 1 KiB and more with ``br``, ``gzip`` or ``deflate`` (never zstd) as ``Accept-Encoding`` allows. The
simulator used to send every answer uncompressed, so the proxy's reading of compressed upstream answers was only
tested against hand-made fixtures.
"""

from __future__ import annotations

import gzip
import importlib.util
import zlib
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
import pytest
from aiohttp import web

from balena_v7_simulator import create_simulator_app, store_of
from balena_v7_simulator.app import SIMULATOR_RUNNER_OPTIONS
from balena_v7_simulator.compression import THRESHOLD, negotiate
from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {"Content-Type": "application/json"}
PAGE_415 = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n'
    "<body>\n<pre>Unsupported Media Type</pre>\n</body>\n</html>\n"
)
BIG = "/v7/device?$orderby=id asc"  # the whole fleet: well over the threshold
SMALL = "/v7/device(1)?$select=id"
HAS_BROTLI = importlib.util.find_spec("brotli") is not None


@pytest.fixture
async def sim(serve_app: Callable[..., Awaitable[str]]) -> tuple[web.Application, str]:
    app = create_simulator_app()
    return app, await serve_app(app, **SIMULATOR_RUNNER_OPTIONS)


async def raw(
    url: str, target: str, method: str = "GET", body: bytes = b"", **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    """The answer as sent: no Accept-Encoding unless given, nothing decoded."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.request(
            method, url + target, data=body, headers={**ADMIN, **headers}, skip_auto_headers=["Accept-Encoding"]
        ) as response:
            return response.status, await response.read(), dict(response.headers)


# -- request bodies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["zstd", "x-gzip", "gzip, deflate", "compress"])
async def test_a_body_in_a_coding_body_parser_2_3_lacks_is_its_415_page(sim, coding: str) -> None:
    app, url = sim
    before = store_of(app).get("device", 1)["note"]
    status, body, headers = await raw(
        url, "/v7/device(1)", "PATCH", b'{"note": "x"}', **JSON, **{"Content-Encoding": coding}
    )
    assert (status, body.decode()) == (415, PAGE_415)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert store_of(app).get("device", 1)["note"] == before


@pytest.mark.skipif(not HAS_BROTLI, reason="the brotli module is not installed: the simulator cannot inflate br")
async def test_a_br_body_is_inflated_as_body_parser_does(sim) -> None:
    import brotli  # type: ignore[import-not-found,unused-ignore]

    app, url = sim
    packed = brotli.compress(b'{"note": "br"}')
    status, body, _ = await raw(url, "/v7/device(1)", "PATCH", packed, **JSON, **{"Content-Encoding": "br"})
    assert (status, body) == (200, b"")
    assert store_of(app).get("device", 1)["note"] == "br"


# -- answers -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate", "gzip"),
        ("deflate, gzip", "gzip"),  # equal q: compression's preferred order (br, gzip)
        ("gzip;q=0.5, deflate", "deflate"),
        ("deflate", "deflate"),
        ("*", "gzip"),
        ("zstd", None),
        ("gzip;q=0", None),
        ("identity", None),
    ],
)
async def test_an_answer_over_the_threshold_is_compressed_as_accept_encoding_allows(
    sim, accept: str, coding: str | None
) -> None:
    _, url = sim
    _, plain, _ = await raw(url, BIG)
    assert len(plain) >= THRESHOLD
    status, body, headers = await raw(url, BIG, **{"Accept-Encoding": accept})
    assert status == 200
    assert headers.get("Content-Encoding") == coding
    assert headers["Vary"] == "Accept-Encoding"
    if coding is None:
        assert body == plain
        return
    assert "Content-Length" not in headers
    assert headers["Transfer-Encoding"] == "chunked"
    assert (gzip.decompress(body) if coding == "gzip" else zlib.decompress(body)) == plain


async def test_small_answers_heads_and_requests_without_accept_encoding_are_not_compressed(sim) -> None:
    _, url = sim
    status, body, headers = await raw(url, SMALL, **{"Accept-Encoding": "gzip"})
    assert (status, body, headers["Vary"]) == (200, b'{"d":[{"id":1}]}', "Accept-Encoding")
    assert "Content-Encoding" not in headers
    _, _, headers = await raw(url, BIG, "HEAD", **{"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in headers
    _, _, headers = await raw(url, BIG)
    assert "Content-Encoding" not in headers


async def test_metadata_and_empty_answers_are_not_compressible(sim) -> None:
    """``$metadata`` goes out as ``Content-Type: xml``, which ``compressible`` does not know; an empty 200 has no
    type at all (no ``Vary`` either)."""
    _, url = sim
    _, body, headers = await raw(url, "/v7/$metadata", **{"Accept-Encoding": "gzip"})
    assert len(body) >= THRESHOLD
    assert "Content-Encoding" not in headers and "Vary" not in headers
    status, body, headers = await raw(
        url, "/v7/device(1)", "PATCH", b'{"note": "n"}', **JSON, **{"Accept-Encoding": "gzip"}
    )
    assert (status, body) == (200, b"")
    assert "Vary" not in headers


def test_negotiation_follows_negotiator() -> None:
    assert negotiate("gzip;q=0.8, deflate;q=0.9") == "deflate"
    assert negotiate("*;q=0, gzip") == "gzip"
    assert negotiate("identity;q=0, zstd") is None  # nothing acceptable: compression sends it as it is
    assert negotiate("GZIP") == "gzip"


# -- through the proxy ---------------------------------------------------------------------------------------


async def test_the_proxy_reads_the_apis_gzip_answer_and_passes_a_v7_one_on_as_it_came() -> None:
    """A translated v6 read: the proxy asks ``gzip, deflate`` and now gets the whole fleet gzipped. A ``/v7/``
    request is forwarded: the client gets the API's own compressed bytes."""
    async with running_pair() as pair:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            headers = {**ADMIN, "Accept-Encoding": "identity"}
            target = "/device?$select=id,uuid,created_at&$orderby=id asc"
            async with session.get(pair.simulator_url + "/v7" + target, headers=headers) as r:
                assert len(await r.read()) >= THRESHOLD  # so the API's answer to the proxy is compressed
            async with session.get(pair.proxy_url + "/v6" + target, headers=headers) as r:
                assert r.status == 200
                assert "Content-Encoding" not in r.headers
                rows = orjson.loads(await r.read())["d"]
            assert rows == [
                {k: d[k] for k in ("id", "uuid", "created_at")}
                for d in sorted(pair.store.rows("device"), key=lambda d: d["id"])
            ]
            async with session.get(pair.simulator_url + BIG, headers={**ADMIN, "Accept-Encoding": "identity"}) as r:
                direct = await r.read()
            async with session.get(pair.proxy_url + BIG, headers={**ADMIN, "Accept-Encoding": "deflate"}) as r:
                assert (r.status, r.headers["Content-Encoding"]) == (200, "deflate")
                assert zlib.decompress(await r.read()) == direct
        assert pair.simulator_crashes == []


# -- charsets: body-parser read.js isValidCharset (json: utf-*, urlencoded: utf-8 / iso-8859-1) ---------------


@pytest.mark.parametrize("charset", ["iso-8859-1", "latin1", "us-ascii", "utf-nonsense"])
async def test_a_json_body_in_a_charset_that_is_not_utf_is_body_parsers_415(sim, charset: str) -> None:
    app, url = sim
    headers = {"Content-Type": f"application/json; charset={charset}"}
    status, body, _ = await raw(url, "/v7/device(1)", "PATCH", b'{"note": "x"}', **headers)
    assert (status, body.decode()) == (415, PAGE_415)
    assert store_of(app).get("device", 1)["note"] != "x"


async def test_a_utf_16_json_body_is_read_and_a_bodyless_request_is_not_checked(sim) -> None:
    app, url = sim
    headers = {"Content-Type": "application/json; charset=UTF-16"}
    status, body, _ = await raw(url, "/v7/device(1)", "PATCH", '{"note": "sixteen"}'.encode("utf-16"), **headers)
    assert (status, body) == (200, b"")
    assert store_of(app).get("device", 1)["note"] == "sixteen"
    async with aiohttp.ClientSession() as session:  # no Content-Length, no Transfer-Encoding: type-is hasBody false
        headers = {**ADMIN, "Content-Type": "application/json; charset=latin1"}
        async with session.get(url + SMALL, headers=headers) as response:
            assert "Content-Length" not in response.request_info.headers
            assert response.status == 200
