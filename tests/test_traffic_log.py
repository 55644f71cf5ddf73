"""The traffic log through the running proxy in front of the v7 simulator: the fields every /v6/ access event
carries (v6_mode, resource, v7_target with secrets masked) and the ``log_file`` sink (JSON lines whatever
``log_format`` says, rotation, one file per worker, a bad path at start-up, a full disk later)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pytest
from conftest import LogOutput, free_port, test_settings

from balena_v7_simulator.fixtures import ALICE_TOKEN
from balena_v7_simulator.harness import running_pair, running_simulator
from proxy.logs import configure_logging, flush_pending, get_logger, log_info

AUTH = {"Authorization": f"Bearer {ALICE_TOKEN}"}


async def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={**AUTH, **(headers or {})}) as response:
            return response.status, await response.read()


async def test_v6_events_carry_mode_resource_and_the_masked_v7_target(log_output):
    async with running_pair(proxy_overrides={"log_level": "info"}) as pair:
        status, _ = await get(
            pair.proxy_url + "/v6/device?$select=id,should_be_running__release&$filter=is_online%20eq%20true"
        )
        assert status == 200
        status, _ = await get(pair.proxy_url + "/v6/application(1)?$select=app_name&apikey=s3cr3tvalue")
        await get(pair.proxy_url + "/ping")
    events = {e["path"].split("?")[0]: e for e in log_output.events("request")}
    device = events["/v6/device"]
    assert device["v6_mode"] == "translate" and device["resource"] == "device"
    assert device["v7_target"].startswith("/v7/device?")
    assert "is_pinned_on__release" in device["v7_target"]  # the v7 name the proxy sent
    assert "device.should_be_running__release.rename" in device["v6_features"]
    app = events["/v6/application(1)"]
    assert app["resource"] == "application" and app["v7_target"].startswith("/v7/application(1)")
    assert "s3cr3tvalue" not in log_output.text and "apikey=***" in app["v7_target"]
    assert "v6_mode" not in events["/ping"] and "resource" not in events["/ping"]


async def test_forward_mode_still_names_mode_and_resource(log_output):
    async with running_pair(proxy_overrides={"log_level": "info", "v6_mode": "forward"}) as pair:
        status, _ = await get(pair.proxy_url + "/v6/device(uuid='abc')?$select=id")
        assert status == 404  # the simulator serves no /v6/: the request went there untouched
    (event,) = [e for e in log_output.events("request") if e["path"].startswith("/v6/")]
    assert event["v6_mode"] == "forward" and event["resource"] == "device" and "v7_target" not in event
    assert event["upstream_status"] == 404


@pytest.fixture
def detach_log_file():
    """Tests that attach a log file sink detach it afterwards (the logging configuration is process-wide)."""
    yield
    configure_logging(test_settings())


def _lines(path: Path) -> list[dict]:
    return json_lines(path.read_text())


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_log_file_is_json_lines_and_rotates(tmp_path, capsys, detach_log_file):
    target = tmp_path / "access.log"
    settings = test_settings(log_format="console", log_file=str(target), log_file_max_bytes=3000, log_file_backups=2)
    configure_logging(settings)  # console on stdout, JSON in the file
    async with running_pair(proxy_overrides={"log_level": "info"}) as pair:
        for n in range(40):
            assert (await get(pair.proxy_url + f"/v6/device?$select=id&$top={n + 1}"))[0] == 200
    flush_pending()  # what waiting FLUSH_DELAY would do
    stdout = capsys.readouterr().out
    assert "request" in stdout and not stdout.lstrip().startswith("{")  # console rendering on stdout
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["access.log", "access.log.1", "access.log.2"]  # two backups kept, older ones dropped
    for name in files:
        size = (tmp_path / name).stat().st_size
        assert 0 < size <= 3000
        events = _lines(tmp_path / name)
        assert all(e["event"] == "request" and e["v6_mode"] == "translate" for e in events)
    newest = _lines(target)[-1]
    assert newest["path"] == "/v6/device?$select=id&$top=40" and newest["resource"] == "device"
    # the rotated files hold the requests just before, in order
    tops = [int(e["path"].rsplit("=", 1)[1]) for name in reversed(files) for e in _lines(tmp_path / name)]
    assert tops == list(range(tops[0], 41))


async def test_a_full_disk_is_reported_once_and_never_fails_a_request(log_output, detach_log_file):
    if not Path("/dev/full").exists():  # noqa: ASYNC240 - a one-off check before the test starts
        pytest.skip("needs /dev/full (Linux) to simulate a full disk")
    configure_logging(test_settings(log_level="info", log_file="/dev/full"), stream=log_output)
    async with running_pair(proxy_overrides={"log_level": "info"}) as pair:
        for _ in range(5):
            assert (await get(pair.proxy_url + "/v6/device?$select=id"))[0] == 200
    errors = log_output.events("log_file_error")
    assert len(errors) == 1 and "/dev/full" in errors[0]["error"] and "No space left" in errors[0]["error"]
    assert len(log_output.events("request")) == 5


async def test_a_log_file_that_cannot_be_opened_stops_start_up(spawn_cli, tmp_path):
    cli = await spawn_cli("serve", "--upstream", "http://127.0.0.1:9", "--log-file", str(tmp_path / "no" / "x.log"))
    assert await asyncio.wait_for(cli.process.wait(), 15) == 2
    stderr = (await cli.process.stderr.read()).decode()  # type: ignore[union-attr]
    assert stderr.count("\n") == 1 and "log_file" in stderr and str(tmp_path / "no" / "x.log") in stderr


async def test_each_worker_writes_its_own_file(spawn_cli, tmp_path):
    async with running_simulator() as (_app, sim_url):
        port = free_port()
        target = tmp_path / "proxy.log"
        cli = await spawn_cli(
            *("serve", "--upstream", sim_url, "--port", str(port), "--workers", "2", "--log-format", "json"),
            *("--log-file", str(target)),
        )
        await cli.wait_event("listening", count=2)
        for _ in range(30):
            assert (await get(f"http://127.0.0.1:{port}/v6/device?$select=id"))[0] == 200
        assert await cli.stop() == 0
    assert not target.exists()  # no two processes share (and rotate) one file
    events = _lines(tmp_path / "proxy.log.0") + _lines(tmp_path / "proxy.log.1")
    # the parent's own events (start, stop of the workers) go to a file of its own
    parent = _lines(tmp_path / "proxy.log.supervisor")
    started = [e for e in parent if e["event"] == "workers_started"]
    assert len(started) == 1 and set(started[0]["pids"]) == {e["pid"] for e in events if e["event"] == "listening"}
    assert not [e for e in parent if e["event"] == "request"]
    assert len([e for e in events if e["event"] == "request"]) == 30
    assert {e["pid"] for e in events if e["event"] == "listening"} == {
        e["pid"] for e in cli.events if e["event"] == "listening"
    }


async def test_access_lines_keep_their_order_with_other_events(tmp_path, detach_log_file):
    """Access lines are written after their answers (at the next flush); any other event first writes the
    lines kept so far, so stdout and the log file read in the order things happened."""
    target = tmp_path / "proxy.log"
    stdout = LogOutput()
    configure_logging(test_settings(log_file=str(target)), stream=stdout)
    log_info("proxy.access", "request", {"n": 1})
    log_info("proxy.access", "request", {"n": 2})
    get_logger("proxy.test").warning("something_else")
    log_info("proxy.access", "request", {"n": 3})
    await asyncio.sleep(0.2)  # the deferred flush (50 ms) writes the third line
    expected = [("request", 1), ("request", 2), ("something_else", None), ("request", 3)]
    assert [(e["event"], e.get("n")) for e in json_lines(stdout.getvalue())] == expected
    assert [(e["event"], e.get("n")) for e in _lines(target)] == expected


async def test_a_graceful_stop_writes_every_access_line(spawn_cli, tmp_path):
    """The lines kept for the next flush are written when the proxy stops, before its "stopped" event."""
    async with running_simulator() as (_app, sim_url):
        port = free_port()
        target = tmp_path / "proxy.log"
        cli = await spawn_cli(
            *("serve", "--upstream", sim_url, "--port", str(port), "--log-format", "json", "--log-file", str(target))
        )
        await cli.wait_event("listening")
        for n in range(20):
            assert (await get(f"http://127.0.0.1:{port}/v6/device?$select=id&$top={n + 1}"))[0] == 200
        assert await cli.stop() == 0
        rest = (await cli.process.stdout.read()).decode()  # type: ignore[union-attr]
    stdout = cli.events + json_lines(rest)
    for events in (stdout, _lines(target)):
        names = [e["event"] for e in events]
        assert names.count("request") == 20 and names[-1] == "stopped"
        tops = [int(e["path"].rsplit("=", 1)[1]) for e in events if e["event"] == "request"]
        assert tops == list(range(1, 21))


class CountingStream(io.StringIO):
    """A stream that counts its writes: each is a system call on an unbuffered stdout (PYTHONUNBUFFERED=1,
    as the Docker image sets)."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


