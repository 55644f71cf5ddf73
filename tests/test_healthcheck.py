"""The image's defaults file (below the user's --config) and ``balena-v6-proxy healthcheck``, which finds the
address serve really listens on through the runtime file, whatever set the port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import clean_env, free_port

from proxy.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCKER_DEFAULTS = ROOT / "config" / "docker-defaults.toml"


def test_every_layer_overrides_the_defaults_file(tmp_path):
    env = {"PROXY_DEFAULTS_FILE": str(DOCKER_DEFAULTS)}
    assert load_settings(env=env).host == "0.0.0.0"
    config = tmp_path / "mine.toml"
    config.write_text('host = "127.0.0.1"\nport = 9001\nlog_format = "console"\n')
    mine = load_settings(config, env=env)
    assert (mine.host, mine.port, mine.log_format) == ("127.0.0.1", 9001, "console")  # the mounted config wins
    assert load_settings(config, env={**env, "PROXY_PORT": "9002"}).port == 9002
    assert load_settings(config, env=env, overrides={"port": "9003"}).port == 9003


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "healthcheck"], capture_output=True, text=True, timeout=30, env=env
    )


async def test_healthcheck_reaches_the_port_a_config_file_set(tmp_path, spawn_cli):
    runtime = tmp_path / "run" / "proxy.json"
    runtime.parent.mkdir()
    defaults = tmp_path / "defaults.toml"  # the image's file, with the runtime file somewhere writable
    defaults.write_text(f'host = "0.0.0.0"\nport = 8080\nlog_format = "json"\nruntime_file = "{runtime}"\n')
    port = free_port()
    config = tmp_path / "mounted.toml"
    config.write_text(f'port = {port}\nupstream = "http://127.0.0.1:9"\n')
    env = clean_env(PROXY_DEFAULTS_FILE=str(defaults))
    cli = await spawn_cli("serve", "--config", str(config), env=env)
    [listening] = await cli.wait_event("listening")
    assert listening["port"] == port  # the mounted config outranks the image's defaults
    result = healthcheck(env)  # the health check is not given --config: the runtime file says where
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        result.stdout
        == f"balena-v6-proxy healthcheck: healthy: http://127.0.0.1:{port}/healthz (runtime file {runtime})\n"
    )
    assert await cli.stop() == 0
    assert not runtime.exists()
    result = healthcheck(env)
    assert result.returncode == 1
    assert (
        result.stdout
        == f"balena-v6-proxy healthcheck: unhealthy: runtime file {runtime} not found: is serve running?\n"
    )


def test_without_a_runtime_file_the_settings_address_is_checked():
    port = free_port()  # nothing listens there
    result = healthcheck(clean_env(PROXY_PORT=str(port)))
    assert result.returncode == 1 and result.stdout.startswith(
        f"balena-v6-proxy healthcheck: unhealthy: http://127.0.0.1:{port}/healthz (settings): "
    )
