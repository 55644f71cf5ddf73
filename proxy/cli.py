"""Command line: ``balena-v6-proxy serve [options]`` (the default) and ``balena-v6-proxy demo``.

Every setting has a flag (``--upstream``, ``--port``, ...; see :mod:`proxy.settings`). A bad setting
prints one line naming it and exits with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import contextlib
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from . import __version__, metrics
from .app import ProxyRunner, create_app
from .engine import build_schema
from .healthcheck import main as healthcheck_main
from .healthcheck import remove_runtime_file, write_runtime_file
from .listen import LimitedTCPSite
from .logfile import LogFileError, check_log_files
from .logs import configure_logging, flush_pending, get_logger
from .memory import return_large_buffers
from .report import main as report_main
from .settings import FIELDS, HELP, Settings, SettingsError, base_type, cli_flag, env_var, load_settings

PROG = "balena-v6-proxy"
log = get_logger("proxy.cli")


class _Parser(argparse.ArgumentParser):
    """The top-level parser; ``serve`` is kept so a mistyped serve option gets serve's own usage."""

    serve: argparse.ArgumentParser | None = None


def say_error(message: object) -> None:
    """Print ``PROG: error: message`` as one write: workers share stderr, and print()'s separate newline write
    let two workers' lines run into each other."""
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _default_text(name: str) -> str:
    value = FIELDS[name].default
    if value is None or value == ():
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Translating reverse proxy: balena API v6 clients -> v7 API.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,healthcheck,demo,report}")
    serve = commands.add_parser(
        "serve",
        help="run the proxy (the default command)",
        description="Run the proxy. Each setting also comes from its PROXY_* variable or a --config file "
        "(precedence: defaults < config file < environment < flags).",
    )
    parser.serve = serve
    serve.add_argument("--config", metavar="FILE", help="TOML settings file (also PROXY_CONFIG)")
    for name in FIELDS:
        help_text = f"{HELP[name]} [{env_var(name)}; default: {_default_text(name)}]".replace("%", "%%")
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
    commands.add_parser("healthcheck", help="exit 0 when the running proxy answers /healthz (container health checks)")
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
    if args[:1] == ["healthcheck"]:  # the container health check (see proxy.healthcheck)
        return healthcheck_main(args[1:], PROG)
    if args[:1] == ["report"]:  # the usage report parses its own options (see proxy.report)
        return report_main(args[1:], PROG)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    parser = build_parser()
    parsed, unknown = parser.parse_known_args(args)
    if unknown:  # the serve command's usage, not the top-level one
        target = getattr(parser, "serve", None) if parsed.command == "serve" else None
        (target or parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    overrides = {name: getattr(parsed, name) for name in FIELDS}
    try:
        settings = load_settings(parsed.config, os.environ, overrides)
        if settings.workers > 1 and settings.port == 0:
            raise SettingsError("setting 'workers': more than one worker needs a fixed port (not 0)")
    except SettingsError as exc:
        say_error(exc)
        return 2
    try:
        check_log_files(settings)
        configure_logging(settings, worker=0 if settings.workers == 1 else None)
    except LogFileError as exc:
        say_error(exc)
        return 2
    if settings.workers == 1:
        _exit_now(run_worker(settings, reuse_port=False))
    _exit_now(run_workers(settings))


def _exit_now(status: int) -> NoReturn:
    """End the process once serving is over: exit handlers run and output is flushed, but the interpreter's
    tear-down of every object (about half a second for the schemas) is skipped, so a shutdown stays within
    ``shutdown_timeout`` + 1 s even on a busy machine."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


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
    return_large_buffers()
    try:
        run_loop(serve(settings, reuse_port=reuse_port, worker=worker))
    except StartupError as exc:
        # One line and status 1, nothing else: no traceback, no "stopped" event (it never started).
        say_error(exc)
        return 1
    except KeyboardInterrupt:  # pragma: no cover - only outside the loop
        pass
    finally:
        flush_pending()  # access lines are written after their answers: the last ones are still kept
    return 0


def _sighup_ignored(worker: int) -> None:
    log.info("sighup_ignored", worker=worker, message="settings are read at start-up: restart to change them")


async def _start(settings: Settings, reuse_port: bool) -> ProxyRunner:
    """Set the app up and listen; any failure is a :class:`StartupError` with everything opened closed again."""
    if not reuse_port:
        check_address(settings.host, settings.port, reuse_port=False)
    runner: ProxyRunner | None = None
    try:
        runner = ProxyRunner(create_app(settings))
        await runner.setup()
        site = LimitedTCPSite(
            runner, settings.host, settings.port, max_connections=settings.max_connections, reuse_port=reuse_port
        )
        await site.start()
        return runner
    except BaseException as exc:
        if runner is not None:
            with contextlib.suppress(Exception):
                await runner.cleanup()  # closes the upstream session too (no "Unclosed client session")
        if isinstance(exc, OSError):
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {reason}") from exc
        if isinstance(exc, Exception):
            raise StartupError(f"start-up failed: {exc.__class__.__name__}: {exc}") from exc
        raise


async def serve(settings: Settings, *, reuse_port: bool = False, worker: int = 0) -> None:
    """Start the app, listen, and shut down gracefully on SIGTERM or SIGINT: ``/readyz`` answers 503 while the
    proxy keeps serving for ``shutdown_delay``, then it stops accepting, requests in flight get
    ``shutdown_timeout`` to finish, then what is left is cut, so the process ends within both (+ < 1 s)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _sighup_ignored, worker)
    runner = await _start(settings, reuse_port)
    try:
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
        if worker == 0 and settings.runtime_file:
            try:
                write_runtime_file(settings.runtime_file, str(address[0]), int(address[1]))
            except OSError as exc:  # serving matters more; the health check will say what is missing
                log.error("runtime_file_unwritable", path=settings.runtime_file, error=exc.strerror or str(exc))
        await stop.wait()
        log.info("shutting_down", worker=worker, delay_s=settings.shutdown_delay, timeout_s=settings.shutdown_timeout)
        await runner.withdraw(settings.shutdown_delay)  # /readyz says 503 while this process still serves
    finally:
        if worker == 0 and settings.runtime_file:
            remove_runtime_file(settings.runtime_file)
        drained = await runner.shutdown_gracefully(settings.shutdown_timeout)
        log.info("stopped", worker=worker, drained=drained)


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
    # The parent's Python handlers were inherited by the fork: a SIGTERM before this worker's loop installs its
    # own must simply end it, and a SIGHUP must not.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _die_with_parent(parent)
    try:
        configure_logging(settings, worker=worker)
    except LogFileError as exc:
        say_error(exc)
        sys.exit(WORKER_CONFIG_ERROR)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into one SIGTERM per worker
    status = run_worker(settings, reuse_port=True, worker=worker)
    sys.exit(WORKER_STARTUP_FAILED if status == 1 else status)


