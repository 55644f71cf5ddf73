"""Feature names (``v6_features`` in the access log) are a stable interface (issue 9): the usage report and
the metrics key on them. The kinds the engine can record are pinned here, and each has a migration step of
its own rather than the bare pointer to balena's guide."""

from __future__ import annotations

import re
from pathlib import Path

from proxy.report.migration import GUIDE, KIND_DEFAULTS, RULE_DEFAULTS, MigrationTexts
from translators.registry import builtin_translators

ENGINE = Path(__file__).parent.parent / "proxy" / "engine"
# <resource>.<rule name>.<kind>: the rule's own migration text, else its rule class's default, else the kind's.
RULE_KINDS = {
    "coerce", "constant", "derived", "empty", "empty_lambda", "expand_via", "filter", "filter_cases",
    "filter_constant", "filter_hook", "local_sort", "navigation_path", "null_link_path", "orderby",
    "orderby_constant", "orderby_dropped", "rename", "unwrap", "v7_only_dropped",
}  # fmt: skip
# <resource>.<kind> (local_sort_count alone): the kind's default text.
RESOURCE_KINDS = {
    "extra_filter", "extra_filter_value", "from_client_expand", "local_empty", "local_sort_count",
    "local_sort_link_rebuilt", "local_sort_path", "local_sort_per_parent", "resource_name", "unknown_prefix_skipped",
}  # fmt: skip
_RECORDED = re.compile(r"""(?:feature|record|features\.append)\(f?["']([^"']+)["']\)""")


def recorded_kinds() -> set[str]:
    """The last dotted part of every feature name the engine's sources record."""
    return {
        match.group(1).rsplit(".", 1)[-1]
        for source in ENGINE.glob("*.py")
        for match in _RECORDED.finditer(source.read_text())
    }


def test_the_engine_records_only_the_pinned_feature_kinds():
    found = recorded_kinds()
    assert found == RULE_KINDS | RESOURCE_KINDS, (
        "feature names are a stable interface (issue 9: the report and the metrics key on them); "
        f"new: {sorted(found - RULE_KINDS - RESOURCE_KINDS)}, gone: {sorted(RULE_KINDS | RESOURCE_KINDS - found)}"
    )


def test_every_feature_kind_has_a_migration_step_of_its_own():
    translators = builtin_translators()
    texts = MigrationTexts(translators)
    for kind in RESOURCE_KINDS:
        assert kind in KIND_DEFAULTS, kind
        assert texts.text(f"device.{kind}") != GUIDE
    for translator in translators:
        for rule in translator.rules:
            assert type(rule) in RULE_DEFAULTS or getattr(rule, "migration", None), (translator.resource, rule)
    name = next(r.v6 for t in translators if t.resource == "device" for r in t.rules if getattr(r, "v6", None))
    for kind in RULE_KINDS:
        assert texts.text(f"device.{name}.{kind}") != GUIDE, kind
