"""Shadow comparison through the running proxy, against the v7 simulator.

The simulator serves only v7, so the upstream's "own /v6/" is played by a second, plain proxy in front of the
simulator (it answers /v6/ as v6 and forwards /v7/). Between the proxy under test and that upstream sits a
small loopback app that can plant a difference in /v6/ answers, change a volatile field, make /v6/ slow,
gone (410) or down, and counts what it sees:

    client -> proxy under test (shadow_share=1) -> tamper -> plain proxy (/v6/ translated, /v7/ forwarded) -> simulator
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from balena_v7_simulator.fixtures import ALICE_TOKEN, DEVICE_STATUS
from balena_v7_simulator.harness import running_pair
from proxy.appkeys import SETTINGS
from proxy.shadow import SHADOW

AUTH = {"Authorization": f"Bearer {ALICE_TOKEN}"}
UUID = DEVICE_STATUS["operational"][0]
READ = f"/v6/device(uuid='{UUID}')?$select=id,device_name,should_be_running__release,last_connectivity_event"


@dataclass
class Tamper:
    """What the in-between app does to the upstream's /v6/ answers."""

    upstream: str
    mode: str = "pass"  # pass | plant | volatile | slow | gone | down | redirect | chunked | reject_unknown | gateway
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.raw_path))
        v6 = request.raw_path.startswith("/v6/")
        if v6 and self.mode == "down":
            assert request.transport is not None
            request.transport.close()  # the shadow upstream crashed
            raise ConnectionResetError
        if v6 and self.mode == "gone":
            return web.json_response("Gone", status=410)
        if v6 and self.mode == "reject_unknown" and "is_pinned_on__release" in request.raw_path:
            return web.json_response("Internal server error", status=500)  # open-balena's v6 on an unknown name
        if v6 and self.mode == "redirect":  # to its own origin: the proxy makes that origin-relative
            return web.Response(status=302, headers={"Location": f"{request.url.origin()}/v6/device(1)"})
        if v6 and self.mode == "slow":
            await asyncio.sleep(1.5)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        async with aiohttp.ClientSession() as session:
            async with session.request(
                request.method, self.upstream + request.raw_path, headers=headers, data=await request.read()
            ) as reply:
                body = await reply.read()
                status = reply.status
        if v6 and self.mode == "gateway" and status == 200:  # decision 5: v6 had rows there, the proxy none
            data = orjson.loads(body)
            data["d"][0]["gateway_download"] = [{"id": 99, "status": "pending"}]
            body = orjson.dumps(data)
        if v6 and self.mode in ("plant", "volatile") and status == 200:
            data = orjson.loads(body)
            row = data["d"][0]
            if self.mode == "plant":
                row["device_name"] = "planted-difference"
            row["last_connectivity_event"] = f"2099-01-01T00:00:{int(time.time()) % 60:02d}.000Z"
            body = orjson.dumps(data)
        if v6 and self.mode == "chunked" and status == 200:  # gzip, no Content-Length: the streamed path
            response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
            await response.prepare(request)
            packed = gzip.compress(body)
            for start in range(0, len(packed), 64):
                await response.write(packed[start : start + 64])
            await response.write_eof()
            return response
        return web.Response(status=status, body=body, content_type="application/json")


@dataclass
class Chain:
    url: str
    tamper: Tamper
    app: web.Application


@pytest.fixture
async def chain(serve_app, start_proxy) -> AsyncIterator[Any]:
    async def make(**overrides: Any) -> Chain:
        pair_cm = running_pair(proxy_overrides={"log_level": "warning"})
        pair = await pair_cm.__aenter__()
        contexts.append(pair_cm)
        tamper = Tamper(pair.proxy_url)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", tamper.handle)
        tamper_url = await serve_app(app)
        proxy = await start_proxy(tamper_url, **{"shadow_share": 1.0, "upstream_flavour": "balena-cloud", **overrides})
        return Chain(proxy.url, tamper, proxy.app)

    contexts: list[Any] = []
    yield make
    for cm in reversed(contexts):
        await cm.__aexit__(None, None, None)


async def call(url: str, method: str = "GET", **headers: str) -> tuple[int, Any, float]:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers={**AUTH, **headers}, json=None) as response:
            body = await response.read()
            return response.status, body, time.perf_counter() - started


async def shadow_events(log_output, count: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(events := log_output.events("shadow")) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)  # the events land in a log buffer: polled, bounded by the deadline
    return events


