"""Every v6 request balena-sdk 14.5.0 and 12.7.0 sends is translated to a v7 request that the REAL server
parser (@balena/odata-parser, tests/odata_node.py) accepts and that means the same.

"Means the same" is checked two ways: the translation equals the reviewed expectation in
tests/fixtures/engine/sdk-v7-expected.txt (spec §1/§2.4/§2.5 applied by hand), and where no translator
rule applies, the real parser's tree of the v7 target is identical to its tree of the v6 target.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from proxy.engine import Engine, build_schema

HERE = Path(__file__).parent / "fixtures" / "engine"
SDK_REQUESTS = Path(__file__).parent / "fixtures" / "odata"  # the captured SDK requests, shared with the odata tests
LINE = re.compile(r"^(GET|POST|PATCH|PUT|DELETE) /v6(\S*(?: \S+)*?)(?: BODY (.*))?\s*$")


def sdk_requests() -> list[tuple[str, str, str]]:
    found = []
    for name in ("sdk-14.5.0-v6-requests.txt", "sdk-12.7.0-v6-requests.txt"):
        for line in (SDK_REQUESTS / name).read_text().splitlines():
            m = LINE.match(line)
            if m:
                found.append((name, m.group(1), m.group(2)))
    return found


def expectations() -> dict[tuple[str, str], str]:
    text = (HERE / "sdk-v7-expected.txt").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {tuple(lines[i].split(" ", 1)): lines[i + 1][3:] for i in range(0, len(lines), 2)}  # type: ignore[misc]


REQUESTS = sdk_requests()
EXPECTED = expectations()
ENGINE = Engine(build_schema("balena-cloud"))


def test_every_captured_request_is_covered():
    assert len(REQUESTS) >= 40
    assert {(m, t) for _, m, t in REQUESTS} <= set(EXPECTED)


@pytest.mark.parametrize(
    "source, method, target", REQUESTS, ids=[f"{s[4:10]}-{i}" for i, (s, _, _) in enumerate(REQUESTS)]
)
def test_translation_is_accepted_by_the_real_parser_and_means_the_same(odata_oracle, source, method, target):
    wire = target.replace(" ", "%20")
    translation = ENGINE.translate(method, wire)
    assert translation.v7_target is not None
    assert unquote(translation.v7_target) == EXPECTED[(method, target)]
    verdict = odata_oracle.parse(translation.v7_target)
    assert verdict["accepted"], verdict
    if not translation.features:
        assert verdict["parse"] == odata_oracle.parse(wire)["parse"]
