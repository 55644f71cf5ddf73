"""Recorded data is kept once: no two files under tests/fixtures/ (or in the package data) are byte-identical
copies; a suite that needs another's fixture reads it where it is (tests/fixtures/open-balena-pairs/ serves the
engine and the simulator tests alike)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLACES = [ROOT / "tests" / "fixtures", ROOT / "proxy" / "data", ROOT / "simulator" / "balena_v7_simulator" / "data"]


def test_no_fixture_is_a_copy_of_another() -> None:
    by_digest: dict[str, list[str]] = defaultdict(list)
    for place in PLACES:
        for path in sorted(place.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.stat().st_size > 0:
                if path.name == "__init__.py":
                    continue
                by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append(path.relative_to(ROOT).as_posix())
    copies = [paths for paths in by_digest.values() if len(paths) > 1]
    assert not copies, "byte-identical copies (keep one, point both suites at it):\n" + "\n".join(map(str, copies))
