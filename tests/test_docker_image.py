"""The container image for real: built from the Dockerfile, run with Debian's docker engine, offline.

``scripts/prepare-docker-test`` (root, run by ``scripts/test``) prepares once per machine, outside the
repository: docker.io, a Debian bookworm base file system made with debootstrap, and the wheels the image
installs. Here the base is imported as an image, the wheels are served to ``pip`` from a loopback web server
(``PIP_NO_INDEX``/``PIP_FIND_LINKS`` build arguments), and every container runs with ``--network host`` (the
engine runs without a bridge) so all traffic stays on loopback. Evidence: the process runs as a non-root uid,
``/healthz`` and the image's own HEALTHCHECK answer, a mounted config file and every ``PROXY_*`` variable are
honoured (the start-up ``settings`` event), and ``docker stop`` ends it within its grace period with exit 0.

It skips, saying why, where no container engine can start (starting ``dockerd`` needs root) or the set-up has
not run. Each step prints its time (``-s`` shows it; the whole module takes about two minutes when the image is
not cached yet).
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import free_port

from proxy.settings import CHOICES, FIELDS, base_type, load_settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(
    os.environ.get("BALENA_V6_PROXY_TEST_CACHE")
    or ("/var/cache/balena-v6-proxy-test" if os.geteuid() == 0 else Path.home() / ".cache" / "balena-v6-proxy-test")
)
BASE_TAR = CACHE / "base-bookworm.tar"
WHEELS = CACHE / "wheels"
BASE_IMAGE = "balena-v6-proxy-test-base:bookworm"
IMAGE = "balena-v6-proxy:test"
GRACE = 10.0  # docker stop's default
UID = 10001
WHEEL_PORT = 47391
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # present in the image and on Debian hosts


_TERMINAL: list[Any] = []


@pytest.fixture(scope="module", autouse=True)
def _terminal(pytestconfig: pytest.Config) -> None:
    _TERMINAL[:] = [pytestconfig.pluginmanager.get_plugin("capturemanager")]


def say(text: str) -> None:
    """Timing lines in the run's output even when pytest captures output."""
    if _TERMINAL and _TERMINAL[0] is not None:
        with _TERMINAL[0].global_and_fixture_disabled():
            print(f"\n[docker image test] {text}", flush=True)


def docker(*args: str, timeout: float = 120, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder: no buildx plugin needed
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check, env=env, **kwargs
    )


