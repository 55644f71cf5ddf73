"""A third-party translator, really pip-installed, is loaded through its entry point.

The package lives in tests/thirdparty/ (its pyproject.toml declares the ``balena_v6_proxy.translators`` entry
point). The test packs it into a wheel (no build backend or network needed), installs it with
``pip install --target`` into a temporary directory (never the shared venv), starts the proxy as a subprocess
with that directory on PYTHONPATH and checks the plug-in's rule works end to end.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from importlib.metadata import distributions
from pathlib import Path

import aiohttp
import pytest
from conftest import clean_env, free_port
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
def plugin_site(tmp_path) -> Path:
    """The plug-in really pip-installed, but into a directory of its own (never the shared venv, so parallel
    runs do not see it and a killed run leaves nothing behind)."""
    wheel = build_wheel(tmp_path)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], check=True)
    return site


def test_pip_installed_the_package_with_its_entry_point(plugin_site):
    """What pip wrote is an installed distribution whose entry point importlib.metadata finds on that path."""
    [dist] = [d for d in distributions(path=[str(plugin_site)]) if d.metadata["Name"] == "balena-v6-proxy-legacy-note"]
    [ep] = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    assert (ep.name, ep.value) == ("legacy_note", DIST)
    assert (plugin_site / DIST / "__init__.py").is_file() and dist.files


async def test_thirdparty_translator_from_an_installed_package(plugin_site, serve_app, spawn_cli):
    """The proxy, started with the plug-in's directory on its path, finds it through the entry point and its
    rule works end to end."""
    fixture = V7Fixture()
    upstream = await serve_app(fixture.app)
    port = free_port()
    path = os.pathsep.join(p for p in (str(plugin_site), os.environ.get("PYTHONPATH")) if p)
    cli = await spawn_cli(
        "serve",
        "--upstream",
        upstream,
        "--port",
        str(port),
        "--log-format",
        "json",
        "--v6-mode",
        "translate",
        "--upstream-flavour",
        "open-balena",
        env=clean_env(PYTHONPATH=path),
    )
    await cli.wait_event("listening")
    fixture.queue(Reply(200, {"d": [{"id": 1, "note": "n"}]}))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/v6/device?$select=id,note,legacy_note") as resp:
            assert await resp.json() == {"d": [{"id": 1, "note": "n", "legacy_note": None}]}
        async with s.get(base + "/v6/device?$select=id&$filter=legacy_note%20eq%20null") as resp:
            assert resp.status == 200
    assert fixture.v7[0].path_qs == "/v7/device?$select=id,note"
    assert fixture.v7[-1].path_qs == "/v7/device?$select=id&$filter=true"
    assert await cli.stop() == 0


async def test_without_the_plugin_on_the_path_the_name_is_unknown(serve_app, spawn_cli):
    fixture = V7Fixture()
    upstream = await serve_app(fixture.app)
    port = free_port()
    cli = await spawn_cli(
        "serve",
        "--upstream",
        upstream,
        "--port",
        str(port),
        "--log-format",
        "json",
        "--v6-mode",
        "translate",
        "--upstream-flavour",
        "open-balena",
        "--unknown-names",
        "reject",
    )
    await cli.wait_event("listening")
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}/v6/device?$select=id,legacy_note") as resp:
            assert (resp.status, await resp.json()) == (400, "Unknown field 'legacy_note' on 'device' in $select")
    assert fixture.v7 == []
    assert "legacy_note" not in [name for name, _ in thirdparty_translators()]  # nor in this test process


def test_a_plugin_failing_its_declaration_checks_is_one_startup_line(tmp_path):
    """A plug-in whose rule fails its own checks (DeclarationError at import) stops start-up with one line
    naming the module and the rule and exit status 1 (README, Operations: start-up failures), one worker or
    several; no traceback, nothing on stdout."""
    site = tmp_path / "site"
    (site / "broken_note").mkdir(parents=True)
    (site / "broken_note" / "__init__.py").write_text(
        "from translators import Constant, Translator\n\n"
        'TRANSLATORS = [Translator(resource="device", rules=(Constant("legacy note", "Text | null"),))]\n'
    )
    info = site / "broken_note-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-note\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken_note = broken_note\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    serve = [sys.executable, "-m", "proxy", "serve", "--upstream", "http://127.0.0.1:9", "--log-format", "json"]
    for workers in ("1", "2"):
        result = subprocess.run(
            [*serve, "--upstream-flavour", "open-balena", "--port", str(free_port()), "--workers", workers],
            capture_output=True,
            text=True,
            timeout=60,
            env=clean_env(PYTHONPATH=path),
        )
        assert (result.returncode, result.stdout) == (1, ""), (workers, result.stdout[-2000:])
        assert result.stderr == (
            "balena-v6-proxy: error: start-up failed: DeclarationError: broken_note: Constant('legacy note'): "
            "name must be a name (letters, digits, _), got 'legacy note'\n"
        ), workers
