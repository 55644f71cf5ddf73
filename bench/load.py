"""Load generators: ``wrk`` when installed, else a bounded asyncio client (its figures are "indicative").

Both run as a separate process (pinned like the upstream) for a fixed duration at a fixed concurrency and
return requests, requests per second, p50/p99 latency and the count of non-2xx answers and socket errors.
The asyncio client is ``python -m bench.load URL ...``; it prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

WRK = shutil.which("wrk")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers + socket errors


@dataclass(frozen=True)
class Load:
    url: str
    method: str = "GET"
    body: bytes | None = None
    concurrency: int = 1
    seconds: float = 5.0


def parse_wrk(output: str) -> LoadResult:
    """Figures from ``wrk --latency`` output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rps is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    latency = {int(m.group(1)): float(m.group(2)) * _UNITS[m.group(3)] for m in _LATENCY.finditer(output)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return LoadResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNITS[total.group(3)] / 1000.0,
        rps=float(rps.group(1)),
        p50_ms=latency.get(50, float("nan")),
        p99_ms=latency.get(99, float("nan")),
        errors=errors,
    )


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def run_wrk(load: Load, preexec: Callable[[], None] | None) -> LoadResult:
    """One wrk run (one thread: the load generator owns one core)."""
    assert WRK is not None
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        argv = [WRK, "-t1", f"-c{load.concurrency}", f"-d{max(1, round(load.seconds))}s", "--latency"]
        argv += ["--timeout", "30s"]  # a slow answer is a slow answer, not an error (wrk's default is 2 s)
        if load.method != "GET" or load.body:
            script = Path(tmp) / "request.lua"
            lines = [f'wrk.method = "{load.method}"']
            if load.body:
                lines += [f"wrk.body = {_lua_string(load.body)}", 'wrk.headers["Content-Type"] = "application/json"']
            script.write_text("\n".join(lines) + "\n")
            argv += ["-s", str(script)]
        argv.append(load.url)
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=load.seconds + 60, preexec_fn=preexec, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def run_fallback(load: Load, preexec: Callable[[], None] | None) -> LoadResult:
    """One run of the asyncio client in its own process (so it can be pinned like wrk)."""
    argv = [sys.executable, "-m", "bench.load", load.url, "--method", load.method]
    argv += ["--concurrency", str(load.concurrency), "--seconds", str(load.seconds)]
    if load.body:
        argv += ["--body", load.body.decode()]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=load.seconds + 90, preexec_fn=preexec, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"load client failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return LoadResult(**orjson.loads(done.stdout))


async def _client(load: Load, max_requests: int) -> LoadResult:
    """``load.concurrency`` connections sending back to back until the time is up (or ``max_requests``)."""
    from aiohttp import ClientSession, ClientTimeout, TCPConnector

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + load.seconds
    headers = {"Content-Type": "application/json"} if load.body else None
    timeout = ClientTimeout(total=60)

    async def worker(session: ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) < max_requests:
            started = time.perf_counter()
            try:
                async with session.request(load.method, load.url, data=load.body, headers=headers) as reply:
                    await reply.read()
                    if reply.status >= 400:
                        errors += 1
            except Exception:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

    connector = TCPConnector(limit=load.concurrency, force_close=False)
    started = time.perf_counter()
    async with ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        await asyncio.gather(*(worker(session) for _ in range(load.concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed if elapsed else 0.0,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=p99,
        errors=errors,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="bounded asyncio load client (the fallback when wrk is absent)")
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    args = parser.parse_args()
    load = Load(args.url, args.method, args.body.encode() if args.body else None, args.concurrency, args.seconds)
    result = asyncio.run(_client(load, args.max_requests))
    sys.stdout.write(orjson.dumps(result.__dict__).decode())


if __name__ == "__main__":
    main()
