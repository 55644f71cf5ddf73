"""``GET /metrics`` through the running proxy: exact values after known traffic against the v7 simulator,
upstream error kinds, bounded labels, scrapes and health checks not counted, the endpoint switched off, and
one scrape aggregating two ``--workers`` processes (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest
from aiohttp import web
from conftest import free_port
from prometheus_client.parser import text_string_to_metric_families

from balena_v7_simulator.fixtures import ALICE_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator

AUTH = {"Authorization": f"Bearer {ALICE_TOKEN}"}


async def request(method: str, url: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers={**AUTH, **headers}) as response:
            await response.read()
            return response.status


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_values_after_known_traffic(log_output):
    async with running_pair(proxy_overrides={"log_level": "info"}) as pair:
        url = pair.proxy_url
        for _ in range(3):
            assert await request("GET", url + "/v6/device?$select=id,should_be_running__release") == 200
        assert await request("GET", url + "/v6/device?$select=id,is_pinned_on__release") == 200  # v7-only name
        assert await request("GET", url + "/v6/nonsense_resource") == 401
        assert await request("GET", url + "/ping") == 200
        await request("PURGE", url + "/ping")  # an unknown method: counted as method="other"
        for _ in range(2):
            assert await request("GET", url + "/healthz") == 200
            assert await request("GET", url + "/readyz") == 200
            assert await request("GET", url + "/readyz/upstream") == 200
            await scrape(url)
        samples = await scrape(url)
    total = "balena_v6_proxy_requests_total"
    assert value(samples, total, route="v6", method="GET", status="200") == 4
    assert value(samples, total, route="v6", method="GET", status="401") == 1
    assert value(samples, total, route="passthrough", method="GET", status="200") == 1
    assert sum(v for (name, labels), v in samples.items() if name == total and ("method", "other") in labels) == 1
    assert sum(v for (name, _), v in samples.items() if name == total) == 7  # no health checks, no scrapes
    feature = "balena_v6_proxy_v6_feature_requests_total"
    assert value(samples, feature, feature="device.should_be_running__release.rename") == 3
    assert value(samples, "balena_v6_proxy_unknown_fields_total") == 1
    assert value(samples, "balena_v6_proxy_request_duration_seconds_count") == 7
    assert value(samples, "balena_v6_proxy_upstream_duration_seconds_count") == 6  # the 401 is the proxy's own
    for kind in ("connect", "timeout", "tls", "reset", "bad_response"):
        assert value(samples, "balena_v6_proxy_upstream_errors_total", kind=kind) == 0
    for result in ("match", "mismatch", "error", "skipped"):
        assert ("balena_v6_proxy_shadow_comparisons_total", (("result", result),)) in samples
    # bounded cardinality: only these label names exist, and no value is a path, id, client or credential
    label_names = {name for (_, labels) in samples for name, _ in labels}
    assert label_names <= {"route", "method", "status", "feature", "kind", "result", "le"}
    assert not [labels for (_, labels) in samples if any("/" in v or ALICE_TOKEN in v for _, v in labels)]
    # scrapes and health checks are not access-logged as traffic either
    assert not [
        e for e in log_output.events("request") if e["path"] in ("/metrics", "/healthz", "/readyz", "/readyz/upstream")
    ]


async def test_upstream_error_kinds(serve_app, start_proxy):
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    slow_url = await serve_app(app)
    proxy = await start_proxy(slow_url, first_byte_timeout=0.2)
    assert await request("GET", proxy.url + "/slow") == 504
    dead = await start_proxy(f"http://127.0.0.1:{free_port()}")
    assert await request("GET", dead.url + "/v6/device?$select=id") == 502
    assert await request("GET", dead.url + "/anything") == 502
    slow_samples, dead_samples = await scrape(proxy.url), await scrape(dead.url)
    assert value(slow_samples, "balena_v6_proxy_upstream_errors_total", kind="timeout") == 1
    assert value(dead_samples, "balena_v6_proxy_upstream_errors_total", kind="connect") == 2
    assert value(dead_samples, "balena_v6_proxy_requests_total", route="v6", method="GET", status="502") == 1


async def test_an_empty_metrics_path_switches_the_endpoint_off():
    async with running_pair(proxy_overrides={"metrics_path": ""}) as pair:
        assert await request("GET", pair.proxy_url + "/metrics") == 404  # forwarded: the simulator has none


async def test_one_scrape_sees_both_workers(spawn_cli, tmp_path):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale junk from an earlier run")
    async with running_simulator() as (_app, sim_url):
        port = free_port()
        from conftest import clean_env

        env = clean_env(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        cli = await spawn_cli(
            "serve", "--upstream", sim_url, "--port", str(port), "--workers", "2", "--log-format", "json", env=env
        )
        await cli.wait_event("listening", count=2)
        url = f"http://127.0.0.1:{port}"
        for _ in range(40):  # new connections: SO_REUSEPORT spreads them over both workers
            assert await request("GET", url + "/v6/device?$select=id,should_be_running__release") == 200
        scrapes = [await scrape(url) for _ in range(6)]
        assert await cli.stop() == 0
    pids = {e["pid"] for e in cli.events if e["event"] == "listening"}
    assert len(pids) == 2
    for samples in scrapes:  # whichever worker answered, it reports both workers' traffic
        assert value(samples, "balena_v6_proxy_requests_total", route="v6", method="GET", status="200") == 40
        assert (
            value(
                samples, "balena_v6_proxy_v6_feature_requests_total", feature="device.should_be_running__release.rename"
            )
            == 40
        )
    assert not (metrics_dir / "counter_999999.db").exists()  # wiped at start


async def test_a_worker_that_dies_is_marked_dead_and_its_counts_stay(spawn_cli, tmp_path):
    """Kill one of two workers: the parent restarts it and marks the dead one (its live gauge file goes, so
    balena_v6_proxy_workers says 2, not 3), while the requests it counted still show in every scrape."""
    metrics_dir = tmp_path / "metrics"
    async with running_simulator() as (_app, sim_url):
        port = free_port()
        from conftest import clean_env

        env = clean_env(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
        cli = await spawn_cli(
            "serve", "--upstream", sim_url, "--port", str(port), "--workers", "2", "--log-format", "json", env=env
        )
        first = await cli.wait_event("listening", count=2)
        url = f"http://127.0.0.1:{port}"
        for _ in range(20):
            assert await request("GET", url + "/v6/device?$select=id") == 200
        before = await scrape(url)
        assert value(before, "balena_v6_proxy_workers") == 2
        victim = first[1]["pid"]
        assert (metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        (restarted,) = await cli.wait_event("worker_restarted")
        await cli.wait_event("listening", count=3)
        assert restarted["pid"] != victim
        assert not (metrics_dir / f"gauge_livesum_{victim}.db").exists()  # marked dead
        assert (metrics_dir / f"counter_{victim}.db").exists()  # its counts are kept
        for _ in range(6):  # whichever worker answers
            samples = await scrape(url)
            assert value(samples, "balena_v6_proxy_workers") == 2
            assert value(samples, "balena_v6_proxy_requests_total", route="v6", method="GET", status="200") == 20
        assert await cli.stop() == 0


@pytest.mark.parametrize("path", ["metrics", "/v6/metrics", "/healthz", "/readyz", "/readyz/upstream"])
def test_metrics_path_must_be_absolute_and_outside_v6(path):
    from proxy.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="metrics_path"):
        load_settings(env={}, overrides={"metrics_path": path})


async def test_a_body_that_stalls_after_its_status_counts_as_a_timeout(serve_app, start_proxy):
    """The stream is cut after stream_idle_timeout (aiohttp says SocketTimeoutError): a timeout, not a reset."""

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"x" * 10)
        await asyncio.sleep(3)
        return response

    app = web.Application()
    app.router.add_get("/stalls", stalls)
    proxy = await start_proxy(await serve_app(app), stream_idle_timeout=0.3)
    async with aiohttp.ClientSession() as client:
        async with client.get(proxy.url + "/stalls") as reply:
            assert reply.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await reply.read()
    samples = await scrape(proxy.url)
    assert value(samples, "balena_v6_proxy_upstream_errors_total", kind="timeout") == 1
    assert value(samples, "balena_v6_proxy_upstream_errors_total", kind="reset") == 0


async def test_a_killed_proxys_metrics_directory_is_removed_by_the_next_one(spawn_cli, tmp_path):
    """With several workers and no PROMETHEUS_MULTIPROC_DIR the parent makes a private directory (named after
    its pid) and removes it at exit; one left by a killed proxy (its pid no longer runs) goes at the next start,
    a running proxy's stays."""
    import sys

    from conftest import clean_env

    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()  # its pid no longer runs
    orphan = tmp_path / f"balena-v6-proxy-metrics-{ended.pid}-abc123"
    alive = tmp_path / f"balena-v6-proxy-metrics-{os.getpid()}-def456"
    for directory in (orphan, alive):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"x")
    async with running_simulator() as (_app, sim_url):
        port = free_port()
        cli = await spawn_cli(
            "serve", "--upstream", sim_url, "--port", str(port), "--workers", "2", env=clean_env(TMPDIR=str(tmp_path))
        )
        await cli.wait_event("listening", count=2)
        own = [p for p in tmp_path.iterdir() if p.name.startswith(f"balena-v6-proxy-metrics-{cli.process.pid}-")]
        assert len(own) == 1
        assert not orphan.exists() and alive.exists()
        assert await cli.stop() == 0
    assert not own[0].exists() and alive.exists()


