"""Command line: ``balena-v6-proxy serve [options]`` (the default) and ``balena-v6-proxy demo``.

Every setting has a flag (``--upstream``, ``--port``, ...; see :mod:`proxy.settings`). A bad setting
prints one line naming it and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__, metrics
from .app import ProxyRunner, create_app
from .listen import LimitedTCPSite
from .logfile import LogFileError, check_log_files
from .logs import configure_logging, get_logger
from .report import main as report_main
from .settings import FIELDS, HELP, Settings, SettingsError, base_type, cli_flag, env_var, load_settings

PROG = "balena-v6-proxy"
log = get_logger("proxy.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Translating reverse proxy: balena API v6 clients -> v7 API."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,demo,report}")
    serve = commands.add_parser("serve", help="run the proxy (the default command)")
    serve.add_argument("--config", metavar="FILE", help="TOML settings file (also PROXY_CONFIG)")
    for name in FIELDS:
        help_text = f"{HELP[name]} [{env_var(name)}]"
        if base_type(name) is bool:
            serve.add_argument(
                cli_flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif base_type(name) is tuple:  # a list setting: repeat the flag
            serve.add_argument(
                cli_flag(name), dest=name, action="append", metavar="VALUE", default=None, help=help_text
            )
        else:
            serve.add_argument(cli_flag(name), dest=name, metavar=name.upper(), default=None, help=help_text)
    commands.add_parser("demo", help="run the local demo (simulated v7 API + proxy); see `demo --help`")
    commands.add_parser(
        "report", help="usage report from access logs (v6 clients, features, cookbook); see `report --help`"
    )
    return parser


def _run_demo(args: list[str]) -> int:
    """The demo lives in the separate ``balena-v7-simulator`` distribution: say how to get it when missing."""
    try:
        from balena_v7_simulator.demo import main as demo_main  # optional distribution
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("balena_v7_simulator"):
            raise
        print(
            f"{PROG}: error: the demo needs the v7 simulator, which is not installed: "
            "pip install ./simulator (from the proxy's source tree), or run ./scripts/demo",
            file=sys.stderr,
        )
        return 2
    return int(demo_main(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``balena-v6-proxy`` console script and ``python -m proxy``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["demo"]:  # the demo parses its own options (--port, --flavour, ...)
        return _run_demo(args[1:])
    if args[:1] == ["report"]:  # the usage report parses its own options (see proxy.report)
        return report_main(args[1:], PROG)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    parsed = build_parser().parse_args(args)
    overrides = {name: getattr(parsed, name) for name in FIELDS}
    try:
        settings = load_settings(parsed.config, os.environ, overrides)
        if settings.workers > 1 and settings.port == 0:
            raise SettingsError("setting 'workers': more than one worker needs a fixed port (not 0)")
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    try:
        check_log_files(settings)
        configure_logging(settings, worker=0 if settings.workers == 1 else None)
    except LogFileError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if settings.workers == 1:
        return run_worker(settings, reuse_port=False)
    return run_workers(settings)


def run_loop(main_coroutine: Any) -> None:
    """Run on uvloop when it is installed (about 25 % more requests per second, performance.md), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        asyncio.run(main_coroutine)
        return
    uvloop.run(main_coroutine)


class StartupError(Exception):
    """The proxy could not start; ``str()`` is the one line shown to the operator."""


def run_worker(settings: Settings, *, reuse_port: bool, worker: int = 0) -> int:
    """Serve in this process until SIGTERM/SIGINT; the exit status (1 when start-up failed)."""
    try:
        run_loop(serve(settings, reuse_port=reuse_port, worker=worker))
    except StartupError as exc:
        log.error("startup_failed", worker=worker, error=str(exc), exc_info=exc.__cause__)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - only outside the loop
        pass
    return 0


async def serve(settings: Settings, *, reuse_port: bool = False, worker: int = 0) -> None:
    """Start the app, listen, and shut down gracefully (``shutdown_timeout``) on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner: ProxyRunner | None = None
    try:
        try:
            runner = ProxyRunner(create_app(settings))
            await runner.setup()
        except Exception as exc:
            raise StartupError(f"start-up failed: {exc.__class__.__name__}: {exc}") from exc
        try:
            site = LimitedTCPSite(
                runner, settings.host, settings.port, max_connections=settings.max_connections, reuse_port=reuse_port
            )
            await site.start()
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from exc
        address = runner.addresses[0]
        if worker == 0:
            log.info("settings", **settings.describe())
        log.info(
            "listening",
            host=address[0],
            port=address[1],
            upstream=settings.upstream,
            v6_mode=settings.v6_mode,
            worker=worker,
            pid=os.getpid(),
            event_loop=type(loop).__module__.split(".")[0],
        )
        await stop.wait()
        log.info("shutting_down", worker=worker, timeout_s=settings.shutdown_timeout)
    finally:
        if runner is not None:
            await runner.cleanup()
            log.info("stopped", worker=worker)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this worker when the parent dies, so a killed parent leaves no orphans."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)


def _worker_main(settings: Settings, worker: int, parent: int) -> None:
    _die_with_parent(parent)
    try:
        configure_logging(settings, worker=worker)
    except LogFileError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into one SIGTERM per worker
    sys.exit(run_worker(settings, reuse_port=True, worker=worker))


def run_workers(settings: Settings) -> int:
    """Run ``settings.workers`` processes sharing the port (SO_REUSEPORT); stop them all on SIGTERM/SIGINT.

    The metric files of all workers live in one private directory made before they start (so one scrape
    sees every worker); a worker that exits is marked dead there (``metrics.worker_exited``)."""
    created = metrics.prepare_multiprocess()
    try:
        return _run_workers(settings)
    finally:
        metrics.remove_multiprocess_dir(created)


def _run_workers(settings: Settings) -> int:
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_worker_main, args=(settings, n, os.getpid()), name=f"worker-{n}")
        for n in range(settings.workers)
    ]
    stopping = False

    def stop_all(_signum: int = signal.SIGTERM, _frame: Any = None) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    for process in processes:
        process.start()
    log.info("workers_started", workers=settings.workers, pids=[p.pid for p in processes])
    status = 0
    dead: set[int | None] = set()
    while any(p.is_alive() for p in processes):
        for process in processes:
            process.join(timeout=0.2)
            if not process.is_alive() and process.pid not in dead:
                dead.add(process.pid)
                metrics.worker_exited(process.pid)
            if not process.is_alive() and process.exitcode and not stopping:
                log.error("worker_exited", worker=process.name, exitcode=process.exitcode)
                status = 1
                stop_all()
    return status
