"""The usage report as text (a terminal) and as one self-contained HTML page (inline CSS and SVG, no script,
no network fetch): the client table, v6 requests per day per client, the features with their migration
steps, the migration cookbook and the shadow summary."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from html import escape
from typing import Any

from .build import ClientEntry, Usage, _ranked

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
CHART_CLIENTS = len(PALETTE) - 1  # the rest are drawn together as "others"


def _who(entry: ClientEntry) -> str:
    return entry.client or "(no client name)"


def _day(stamp: str | None) -> str:
    return stamp[:19].replace("T", " ") if stamp else "-"


def render_text(usage: Usage) -> str:
    out: list[str] = ["balena-v6-proxy usage report", ""]
    out.append(f"Period:         {_day(usage.first)} .. {_day(usage.last)} (UTC)")
    out.append(f"Requests:       {usage.requests} ({usage.v6_requests} to /v6/)")
    out.append(f"Skipped lines:  {usage.skipped_lines}")
    clients = usage.sorted_clients()
    out += ["", "Clients by v6 requests", ""]
    width = max([len(_who(c)) for c in clients] + [6])
    out.append(f"{'CLIENT':<{width}}  {'CREDENTIAL':<12}  {'V6':>7}  {'ALL':>7}  {'FIRST SEEN':<19}  LAST SEEN")
    for c in clients:
        out.append(
            f"{_who(c):<{width}}  {c.credential or '-':<12}  {c.v6_requests:>7}  {c.requests:>7}  "
            f"{_day(c.first_seen):<19}  {_day(c.last_seen)}"
        )
    for c in clients:
        if not c.v6_requests:
            continue
        out += ["", f"== {_who(c)} (credential {c.credential or '-'}): {c.v6_requests} v6 requests"]
        if c.features:
            out.append("  v6 features used, and what to do instead:")
            for feature, count in _ranked(c.features):
                out.append(f"  {count:>7}  {feature}")
                out += textwrap.wrap(
                    usage.migrations[feature], 100, initial_indent=" " * 11, subsequent_indent=" " * 11
                )
        if c.unknown_fields:
            names = ", ".join(f"{name} ({n})" for name, n in _ranked(c.unknown_fields))
            out.append(f"  unknown field names sent (v6 ignored them, v7 rejects them): {names}")
        out.append("  cookbook (v6 request -> the v7 request the proxy sent):")
        for (v6, v7), count in _ranked(c.queries):
            out.append(f"  {count:>7}  {v6}")
            out.append(f"           {v7}")
    if usage.shadow.results:
        results = ", ".join(f"{n} {name}" for name, n in _ranked(usage.shadow.results))
        out += ["", f"Shadow comparisons: {results}"]
        for (resource, pointer), n in _ranked(usage.shadow.pointers)[:20]:
            out.append(f"  {n:>7}  {resource or '-'} {pointer or '(status)'}")
    return "\n".join(out) + "\n"


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}code{font:12px/1.4 ui-monospace,monospace;word-break:break-all}
.summary span{display:inline-block;margin-right:2em}.legend span{display:inline-block;margin-right:1.2em}
table.cookbook td:nth-child(2),table.cookbook td:nth-child(3){width:48%}
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
"""


def _period_days(usage: Usage) -> list[str]:
    if not usage.first or not usage.last:
        return []
    start, end = date.fromisoformat(usage.first[:10]), date.fromisoformat(usage.last[:10])
    days: list[str] = []
    while start <= end and len(days) < 400:
        days.append(start.isoformat())
        start += timedelta(days=1)
    return days


def _chart(usage: Usage, clients: list[ClientEntry]) -> tuple[str, list[tuple[str, str]]]:
    """A stacked bar chart of v6 requests per day per client, as inline SVG, and its legend."""
    days = _period_days(usage)
    shown = [c for c in clients if c.v6_requests][:CHART_CLIENTS]
    rest = [c for c in clients if c.v6_requests][CHART_CLIENTS:]
    series: list[tuple[str, str, dict[str, int]]] = [
        (f"{_who(c)} ({c.credential or '-'})", PALETTE[i], dict(c.v6_days)) for i, c in enumerate(shown)
    ]
    if rest:
        merged: dict[str, int] = {}
        for c in rest:
            for day, n in c.v6_days.items():
                merged[day] = merged.get(day, 0) + n
        series.append((f"{len(rest)} other clients", PALETTE[-1], merged))
    if not days or not series:
        return "<p>No v6 requests in this period.</p>", []
    width, height, left, bottom = 960, 260, 48, 40
    peak = max(sum(s[2].get(day, 0) for s in series) for day in days) or 1
    slot = (width - left - 10) / len(days)
    bar = max(min(slot * 0.8, 60), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="v6 requests per day per client" viewBox="0 0 {width} {height}">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{left - 6}" y="16" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end" font-size="11">0</text>',
    ]
    scale = (height - bottom - 20) / peak
    for i, day in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        y: float = height - bottom
        for name, colour, counts in series:
            n = counts.get(day, 0)
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(day)}: {escape(name)}: {n}</title></rect>"
            )
        if len(days) <= 31 or i % max(len(days) // 15, 1) == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="10">'
                f"{escape(day[5:])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts), [(name, colour) for name, colour, _ in series]


def render_html(usage: Usage) -> str:
    """The report as one self-contained HTML page (no script): summary, clients, per-day chart, features,
    cookbook and shadow comparisons, each section built by a function of its own."""
    clients = usage.sorted_clients()
    h: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>balena-v6-proxy usage report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>balena-v6-proxy usage report</h1>",
        '<p class="summary">',
        f'<span>Period: <b id="period">{escape(_day(usage.first))} .. {escape(_day(usage.last))}</b> UTC</span>',
        f'<span>Requests: <b id="requests">{usage.requests}</b></span>',
        f'<span>v6 requests: <b id="v6-requests">{usage.v6_requests}</b></span>',
        f'<span>Skipped lines: <b id="skipped-lines">{usage.skipped_lines}</b></span></p>',
    ]
    h += _html_clients(clients)
    h += _html_per_day(usage, clients)
    h += _html_features(usage)
    h += _html_cookbook(clients)
    h += _html_shadow(usage)
    h.append("</body></html>")
    return "\n".join(h) + "\n"