def requirements() -> list[str]:
    """What scripts/prepare-docker-test downloads, in its order."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [*project["project"]["dependencies"], *project["build-system"]["requires"], "pip"]


def engine_answers() -> bool:
    try:
        return docker("info", timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A running docker engine: the one already running, or dockerd started here (root only)."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client: scripts/prepare-docker-test installs docker.io (as root)")
    if not BASE_TAR.is_file() or not any(WHEELS.glob("*.whl")):
        pytest.skip(f"the offline set-up is missing in {CACHE}: run scripts/prepare-docker-test (as root)")
    downloaded = (WHEELS / "requirements.txt").read_text().split("\n") if (WHEELS / "requirements.txt").exists() else []
    if [line for line in downloaded if line] != requirements():
        pytest.skip(f"the wheels in {WHEELS} predate pyproject.toml's dependencies: run scripts/prepare-docker-test")
    if engine_answers():
        yield
        return
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("no container engine: dockerd is not running and cannot be started here (needs root and docker.io)")
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with open(log, "wb") as out:
        daemon = subprocess.Popen(
            ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started = time.monotonic()
    while not engine_answers():
        if daemon.poll() is not None or time.monotonic() - started > 30:
            daemon.kill()
            tail = log.read_text(errors="replace").strip().splitlines()[-1:]
            pytest.skip(f"no container engine: dockerd did not start ({' '.join(tail)})")
        time.sleep(0.5)
    say(f"started dockerd in {time.monotonic() - started:.1f} s")
    try:
        yield
    finally:
        daemon.terminate()
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    """The image built from the repository's Dockerfile on the cached base, pip fed from loopback only."""
    started = time.monotonic()
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        docker("import", str(BASE_TAR), BASE_IMAGE, timeout=300)
        say(f"imported the base image in {time.monotonic() - started:.1f} s")
    handler = functools.partial(_QuietHandler, directory=str(WHEELS))
    try:  # a fixed port keeps the build argument, and so docker's layer cache, the same from run to run
        server = http.server.ThreadingHTTPServer(("127.0.0.1", WHEEL_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        build = time.monotonic()
        result = docker(
            "build",
            "--network", "host",
            "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
            "--build-arg", "PIP_NO_INDEX=1",
            "--build-arg", f"PIP_FIND_LINKS=http://127.0.0.1:{server.server_address[1]}/",
            "-t", IMAGE,
            str(ROOT),
            timeout=900,
            check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    say(f"built {IMAGE} in {time.monotonic() - build:.1f} s")
    return IMAGE


@pytest.fixture
def run(image: str) -> Iterator[Any]:
    """``run(*docker_run_args, command=[...])`` starts a detached container on the host network; removed after."""
    started: list[str] = []

    def start(*args: str, command: tuple[str, ...] = ()) -> str:
        cid = docker("run", "-d", "--network", "host", *args, image, *command).stdout.strip()
        started.append(cid)
        return cid

    yield start
    for cid in started:
        docker("rm", "-f", cid, check=False)


def wait_healthz(port: int, cid: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                return dict(json.loads(answer.read()))
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no /healthz on {port}: {logs(cid)[-2000:]}") from None
            time.sleep(0.3)


def logs(cid: str) -> str:
    result = docker("logs", cid, check=False)
    return result.stdout + result.stderr


def events(cid: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in logs(cid).splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def wait_event(cid: str, name: str, timeout: float = 15) -> dict[str, Any]:
    """The first ``name`` event (with several workers, another may answer /healthz before worker 0 logs)."""
    deadline = time.monotonic() + timeout
    while not (found := events(cid, name)):
        assert time.monotonic() < deadline, f"no {name!r} event: {logs(cid)[-2000:]}"
        time.sleep(0.3)
    return found[0]


def inspect(cid: str, template: str) -> str:
    return docker("inspect", "-f", template, cid).stdout.strip()


def wait_healthy(cid: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (status := inspect(cid, "{{.State.Health.Status}}")) != "healthy":
        assert status in ("starting", "healthy"), f"{status}: {inspect(cid, '{{json .State.Health}}')}"
        assert time.monotonic() < deadline, inspect(cid, "{{json .State.Health}}")
        time.sleep(0.5)


HEALTH_FAST = ("--health-interval", "1s", "--health-retries", "2")


def test_runs_as_non_root_and_answers_healthz_and_its_own_healthcheck(run):
    started = time.monotonic()
    port = free_port()
    cid = run("-e", f"PROXY_PORT={port}", "-e", "PROXY_UPSTREAM=http://127.0.0.1:9", *HEALTH_FAST)
    assert wait_healthz(port, cid) == {"status": "ok"}
    pid = int(inspect(cid, "{{.State.Pid}}"))
    uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:"))
    assert uids.split()[1:] == [str(UID)] * 4  # real, effective, saved and file-system uid: not root
    assert docker("exec", cid, "id", "-u").stdout.strip() == str(UID)
    wait_healthy(cid)
    say(f"non-root + healthz + HEALTHCHECK in {time.monotonic() - started:.1f} s")


def test_honours_a_mounted_config_file(run, tmp_path):
    started = time.monotonic()
    port = free_port()
    config = tmp_path / "proxy.toml"
    config.write_text(
        f'upstream = "http://127.0.0.1:9"\nhost = "127.0.0.1"\nport = {port}\nlog_format = "json"\n'
        'upstream_flavour = "open-balena"\nmax_body_bytes = 4096\n'
    )
    config.chmod(0o644)
    cid = run(
        "-v", f"{config}:/etc/balena-v6-proxy/proxy.toml:ro", *HEALTH_FAST,
        command=("serve", "--config", "/etc/balena-v6-proxy/proxy.toml"),
    )  # fmt: skip
    wait_healthz(port, cid)
    settings = wait_event(cid, "settings")
    assert (settings["host"], settings["port"], settings["max_body_bytes"]) == ("127.0.0.1", port, 4096)
    assert settings["upstream_flavour"] == "open-balena"
    wait_healthy(cid)  # the HEALTHCHECK finds the port the config file chose
    say(f"mounted config file in {time.monotonic() - started:.1f} s")


# Values for settings whose type alone does not give a valid non-default value.
EXPLICIT: dict[str, str] = {
    "upstream": "http://127.0.0.1:9/api",
    "host": "127.0.0.1",
    "workers": "2",
    "log_format": "json",
    "log_level": "debug",
    "default_organization": "acme",
    "upstream_api_key": "test-key",
    "ca_bundle": CA_BUNDLE,
    "log_file": "/tmp/balena-v6-proxy.jsonl",
    "runtime_file": "/tmp/balena-v6-proxy-elsewhere.json",  # the image's default is /tmp/balena-v6-proxy.json
    "v6_mode_rules": '["balena-cli/*=forward"]',
    "deprecation_date": "2025-01-31",
    "sunset_date": "2027-01-31",
    "deprecation_link": "https://example.com/v6-deprecation",
    "metrics_path": "/internal/metrics",
    "shadow_share": "0.25",
    "shadow_ignore": '["modified_at"]',
    "gzip_level": "1",
}


def non_default(name: str) -> str:
    """A valid value other than the default for setting ``name``, as its environment variable spells it."""
    if name in EXPLICIT:
        return EXPLICIT[name]
    default = FIELDS[name].default
    kind = base_type(name)
    if name in CHOICES:
        return next(choice for choice in CHOICES[name] if choice != default)
    if kind is bool:
        return "false" if default else "true"
    if kind is int:
        return str(default + 7)
    if kind is float:
        return str(default + 1.5)
    raise AssertionError(
        f"tests/test_docker_image.py: add a non-default value for the new setting {name!r} to EXPLICIT"
    )


def test_honours_every_proxy_variable(run):
    started = time.monotonic()
    port = free_port()
    values = {name: non_default(name) for name in FIELDS}
    values["port"] = str(port)
    env = {f"PROXY_{name.upper()}": value for name, value in values.items()}
    expected = json.loads(json.dumps(load_settings(env=env).describe()))
    arguments = [item for variable, value in env.items() for item in ("-e", f"{variable}={value}")]
    cid = run(*arguments)
    wait_healthz(port, cid)
    settings = wait_event(cid, "settings")
    differing = {name: (settings.get(name), expected[name]) for name in FIELDS if settings.get(name) != expected[name]}
    assert not differing, differing
    for name in FIELDS:  # and each differs from the default, so the variable did something
        if name not in ("host", "log_format"):  # the image's own defaults are 0.0.0.0 and json (needed here)
            assert values[name] != str(FIELDS[name].default), name
    say(f"{len(env)} PROXY_* variables in {time.monotonic() - started:.1f} s")


async def test_stops_within_its_grace_period_with_a_stream_open(run, serve_app):
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        while True:
            await response.write(b'{"message":"tick"}\n')
            await asyncio.sleep(0.2)

    app = web.Application()
    app.router.add_get("/device/v2/{uuid}/logs", endless)
    upstream = await serve_app(app)
    port = free_port()
    cid = run("-e", f"PROXY_PORT={port}", "-e", f"PROXY_UPSTREAM={upstream}")
    await asyncio.to_thread(wait_healthz, port, cid)
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{port}/device/v2/abc/logs?stream=1") as stream:
            assert await asyncio.wait_for(stream.content.readline(), 10) == b'{"message":"tick"}\n'
            started = time.monotonic()
            stop = await asyncio.to_thread(docker, "stop", "-t", str(int(GRACE)), cid, timeout=60)
            elapsed = time.monotonic() - started
    assert stop.returncode == 0
    exit_code = int(inspect(cid, "{{.State.ExitCode}}"))
    assert exit_code == 0, f"exit {exit_code} after {elapsed:.1f} s (137: killed at the end of the grace period)"
    assert elapsed < GRACE, elapsed
    say(f"docker stop with an open stream took {elapsed:.1f} s (grace {GRACE:g} s)")
