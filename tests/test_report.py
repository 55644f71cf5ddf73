"""``balena-v6-proxy report`` on a log produced by real requests through the proxy in front of the v7 simulator
(the real balena-sdk 14.5.0 among the clients): counts, clients, features with their migration steps, the
cookbook grouping, skipped lines, gzipped rotated files, stdin and --since, in the three formats. The HTML page
is opened in headless Chromium when it is installed (what a person sees) and parsed otherwise."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest
from conftest import test_settings

from balena_v7_simulator.fixtures import ALICE_TOKEN, BOB_TOKEN, DEVICE_STATUS
from balena_v7_simulator.harness import running_pair
from proxy.logs import configure_logging
from proxy.report.shapes import shapes

sys.path.insert(0, str(Path(__file__).parent))
from sdk.sdkenv import run_python_sdk

UUID = DEVICE_STATUS["operational"][0]
SCRIPT = "fleet-script/1.0"


async def get(url: str, token: str = ALICE_TOKEN, **headers: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": f"Bearer {token}", **headers}) as response:
            await response.read()
            return response.status


@pytest.fixture(scope="module")
def traffic_log(tmp_path_factory) -> Path:
    """The proxy's log file after a known mix of requests (module-scoped: the SDK run takes seconds)."""
    directory = tmp_path_factory.mktemp("report")
    log = directory / "access.log"

    async def produce() -> None:
        configure_logging(test_settings(log_level="info", log_file=str(log), log_format="json"))
        overrides = {"log_level": "info", "v6_mode_rules": ["balena-cli/*=forward"]}
        async with running_pair(proxy_overrides=overrides) as pair:
            url = pair.proxy_url
            ok = await run_python_sdk("14.5.0", url, ALICE_TOKEN, [("models.device.get", [UUID])], directory / "sdk")
            assert "ok" in ok[0], ok
            script = {"X-Balena-Client": SCRIPT}
            for device_id in (1, 2, 3):
                assert (
                    await get(url + f"/v6/device({device_id})?$select=id,should_be_running__release", **script) == 200
                )
            assert await get(url + "/v6/device?$select=id,is_pinned_on__release", **script) == 200  # unknown name
            for status in ("idle", "offline"):
                assert await get(url + f"/v6/device?$filter=overall_status%20eq%20'{status}'", **script) == 200
            assert await get(url + "/v6/device?$select=id", token=BOB_TOKEN, **script) == 200  # another credential
            assert (
                await get(url + "/v6/application?$select=app_name", **{"X-Balena-Client": "balena-cli/19.0.0"}) == 404
            )
            assert await get(url + "/ping", **{"User-Agent": "curl/8.5"}) == 200

    asyncio.run(produce())
    configure_logging(test_settings())  # detach the file sink again
    lines = log.read_text().splitlines()
    assert len(lines) > 10
    # a rotated, gzipped older part, and lines that are not events
    half = len(lines) // 2
    with gzip.open(directory / "access.log.1.gz", "wt") as handle:
        handle.write("\n".join(lines[:half]) + "\nnot json at all\n")
    log.write_text("\n".join(lines[half:]) + '\n2026-01-01 12:00:00 [info] request (console line)\n{"truncated": \n')
    return directory