def run_workers(settings: Settings) -> int:
    """Run ``settings.workers`` processes sharing the port (SO_REUSEPORT); stop them all on SIGTERM/SIGINT.

    The metric files of all workers live in one private directory made before they start (so one scrape
    sees every worker); a worker that exits is marked dead there (``metrics.worker_exited``)."""
    try:
        _preflight(settings)
    except StartupError as exc:
        say_error(exc)
        return 1
    created = metrics.prepare_multiprocess()
    try:
        return _run_workers(settings)
    finally:
        metrics.remove_multiprocess_dir(created)


# A worker that dies is started again after a pause that doubles with each recent early death. A death within
# GIVE_UP_WINDOW seconds of that worker's start is an early one; GIVE_UP_DEATHS early deaths within that window
# mean something is wrong that a restart will not fix. A worker that served longer (an OOM kill after hours)
# is restarted at once and does not count: only a crash loop makes the proxy give up.
RESTART_FIRST_DELAY = 0.5
RESTART_MAX_DELAY = 10.0
GIVE_UP_DEATHS = 5
GIVE_UP_WINDOW = 60.0
# Exit statuses of a worker that restarting cannot help: a bad log file (2), a start-up failure (3).
WORKER_CONFIG_ERROR = 2
WORKER_STARTUP_FAILED = 3


@dataclass
class _Slot:
    """One worker position: its current process and, after a death, when to start the next one."""

    number: int
    process: Any = None  # multiprocessing.Process (untyped in typeshed's fork context)
    restart_at: float | None = None
    started_at: float = 0.0


def _preflight(settings: Settings) -> None:
    """What would make every worker fail at once, checked once in the parent (one error line, not N)."""
    if settings.v6_mode == "translate" or settings.shadow_share > 0:
        try:
            build_schema(settings.flavour)
        except Exception as exc:
            raise StartupError(f"start-up failed: {exc.__class__.__name__}: {exc}") from exc
    # Probed without SO_REUSEPORT: with it, the bind would succeed next to another instance whose workers
    # listen with SO_REUSEPORT, and this one would silently share (half) its port. The workers bind with it.
    check_address(settings.host, settings.port, reuse_port=False)