async def test_translated_answers_match_the_upstreams_own_v6(chain, log_output):
    c = await chain()
    status, _, _ = await call(c.url + READ)
    assert status == 200
    (event,) = await shadow_events(log_output, 1)
    assert set(event) >= {"request_id", "result", "differences", "shadow_ms"}
    assert event["result"] == "match" and event["differences"] == [] and event["shadow_ms"] > 0
    assert ("GET", READ) in c.tamper.seen  # the untouched request went to the upstream's /v6/


async def test_a_planted_difference_is_caught_and_a_volatile_field_ignored(chain, log_output):
    c = await chain()
    c.tamper.mode = "plant"
    await call(c.url + READ, **{"X-Request-Id": "planted-1"})
    await shadow_events(log_output, 1)  # the shadow call runs after the answer: let it reach the tamper first
    c.tamper.mode = "volatile"
    await call(c.url + READ, **{"X-Request-Id": "volatile-1"})
    events = {e["request_id"]: e for e in await shadow_events(log_output, 2)}
    planted = events["planted-1"]
    assert planted["result"] == "mismatch"
    assert planted["differences"] == [
        {"path": "/d/0/device_name", "primary": planted["differences"][0]["primary"], "shadow": "planted-difference"}
    ]
    assert planted["differences"][0]["primary"] != "planted-difference"
    assert events["volatile-1"]["result"] == "match"  # last_connectivity_event is in shadow_ignore by default


async def test_differences_are_bounded_cut_and_masked(chain, log_output):
    c = await chain(shadow_ignore=[])
    shadow = c.app[SHADOW]
    primary = {"d": [{"id": n, "note": "x" * 500} for n in range(30)], "key": "apikey=topsecret"}
    other = {"d": [{"id": n + 1, "note": "y" * 500} for n in range(30)], "key": "apikey=othersecret"}
    found = list(shadow.differences(200, orjson.dumps(primary), 200, orjson.dumps(other)))
    assert len(found) == 20
    assert all(len(d["primary"]) <= 200 for d in found if isinstance(d["primary"], str))
    assert "/d/0/note" in [d["path"] for d in found]
    masked = next(iter(shadow.differences(200, b'{"a/b~": "apikey=s1"}', 200, b'{"a/b~": "apikey=s2"}')))
    assert masked == {"path": "/a~1b~0", "primary": "apikey=***", "shadow": "apikey=***"}
    assert list(shadow.differences(200, b"{}", 404, b"{}")) == [{"path": "", "primary": 200, "shadow": 404}]


async def test_a_down_or_slow_shadow_never_delays_or_fails_the_client(chain, log_output):
    c = await chain()
    fast = [(await call(c.url + READ))[2] for _ in range(3)]
    c.tamper.mode = "slow"
    status, body, elapsed = await call(c.url + READ)
    assert status == 200 and orjson.loads(body)["d"][0]["device_name"]
    assert elapsed < 1.0, (elapsed, fast)  # the shadow call takes 1.5 s; the client does not wait for it
    c.tamper.mode = "down"
    status, _, elapsed = await call(c.url + READ, **{"X-Request-Id": "down-1"})
    assert status == 200 and elapsed < 1.0
    events = {e["request_id"]: e for e in await shadow_events(log_output, 5, timeout=5)}
    assert events["down-1"]["result"] == "error"


async def test_beyond_the_bound_shadows_are_skipped_and_counted(chain, log_output):
    c = await chain(shadow_max_in_flight=1)
    c.tamper.mode = "slow"
    for _ in range(4):
        assert (await call(c.url + READ))[0] == 200
    await shadow_events(log_output, 1, timeout=5)
    async with aiohttp.ClientSession() as session:
        async with session.get(c.url + "/metrics") as response:
            text = await response.text()
    assert 'balena_v6_proxy_shadow_comparisons_total{result="skipped"} 3.0' in text
    assert [p for m, p in c.tamper.seen if p.startswith("/v6/")] == [READ]  # only one shadow call was made


async def test_a_gone_v6_pauses_shadowing_and_says_so_once(chain, log_output):
    c = await chain()
    c.tamper.mode = "gone"
    for _ in range(3):
        assert (await call(c.url + READ))[0] == 200
    await shadow_events(log_output, 1)
    await asyncio.sleep(0.2)
    assert len(log_output.events("shadow_paused")) == 1
    assert [e["result"] for e in log_output.events("shadow")] == ["error"]
    assert len([p for m, p in c.tamper.seen if p.startswith("/v6/")]) == 1  # paused: no more calls


