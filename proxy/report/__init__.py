"""``balena-v6-proxy report``: which clients still speak v6, on which features, and how to migrate them.

    balena-v6-proxy report [--format text|json|html] [--output FILE] [--since DATE] FILE...

Reads the proxy's access log (JSON lines: ``log_file`` and its rotated, gzipped copies, or ``-`` for stdin,
e.g. ``kubectl logs -l app=balena-v6-proxy | balena-v6-proxy report -``). See :mod:`proxy.report.build`
for what is counted and the README's "Migrating your clients" for how to use it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from translators.registry import builtin_translators, thirdparty_translators

from .build import InputErrors, Usage, build_usage, parse_since, read_lines
from .migration import MigrationTexts
from .render import render

__all__ = ["Usage", "build_usage", "main", "render"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{prog} report", description="Usage report from the proxy's access logs: v6 clients, features, cookbook."
    )
    parser.add_argument("--format", choices=("text", "json", "html"), default="text", help="output format (text)")
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--since", metavar="DATE", help="only events at or after this ISO 8601 date or time (UTC)")
    parser.add_argument("files", nargs="+", metavar="FILE", help="access log files (gzipped ones too), - for stdin")
    return parser


def main(argv: Sequence[str], prog: str = "balena-v6-proxy") -> int:
    args = _parser(prog).parse_args(list(argv))
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError:
        print(f"{prog} report: error: --since: expected an ISO 8601 date or time, got {args.since!r}", file=sys.stderr)
        return 2
    translators = builtin_translators()
    for _name, items in thirdparty_translators():
        translators.extend(items)
    errors = InputErrors()
    try:
        usage = build_usage(read_lines(args.files, errors), MigrationTexts(translators), since)
    except OSError as exc:
        print(f"{prog} report: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for message in errors.messages:
        print(f"{prog} report: warning: {message}", file=sys.stderr)
    text = render(usage, args.format)
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        print(f"{prog} report: error: --output {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