async def test_lines_go_out_in_one_write_per_batch_even_on_an_unbuffered_stream(detach_log_file):
    stream = CountingStream()
    configure_logging(test_settings(log_level="info"), stream=stream)
    for n in range(50):
        log_info("proxy.access", "request", {"n": n})
        get_logger("proxy.test").info("other", n=n)
        await asyncio.sleep(0)  # requests end in different turns of the loop
    assert stream.writes == 0  # kept for the batch
    await asyncio.sleep(0.2)  # FLUSH_DELAY later
    assert stream.writes == 1
    events = json_lines(stream.getvalue())
    assert [(e["event"], e["n"]) for e in events] == [(name, n) for n in range(50) for name in ("request", "other")]


def test_a_line_kept_when_its_loop_stopped_does_not_hold_back_later_ones(detach_log_file):
    """A write scheduled on a loop that stopped before running it is not waited for on the next loop."""
    stream = LogOutput()
    configure_logging(test_settings(log_level="info"), stream=stream)

    async def one(n: int) -> None:
        log_info("proxy.access", "request", {"n": n})
        asyncio.get_running_loop().stop()  # the loop ends before its next turn writes it

    first = asyncio.new_event_loop()
    task = first.create_task(one(1))
    first.run_forever()
    first.close()
    assert task.done()

    async def later() -> None:
        log_info("proxy.access", "request", {"n": 2})
        await asyncio.sleep(0.2)

    asyncio.run(later())
    assert [e["n"] for e in json_lines(stream.getvalue())] == [1, 2]  # read without flushing first
