"""The command line as a user runs it: subprocesses, real settings errors, a real forward."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import aiohttp
from aiohttp import web
from conftest import clean_env, free_port

from proxy.settings import FIELDS, cli_flag

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args], capture_output=True, text=True, timeout=30, env=env or clean_env()
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("balena-v6-proxy: error: ")
    for needle in needles:
        assert needle in lines[0]


def test_bad_flag_value():
    assert_one_line_error(run_cli("serve", "--port", "http"), "'port'", "--port", "'http'")


def test_bad_environment_value():
    assert_one_line_error(
        run_cli("--upstream", "http://x", env=clean_env(PROXY_V6_MODE="both")), "'v6_mode'", "PROXY_V6_MODE"
    )


def test_bad_config_file(tmp_path):
    config = tmp_path / "p.toml"
    config.write_text("stream_idle_timeout = -1\n")
    assert_one_line_error(run_cli("serve", "--config", str(config)), "'stream_idle_timeout'")
    assert_one_line_error(run_cli("serve", "--config", str(tmp_path / "none.toml")), "config file not found")


def test_several_workers_need_a_fixed_port():
    assert_one_line_error(run_cli("--workers", "2", "--port", "0"), "'workers'")


def test_help_lists_every_setting_and_version_works():
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for name in FIELDS:
        assert cli_flag(name) in result.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("balena-v6-proxy ")


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "balena-v6-proxy"
    assert script.exists()
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30, env=clean_env())
    assert result.returncode == 0


async def test_serve_forwards_to_the_upstream(serve_app, spawn_cli):
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=request.raw_path)

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    upstream = await serve_app(app)
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
        "forward",
        env=clean_env(PROXY_UPSTREAM_API_KEY="SECRET-KEY-1"),
    )
    [listening] = await cli.wait_event("listening")
    [settings] = await cli.wait_event("settings")
    assert settings["upstream_api_key"] == "***" and settings["port"] == port
    assert listening["port"] == port and listening["upstream"] == upstream
    assert listening["event_loop"] == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    async with aiohttp.ClientSession() as client:
        async with client.get(f"http://127.0.0.1:{port}/v6/device?$filter=a%20eq%20'b'") as response:
            assert response.status == 200 and await response.text() == "/v6/device?$filter=a%20eq%20'b'"
    [access] = await cli.wait_event("request")
    assert access["status"] == 200
    assert await cli.stop() == 0
    assert "SECRET-KEY-1" not in repr(cli.events)


def test_wheel_carries_its_data_files(tmp_path):
    source = tmp_path / "source"  # a copy, so parallel runs never share setuptools' build/ directory
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    # simulator/ too, as in the source tree: the wheel must leave the second distribution out (issue 11)
    for package in ("proxy", "translators", "simulator"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [wheel] = tmp_path.glob("balena_v6_proxy-*.whl")
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for package in ("proxy", "translators"):
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                assert path.relative_to(ROOT).as_posix() in names
    assert {n.split("/")[0] for n in names if not n.startswith("balena_v6_proxy-")} == {"proxy", "translators"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "balena-v6-proxy = proxy.cli:main" in archive.read(entry_points).decode()

    # The unpacked wheel works on its own: no source tree on the path, another working directory.
    unpacked = tmp_path / "site"
    archive.extractall(unpacked)
    code = (
        "import proxy, sys; assert proxy.__file__.startswith(sys.argv[1]), proxy.__file__\n"
        "from proxy.app import create_app; from proxy.settings import load_settings\n"
        "for mode in ('forward', 'translate'): create_app(load_settings(env={}, overrides={'v6_mode': mode}))\n"
        "print('ok')"
    )
    dependencies = sysconfig.get_paths()["purelib"]
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(unpacked)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**clean_env(), "PYTHONPATH": f"{unpacked}{os.pathsep}{dependencies}"},
    )
    assert result.stdout.strip().endswith("ok"), result.stderr[-2000:]


def test_port_in_use_is_one_clear_line():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--upstream", "http://127.0.0.1:9", "--log-format", "json")
        workers = run_cli("serve", "--port", str(port), "--upstream", "http://127.0.0.1:9", "--workers", "2")
    # One line and status 1, nothing else: no "stopped" event, no traceback, no log line before it.
    for failed in (result, workers):
        assert failed.returncode == 1 and failed.stdout == ""
        assert failed.stderr == f"balena-v6-proxy: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_workers_do_not_join_a_port_another_instance_shares():
    """Another proxy's workers listen with SO_REUSEPORT; a second --workers instance could bind beside them and
    take half the connections. It must fail like any port in use."""
    import socket

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        workers = run_cli("serve", "--port", str(port), "--upstream", "http://127.0.0.1:9", "--workers", "2")
    assert workers.returncode == 1 and workers.stdout == ""
    assert workers.stderr == f"balena-v6-proxy: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_ci_runs_the_readme_test_command():
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert lines == ["#!/usr/bin/env bash", "set -euo pipefail", 'cd "$(dirname "$0")/.."', "exec ./scripts/test"]
    readme = (ROOT / "README.md").read_text()
    for script in ("scripts/run", "scripts/test", "scripts/demo", ".ci/run"):
        path = ROOT / script
        assert os.access(path, os.X_OK) and path.read_text().startswith("#!/usr/bin/env bash\n")
        subprocess.run(["bash", "-n", str(path)], check=True, timeout=10)
    assert "./scripts/run --upstream" in readme and "./scripts/test" in readme and "./scripts/demo" in readme


def test_boolean_flags_can_switch_off_a_config_value(tmp_path):
    from proxy.cli import build_parser

    parsed = build_parser().parse_args(["serve", "--no-insecure"])
    assert parsed.insecure is False
    assert build_parser().parse_args(["serve"]).insecure is None  # not given: lower layers decide


def test_serve_help_shows_every_default():
    text = " ".join(run_cli("serve", "--help").stdout.split())  # argparse wraps lines
    assert "[PROXY_PORT; default: 8080]" in text and "[PROXY_SHUTDOWN_TIMEOUT; default: 8.0]" in text
    assert "[PROXY_UPSTREAM_API_KEY; default: unset]" in text and "[PROXY_INSECURE; default: false]" in text
    assert text.count("default: ") >= len(FIELDS)


def test_demo_help_is_plain_text_and_every_option_is_explained():
    result = run_cli("demo", "--help")
    assert result.returncode == 0 and "``" not in result.stdout and ":class:" not in result.stdout
    options = result.stdout.split("options:", 1)[1]
    for flag in ("--port", "--simulator-port", "--flavour"):
        described = " ".join(options.split(f"  {flag} ", 1)[1].split("\n  -", 1)[0].split())
        assert len(described) > 30 and "(default: " in described, flag  # a help text (defaults come with it)


def test_a_mistyped_option_prints_that_commands_usage():
    for args, usage in [
        (["serve", "--prot", "80"], "usage: balena-v6-proxy serve "),
        (["--prot", "80"], "usage: balena-v6-proxy serve "),  # serve is the default command
        (["demo", "--prot", "80"], "usage: balena-v6-proxy demo "),
        (["healthcheck", "--prot", "80"], "usage: balena-v6-proxy healthcheck "),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2 and result.stderr.startswith(usage), (args, result.stderr)
        assert result.stderr.rstrip().endswith("error: unrecognized arguments: --prot 80")
