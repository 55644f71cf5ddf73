"""The side-by-side benchmark of issue 8: ``python -m bench [--quick] [--output FILE] [--json FILE]``.

Starts on loopback a static v7 upstream (nginx, else an aiohttp server), this proxy as shipped (one worker, JSON
access log on stdout into a file, metrics on when the proxy has them), the minimal aiohttp pass-through, the
hand-made orjson rewrite and nginx ``proxy_pass``; drives each with wrk (else a bounded asyncio client) at
concurrency 1 and 32, systems alternated in rounds; prints medians, the ratio of this proxy to each baseline,
added p50/p99, CPU µs per request and peak RSS over idle, and whether issue 8's targets are met.
Every process it starts is its own and is stopped at the end; the whole run is bounded by ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import data, nginx, profile
from bench.load import WRK, Load, LoadResult, run_fallback, run_wrk
from bench.procs import CAN_PIN, CPUS, LOAD_CPUS, PROXY_CPUS, Proc, free_port, pinner, set_affinity
from bench.procstat import PeakMemory, children, cpu_seconds, hwm_kb, rss_kb
from bench.report import render

ROOT = Path(__file__).resolve().parent.parent
FLAVOUR = "balena-cloud"  # the benchmark's rows are balenaCloud's; pinned so the proxy reads them as such

LABELS = {
    "proxy": "this proxy",
    "minimal": "minimal aiohttp pass-through",
    "rewrite": "hand-made orjson rewrite",
    "nginx": "nginx proxy_pass",
    "proxy-w1": "this proxy, 1 worker (unpinned)",
    "proxy-w2": "this proxy, --workers 2 (unpinned)",
}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    target: str
    concurrency: int
    systems: tuple[str, ...]
    method: str = "GET"
    body: bytes | None = None
    rows: int | None = None  # devices in the upstream's answer (None: not a device list)
    unpinned: bool = False


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    peak_kb: int
    errors: int
    requests: int


@dataclass
class Outcome:
    scenario: Scenario
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    fresh_peak_kb: dict[str, int] = field(default_factory=dict)  # peak RSS over a freshly started process's


def scenarios(with_nginx: bool) -> list[Scenario]:
    passthrough = ("proxy", "minimal", "nginx") if with_nginx else ("proxy", "minimal")
    out = []
    for c in (1, 32):
        out.append(
            Scenario(f"pass-c{c}", "pass-through GET (1 device)", data.PASSTHROUGH_TARGET, c, passthrough, rows=1)
        )
    for rows in data.SIZES:
        for c in (1, 32) if rows < 2000 else (1,):  # 2,000 devices: c=1 (issue 8 measures its memory there)
            out.append(
                Scenario(
                    f"v6-{rows}-c{c}",
                    f"translated v6 GET, {rows:,} device{'s' if rows > 1 else ''} ($select, $expand)",
                    data.v6_list_target(rows),
                    c,
                    ("proxy", "minimal", "rewrite"),
                    rows=rows,
                )
            )
    for c in (1, 32):
        out.append(
            Scenario(
                f"patch-c{c}",
                "translated v6 PATCH (pinned release)",
                data.PATCH_TARGET,
                c,
                ("proxy", "minimal"),
                method="PATCH",
                body=data.PATCH_BODY,
            )
        )
    out.append(
        Scenario(
            "workers-c32",
            "pass-through GET, --workers 2 vs 1",
            data.PASSTHROUGH_TARGET,
            32,
            ("proxy-w1", "proxy-w2"),
            rows=1,
            unpinned=True,
        )
    )
    return out


def proxy_env() -> dict[str, str]:
    """The environment without the operator's PROXY_* settings (the benchmark sets its own flags)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PROXY_")}


def proxy_argv(upstream: str, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "proxy",
        "serve",
        "--upstream",
        upstream,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-format",
        "json",
        "--upstream-flavour",
        FLAVOUR,
    ]