async def test_writes_and_the_proxys_own_resources_are_not_shadowed(chain, log_output):
    c = await chain()
    status, _, _ = await call(c.url + f"/v6/device(uuid='{UUID}')", method="PATCH")
    assert status < 500
    await call(c.url + "/v6/gateway_download")  # decision 5: the whole answer is the proxy's own
    await asyncio.sleep(0.3)
    assert log_output.events("shadow") == []
    assert [p for m, p in c.tamper.seen if p.startswith("/v6/")] == []


async def test_the_deliberate_differences_of_decisions_1_and_5_are_not_differences(chain, log_output):
    """Decision 5: v6 rows under gateway_download are not a mismatch (the proxy answers it empty), the rest
    of the answer is compared. Decision 1: where the upstream's v6 fails on an unknown name (open-balena's 500)
    nothing is reported; where it ignored the name, as balenaCloud's did, the answers are compared."""
    c = await chain()
    c.tamper.mode = "gateway"
    target = f"/v6/device(uuid='{UUID}')?$select=id,device_name&$expand=gateway_download"
    await call(c.url + target, **{"X-Request-Id": "d5"})
    c.tamper.mode = "reject_unknown"
    unknown = f"/v6/device(uuid='{UUID}')?$select=id,is_pinned_on__release"
    await call(c.url + unknown, **{"X-Request-Id": "d1-500"})
    c.tamper.mode = "pass"
    await call(c.url + unknown, **{"X-Request-Id": "d1-same"})
    events = {e["request_id"]: e for e in await shadow_events(log_output, 2)}
    await asyncio.sleep(0.3)
    assert ("GET", unknown) in c.tamper.seen  # both were shadowed
    assert events["d5"]["result"] == "match", events["d5"]
    assert events["d1-same"]["result"] == "match", events["d1-same"]
    assert "d1-500" not in events and len(log_output.events("shadow")) == 2
    c.tamper.mode = "plant"
    await call(c.url + target, **{"X-Request-Id": "d5-planted"})
    (planted,) = [e for e in await shadow_events(log_output, 3) if e["request_id"] == "d5-planted"]
    assert [d["path"] for d in planted["differences"]] == ["/d/0/device_name"]  # the rest is still compared


async def test_forward_mode_shadows_the_translation(chain, log_output):
    c = await chain(v6_mode_rules=["balena-cli/*=forward"])
    assert c.app[SETTINGS].v6_mode == "translate"
    status, _, _ = await call(c.url + READ, **{"X-Balena-Client": "balena-cli/19", "X-Request-Id": "fwd-1"})
    assert status == 200
    (event,) = await shadow_events(log_output, 1)
    assert event["request_id"] == "fwd-1" and event["result"] == "match"
    # the client got the upstream's own /v6/ answer; the shadow asked /v7/ for the translation
    v7 = [p for m, p in c.tamper.seen if p.startswith("/v7/device")]
    assert v7 and "is_pinned_on__release" in v7[0]
    c.tamper.mode = "plant"  # the primary (forwarded) answer now carries it
    await call(c.url + READ, **{"X-Balena-Client": "balena-cli/19", "X-Request-Id": "fwd-2"})
    events = {e["request_id"]: e for e in await shadow_events(log_output, 2)}
    assert events["fwd-2"]["result"] == "mismatch"
    assert events["fwd-2"]["differences"][0]["primary"] == "planted-difference"  # primary = what the client got


async def test_absolute_forward_mode_shadows_too(chain, log_output):
    c = await chain(v6_mode="forward")
    await call(c.url + READ, **{"X-Request-Id": "abs-1"})
    (event,) = await shadow_events(log_output, 1)
    assert event["result"] == "match"


async def test_a_sampled_forwarded_request_is_answered_like_any_other(chain, log_output):
    """Sampling goes through the one forwarder: the client's answer is the same (here: the upstream's redirect
    made origin-relative) whether or not its request was shadowed; a streamed, gzipped answer is compared."""
    sampled = await chain(v6_mode="forward")
    unsampled = await chain(v6_mode="forward", shadow_share=0.0)
    locations = []
    for c in (sampled, unsampled):
        c.tamper.mode = "redirect"
        async with aiohttp.ClientSession() as session:
            async with session.get(c.url + READ, headers=AUTH, allow_redirects=False) as response:
                assert response.status == 302
                locations.append(response.headers["Location"])
    assert locations == ["/v6/device(1)", "/v6/device(1)"]
    sampled.tamper.mode = "chunked"
    status, body, _ = await call(sampled.url + READ, **{"X-Request-Id": "streamed-1"})
    assert status == 200 and orjson.loads(body)["d"][0]["id"]
    events = {e["request_id"]: e for e in await shadow_events(log_output, 2)}
    assert events["streamed-1"]["result"] == "match", events["streamed-1"]
