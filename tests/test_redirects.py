"""Location/Content-Location from the upstream point at the proxy (nginx's ``proxy_redirect default``), the v7
path of a translated request comes back as v6, and the https redirect that would loop is a 502."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from balena_v7_simulator import create_simulator_app
from balena_v7_simulator.fixtures import ALICE_TOKEN

AUTH = {"Authorization": f"Bearer {ALICE_TOKEN}"}


def redirecting_upstream(origin: list[str]) -> web.Application:
    """Redirects and created resources that name the upstream's own origin (``origin[0]``, known once served)."""

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": f"{origin[0]}/api/new%2Fplace?x=%27a%27"})

    async def elsewhere(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "https://login.example/x"})

    async def v7(request: web.Request) -> web.Response:
        if request.method == "POST":
            location = f"{origin[0]}/api/v7/device(@id)?@id=5"
            return web.json_response({"id": 5}, status=201, headers={"Location": location})
        if "moved=1" not in request.raw_path:
            target = f"{origin[0]}{request.raw_path}&moved=1"
            return web.Response(status=301, headers={"Location": target, "Content-Location": target})
        return web.json_response({"d": []}, headers={"Content-Location": f"{origin[0]}/api/v7/device"})

    async def metadata(request: web.Request) -> web.Response:
        return web.Response(status=401)

    app = web.Application()
    app.router.add_get("/api/moved", moved)
    app.router.add_get("/api/elsewhere", elsewhere)
    app.router.add_get("/api/v7/$metadata", metadata)
    app.router.add_route("*", "/api/v7/{tail:.*}", v7)
    return app


async def test_locations_on_the_upstream_origin_become_paths_on_the_proxy(serve_app, start_proxy):
    origin: list[str] = []
    origin.append(await serve_app(redirecting_upstream(origin)))
    proxy = await start_proxy(origin[0] + "/api", upstream_flavour="open-balena")
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/moved", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"] == "/new%2Fplace?x=%27a%27"
        async with client.get(proxy.url + "/elsewhere", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "https://login.example/x"  # another origin
        async with client.get(proxy.url + "/v6/device?$select=id", allow_redirects=False) as r:
            assert r.status == 301
            assert r.headers["Location"] == "/v6/device?$select=id&moved=1"  # on the proxy, and v6 again
            assert r.headers["Content-Location"] == "/v6/device?$select=id&moved=1"
        async with client.get(proxy.url + "/v6/device?$select=id") as r:  # a client that follows it
            assert r.status == 200 and await r.json() == {"d": []}
            assert r.headers["Content-Location"] == "/v6/device"
        async with client.post(proxy.url + "/v6/device", json={"device_name": "x", "belongs_to__application": 1}) as r:
            assert r.status == 201 and r.headers["Location"] == "/v6/device(@id)?@id=5"


async def test_the_https_redirect_of_the_real_api_is_a_502_naming_forwarded_headers(serve_app, start_proxy):
    upstream = await serve_app(create_simulator_app())  # trust_proxy: the real API's rule
    proxy = await start_proxy(upstream, forwarded_headers="append")  # plain HTTP in front: X-Forwarded-Proto http
    async with aiohttp.ClientSession(headers=AUTH) as client:
        for path in ("/v6/device?$select=id", "/v7/device?$select=id", "/whoami"):
            async with client.get(proxy.url + path, allow_redirects=False) as r:
                assert r.status == 502, path
                message = await r.json()
                assert "forwarded_headers" in message and "redirect loop" in message
                assert "Location" not in r.headers
        # Behind a TLS terminator that says https, append is right: the API accepts the request.
        async with client.get(proxy.url + "/v6/device?$select=id", headers={"X-Forwarded-Proto": "https"}) as r:
            assert r.status == 200