def _html_clients(clients: list[ClientEntry]) -> list[str]:
    h = [
        '<h2 id="clients">Clients</h2>',
        '<table id="client-table"><thead><tr><th>Client</th><th>Credential</th><th>v6 requests</th>'
        "<th>All requests</th><th>First seen</th><th>Last seen</th></tr></thead><tbody>",
    ]
    for c in clients:
        h.append(
            f"<tr><td>{escape(_who(c))}</td><td><code>{escape(c.credential or '-')}</code></td>"
            f'<td class="n">{c.v6_requests}</td><td class="n">{c.requests}</td>'
            f"<td>{escape(_day(c.first_seen))}</td><td>{escape(_day(c.last_seen))}</td></tr>"
        )
    h.append("</tbody></table>")
    return h


def _html_per_day(usage: Usage, clients: list[ClientEntry]) -> list[str]:
    chart, legend = _chart(usage, clients)
    h = ['<h2 id="per-day">v6 requests per day</h2>', chart]
    if legend:
        h.append('<p class="legend">')
        h += [f'<span><i class="swatch" style="background:{c}"></i>{escape(n)}</span>' for n, c in legend]
        h.append("</p>")
    return h


def _html_features(usage: Usage) -> list[str]:
    h = [
        '<h2 id="features">v6 features and what to use instead</h2>',
        '<table id="feature-table"><thead><tr><th>Feature</th><th>Requests</th><th>Clients</th>'
        "<th>Migration step</th></tr></thead><tbody>",
    ]
    for name, item in usage.feature_totals().items():
        h.append(
            f'<tr><td><code>{escape(name)}</code></td><td class="n">{item["requests"]}</td>'
            f'<td class="n">{item["clients"]}</td><td>{escape(item["migration"])}</td></tr>'
        )
    h.append("</tbody></table>")
    return h


def _html_cookbook(clients: list[ClientEntry]) -> list[str]:
    h = [
        '<h2 id="cookbook">Migration cookbook</h2>',
        "<p>Each v6 request shape a client sent, next to the v7 request the proxy sent for it.</p>",
    ]
    for c in clients:
        if not c.queries:
            continue
        h.append(f"<h3>{escape(_who(c))} <small><code>{escape(c.credential or '-')}</code></small></h3>")
        if c.unknown_fields:
            names = ", ".join(f"{escape(n)} ({k})" for n, k in _ranked(c.unknown_fields))
            h.append(f"<p>Unknown field names sent (v6 ignored them, v7 rejects them): {names}</p>")
        h.append(
            '<table class="cookbook"><thead><tr><th>Count</th><th>v6 request</th><th>v7 request</th></tr></thead><tbody>'
        )
        for (v6, v7), n in _ranked(c.queries):
            h.append(
                f'<tr><td class="n">{n}</td><td><code>{escape(v6)}</code></td><td><code>{escape(v7)}</code></td></tr>'
            )
        h.append("</tbody></table>")
    return h


def _html_shadow(usage: Usage) -> list[str]:
    if not usage.shadow.results:
        return []
    h = ['<h2 id="shadow">Shadow comparisons</h2><ul>']
    h += [f"<li>{escape(name)}: {n}</li>" for name, n in _ranked(usage.shadow.results)]
    h.append("</ul>")
    if usage.shadow.pointers:
        h.append("<table><thead><tr><th>Resource</th><th>Differing JSON pointer</th><th>Count</th></tr></thead><tbody>")
        for (resource, pointer), n in _ranked(usage.shadow.pointers)[:50]:
            h.append(
                f"<tr><td>{escape(resource or '-')}</td><td><code>{escape(pointer or '(status)')}</code></td>"
                f'<td class="n">{n}</td></tr>'
            )
        h.append("</tbody></table>")
    return h


def render(usage: Usage, fmt: str) -> str:
    if fmt == "json":
        import json

        data: Any = usage.as_json()
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return render_html(usage) if fmt == "html" else render_text(usage)
