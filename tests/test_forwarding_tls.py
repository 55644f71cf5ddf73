"""Upstream TLS: verified by default, a private CA via ca_bundle, and the loudly logged insecure switch."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess

import aiohttp
import pytest
from aiohttp import web

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture
async def https_upstream(tmp_path):
    """An HTTPS upstream on 127.0.0.1 with a freshly made self-signed certificate; yields (url, cert path)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def hello(_request: web.Request) -> web.Response:
        return web.Response(text="secure")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", str(cert)
    await runner.cleanup()


async def fetch(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as client:
        async with client.get(url) as response:
            return response.status, await response.text()


async def test_unknown_ca_is_refused_with_502(https_upstream, start_proxy):
    upstream, _ = https_upstream
    proxy = await start_proxy(upstream)
    status, body = await fetch(proxy.url + "/ping")
    assert status == 502 and json.loads(body).startswith("Upstream unavailable")


async def test_ca_bundle_trusts_a_private_ca(https_upstream, start_proxy):
    upstream, cert = https_upstream
    proxy = await start_proxy(upstream, ca_bundle=cert)
    assert await fetch(proxy.url + "/ping") == (200, "secure")


async def test_insecure_skips_verification_and_says_so(https_upstream, start_proxy, log_output):
    upstream, _ = https_upstream
    proxy = await start_proxy(upstream, insecure=True)
    assert await fetch(proxy.url + "/ping") == (200, "secure")
    [warning] = log_output.events("upstream_tls_verification_disabled")
    assert warning["level"] == "warning"
