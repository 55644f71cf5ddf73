"""``balena-v6-proxy healthcheck``: is the proxy that ``serve`` started answering ``/healthz``?

The address comes from the runtime file ``serve`` writes once it listens (setting ``runtime_file``), so the
check follows the port and host wherever they were set (defaults file, ``--config``, ``PROXY_*``, flags); without
a runtime file it uses the settings' own host and port. Exit status 0 when healthy, 1 otherwise, one line
either way (container health checks keep the output).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from .settings import SettingsError, load_settings

# A wildcard listening address is reached over loopback.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def write_runtime_file(path: str, host: str, port: int) -> None:
    """Record where this process listens (written atomically: a reader never sees half a file)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"host": host, "port": port, "pid": os.getpid()}) + "\n", encoding="utf-8")
    os.replace(temporary, target)


def remove_runtime_file(path: str) -> None:
    """Remove the runtime file if this process wrote it (a newer instance may own it by now)."""
    with contextlib.suppress(OSError, ValueError):
        if json.loads(Path(path).read_text(encoding="utf-8")).get("pid") == os.getpid():
            os.remove(path)


def _address(runtime_file: str | None, host: str, port: int) -> tuple[str, int, str]:
    """(host, port, where the address came from)."""
    if runtime_file:
        try:
            data = json.loads(Path(runtime_file).read_text(encoding="utf-8"))
            return str(data["host"]), int(data["port"]), f"runtime file {runtime_file}"
        except FileNotFoundError:
            raise RuntimeError(f"runtime file {runtime_file} not found: is serve running?") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"runtime file {runtime_file} is unreadable: {exc}") from None
    return host, port, "settings"


def url_for(host: str, port: int) -> str:
    host = _LOOPBACK.get(host, host)
    return f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"


def main(argv: Sequence[str], prog: str) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{prog} healthcheck",
        description="Exit 0 when the running proxy answers /healthz, else 1 (for container health checks).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="the TOML settings file serve uses (also PROXY_CONFIG)")
    parser.add_argument("--runtime-file", metavar="FILE", help="where serve wrote its address (setting runtime_file)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer")
    args = parser.parse_args(list(argv))
    try:
        settings = load_settings(args.config, os.environ)
    except SettingsError as exc:
        print(f"{prog} healthcheck: error: {exc}", flush=True)
        return 2
    try:
        host, port, source = _address(args.runtime_file or settings.runtime_file, settings.host, settings.port)
    except RuntimeError as exc:
        print(f"{prog} healthcheck: unhealthy: {exc}", flush=True)
        return 1
    url = url_for(host, port)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"{prog} healthcheck: unhealthy: {url} ({source}): {reason}", flush=True)
        return 1
    if status != 200:
        print(f"{prog} healthcheck: unhealthy: {url} ({source}) answered {status}", flush=True)
        return 1
    print(f"{prog} healthcheck: healthy: {url} ({source})", flush=True)
    return 0
