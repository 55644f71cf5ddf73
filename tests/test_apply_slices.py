"""Large list answers are rewritten a slice of rows at a time (memory, issue 8): the client gets the same bytes
as from one parse of the whole answer, whatever the rows hold, and a broken answer is still a 502."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.engine import Engine, build_schema
from proxy.engine import apply as applier
from proxy.engine.apply import UpstreamNotJSON, apply_plan

LIST_TARGET = "/application?$expand=owns__device($select=id,device_name,is_online),is_for__device_type"
SORTED_TARGET = "/device?$select=id,overall_status&$orderby=overall_status asc,id desc"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(build_schema("balena-cloud"))


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of a few hundred bytes, so that a small answer is cut in many places."""
    monkeypatch.setattr(applier, "SLICE_BYTES", 200)
    monkeypatch.setattr(applier, "SLICE_MIN_BYTES", 0)
    monkeypatch.setattr(applier, "STRUCT_SLICE_MIN_BYTES", 0)


def whole(plan: Any, body: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes | bytearray:
    """The answer as one parse of the whole body gives it (slicing switched off)."""
    with monkeypatch.context() as m:
        m.setattr(applier, "SLICE_MIN_BYTES", 1 << 60)
        m.setattr(applier, "STRUCT_SLICE_MIN_BYTES", 1 << 60)
        return apply_plan(plan, body)


def tricky_names() -> Iterator[str]:
    """Device names holding the bytes a slice is cut at, quotes, escapes and non-ASCII text."""
    yield 'a},{"b'
    yield "},{"
    yield '{"d":[x]}'
    yield "é ✓ \\ \n \t"
    yield "plain"


def v7_rows(count: int, devices_per_app: int) -> list[dict[str, Any]]:
    names = list(tricky_names())
    rows = []
    for i in range(count):
        rows.append(
            {
                "id": i,
                "app_name": f"app-{i}",
                "organization": {"__id": 7},
                "is_for__device_type": [{"id": 3, "slug": "raspberrypi4-64", "name": 'Pi "4"'}],
                "owns__device": [
                    {"id": i * 100 + j, "device_name": names[(i + j) % len(names)], "is_online": j % 2 == 0}
                    for j in range((i * 7) % (devices_per_app + 1))
                ],
                "should_track_latest_release": True,
            }
        )
    return rows


def fresh_plan(engine: Engine, target: str, struct_rows: bool) -> Any:
    """The target's plan as a proxy has it before its first answer, or (``struct_rows``) after one, when
    its answers' rows are decoded as struct rows (proxy.engine.structbuild)."""
    plan = engine.translate("GET", target).plan
    assert plan is not None
    plan.structs = None
    if struct_rows:
        apply_plan(plan, orjson.dumps({"d": v7_rows(150, devices_per_app=2)}))
        assert plan.structs is not None and plan.structs.ready is not None
    return plan


def dict_way(plan: Any, body: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes | bytearray:
    """The answer sliced as the dict builders make it."""
    with monkeypatch.context() as m:
        m.setattr(plan, "structs", applier._Structs(usable=False))
        return apply_plan(plan, body)


@pytest.mark.parametrize("struct_rows", [False, True], ids=["dicts", "structs"])
def test_sliced_answer_is_byte_identical_to_the_whole_parse(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, small_slices: None, struct_rows: bool
) -> None:
    plan = fresh_plan(engine, LIST_TARGET, struct_rows)
    body = orjson.dumps({"d": v7_rows(60, devices_per_app=5)})
    sliced = apply_plan(plan, body)
    assert isinstance(sliced, bytearray), "the answer was not sliced"
    assert sliced == whole(plan, body, monkeypatch) == dict_way(plan, body, monkeypatch)
    assert [r["id"] for r in orjson.loads(sliced)["d"]] == list(range(60))
    if struct_rows:
        assert plan.structs.hits > 3 and plan.structs.misses == 0


@pytest.mark.parametrize("struct_rows", [False, True], ids=["dicts", "structs"])
def test_rows_with_many_nested_rows_fall_back_to_a_larger_slice(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, small_slices: None, struct_rows: bool
) -> None:
    """A row whose expanded devices hold more cut candidates than a slice tries is parsed with the rest."""
    plan = fresh_plan(engine, LIST_TARGET, struct_rows)
    body = orjson.dumps({"d": v7_rows(3, devices_per_app=40)}) + b"\n"
    assert apply_plan(plan, body) == whole(plan, body, monkeypatch) == dict_way(plan, body, monkeypatch)
    if struct_rows:
        assert plan.structs.hits > 0 and plan.structs.misses == 0


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"d": v7_rows(20, 3)}, indent=1).encode(),  # pretty-printed: no compact framing
        orjson.dumps({"d": v7_rows(20, 3), "__count": 20}),  # another key after the rows
        orjson.dumps({"__count": 20, "d": v7_rows(20, 3)}),
        b'{"d":[]}',
    ],
    ids=["pretty", "key-after", "key-before", "empty"],
)
def test_other_framings_give_the_same_answer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, small_slices: None, body: bytes
) -> None:
    plan = engine.translate("GET", LIST_TARGET).plan
    assert plan is not None
    assert apply_plan(plan, body) == whole(plan, body, monkeypatch)


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps({"d": v7_rows(20, 3)})[:-40] + b"]}",  # cut off mid-row, the frame restored
        orjson.dumps({"d": v7_rows(20, 3)}).replace(b'"app-7"', b'"app-7'),  # an open string mid-answer
        orjson.dumps({"d": v7_rows(20, 3)})[:-2],  # cut off
    ],
    ids=["truncated-row", "open-string", "truncated"],
)
@pytest.mark.parametrize("struct_rows", [False, True], ids=["dicts", "structs"])
def test_a_broken_large_answer_is_still_not_json(
    engine: Engine, small_slices: None, body: bytes, struct_rows: bool
) -> None:
    plan = fresh_plan(engine, LIST_TARGET, struct_rows)
    with pytest.raises(UpstreamNotJSON):
        apply_plan(plan, body)


