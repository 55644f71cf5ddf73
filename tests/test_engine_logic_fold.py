"""proxy.engine.logic (folding): a v6 expression evaluated per case of a derived value (the value put in as a literal)
and folded as PostgreSQL would evaluate what pinejs compiles; what it cannot decide stays for the server."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from proxy.engine.logic import fold, mentions, substitute
from proxy.odata import Path, parse_expression


def is_release_type(path: Path) -> bool:
    return path.names == ["release_type"]


def folded(text: str, value: str) -> str:
    return unquote(fold(substitute(parse_expression(text), is_release_type, value)).serialize())


@pytest.mark.parametrize(
    "text, final, draft",
    [
        ("startswith(release_type,'f')", "true", "false"),
        ("endswith(release_type,'aft')", "false", "true"),
        ("contains(release_type,'a')", "true", "true"),
        ("substringof('na',release_type)", "true", "false"),
        ("length(release_type) eq 5", "true", "true"),
        ("length(release_type) gt 5", "false", "false"),
        ("indexof(release_type,'a') eq 2", "false", "true"),
        ("indexof(release_type,'z') eq -1", "true", "true"),
        ("substring(release_type,1) eq 'inal'", "true", "false"),
        ("substring(release_type,0,2) eq 'dr'", "false", "true"),
        ("toupper(release_type) eq 'FINAL'", "true", "false"),
        ("tolower(release_type) eq 'draft'", "false", "true"),
        ("trim(release_type) eq release_type", "true", "true"),
        ("concat(release_type,'!') eq 'final!'", "true", "false"),
        ("replace(release_type,'a','o') eq 'droft'", "false", "true"),
        ("release_type gt 'e'", "true", "false"),  # code point order
        ("release_type in ('draft','x')", "false", "true"),
        ("not startswith(release_type,'f')", "false", "true"),
        ("release_type eq null", "false", "false"),
        ("startswith(release_type,null)", "null", "null"),  # NULL in, NULL out
    ],
)
def test_functions_fold_on_each_value(text, final, draft):
    assert (folded(text, "final"), folded(text, "draft")) == (final, draft)


def test_what_mentions_other_names_stays_for_the_server():
    assert folded("startswith(release_type,commit)", "final") == "startswith('final',commit)"
    assert folded("startswith(release_type,'f') and commit eq 'x'", "final") == "commit eq 'x'"
    assert folded("startswith(release_type,'d') or commit eq 'x'", "final") == "commit eq 'x'"
    assert folded("startswith(release_type,'f') or commit eq 'x'", "final") == "true"
    assert folded("substring(release_type,0,-1) eq 'x'", "final") == "substring('final',0,-1) eq 'x'"


def test_mentions_ignores_lambda_bodies():
    assert mentions(parse_expression("length(release_type) eq 5"), is_release_type)
    assert not mentions(
        parse_expression("release_image/any(r:r/release_type eq 'x')"), lambda p: p.names == ["r", "release_type"]
    )
