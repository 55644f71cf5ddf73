"""Micro-benchmarks (µs, one core, no network, best of 5): the URL translation and the response plan alone.

    python -m bench.micro [--json] [--min-time 0.2]

- URL translation: ``translate_target`` (uncached: parse, walk, plan) of the benchmark's v6 requests and of every
  v6 request captured from balena-sdk, and the engine's cached look-up.
- Response plan: ``apply_plan`` on the benchmark's 1, 100 and 2,000-device v7 bodies, beside ``orjson.loads``
  alone, ``loads`` + ``dumps``, and the hand-made orjson rewrite of the baseline, so the plan's cost reads
  against the least any full parse can cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from bench.data import PATCH_TARGET, SIZES, body, v6_list_target
from bench.servers import rewrite_rows

ROOT = Path(__file__).resolve().parent.parent
FLAVOUR = "balena-cloud"


def per_call_us(fn: Callable[[], Any], min_time: float, repeat: int = 5) -> float:
    """The best of ``repeat`` runs of the mean time per call (µs), each run about ``min_time / repeat`` long.

    The minimum, as ``timeit`` advises: on a shared machine the slower runs measure the neighbours."""

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - start

    number = 1
    while run(number) < min_time / repeat:
        number *= 2
    return min(run(number) / number * 1e6 for _ in range(repeat))


def _loads_dumps(data: bytes) -> bytes:
    return orjson.dumps(orjson.loads(data))


def sdk_targets() -> list[tuple[str, str]]:
    """(method, target below /v6) of every distinct v6 request captured from balena-sdk."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "odata"))
    try:
        from sdk_requests import load_sdk_requests  # type: ignore[import-not-found]
    except ImportError:  # an installed tree without the test fixtures
        return []
    found = set()
    for request in load_sdk_requests():
        if request.version == "v6":
            found.add((request.method, request.target))
    return sorted(found)


def measure(min_time: float) -> dict[str, Any]:
    from proxy.engine import Engine, build_schema
    from proxy.engine.apply import apply_plan
    from proxy.engine.walk import translate_target

    schema = build_schema(FLAVOUR)
    engine = Engine(schema)
    results: dict[str, Any] = {"flavour": FLAVOUR, "translation": {}, "plan": {}}

    def uncached(method: str, target: str) -> Callable[[], Any]:
        return lambda: translate_target(schema, method, target)

    own = {
        f"GET {rows} device{'s' if rows > 1 else ''} ($select of 58, $expand)": ("GET", v6_list_target(rows)[3:])
        for rows in (1, 100)
    }
    own["PATCH /device(id)"] = ("PATCH", PATCH_TARGET[3:])
    for label, (method, target) in own.items():
        engine.translate(method, target)
        results["translation"][label] = {
            "uncached_us": per_call_us(uncached(method, target), min_time),
            "cached_us": per_call_us(partial(engine.translate, method, target), min_time),
            "chars": len(target),
        }
    sdk = sdk_targets()
    if sdk:
        timings = []
        for method, target in sdk:
            try:
                translate_target(schema, method, target)
            except Exception:  # a request the proxy answers with an error is not timed
                continue
            timings.append(per_call_us(uncached(method, target), min_time / 10, repeat=3))
        results["translation"][f"balena-sdk v6 requests ({len(timings)}), median"] = {
            "uncached_us": statistics.median(timings),
            "max_us": max(timings),
        }

    for rows in SIZES:
        data = body(rows)
        plan = engine.translate("GET", v6_list_target(rows)[3:]).plan
        assert plan is not None
        apply_plan(plan, data)  # compile once, as a warm proxy has
        results["plan"][f"{rows} device{'s' if rows > 1 else ''}"] = {
            "body_bytes": len(data),
            "apply_plan_us": per_call_us(partial(apply_plan, plan, data), min_time),
            "orjson_loads_us": per_call_us(partial(orjson.loads, data), min_time),
            "loads_dumps_us": per_call_us(partial(_loads_dumps, data), min_time),
            "hand_rewrite_us": per_call_us(partial(rewrite_rows, data), min_time),
        }
    return results


def render(results: dict[str, Any]) -> str:
    lines = ["| URL translation | uncached µs | cached µs |", "|---|---|---|"]
    for label, row in results["translation"].items():
        cached = f"{row['cached_us']:.2f}" if "cached_us" in row else f"max {row['max_us']:.0f}"
        lines.append(f"| {label} | {row['uncached_us']:.0f} | {cached} |")
    lines += [
        "",
        "| response plan | body | apply_plan µs | orjson.loads µs | loads+dumps µs | hand-made rewrite µs | plan ÷ rewrite |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in results["plan"].items():
        lines.append(
            f"| {label} | {row['body_bytes'] / 1024:.0f} KiB | {row['apply_plan_us']:.0f} | {row['orjson_loads_us']:.0f} "
            f"| {row['loads_dumps_us']:.0f} | {row['hand_rewrite_us']:.0f} "
            f"| {row['apply_plan_us'] / row['hand_rewrite_us']:.2f} × |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds spent on each figure (default 0.2)")
    args = parser.parse_args()
    results = measure(args.min_time)
    print(orjson.dumps(results).decode() if args.json else render(results))


if __name__ == "__main__":
    main()