EVENTS = [
    {"path": "/v6/device?$select=id", "method": "GET", "status": 200, "duration_ms": 3.0, "upstream_ms": 1.0},
    {
        "path": "/v6/device",
        "method": "GET",
        "status": 200,
        "duration_ms": 1.0,
        "upstream_ms": 0.5,
        "v6_features": ["a.b.rename", "c.d.constant"],
    },
    {"path": "/v7/device", "method": "PATCH", "status": 200, "duration_ms": 2.5, "upstream_ms": 2.5},  # on bounds
    {
        "path": "/x",
        "method": "PURGE",
        "status": 502,
        "duration_ms": 0.2,
        "upstream_ms": None,
        "upstream_error": "connect",
    },
    {
        "path": "/v6",
        "method": "GET",
        "status": 400,
        "duration_ms": 40000.0,
        "upstream_ms": None,
        "unknown_fields": ["a", "b"],
    },
    {
        "path": "/y",
        "method": "GET",
        "status": 200,
        "duration_ms": 9.0,
        "upstream_ms": 8.0,
        "stream_broken": "SocketTimeoutError",
    },
    {"path": "/metrics", "method": "GET", "status": 200, "duration_ms": 1.0, "upstream_ms": None},  # not traffic
]
COUNT_EVENTS = (
    "import json, sys\n"
    "from proxy.metrics import Metrics\n"
    "m = Metrics('/metrics', sys.argv[1] if len(sys.argv) > 1 else None)\n"
    "for e in json.loads(sys.stdin.read()): m.observe(e)\n"
    "m.shadow('mismatch')\n"
    "sys.stdout.write(m.render().decode())\n"
)