def test_a_locally_sorted_answer_is_sorted_as_a_whole(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, small_slices: None
) -> None:
    """Sorting by the proxy needs every row at once: such an answer is never sliced."""
    tr = engine.translate("GET", SORTED_TARGET)
    assert tr.plan is not None and tr.plan.max_local_rows is not None
    body = orjson.dumps({"d": [{"id": i, "is_online": i % 3 == 0} for i in range(30)]})
    answer = apply_plan(tr.plan, body)
    assert not isinstance(answer, bytearray)
    assert answer == whole(tr.plan, body, monkeypatch)
    assert [r["id"] for r in orjson.loads(answer)["d"]] != list(range(30))


async def test_a_large_list_through_the_proxy(
    serve_app: Any, start_proxy: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end, default slice size: a 15,000-device answer (1.4 MB) comes back as v6, and
    gzipped when the client accepts it."""
    rows = [
        {"id": i, "device_name": name, "is_online": True, "is_pinned_on__release": {"__id": i}}
        for i, name in enumerate(n for _ in range(3000) for n in tricky_names())
    ]
    v7_body = orjson.dumps({"d": rows})
    assert len(v7_body) > applier.SLICE_MIN_BYTES and len(v7_body) > applier.STRUCT_SLICE_MIN_BYTES
    seen: list[str] = []

    async def upstream(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.Response(body=v7_body, content_type="application/json")

    sliced: list[int] = []
    slicer = applier._rewrite_sliced
    monkeypatch.setattr(
        applier, "_rewrite_sliced", lambda plan, body, *rest: sliced.append(len(body)) or slicer(plan, body, *rest)
    )
    app = web.Application()
    app.router.add_get("/v7/device", upstream)
    proxy = await start_proxy(await serve_app(app))
    target = "/device?$select=id,device_name,should_be_running__release"
    expected = whole(engine.translate("GET", target).plan, v7_body, monkeypatch)
    async with aiohttp.ClientSession(auto_decompress=False, skip_auto_headers=("Accept-Encoding",)) as client:
        async with client.get(proxy.url + "/v6" + target) as reply:
            assert reply.status == 200
            plain = await reply.read()
        async with client.get(proxy.url + "/v6" + target, headers={"Accept-Encoding": "gzip"}) as reply:
            assert reply.headers["Content-Encoding"] == "gzip"
            zipped = await reply.read()
    assert plain == expected == gzip.decompress(zipped)
    first = orjson.loads(plain)["d"][0]
    assert first == {"id": 0, "device_name": 'a},{"b', "should_be_running__release": {"__id": 0}}
    assert len(seen) == 2
    assert sliced == [len(v7_body)] * 2  # both answers went the sliced way


async def test_a_large_answer_cut_short_is_a_502_and_one_of_its_length_is_translated(start_proxy):
    """A large plain answer is read into one buffer of its declared length: all of it is translated, and an
    upstream that closes before the end is a 502 like any broken answer (nothing half-read goes out)."""
    rows = [{"id": i, "device_name": f"device-{i}", "is_pinned_on__release": None} for i in range(30000)]
    body = orjson.dumps({"d": rows})
    assert len(body) > 1024 * 1024
    cut_short = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode())
        writer.write(body[: len(body) // 2] if cut_short.is_set() else body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        proxy = await start_proxy(f"http://127.0.0.1:{port}")
        target = "/v6/device?$select=id,device_name,should_be_running__release"
        async with aiohttp.ClientSession(skip_auto_headers=("Accept-Encoding",)) as client:
            async with client.get(proxy.url + target) as reply:
                assert reply.status == 200
                answer = orjson.loads(await reply.read())["d"]
            cut_short.set()
            async with client.get(proxy.url + target) as reply:
                assert reply.status == 502
                assert (await reply.json()).startswith("Upstream unavailable: ")
    assert len(answer) == 30000
    assert answer[-1] == {"id": 29999, "device_name": "device-29999", "should_be_running__release": None}