def check_address(host: str, port: int, *, reuse_port: bool) -> None:
    """Bind (and release) the listening address, so "address in use" is found before anything else starts."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port and hasattr(socket, "SO_REUSEPORT"):
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                raise StartupError(f"cannot listen on {host}:{port}: {reason}") from exc


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def _run_workers(settings: Settings) -> int:
    """Start the workers, restart one that dies (with back-off), stop them all on SIGTERM/SIGINT."""
    return _Supervisor(settings).run()


class _Supervisor:
    """The parent of ``--workers N``: one slot per worker, a worker that dies restarted after a back-off, all
    given up (exit status 1) when they keep dying early or one cannot start at all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.context = multiprocessing.get_context("fork")
        self.parent = os.getpid()
        self.slots = [_Slot(n) for n in range(settings.workers)]
        self.deaths: collections.deque[float] = collections.deque()  # times of recent early deaths
        self.stopping = False
        self.status = 0

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop_all)
        signal.signal(signal.SIGINT, self.stop_all)
        signal.signal(signal.SIGHUP, self._sighup)
        for slot in self.slots:
            self.start(slot)
        log.info("workers_started", workers=self.settings.workers, pids=[slot.process.pid for slot in self.slots])
        while True:
            running = [slot.process for slot in self.slots if slot.process is not None]
            if not running and (self.stopping or all(slot.restart_at is None for slot in self.slots)):
                return self.status
            multiprocessing.connection.wait([p.sentinel for p in running], timeout=0.2)
            now = time.monotonic()
            for slot in self.slots:
                self.tend(slot, now)

    def start(self, slot: _Slot) -> None:
        slot.process = self.context.Process(
            target=_worker_main, args=(self.settings, slot.number, self.parent), name=f"worker-{slot.number}"
        )
        slot.process.start()
        slot.restart_at = None
        slot.started_at = time.monotonic()

    def stop_all(self, _signum: int = signal.SIGTERM, _frame: Any = None) -> None:
        self.stopping = True
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive() and slot.process.pid:
                os.kill(slot.process.pid, signal.SIGTERM)

    @staticmethod
    def _sighup(_signum: int, _frame: Any) -> None:
        log.info("sighup_ignored", worker="parent", message="settings are read at start-up: restart to change them")

    def tend(self, slot: _Slot, now: float) -> None:
        """Start a slot's worker again when its pause is over; handle a worker that has just exited."""
        process = slot.process
        if process is None:
            if slot.restart_at is not None and not self.stopping and now >= slot.restart_at:
                self.start(slot)
                log.info("worker_restarted", worker=slot.number, pid=slot.process.pid)
            return
        if process.is_alive():
            return
        process.join()
        slot.process = None
        metrics.worker_exited(process.pid)
        if not self.stopping:
            self.exited(slot, process, now)

    def exited(self, slot: _Slot, process: Any, now: float) -> None:
        """A worker died while serving: give up (it cannot start, or they keep dying early) or restart it later."""
        reason = _exit_reason(process.exitcode)
        if process.exitcode in (WORKER_CONFIG_ERROR, WORKER_STARTUP_FAILED):
            log.error("worker_failed_to_start", worker=slot.number, pid=process.pid, reason=reason)
            self.give_up()
            return
        deaths = self.deaths
        if now - slot.started_at < GIVE_UP_WINDOW:
            deaths.append(now)
        while deaths and now - deaths[0] > GIVE_UP_WINDOW:
            deaths.popleft()
        if len(deaths) >= GIVE_UP_DEATHS:
            message = (
                f"workers died {len(deaths)} times within {GIVE_UP_WINDOW:g} s of starting "
                f"(last: worker {slot.number}, {reason}); giving up"
            )
            log.error("workers_failing", worker=slot.number, pid=process.pid, reason=reason, deaths=len(deaths))
            say_error(message)
            self.give_up()
            return
        delay = min(RESTART_FIRST_DELAY * 2 ** max(len(deaths) - 1, 0), RESTART_MAX_DELAY)
        log.warning("worker_exited", worker=slot.number, pid=process.pid, reason=reason, restart_in_s=delay)
        slot.restart_at = now + delay

    def give_up(self) -> None:
        self.status = 1
        self.stop_all()