def report(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "report", *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def json_report(directory: Path, *extra: str) -> dict:
    done = report("--format", "json", *extra, str(directory / "access.log.1.gz"), str(directory / "access.log"))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_report_counts_clients_features_and_cookbook(traffic_log):
    data = json_report(traffic_log)
    assert list(data) == ["period", "requests", "v6_requests", "skipped_lines", "clients", "features"]
    assert list(data["period"]) == ["first", "last"] and data["period"]["first"] <= data["period"]["last"]
    assert data["skipped_lines"] == 3
    clients = {(c["client"], c["credential"]): c for c in data["clients"]}
    for entry in data["clients"]:
        assert list(entry) == [
            *("client", "credential", "requests", "v6_requests", "first_seen", "last_seen"),
            *("features", "unknown_fields", "queries"),
        ]
    script = [c for (name, _), c in clients.items() if name == SCRIPT]
    assert sorted(c["v6_requests"] for c in script) == [1, 6]  # one entry per (client, credential)
    main = max(script, key=lambda c: c["v6_requests"])
    assert main["requests"] == 6 and main["features"]["device.should_be_running__release.rename"] == 3
    assert main["unknown_fields"] == {"device.is_pinned_on__release": 1}
    by_v6 = {q["v6"]: q for q in main["queries"]}
    grouped = by_v6["GET /v6/device({id})?$select=id,should_be_running__release"]
    assert grouped == {
        "v6": "GET /v6/device({id})?$select=id,should_be_running__release",
        "v7": "GET /v7/device({id})?$select=id,is_pinned_on__release",
        "count": 3,
    }
    assert main["queries"][0] == grouped  # most frequent first
    # one v6 shape, two v7 requests: each v6 status value becomes its own v7 filter, so they stay apart
    status = [q for q in main["queries"] if q["v6"] == "GET /v6/device?$filter=overall_status eq '{text}'"]
    assert [q["count"] for q in status] == [1, 1]
    v7s = sorted(q["v7"] for q in status)
    assert "overall_status eq 'disconnected'" in v7s[0] and "overall_status eq 'operational'" in v7s[1]
    cli = next(c for (name, _), c in clients.items() if name == "balena-cli/19.0.0")
    assert cli["queries"] == [{"v6": "GET /v6/application?$select=app_name", "v7": "(not translated)", "count": 1}]
    sdk = [c for (name, _), c in clients.items() if name == "balena-python-sdk/14.5.0"]  # its X-Balena-Client
    assert sdk and sdk[0]["v6_requests"] >= 1 and sdk[0]["features"]  # the real SDK's traffic is there
    curl = clients[("curl/8.5", main["credential"])]
    assert curl["requests"] == 1 and curl["v6_requests"] == 0 and curl["queries"] == []
    assert data["requests"] == sum(c["requests"] for c in data["clients"])
    assert data["v6_requests"] == sum(c["v6_requests"] for c in data["clients"])
    features = data["features"]
    rename = features["device.should_be_running__release.rename"]
    assert rename["requests"] >= 3 and rename["clients"] >= 1
    assert "is_pinned_on__release" in rename["migration"]  # the rule kind's default, filled from the rule
    status_feature = next(f for f in features if f.startswith("device.overall_status"))
    assert "'offline' is now 'disconnected'" in features[status_feature]["migration"]  # the rule's own text
    assert data["clients"][0]["v6_requests"] >= data["clients"][-1]["v6_requests"]


def test_stdin_and_since(traffic_log):
    whole = json_report(traffic_log)
    piped = report("--format", "json", "-", stdin=(traffic_log / "access.log").read_bytes())
    assert piped.returncode == 0, piped.stderr
    part = json.loads(piped.stdout)
    assert 0 < part["requests"] < whole["requests"] and part["skipped_lines"] == 2
    later = json_report(traffic_log, "--since", "2999-01-01")
    assert later["requests"] == 0 and later["clients"] == [] and later["skipped_lines"] == 3
    since_first = json_report(traffic_log, "--since", whole["period"]["first"][:19])
    assert since_first["requests"] == whole["requests"]
    bad = report("--since", "last tuesday", str(traffic_log / "access.log"))
    assert bad.returncode == 2 and b"--since" in bad.stderr


def test_text_report(traffic_log):
    done = report(str(traffic_log / "access.log.1.gz"), str(traffic_log / "access.log"))
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert "Skipped lines:  3" in text and SCRIPT in text
    table = text.split("Clients by v6 requests", 1)[1].split("==", 1)[0]
    rows = [line for line in table.splitlines()[3:] if line.strip()]
    assert rows[0].split()[0] != "curl/8.5" and rows[-1].startswith("curl/8.5")  # by v6 request count
    section = text.split(f"== {SCRIPT}", 1)[1]
    assert "device.should_be_running__release.rename" in section and "is_pinned_on__release" in section
    assert "GET /v6/device({id})?$select=id,should_be_running__release" in section
    assert "unknown field names sent" in section and "device.is_pinned_on__release (1)" in section


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_is_self_contained(traffic_log, tmp_path):
    page = tmp_path / "report.html"
    done = report(
        "--format", "html", "--output", str(page), str(traffic_log / "access.log.1.gz"), str(traffic_log / "access.log")
    )
    assert done.returncode == 0 and done.stdout == b"", done.stderr
    html = page.read_text()
    parsed = _Page()
    parsed.feed(html)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags and "iframe" not in tags
    assert not [attrs for _, attrs in parsed.tags if any(k in ("src", "href") for k in attrs)]  # no fetches
    assert "style" in tags and "svg" in tags and tags.count("rect") >= 2
    words = " ".join(parsed.text)
    for heading in ("Clients", "v6 requests per day", "v6 features and what to use instead", "Migration cookbook"):
        assert heading in words
    assert SCRIPT in words and "(not translated)" in words and "'offline' is now 'disconnected'" in words


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_html_report_in_headless_chromium(traffic_log, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the page is still parsed above")
    page = tmp_path / "report.html"
    done = report(
        "--format", "html", "--output", str(page), str(traffic_log / "access.log.1.gz"), str(traffic_log / "access.log")
    )
    assert done.returncode == 0
    flags = [
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"),
        *("--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"),
    ]
    shot = tmp_path / "report.png"
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, timeout=120, check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout.decode()
    assert SCRIPT in rendered and 'id="client-table"' in rendered and "<svg" in rendered
    assert "Migration cookbook" in rendered and "GET /v7/device({id})?$select=id,is_pinned_on__release" in rendered
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000


def test_shapes_use_the_same_placeholders_on_both_sides():
    v6, v7 = shapes(
        "/v6/device(12)?$filter=uuid%20eq%20'0123456789abcdef0123456789abcdef'%20and%20id%20eq%207",
        "/v7/device(12)?$filter=uuid eq '0123456789abcdef0123456789abcdef' and id eq 7 and x eq 'operational'",
    )
    assert v6 == "/v6/device({id})?$filter=uuid eq '{uuid}' and id eq {number}"
    assert v7 == "/v7/device({id})?$filter=uuid eq '{uuid}' and id eq {number} and x eq 'operational'"
    assert shapes("/v6/device?$filter=a eq 'x' and b eq 'y'", None) == (
        "/v6/device?$filter=a eq '{text}' and b eq '{text2}'",
        None,
    )


def test_an_in_list_is_numbers_not_a_key():
    assert (
        shapes("/v6/device?$filter=id in (1,2,3)", None)[0] == "/v6/device?$filter=id in ({number},{number2},{number3})"
    )
    assert shapes("/v6/device(7)?$select=id", None)[0] == "/v6/device({id})?$select=id"


def test_migration_text_comes_from_the_rule_else_its_kinds_default():
    from proxy.report.migration import GUIDE, MigrationTexts
    from translators import Constant, Rename, Translator

    texts = MigrationTexts(
        [
            Translator(
                resource="widget",
                v7_resource="gadget",
                rules=(
                    Rename("colour", "color", migration="Use color; the palette changed too."),
                    Rename("size", "dimension"),
                    Constant("legacy", "Short Text | null"),
                ),
            )
        ]
    )
    assert texts.text("widget.colour.rename") == "Use color; the palette changed too."
    assert texts.text("widget.colour.filter") == "Use color; the palette changed too."
    assert "use dimension instead of size" in texts.text("widget.size.orderby")
    assert texts.text("widget.legacy.constant").startswith("legacy was removed in v7")
    assert texts.text("widget.resource_name") == "The v6 resource widget is gadget in v7: use gadget."
    assert texts.text("body.widget.size.rename") == texts.text("widget.size.rename")
    assert texts.text("nothing.known.here") == GUIDE


def test_the_cookbook_says_when_no_v7_request_went_out():
    def event(path: str, status: int, mode: str = "translate", v7: str | None = None) -> str:
        fields = {"event": "request", "method": "GET", "path": path, "status": status, "v6_mode": mode}
        return json.dumps({**fields, "timestamp": "2026-01-02T03:04:05Z", **({"v7_target": v7} if v7 else {})})

    lines = [
        event("/v6/device(1)?$select=id", 200, v7="/v7/device(1)?$select=id"),
        event("/v6/gateway_download", 200),  # decision 5: the proxy's own empty answer
        event("/v6/device?$filter=nope%20eq%201", 400),  # refused: unknown name in $filter
        event("/v6/device(2)", 200, mode="forward"),
    ]
    done = report("--format", "json", "-", stdin="\n".join(lines).encode())
    assert done.returncode == 0, done.stderr
    queries = {q["v6"]: q["v7"] for q in json.loads(done.stdout)["clients"][0]["queries"]}
    assert queries == {
        "GET /v6/device({id})?$select=id": "GET /v7/device({id})?$select=id",
        "GET /v6/gateway_download": "(no v7 request: answered by the proxy)",
        "GET /v6/device?$filter=nope eq {number}": "(no v7 request: refused by the proxy) (400)",
        "GET /v6/device({id})": "(not translated)",
    }


def test_client_names_are_escaped_in_the_html_page():
    hostile = "<script>alert(1)</script>"
    line = json.dumps(
        {
            "timestamp": "2026-01-02T03:04:05Z",
            "event": "request",
            "method": "GET",
            "path": "/v6/device?$select=id",
            "balena_client": hostile,
            "credential": "abc",
            "v6_mode": "translate",
            "v7_target": "/v7/device?$select=id",
            "v6_features": [],
        }
    )
    done = report("--format", "html", "-", stdin=(line + "\n").encode())
    assert done.returncode == 0, done.stderr
    html = done.stdout.decode()
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    parsed = _Page()
    parsed.feed(html)
    assert "script" not in [tag for tag, _ in parsed.tags]


def test_a_gzipped_log_cut_short_is_read_up_to_the_cut(traffic_log, tmp_path):
    """A rotated log copied or compressed while still being written ends mid-stream: the report reads what is
    there, counts the break as one skipped line and warns once, instead of a traceback."""
    whole = (traffic_log / "access.log.1.gz").read_bytes()
    cut = tmp_path / "access.log.2.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    done = report("--format", "json", str(cut), str(traffic_log / "access.log"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().splitlines() == [
        f"balena-v6-proxy report: warning: {cut}: compressed data ends early; read up to there"
    ]
    data = json.loads(done.stdout)
    full = json_report(traffic_log)
    assert 0 < data["requests"] < full["requests"] and data["skipped_lines"] == 2 + 1  # access.log's 2, the cut


def test_an_unwritable_output_is_one_error_line(traffic_log, tmp_path):
    done = report("--output", str(tmp_path / "missing" / "report.html"), str(traffic_log / "access.log"))
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        f"balena-v6-proxy report: error: --output {tmp_path / 'missing' / 'report.html'}: No such file or directory"
    ]