def proxy_has_metrics() -> str | None:
    """The metrics path the proxy serves by default, when it has metrics at all."""
    from proxy.settings import FIELDS, Settings

    if "metrics_path" not in FIELDS:
        return None
    path: str = getattr(Settings(), "metrics_path", "")
    return path or None


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.use_wrk = WRK is not None and not args.no_wrk
        self.use_nginx = nginx.NGINX is not None and not args.no_nginx
        self.procs: dict[str, Proc] = {}
        self.deadline = time.monotonic() + args.max_seconds
        self.skipped: list[str] = []
        self.bodies: dict[int, int] = {}

    # --- processes -------------------------------------------------------------------------------------
    def start(self) -> None:
        root = self.workdir / "static"
        root.mkdir()
        root.chmod(0o755)
        self.bodies = data.write_bodies(root)
        for path in root.iterdir():
            path.chmod(0o644)
        up_port = free_port()
        if self.use_nginx:
            argv = nginx.argv(
                self.workdir / "nginx-static", nginx.static_config(self.workdir / "nginx-static", up_port, root)
            )
        else:
            argv = self._py("static", up_port, "--dir", str(root))
        self._launch(Proc("upstream", argv, up_port, self.workdir / "upstream.log", LOAD_CPUS))
        upstream = f"http://127.0.0.1:{up_port}"
        wanted = {s for sc in self.selected() for s in sc.systems}
        if wanted & {"proxy", "proxy-w1"}:
            port = free_port()
            proc = Proc(
                "proxy",
                proxy_argv(upstream, port),
                port,
                self.workdir / "proxy.log",
                PROXY_CPUS,
                proxy_env(),
                "/healthz",
            )
            self._launch(proc)
        for kind in ("minimal", "rewrite"):
            if kind in wanted:
                port = free_port()
                self._launch(
                    Proc(
                        kind,
                        self._py(kind, port, "--upstream", upstream),
                        port,
                        self.workdir / f"{kind}.log",
                        PROXY_CPUS,
                    )
                )
        if "nginx" in wanted and self.use_nginx:
            port = free_port()
            prefix = self.workdir / "nginx-proxy"
            argv = nginx.argv(prefix, nginx.proxy_config(prefix, port, up_port))
            self._launch(Proc("nginx", argv, port, self.workdir / "nginx-proxy.log", PROXY_CPUS))

    def _py(self, kind: str, port: int, *extra: str) -> list[str]:
        return [sys.executable, "-m", "bench.servers", kind, "--port", str(port), *extra]

    def _launch(self, proc: Proc) -> Proc:
        if proc.env is None:
            proc.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        else:
            proc.env = {**proc.env, "PYTHONPATH": str(ROOT)}
        self.procs[proc.name] = proc
        return proc.start()

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    # --- measuring -------------------------------------------------------------------------------------
    def selected(self) -> list[Scenario]:
        chosen = scenarios(self.use_nginx)
        if self.args.only:
            keys = set(self.args.only.split(","))
            chosen = [sc for sc in chosen if sc.key in keys or sc.key.split("-c")[0] in keys]
        return chosen

    def system_proc(self, name: str) -> Proc:
        return self.procs["proxy" if name == "proxy-w1" else name]

    def load(self, proc: Proc, scenario: Scenario, seconds: float) -> LoadResult:
        load = Load(proc.base + scenario.target, scenario.method, scenario.body, scenario.concurrency, seconds)
        pin = pinner(None if scenario.unpinned else LOAD_CPUS)
        return run_wrk(load, pin) if self.use_wrk else run_fallback(load, pin)

    def measure(self, proc: Proc, scenario: Scenario) -> Sample:
        pids = children(proc.pid)
        memory = PeakMemory(pids)
        cpu_before = cpu_seconds(pids)
        result = self.load(proc, scenario, self.args.seconds)
        cpu = cpu_seconds(pids) - cpu_before
        return Sample(
            rps=result.rps,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            cpu_us=cpu * 1e6 / result.requests if result.requests else float("nan"),
            peak_kb=memory.peak_over_idle_kb(),
            errors=result.errors,
            requests=result.requests,
        )

    def check(self, proc: Proc, scenario: Scenario) -> str:
        """One request before measuring: the status and, for device lists, the rows and the v6 spelling."""
        request = urllib.request.Request(proc.base + scenario.target, data=scenario.body, method=scenario.method)
        if scenario.body:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, payload = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {exc.read()[:200]!r}"
        if status != 200:
            return f"HTTP {status}"
        if scenario.rows is not None:
            rows = orjson.loads(payload).get("d", [])
            if len(rows) != scenario.rows:
                return f"{len(rows)} rows, expected {scenario.rows}"
            translated = "should_be_running__release" in rows[0] and "is_pinned_on__release" not in rows[0]
            return f"200, {len(payload):,} bytes, {'v6 rows' if translated else 'v7 rows'}"
        return f"200, {payload[:40]!r}"

    def profile(self, scenario: Scenario) -> dict[str, Any]:
        """One extra, unmeasured load run with py-spy sampling this proxy (see bench/profile.py)."""
        self.args.profile.mkdir(parents=True, exist_ok=True)
        output = self.args.profile / f"{scenario.key}.txt"
        recorder = profile.start(self.procs["proxy"].pid, self.args.seconds, output)
        self.load(self.procs["proxy"], scenario, self.args.seconds)
        _, errors = recorder.communicate(timeout=60)
        if recorder.returncode != 0 or not output.exists():
            return {"samples": 0, "self": [], "files": [], "error": errors.decode(errors="replace")[-300:]}
        return profile.summarise(output)

    def fresh_memory(self, scenario: Scenario) -> bool:
        """Device lists at c=1: each system restarts first, so its peak is over its own idle, not over what
        earlier scenarios left allocated (the quick mode skips the restarts to stay within a minute)."""
        wanted: bool = self.args.fresh_memory if self.args.fresh_memory is not None else not self.args.quick
        return wanted and scenario.key.startswith("v6-") and scenario.concurrency == 1

    def restart(self, name: str) -> int:
        """Restart a server of this run on its port; its resident memory once it answers (kB)."""
        proc = self.procs[name]
        proc.stop()
        proc.start()
        return rss_kb(children(proc.pid))

    def run_scenario(self, scenario: Scenario) -> Outcome:
        outcome = Outcome(scenario)
        systems = list(scenario.systems)
        idle_kb = {name: self.restart(name) for name in systems} if self.fresh_memory(scenario) else {}
        extra: Proc | None = None
        if "proxy-w2" in systems:
            port = free_port()
            upstream = self.procs["upstream"].base
            extra = Proc(
                "proxy-w2",
                proxy_argv(upstream, port, 2),
                port,
                self.workdir / "proxy-w2.log",
                None,
                proxy_env(),
                "/healthz",
            )
            self._launch(extra)
        if scenario.unpinned:
            for name in ("upstream", "proxy"):
                set_affinity(self.procs[name].pid, None)
        try:
            for name in systems:
                proc = self.system_proc(name)
                outcome.checks[name] = self.check(proc, scenario)
                for _ in range(1 if (scenario.rows or 0) >= 2000 else 5):
                    self.check(proc, scenario)  # a few requests warm caches and pools even without --warmup
                if self.args.warmup > 0:
                    self.load(proc, scenario, self.args.warmup)
            for round_ in range(self.args.rounds):
                order = systems[round_ % len(systems) :] + systems[: round_ % len(systems)]
                for name in order:
                    if time.monotonic() > self.deadline:
                        self.skipped.append(f"{scenario.key} round {round_ + 1} {name}")
                        continue
                    outcome.samples.setdefault(name, []).append(self.measure(self.system_proc(name), scenario))
            for name, idle in idle_kb.items():
                tree = children(self.procs[name].pid)
                outcome.fresh_peak_kb[name] = max(0, hwm_kb(tree) - idle)
            if self.args.profile and "proxy" in systems and profile.PY_SPY and time.monotonic() < self.deadline:
                outcome.profile = self.profile(scenario)
        finally:
            if scenario.unpinned:
                set_affinity(self.procs["upstream"].pid, LOAD_CPUS)
                set_affinity(self.procs["proxy"].pid, PROXY_CPUS)
            if extra is not None:
                extra.stop()
                del self.procs[extra.name]
        return outcome


