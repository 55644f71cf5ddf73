"""The compiled row builders answer exactly what the interpreting applier answers, key order included.

The plans are the engine's own, for the v6 requests balena-sdk sends plus hand-picked expands; the rows
are shaped from each plan (every key it reads or drops, references, expanded children, helper counts)
and then varied the ways upstream rows vary: keys missing, extra keys anywhere, keys reordered, a key
swapped for another at the same length, a v6-only key present upstream, rows that are not objects.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from proxy.engine import Engine, build_schema
from proxy.engine import apply as applier
from proxy.engine.apply import apply_rows, interpret
from proxy.engine.plan import CHILD, CONST, PATH, UNWRAP, ObjectPlan, ResponsePlan

FIXTURES = Path(__file__).parent / "fixtures" / "odata"
EXTRA_TARGETS = [
    "/device?$expand=belongs_to__application",
    "/device?$select=id,overall_status,should_be_running__release&$expand=belongs_to__application($select=id,app_name)",
    "/application?$expand=owns__device($select=id,overall_status;$expand=should_be_running__release)",
    "/device?$expand=image_install($expand=installs__image),belongs_to__application($expand=organization)",
    "/device?$orderby=overall_status desc&$top=3",
]


def sdk_targets() -> list[str]:
    targets = []
    for path in sorted(FIXTURES.glob("sdk-*-v6-requests.txt")):
        for line in path.read_text().splitlines():
            if line.startswith("GET /v6/"):
                targets.append(URL(line.split(" ", 1)[1].strip()).raw_path_qs[3:])
    return sorted(set(targets))


def value(rng: random.Random) -> Any:
    return rng.choice([None, 0, 7, "x", "Downloading", "operational", "reduced-functionality", True, False, 1.5])


def v7_row(plan: ObjectPlan, rng: random.Random, depth: int = 0) -> dict[str, Any]:
    """A v7 object holding every key ``plan`` reads or drops, in a shuffled but fixed order."""
    row: dict[str, Any] = {}
    for op in plan.ops:
        if op.src is None:
            continue
        if op.kind == CHILD:
            row[op.src] = (
                [v7_row(op.arg, rng, depth + 1) for _ in range(2)]
                if isinstance(op.arg, ObjectPlan)
                else rng.randint(0, 3)
            )
        elif op.kind == PATH:
            row[op.src] = [{}]
        elif op.kind == UNWRAP:
            row[op.src] = {"__id": rng.randint(1, 9)}
        else:
            row[op.src] = value(rng)
    for key in sorted(plan.known):
        row.setdefault(key, value(rng))
    return row


def variants(row: dict[str, Any], plan: ObjectPlan, rng: random.Random) -> list[Any]:
    keys = list(row)
    out: list[Any] = [dict(row), dict(row)]
    for _ in range(6):
        kept = [k for k in keys if rng.random() > 0.2]
        out.append({k: row[k] for k in kept})
    for _ in range(4):
        extra = list(row.items())
        for n in range(rng.randint(1, 3)):
            extra.insert(rng.randint(0, len(extra)), (f"zz_extra_{n}", value(rng)))
        out.append(dict(extra))
    shuffled = list(row.items())
    rng.shuffle(shuffled)
    out.append(dict(shuffled))
    if keys:  # same length, one key swapped for an unknown one
        swapped = dict(row)
        del swapped[rng.choice(keys)]
        swapped["zz_swapped"] = 1
        out.append(swapped)
    for op in plan.ops:  # a key the plan writes itself (a constant, a derived value) sent by the upstream too
        if op.kind == CONST or op.src is None:
            out.append({**row, op.key: "upstream"})
    if not plan.sort:  # a local sort reads every row as an object
        out.extend([None, 5, [row]])
    return out


def response_plans(engine: Engine, targets: list[str]) -> list[tuple[str, ResponsePlan]]:
    """The list-answer plans of ``targets`` (refused targets have none)."""
    found = []
    for target in targets:
        try:
            tr = engine.translate("GET", target)
        except Exception:  # refused targets have no plan
            continue
        if tr.plan is not None and tr.plan.objects is not None and tr.plan.kind == "rows":
            found.append((target, tr.plan))
    return found


def outcome(apply: Any) -> Any:
    """The rows, or the exception class when a value the translators do not expect made it raise."""
    try:
        return apply()
    except (TypeError, ValueError, AttributeError) as exc:
        return exc.__class__.__name__


def same(a: Any, b: Any) -> bool:
    """Equal values with equal key order at every depth."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("flavour", ["balena-cloud", "open-balena"])
def test_builders_answer_what_the_interpreter_answers(flavour: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine(build_schema(flavour))
    checked = compiled = 0

    def interpreted(rows: list[Any], plan: ObjectPlan) -> Any:
        with monkeypatch.context() as m:  # every object, at every depth, through the interpreter
            m.setattr(applier, "_builder", lambda p, _row: lambda r: interpret(p, r, {}))
            return outcome(lambda: apply_rows(plan, copy.deepcopy(rows), {}))

    for target, response_plan in response_plans(engine, sdk_targets() + EXTRA_TARGETS):
        plan = response_plan.objects
        assert plan is not None
        rng = random.Random(target)
        for _ in range(3):
            base = v7_row(plan, rng)
            rows = variants(base, plan, rng)
            expected = interpreted(rows, plan)
            copied, again = copy.deepcopy(rows), copy.deepcopy(rows)
            assert same(outcome(lambda p=plan, r=copied: apply_rows(p, r, {})), expected), target
            assert same(outcome(lambda p=plan, r=again: apply_rows(p, r, {}, in_place=True)), expected), target
            checked += len(rows)
        compiled += bool(plan.builders)
    assert checked > 1000 and compiled > 20  # the builders, not the interpreter, answered most of it
