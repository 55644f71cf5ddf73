"""A third-party translator, pip-installed into the test venv, is loaded through its entry point.

The package lives in tests/thirdparty/ (its pyproject.toml declares the ``balena_v6_proxy.translators`` entry
point). The test packs it into a wheel (no build backend or network needed), installs it with pip, starts the
proxy and checks the plug-in's rule works end to end, then uninstalls it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import aiohttp
import pytest

from fixtures.engine.upstream import Reply, V7Fixture
from translators.registry import ENTRY_POINT_GROUP, thirdparty_translators

PACKAGE_DIR = Path(__file__).parent / "thirdparty"
DIST = "balena_v6_proxy_legacy_note"
VERSION = "0.1.0"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(out_dir: Path) -> Path:
    """A PEP 427 wheel of tests/thirdparty (what ``pip wheel tests/thirdparty`` would produce)."""
    info = f"{DIST}-{VERSION}.dist-info"
    files = {
        f"{DIST}/__init__.py": (PACKAGE_DIR / DIST / "__init__.py").read_bytes(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: balena-v6-proxy-legacy-note\nVersion: {VERSION}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[{ENTRY_POINT_GROUP}]\nlegacy_note = {DIST}\n".encode(),
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"{DIST}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture
def installed_plugin(tmp_path):
    wheel = build_wheel(tmp_path)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", str(wheel)], check=True)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "-y", "balena-v6-proxy-legacy-note"], check=True)
        sys.modules.pop(DIST, None)
        importlib.invalidate_caches()


async def test_thirdparty_translator_from_an_installed_package(installed_plugin, serve_app, start_proxy):
    names = [name for name, _ in thirdparty_translators()]
    assert "legacy_note" in names
    fixture = V7Fixture()
    running = await start_proxy(await serve_app(fixture.app), v6_mode="translate", upstream_flavour="open-balena")
    fixture.queue(Reply(200, {"d": [{"id": 1, "note": "n"}]}))
    async with aiohttp.ClientSession() as s:
        async with s.get(running.url + "/v6/device?$select=id,note,legacy_note") as resp:
            assert await resp.json() == {"d": [{"id": 1, "note": "n", "legacy_note": None}]}
        async with s.get(running.url + "/v6/device?$select=id&$filter=legacy_note%20eq%20null") as resp:
            assert resp.status == 200
    assert fixture.v7[0].path_qs == "/v7/device?$select=id,note"
    assert fixture.v7[-1].path_qs == "/v7/device?$select=id&$filter=true"


def test_without_the_package_the_name_is_unknown():
    assert "legacy_note" not in [name for name, _ in thirdparty_translators()]