def test_one_worker_counts_what_several_workers_count(tmp_path):
    """A single worker keeps its counts as plain numbers, several workers in prometheus-client's shared files:
    for the same requests a scrape reads the same families, series and values either way."""
    import json
    import subprocess
    import sys

    from conftest import clean_env

    def scrape_text(*argv: str, **env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", COUNT_EVENTS, *argv],
            input=json.dumps(EVENTS),
            capture_output=True,
            text=True,
            env=clean_env(**env),
            check=True,
            timeout=60,
        )
        return done.stdout

    def families(text: str) -> dict[str, tuple[str, str, dict]]:
        return {
            f.name: (f.type, f.documentation, {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples})
            for f in text_string_to_metric_families(text)
        }

    one = scrape_text()
    several = scrape_text(str(tmp_path), PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    assert families(one) == families(several)
    samples = families(one)["balena_v6_proxy_request_duration_seconds"][2]
    assert (
        samples[("balena_v6_proxy_request_duration_seconds_bucket", (("le", "0.0025"),))] == 3
    )  # a bound is inclusive (2.5 ms)
    assert samples[("balena_v6_proxy_request_duration_seconds_count", ())] == 6
    errors = families(one)["balena_v6_proxy_upstream_errors"][2]
    assert errors[("balena_v6_proxy_upstream_errors_total", (("kind", "timeout"),))] == 1
