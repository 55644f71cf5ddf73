"""`datetime'…'` contents are read as the server's V8 reads them (proxy/odata/jsdate.py, a port of V8's
DateParser): node's own `Date.parse` (in UTC, as the server runs) is the oracle, on hand-picked legacy
forms and on seeded random strings over the characters the parser treats specially."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess

import pytest

from proxy.odata.jsdate import js_date_parse

FORMS = [
    "2024-01-01", "2024-01-01T10:00", "2024-01-01T10:00:00.123456+01:00", "2024-01-01 10:00:00.123456",
    "Jan 1 2024", "January 1, 2024", "1 Jan 2024", "2024/01/01", "2024/1/2 10:00", "01/02/2024", "1/2/24",
    "1/2/70", "Tue Jan 02 2024 10:00:00 GMT+0000 (Coordinated Universal Time)", "Tue, 02 Jan 2024 10:00:00 GMT",
    "2024-01-01T24:00", "2024-01-01T24:01", "Feb 30 2024", "12/31/1999 11:59 PM", "12/31/1999 12:00 AM",
    "2024-01-01 10:00 UTC+2", "10:00 2024-01-01", "Mon", "", "abc 2024", "+002024-01-01", "-000000-01-01",
    "June 2024", "2024 June 3", "3 June", "x 2024 1", "x 0 5", "x 5 32", "2024-01Z", "Jan 1 2024 EST",
    "Jan 1 2024 10:00:00.5", "Jan 1 2024 10::", "Jan 1 2024 10:00 pm", "(comment) Jan 1 2024", "1.2.2024",
    "2024-01-02T", "T10:00", "99999-01-01", "-032979 2", "15 Jun 2024 12:30:45 -0700", "2024-06-15 noon",
]  # fmt: skip


def _random_strings(seed: int, alphabet: str, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 18))) for _ in range(count)]


def _structured(seed: int, count: int) -> list[str]:
    """Date-like strings: numbers, separators, times, words and zones in legacy orders."""
    rng = random.Random(seed)
    seps = ["-", "/", " ", ":", ".", ", "]
    tails = ["", " ", "T", " 10:", " 10:20:", " 1:2:3.4 ", " pm", " Jan", " GMT", " +01:00", " -0800", " 25:00", " EST"]
    return [
        f"{rng.randint(0, 2100)}{rng.choice(seps)}{rng.randint(0, 40)}{rng.choice(seps)}{rng.randint(0, 99)}"
        f"{rng.choice(tails)}"
        for _ in range(count)
    ]


def _node_parse(texts: list[str]) -> list[int | None]:
    script = (
        "const xs=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "process.stdout.write(JSON.stringify(xs.map(x=>{const v=Date.parse(x);return Number.isNaN(v)?null:v})))"
    )
    done = subprocess.run(
        ["node", "-e", script], input=json.dumps(texts), capture_output=True, text=True, timeout=60,
        env={**os.environ, "TZ": "UTC"}, check=True,
    )  # fmt: skip
    result: list[int | None] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the oracle is V8's Date.parse)")
def test_dates_read_as_v8_reads_them() -> None:
    texts = FORMS + _random_strings(7, "0123456789-/:.+ TZjanfebmaydecpmamgmtutcest(),", 2000)
    texts += _random_strings(12, "0123456789-:.+ TtZz()AMPMJunOctSepGMTUTCPDTEDT,/é\u00a0", 1500)
    texts += _random_strings(5, "0123456789 -/:Z", 1500) + _structured(3, 1500)
    expected = _node_parse(texts)
    wrong = [(t, e, js_date_parse(t)) for t, e in zip(texts, expected, strict=True) if js_date_parse(t) != e]
    assert wrong == [], wrong[:10]
    assert sum(e is not None for e in expected) > 600  # many are dates in V8: the test bites


async def test_a_legacy_date_literal_filters_as_on_the_server(pair) -> None:
    """End to end: `datetime'Feb 2 2026'` was a property name here (a 400); it is the same instant as its
    ISO spelling, as the server reads it."""
    from v6_proxy import call

    for legacy, iso in (("Feb 2 2026", "2026-02-02T00:00:00Z"), ("2026/02/01 13:00 GMT+0100", "2026-02-01T12:00:00Z")):
        status, body = await call(
            pair.proxy_url, "GET", f"/v6/device?$select=id&$filter=created_at lt datetime'{legacy}'"
        )
        assert status == 200, body
        _, same = await call(pair.proxy_url, "GET", f"/v6/device?$select=id&$filter=created_at lt datetime'{iso}'")
        assert body == same
