"""Translated responses are gzipped only when the client's Accept-Encoding really accepts gzip (q-values)."""

from __future__ import annotations

import gzip
import json

import aiohttp
import pytest

from balena_v7_simulator.fixtures import ADMIN_TOKEN
from balena_v7_simulator.harness import running_pair
from proxy.v6 import gzipped


@pytest.mark.parametrize(
    "accept, gzipped",
    [
        ("gzip", True),
        ("gzip;q=0.5, identity", True),
        ("deflate, *;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, deflate", False),
        ("*;q=0", False),
        ("identity", False),
        ("br, *", True),
        ("*, gzip;q=0", False),
    ],
)
async def test_gzip_follows_the_q_values_of_accept_encoding(accept, gzipped):
    async with running_pair() as pair:
        async with aiohttp.ClientSession(
            auto_decompress=False, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as s:
            async with s.get(
                f"{pair.proxy_url}/v6/device?$orderby=id asc", headers={"Accept-Encoding": accept}
            ) as resp:
                assert resp.status == 200
                data = await resp.read()
                assert (resp.headers.get("Content-Encoding") == "gzip") is gzipped
    rows = json.loads(gzip.decompress(data) if gzipped else data)["d"]
    assert len(data) >= 1024 or gzipped  # big enough to be compressed when accepted
    assert rows[0]["id"] == 1 and "overall_status" in rows[0]


@pytest.mark.parametrize("level", [0, 1, 9])
async def test_gzip_level_is_the_operators(level):
    """``gzip_level``: 0 answers uncompressed even when gzip is accepted; any other level gives the same
    answer, compressed at that level."""
    async with running_pair(proxy_overrides={"gzip_level": level}) as pair:
        async with aiohttp.ClientSession(
            auto_decompress=False, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as s:
            url = f"{pair.proxy_url}/v6/device?$orderby=id asc"
            async with s.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                data = await resp.read()
                encoding = resp.headers.get("Content-Encoding")
            async with s.get(url, headers={"Accept-Encoding": "identity"}) as resp:
                plain = await resp.read()
    assert len(plain) >= 1024
    if level == 0:
        assert encoding is None and data == plain
    else:
        assert encoding == "gzip" and gzip.decompress(data) == plain
        assert data[8] == {1: 4, 9: 2}[level]  # the header's XFL byte: "fastest" / "maximum compression"


def test_gzip_level_beyond_9_is_refused():
    from proxy.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="gzip_level"):
        load_settings(env={}, overrides={"gzip_level": 10})


@pytest.mark.parametrize("size", [1, 511, 512, 513, 4096, 40_000, 300_000])
def test_a_window_sized_to_the_body_is_still_plain_gzip(size):
    body = bytearray(json.dumps([{"id": i, "name": f"device-{i % 97}"} for i in range(size // 20 + 1)]).encode())[:size]
    packed = gzipped(body, 5)
    assert gzip.decompress(packed) == body
    assert len(packed) <= len(gzip.compress(bytes(body), compresslevel=5)) + 16
