"""The benchmark (bench/) cannot rot: its quick mode runs in fallback mode with tiny bounds and reports ratios.

Real processes on loopback (the aiohttp static upstream, this proxy, the two aiohttp baselines, the asyncio load
client), so a change to the proxy's command line, its routes or the engine's plan API that breaks the benchmark
fails here. The figures themselves are not asserted: on a shared machine they are noise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.nginx import NGINX

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # 15-30 s: five processes, two scenarios, the micro-benchmarks
def test_quick_fallback_run_reports_ratios(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    report = tmp_path / "bench.md"
    argv = [sys.executable, "-m", "bench", "--quick", "--no-wrk", "--no-nginx", "--only", "pass-c1,v6-100-c1"]
    argv += ["--fresh-memory"]  # the restarts the full run does before device lists at c=1
    argv += ["--seconds", "0.3", "--micro-time", "0.001", "--json", str(out), "--output", str(report)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())

    assert summary["setup"]["indicative"] is True
    assert summary["setup"]["load"].startswith("asyncio client")
    keys = [s["key"] for s in summary["scenarios"]]
    assert keys == ["pass-c1", "v6-100-c1"]
    passthrough, translated = summary["scenarios"]
    assert set(passthrough["systems"]) == {"proxy", "minimal"}
    assert set(translated["systems"]) == {"proxy", "minimal", "rewrite"}
    for scenario in summary["scenarios"]:
        for name, row in scenario["systems"].items():
            assert row["requests"] > 0 and row["rps"] > 0, (scenario["key"], name)
            assert row["errors"] == 0, (scenario["key"], name)
            assert row["cpu_us"] >= 0, (scenario["key"], name)  # 10 ms clock ticks: a short run may read 0
    assert sum(row["cpu_us"] for s in summary["scenarios"] for row in s["systems"].values()) > 0
    # every system answered the real thing: the proxy translated, the rewrite renamed, the minimal one did not
    assert translated["systems"]["proxy"]["check"].endswith("v6 rows")
    assert translated["systems"]["rewrite"]["check"].endswith("v6 rows")
    assert translated["systems"]["minimal"]["check"].endswith("v7 rows")
    assert set(translated["ratios"]) == {"minimal", "rewrite"}
    assert translated["ratios"]["rewrite"]["rps"] > 0
    assert set(passthrough["ratios"]) == {"minimal"}
    assert summary["micro"]["plan"]["100 devices"]["apply_plan_us"] > 0
    # memory: the device list's peak is over each restarted system's own idle; the pass-through's per measurement
    assert all(row["peak_since_restart"] for row in translated["systems"].values())
    assert not any(row["peak_since_restart"] for row in passthrough["systems"].values())
    assert translated["systems"]["proxy"]["peak_kb"] > 0  # a 228 KiB body is parsed and rebuilt: memory grows

    text = report.read_text()
    assert "Indicative figures" in text and "apt-get install" in text
    assert "## This proxy against each baseline" in text and "## Issue 8 targets" in text
    assert "translated 100 devices c=1 ≥ 1.0 × orjson rewrite" in text


def test_wrk_output_is_parsed() -> None:
    """The figures come from wrk's own summary (a real wrk 4.1 output, trimmed)."""
    sys.path.insert(0, str(ROOT))
    from bench.load import parse_wrk

    output = """Running 5s test @ http://127.0.0.1:8080/v7/device?$top=1
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.71ms    1.05ms  21.83ms   91.47%
    Req/Sec     6.83k   412.33     7.31k    88.00%
  Latency Distribution
     50%    4.55ms
     75%    4.83ms
     90%    5.21ms
     99%   10.12ms
  33995 requests in 5.00s, 82.47MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   6798.51
Transfer/sec:     16.49MB
"""
    result = parse_wrk(output)
    assert result.requests == 33995 and result.seconds == 5.0
    assert result.rps == 6798.51
    assert result.p50_ms == 4.55 and result.p99_ms == 10.12
    assert result.errors == 3


def test_profile_summary_counts_self_and_inclusive_samples(tmp_path: Path) -> None:
    """py-spy's collapsed stacks become self shares per function and inclusive shares per source file."""
    sys.path.insert(0, str(ROOT))
    from bench.profile import summarise

    stacks = tmp_path / "stacks.txt"
    root = "<module> (<frozen runpy>:198);main (/x/proxy/cli.py:80)"
    stacks.write_text(
        f"{root};handle (/x/proxy/v6.py:10);apply_plan (/x/proxy/engine/apply.py:5) 6\n"
        f"{root};handle (/x/proxy/v6.py:10);write (/v/lib/python3.11/site-packages/aiohttp/http_writer.py:1) 3\n"
        f"{root};_access_event (/x/proxy/middlewares.py:7) 1\n"
    )
    summary = summarise(stacks)
    assert summary["samples"] == 10
    assert summary["self"][0] == ("apply_plan (proxy/engine/apply.py)", 0.6)
    files = dict(summary["files"])
    assert files["proxy/v6.py"] == 0.9 and files["aiohttp"] == 0.3 and files["proxy/middlewares.py"] == 0.1
    assert "proxy/cli.py" not in files and "<frozen runpy>" not in files  # the common root says nothing


@pytest.mark.slow  # 20-40 s: two servers under callgrind
@pytest.mark.skipif(
    not (shutil.which("valgrind") and shutil.which("callgrind_control") and NGINX),
    reason="bench.instructions needs valgrind and nginx (Debian packages), not installed here",
)
def test_instruction_counts_of_the_proxy_and_the_minimal_forwarder() -> None:
    argv = [sys.executable, "-m", "bench.instructions", "proxy", "minimal", "--requests", "60", "--warmup", "20"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXY_")}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = {line.split()[0]: float(line.split()[-3]) for line in done.stdout.splitlines()}
    assert set(figures) == {"proxy", "minimal"}
    assert all(100 < figure < 100_000 for figure in figures.values())  # thousands per request: counted, not zero