def machine() -> dict[str, Any]:
    """Facts about the machine and the software measured."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    with contextlib.suppress(OSError, IndexError):
        memory = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    versions = {}
    for package in ("aiohttp", "orjson", "uvloop", "structlog", "prometheus-client"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    tools = {}
    if nginx.NGINX:
        done = subprocess.run([nginx.NGINX, "-v"], capture_output=True, text=True, check=False)
        tools["nginx"] = (done.stderr or done.stdout).strip().split("/")[-1]
    if WRK:
        done = subprocess.run([WRK, "--version"], capture_output=True, text=True, check=False)
        tools["wrk"] = (done.stdout or done.stderr).split("\n")[0].split(" [")[0].replace("wrk ", "")
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "usable_cpus": CPUS,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "tools": tools,
        "git": _git_head(),
    }


def _git_head() -> str | None:
    if not (ROOT / ".git").exists():
        return None
    done = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()[:100] or None


def summarise(bench: Bench, outcomes: list[Outcome], started: float, load_before: tuple[float, ...]) -> dict[str, Any]:
    """The run as plain data (medians, ratios) for the report and ``--json``."""
    result: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "setup": {
            "load": "wrk" if bench.use_wrk else "asyncio client (indicative)",
            "upstream": "nginx static" if bench.use_nginx else "aiohttp static server (indicative)",
            "indicative": not (bench.use_wrk and bench.use_nginx),
            "pinning": (
                f"load generator and upstream on CPU {min(LOAD_CPUS or {0})}, proxies on CPU {min(PROXY_CPUS or {0})}"
                if CAN_PIN
                else "off (fewer than 2 usable CPUs)"
            ),
            "rounds": bench.args.rounds,
            "seconds": bench.args.seconds,
            "warmup": bench.args.warmup,
            "quick": bench.args.quick,
            "flavour": FLAVOUR,
            "metrics_path": proxy_has_metrics(),
            "bodies": {str(k): v for k, v in bench.bodies.items()},
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "duration_s": round(time.monotonic() - started, 1),
            "skipped": bench.skipped,
            "missing_tools": [t for t, ok in (("wrk", WRK), ("nginx", nginx.NGINX)) if not ok],
        },
        "scenarios": [],
    }
    for outcome in outcomes:
        sc = outcome.scenario
        systems: dict[str, dict[str, Any]] = {}
        for name, samples in outcome.samples.items():
            systems[name] = {
                "label": LABELS[name],
                "rps": statistics.median(s.rps for s in samples),
                "p50_ms": statistics.median(s.p50_ms for s in samples),
                "p99_ms": statistics.median(s.p99_ms for s in samples),
                "cpu_us": statistics.median(s.cpu_us for s in samples),
                # a restarted process: its high-water mark over its idle; else the median per-measurement peak
                "peak_kb": outcome.fresh_peak_kb.get(name, statistics.median(s.peak_kb for s in samples)),
                "peak_since_restart": name in outcome.fresh_peak_kb,
                "errors": sum(s.errors for s in samples),
                "requests": sum(s.requests for s in samples),
                "rounds": [round(s.rps, 1) for s in samples],
                "check": outcome.checks.get(name, ""),
            }
        ours = "proxy-w2" if "proxy-w2" in systems else "proxy"
        ratios = {}
        if ours in systems:
            for name, row in systems.items():
                if name == ours or not row["rps"]:
                    continue
                mine = systems[ours]
                per_round = [
                    a.rps / b.rps for a, b in zip(outcome.samples[ours], outcome.samples[name], strict=False) if b.rps
                ]
                ratios[name] = {
                    "rps": mine["rps"] / row["rps"],
                    "range": [min(per_round), max(per_round)] if per_round else None,
                    "added_p50_ms": mine["p50_ms"] - row["p50_ms"],
                    "added_p99_ms": mine["p99_ms"] - row["p99_ms"],
                    "cpu": mine["cpu_us"] / row["cpu_us"] if row["cpu_us"] else None,
                }
        result["scenarios"].append(
            {
                "key": sc.key,
                "title": sc.title,
                "method": sc.method,
                "target": sc.target if len(sc.target) < 80 else sc.target[:60] + "…" + sc.target[-20:],
                "concurrency": sc.concurrency,
                "rows": sc.rows,
                "body_bytes": bench.bodies.get(sc.rows) if sc.rows else None,
                "unpinned": sc.unpinned,
                "systems": systems,
                "ratios": ratios,
                "profile": outcome.profile,
            }
        )
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description="issue 8's side-by-side benchmark")
    parser.add_argument("--quick", action="store_true", help="one round of about 1 s per system: done within a minute")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (default 3, quick 1)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement (default 5, quick 1)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of warm-up per system (default 1, quick 0)")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario keys or prefixes (pass, v6-100, patch, workers)"
    )
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio client even when wrk is installed")
    parser.add_argument("--no-nginx", action="store_true", help="use the aiohttp upstream even when nginx is installed")
    parser.add_argument(
        "--fresh-memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="restart each system before the c=1 device-list scenarios, for peak RSS over its own idle (default: on, off with --quick)",
    )
    parser.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    parser.add_argument("--micro-time", type=float, default=None, help="seconds per micro-benchmark figure")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="stop measuring after this long (default 1200, quick 50)"
    )
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="after each scenario, sample this proxy with py-spy into DIR"
    )
    parser.add_argument("--output", type=Path, help="also write the report (Markdown) to this file")
    parser.add_argument("--json", type=Path, help="write the figures as JSON to this file")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    # wrk counts whole seconds; the asyncio client takes fractions (it also pays a process start per run)
    args.seconds = (
        args.seconds if args.seconds is not None else ((1.0 if WRK and not args.no_wrk else 0.7) if quick else 5.0)
    )
    args.warmup = args.warmup if args.warmup is not None else (0.0 if quick else 1.0)
    args.max_seconds = args.max_seconds or (50.0 if quick else 1200.0)
    args.micro_time = args.micro_time if args.micro_time is not None else (0.02 if quick else 0.3)
    return args


def run_micro(seconds: float) -> dict[str, Any] | None:
    argv = [sys.executable, "-m", "bench.micro", "--json", "--min-time", str(seconds)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, preexec_fn=pinner(PROXY_CPUS), timeout=300, check=False
    )
    if done.returncode != 0:
        print(f"micro-benchmarks failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    parsed: dict[str, Any] = orjson.loads(done.stdout)
    return parsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    for tool, found, package in (("wrk", WRK, "wrk"), ("nginx", nginx.NGINX, "nginx-light")):
        if not found:
            print(
                f"note: {tool} is not installed; using the fallback, whose figures are indicative "
                f"(install it with: sudo apt-get install {package})",
                file=sys.stderr,
            )
    if args.profile and not profile.PY_SPY:
        print("note: --profile needs py-spy (pip install py-spy); profiling skipped", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="balena-v6-proxy-bench-") as tmp:
        workdir = Path(tmp)
        workdir.chmod(0o755)
        bench = Bench(args, workdir)
        outcomes = []
        try:
            bench.start()
            for scenario in bench.selected():
                print(f"… {scenario.key}", file=sys.stderr, flush=True)
                outcomes.append(bench.run_scenario(scenario))
        finally:
            bench.stop()
        summary = summarise(bench, outcomes, started, load_before)
    if not args.no_micro:
        summary["micro"] = run_micro(args.micro_time)
    text = render(summary)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    if args.json:
        args.json.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
