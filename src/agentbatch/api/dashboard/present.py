"""Pure presentation: job totals from grouped rows, progress bars, the finished-runs
chart (inline SVG), word diffs between block versions."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

STATUSES = ("completed", "failed", "cancelled", "waiting_tools", "waiting_model", "queued")
TERMINAL_JOB = ("completed", "failed", "cancelled")
COLORS = {
    "completed": "#2f9e44",
    "failed": "#e03131",
    "cancelled": "#868e96",
    "waiting_tools": "#f08c00",
    "waiting_model": "#1c7ed6",
    "queued": "#ced4da",
}


@dataclass
class Totals:
    """A job's runs by status, steps by status, tokens and per-model usage rows."""

    counts: dict[str, int] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"), 0
        )
    )
    by_model: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return sum(self.counts.values())

    @property
    def model_calls(self) -> int:
        return sum(self.steps.values())

    def usage_rows(self) -> list[Any]:
        return [_Usage(model, **u) for model, u in sorted(self.by_model.items())]


@dataclass(frozen=True)
class _Usage:
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


def totals(rows: Iterable[Any]) -> dict[str, Totals]:
    """From ``store.dashboard.run_totals`` rows: each job's totals."""
    out: dict[str, Totals] = {}
    for r in rows:
        t = out.setdefault(r.job_id, Totals())
        t.counts[r.status] = t.counts.get(r.status, 0) + int(r.n)
        t.steps[r.status] = t.steps.get(r.status, 0) + int(r.steps)
        usage = t.by_model.setdefault(r.model, dict.fromkeys(t.tokens, 0))
        for key in t.tokens:
            t.tokens[key] += int(getattr(r, key))
            usage[key] += int(getattr(r, key))
    return out


def segments(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Progress-bar segments (status, count, percent, colour), finished ones first."""
    total = sum(counts.values()) or 1
    return [
        {
            "status": s,
            "n": counts[s],
            "pct": round(100.0 * counts[s] / total, 3),
            "color": COLORS[s],
        }
        for s in STATUSES
        if counts.get(s)
    ]


def finished_pct(counts: dict[str, int]) -> float:
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in ("completed", "failed", "cancelled"))
    return round(100.0 * done / total, 1) if total else 0.0


def chart_svg(
    buckets: Sequence[tuple[int, str, int]], n_buckets: int, width_s: float, total: int
) -> Markup:
    """Runs finished per bucket (stacked completed / failed / cancelled bars) and the
    cumulative share finished (a line), as an inline SVG."""
    w, h, pad = 600, 160, 24
    per: dict[int, dict[str, int]] = {}
    for b, status, n in buckets:
        at = per.setdefault(min(max(b, 0), n_buckets - 1), {})
        at[status] = at.get(status, 0) + n
    peak = max((sum(v.values()) for v in per.values()), default=0) or 1
    bar = (w - 2 * pad) / n_buckets
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="runs finished over time">',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#adb5bd"/>',
    ]
    cumulative, points = 0, [f"{pad},{h - pad}"]
    y: float
    for i in range(n_buckets):
        y = h - pad
        for status in ("completed", "failed", "cancelled"):
            n = per.get(i, {}).get(status, 0)
            if not n:
                continue
            height = (h - 2 * pad) * n / peak
            y -= height
            parts.append(
                f'<rect x="{pad + i * bar:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{height:.1f}" fill="{COLORS[status]}"><title>{n} {status}</title></rect>'
            )
        cumulative += sum(per.get(i, {}).values())
        share = cumulative / total if total else 0
        points.append(f"{pad + (i + 1) * bar:.1f},{h - pad - (h - 2 * pad) * share:.1f}")
    parts.append(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#343a40" stroke-width="1.5"/>'
    )
    parts.append(
        f'<text x="{pad}" y="{h - 6}" font-size="11">0</text>'
        f'<text x="{w - pad}" y="{h - 6}" font-size="11" text-anchor="end">'
        f"{_span(n_buckets * width_s)}</text>"
        f'<text x="{pad}" y="14" font-size="11">peak {peak} runs per {_span(width_s)}; '
        f"line: share of runs finished</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
_MAX_TOKENS = 4000


def diff_html(before: str | None, after: str) -> Markup:
    """``after`` with what changed since ``before`` marked (<ins>/<del>), word by word
    (line by line for long values)."""
    if before is None:
        return Markup(f"<ins>{escape(after)}</ins>") if after else Markup("")
    a, b = _TOKEN.findall(before), _TOKEN.findall(after)
    if len(a) + len(b) > 2 * _MAX_TOKENS:
        a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(str(escape("".join(a[i1:i2]))))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return Markup("".join(out))
