"""Instructions per request, counted by callgrind: a figure this machine's noise does not move.

Rates and CPU times on a shared 2-core machine move by 30 % between rounds (bench/PROFILES.md); the number of
instructions a server executes per request moves by about 1 % at concurrency 1. This runs one system at a time
under ``valgrind --tool=callgrind`` with instrumentation off until it has answered a warm-up, counts a fixed
number of requests (sent by an aiohttp client outside valgrind), and prints thousands of instructions per
request. Instructions are not time (cache misses and system calls are not in them), so use it to compare
versions of the same code path, and the side-by-side benchmark for ratios.

    python -m bench.instructions --requests 600 --concurrency 1 --path /v7/device?%24top=1 proxy minimal

Needs valgrind (Debian package) and nginx for the static upstream; each system takes 10-30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench import data, nginx
from bench.procs import free_port
from bench.run import proxy_argv

VALGRIND = shutil.which("valgrind")
CONTROL = shutil.which("callgrind_control")


def system_argv(name: str, upstream: str, port: int) -> list[str]:
    if name == "proxy":
        return proxy_argv(upstream, port)
    return [sys.executable, "-m", "bench.servers", name, "--port", str(port), "--upstream", upstream]


async def send(url: str, requests: int, concurrency: int) -> None:
    """``requests`` GETs of ``url``, ``concurrency`` at a time, each read whole."""
    todo = iter(range(requests))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for _ in todo:
                async with session.get(url) as reply:
                    await reply.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def wait_ready(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            await send(url, 1, 1)
            return
        except aiohttp.ClientError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def count(name: str, upstream: str, args: argparse.Namespace, workdir: Path) -> float:
    """Thousands of instructions per request of system ``name``."""
    assert VALGRIND is not None and CONTROL is not None
    port = free_port()
    out = workdir / f"{name}.callgrind"
    argv = [VALGRIND, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p"]
    with open(workdir / f"{name}.log", "wb") as log:
        proc = subprocess.Popen([*argv, *system_argv(name, upstream, port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}{args.path}"
        asyncio.run(wait_ready(url, 300))
        asyncio.run(send(url, args.warmup, args.concurrency))
        subprocess.run([CONTROL, "--instr=on", str(proc.pid)], capture_output=True, check=True)
        asyncio.run(send(url, args.requests, args.concurrency))
        subprocess.run([CONTROL, "--dump", str(proc.pid)], capture_output=True, check=True)
        total = 0
        for path in glob.glob(f"{out}.{proc.pid}*"):
            for line in Path(path).read_text(errors="replace").splitlines():
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
        return total / args.requests / 1000
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("systems", nargs="+", choices=("proxy", "minimal", "rewrite"))
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--path", default="/v7/device?%24top=1", help="request target (a /v6/ one is translated)")
    args = parser.parse_args()
    if VALGRIND is None or CONTROL is None or nginx.NGINX is None:
        sys.exit("bench.instructions needs valgrind (callgrind_control) and nginx: apt-get install valgrind nginx")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)  # nginx's workers read the bodies
        (workdir / "root").mkdir()
        data.write_bodies(workdir / "root")
        upstream_port = free_port()
        config = nginx.static_config(workdir / "nginx", upstream_port, workdir / "root")
        upstream = subprocess.Popen(nginx.argv(workdir / "nginx", config), stderr=subprocess.DEVNULL)
        try:
            for name in args.systems:
                figure = count(name, f"http://127.0.0.1:{upstream_port}", args, workdir)
                print(f"{name:<10} {args.path[:60]:<60} c={args.concurrency}: {figure:8.1f} k instructions/request")
        finally:
            upstream.terminate()


if __name__ == "__main__":
    main()
