"""Installs the real published SDKs (once, cached under the git-ignored ``.cache/sdk/``) and runs their calls.

- balena-sdk 14.5.0 and 12.7.0 (Python) each get their own virtual environment: they pin different semver
  majors (14.5.0 ``semver>=3``, 12.7.0 ``semver<3``).
- balena-sdk 19 (JavaScript, the last v6 generation) is installed with npm and run with the machine's node.
Installs run only when the cache is missing (a marker file is written after a successful install), under a
file lock so parallel test processes do not race.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SDK_CACHE_DIR", REPO / ".cache" / "sdk"))
HERE = Path(__file__).resolve().parent
INSTALL_TIMEOUT = 900
CALL_TIMEOUT = 120
JS_SDK = "balena-sdk@19"


@contextmanager
def _locked(name: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_python_sdk(version: str) -> Path:
    """The python of a venv holding ``balena-sdk==version`` (created on first use)."""
    venv = CACHE / f"py-{version}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    with _locked(f"py-{version}"):
        if not marker.exists():
            if venv.exists():
                shutil.rmtree(venv)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT)
            subprocess.run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    f"balena-sdk=={version}",
                ],
                check=True,
                timeout=INSTALL_TIMEOUT,
            )
            marker.write_text(version)
    return python


def ensure_js_sdk() -> Path:
    """The directory whose node_modules holds balena-sdk 19 (installed with npm on first use)."""
    root = CACHE / "js19"
    marker = root / ".installed"
    with _locked("js19"):
        if not marker.exists():
            root.mkdir(parents=True, exist_ok=True)
            (root / "package.json").write_text('{"name": "sdk-js19", "private": true}\n')
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", JS_SDK],
                cwd=root,
                check=True,
                timeout=INSTALL_TIMEOUT,
                stdout=subprocess.DEVNULL,
            )
            marker.write_text(JS_SDK)
    return root


def write_settings(home: Path, proxy_url: str) -> None:
    """The settings file both Python SDK generations read (clients.md): every key, or the SDK resets it."""
    data = home / ".balena"
    data.mkdir(parents=True, exist_ok=True)
    base = proxy_url.rstrip("/") + "/"
    lines = [
        "[Settings]",
        f"api_endpoint = {base}",
        f"pine_endpoint = {base}v6/",
        "api_version = v6",
        f"builder_url = {base}",
        f"data_directory = {data}",
        f"cache_directory = {data / 'cache'}",
        "image_cache_time = 604800000",
        "token_refresh_interval = 3600000",
        "timeout = 30000",
        "device_actions_endpoint_version = v1",
        "retry_rate_limited_request = false",
    ]
    (data / "balena.cfg").write_text("\n".join(lines) + "\n")


async def _run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CALL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"driver failed ({proc.returncode}): {err.decode(errors='replace')[-3000:]}")
    return json.loads(out)


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BALENA", "PROXY_"))}
    env["BALENA_SETTINGS_HOME_DIRECTORY"] = str(home)
    env["HOME"] = str(home)
    return env


async def run_python_sdk(
    version: str, proxy_url: str, token: str, calls: list[tuple[str, list]], home: Path
) -> list[dict[str, Any]]:
    """Run ``calls`` (attribute path on ``Balena()``, args) in one SDK process; one result per call."""
    python = ensure_python_sdk(version)
    write_settings(home, proxy_url)
    spec = json.dumps({"token": token, "calls": [[path, list(args)] for path, args in calls]})
    return await _run([str(python), str(HERE / "py_driver.py"), spec], _clean_env(home))


async def run_js_sdk(proxy_url: str, token: str, calls: list[tuple[str, list]], home: Path) -> list[dict[str, Any]]:
    root = ensure_js_sdk()
    env = _clean_env(home)
    env["NODE_PATH"] = str(root / "node_modules")
    spec = json.dumps(
        {"apiUrl": proxy_url.rstrip("/") + "/", "token": token, "calls": [[path, list(args)] for path, args in calls]}
    )
    return await _run(["node", str(HERE / "js_driver.js"), spec], env, cwd=home)
