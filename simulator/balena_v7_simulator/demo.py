"""``balena-v6-proxy demo``: the v7 simulator and the translating proxy in front of it, on loopback.

Prints a few ``curl`` commands a newcomer can paste, then serves until interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from .fixtures import ALICE_TOKEN, APP_SLUG, DEVICE_STATUS
from .harness import running_pair


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="balena-v6-proxy demo",
        description="Run a simulated v7 balena API and the translating proxy in front of it on 127.0.0.1, print "
        f"curl commands to try, and serve until Ctrl-C. The simulated API knows the token {ALICE_TOKEN!r}.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8080, help="port of the proxy (0 = any free port)")
    parser.add_argument("--simulator-port", type=int, default=0, help="port of the simulated API (0 = any free port)")
    parser.add_argument(
        "--flavour",
        choices=("balena-cloud", "open-balena"),
        default="balena-cloud",
        help="which API the simulator plays (and the proxy's upstream_flavour)",
    )
    return parser


def instructions(proxy_url: str, simulator_url: str) -> str:
    uuid = DEVICE_STATUS["reduced-dl"][0]
    auth = f"-H 'Authorization: Bearer {ALICE_TOKEN}'"
    slug_filter = f"slug%20eq%20%27{APP_SLUG.replace('/', '%2F')}%27"
    key = f"(uuid=%27{uuid}%27)"
    return "\n".join(
        [
            f"v7 API simulator:  {simulator_url}   (token {ALICE_TOKEN!r}, user alice)",
            f"v6 proxy:          {proxy_url}",
            "",
            "Try (v6 through the proxy):",
            f"  curl -s {auth} '{proxy_url}/v6/device?$select=device_name,overall_status&$orderby=device_name%20asc'",
            f"  curl -s {auth} '{proxy_url}/v6/device{key}?$select=overall_status,should_be_running__release'",
            f"  curl -s {auth} '{proxy_url}/v6/application?$filter={slug_filter}&$select=id,app_name,actor'",
            f"  curl -s {auth} -X PATCH -H 'Content-Type: application/json' -d '{{\"device_name\": \"renamed\"}}' "
            f"'{proxy_url}/v6/device{key}'",
            "Compare with v7 straight from the simulator:",
            f"  curl -s {auth} '{simulator_url}/v7/device{key}?$select=overall_status,is_pinned_on__release'",
            "",
            "Ctrl-C stops both.",
        ]
    )


async def _run(args: argparse.Namespace) -> None:
    from proxy.cli import check_address

    check_address("127.0.0.1", args.port, reuse_port=False)  # before anything starts or logs
    async with running_pair(
        flavour=args.flavour,
        proxy_port=args.port,
        simulator_port=args.simulator_port,
        proxy_overrides={"log_format": "console", "log_level": "info"},
    ) as pair:
        print(instructions(pair.proxy_url, pair.simulator_url), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `balena-v6-proxy demo -- --port 0`: argparse REMAINDER keeps the separator
        argv = argv[1:]
    args = _parser().parse_args(argv)
    from proxy.cli import StartupError

    try:
        asyncio.run(_run(args))
    except (OSError, StartupError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"balena-v6-proxy demo: error: {message}", file=sys.stderr, flush=True)
        return 1
    return 0
