"""The real server URL parser (@balena/odata-parser 4.3.5, pinned in tests/node/package-lock.json) as an
oracle for tests: ONE long-lived node process per test session, JSON lines over stdin/stdout.
`parse` is what the server parses: pinejs 24's parameter-alias step (copied into tests/node/oracle.js
from pinejs `src/sbvr-api/uri-parser.ts`, odata-dialect.md §5.4) before the parser; `parse_raw` is the
parser alone.

Use from any test module by asking for the fixture (conftest.py registers this module as a plugin):

    def test_x(odata_oracle):
        verdict = odata_oracle.parse("/device?$filter=a eq 1")
        # {"accepted": True, "parse": {"tree": ..., "binds": [...]}}
        # or {"accepted": False, "kind": "SyntaxError" | "URIError", "error": "..."}
        odata_oracle.parse_expression("a eq 1")   # the tree of a bare $filter expression

The set-up installs the pinned package itself (`npm ci` from tests/node when node_modules is missing);
tests using the fixture are skipped only when `node`/`npm` are not installed at all.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parent / "node"
PACKAGE = NODE_DIR / "node_modules" / "@balena" / "odata-parser" / "package.json"


def ensure_installed() -> None:
    """`npm ci` the pinned parser once (a file lock keeps parallel sessions from racing)."""
    if PACKAGE.exists():
        return
    with open(Path(tempfile.gettempdir()) / "balena-v6-proxy-odata-oracle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if PACKAGE.exists():
            return
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )


class NodeOracle:
    """A running `node oracle.js`; `parse(url)` returns the real parser's verdict as a dict."""

    def __init__(self) -> None:
        ensure_installed()
        self._proc = subprocess.Popen(
            ["node", str(NODE_DIR / "oracle.js")],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env={**os.environ, "TZ": "UTC"},  # the server runs in UTC: a date without a zone is UTC there
        )
        self._lock = threading.Lock()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the odata-parser oracle process died")
        return json.loads(line)

    def parse(self, url: str) -> dict[str, Any]:
        """The server's verdict for a request target after the version root, e.g. "/device(1)?$select=id"."""
        return self._ask({"url": url})

    def parse_raw(self, url: str) -> dict[str, Any]:
        """The parser's verdict on the raw text (no pinejs alias step)."""
        return self._ask({"url": url, "raw": True})

    def parse_expression(self, text: str) -> dict[str, Any]:
        """Verdict for a bare `$filter` expression (parsed as `/x?$filter=<text>`)."""
        return self._ask({"expr": text})

    def parse_many(self, urls: list[str], *, raw: bool = False) -> list[dict[str, Any]]:
        """Pipelined batch: all requests written before the answers are read (much faster)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        with self._lock:
            self._proc.stdin.write("".join(json.dumps({"url": u, "raw": raw}) + "\n" for u in urls))
            self._proc.stdin.flush()
            return [json.loads(self._proc.stdout.readline()) for _ in urls]

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@pytest.fixture(scope="session")
def odata_oracle() -> Iterator[NodeOracle]:
    """The session's one real-parser process."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    oracle = NodeOracle()
    try:
        yield oracle
    finally:
        oracle.close()
