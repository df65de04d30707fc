"""The comparison as a plain-text table for the terminal and CI logs (pure: returns a string).

Names and values come from MLflow and may hold terminal escape sequences or bidi controls: they
are replaced here (U+FFFD) so a log cannot be rewritten or recoloured by a metric name. With
chart data (report/charts.py) the gated table gets a `trend` column: a unicode sparkline of the
base branch's last runs with the candidate last (report/sparkline.py); the Jenkins step prints
this same table.
"""

from __future__ import annotations

from typing import Any

from ci_track.gate.comparison import metric_label
from ci_track.gate.numbers import result_cells
from ci_track.gate.results import STATUS_LABELS, Comparison, MetricResult
from ci_track.report.noise_report import noise_lines
from ci_track.report.sparkline import sparkline
from ci_track.report.text import BIDI_CONTROLS

OUTCOME_MARKS = {"ok": "ok", "fail": "FAIL", "warn": "warn", "info": "info"}
_MAX_CELL = 60


def console_safe(text: object, *, max_length: int | None = _MAX_CELL) -> str:
    """One line without control characters (ESC, CR, bidi...), cut to `max_length`."""
    raw = "" if text is None else str(text)
    out = []
    for char in raw:
        code = ord(char)
        if char in "\n\r\t\v\f\u2028\u2029\x85":
            out.append(" ")
        elif code < 0x20 or 0x7F <= code <= 0x9F or char in BIDI_CONTROLS:
            out.append("\ufffd")
        else:
            out.append(char)
    line = "".join(out)
    if max_length is not None and len(line) > max_length:
        line = line[: max_length - 1] + "…"
    return line


def _row(result: MetricResult) -> list[str]:
    status = STATUS_LABELS.get(result.status, result.status)
    if result.outcome == "fail":
        status = status.upper()  # what failed the gate stands out in a log
    elif result.outcome in ("warn", "info") and result.status in ("regressed", "out_of_bounds", "nan", "missing"):
        status = f"{status} ({result.outcome})"
    return [console_safe(metric_label(result.name, result.aggregate)), *result_cells(result), status]


def rules_lines(rules: Any) -> list[str]:
    """When a PR changes the gating rules: the sentence and a base-vs-PR table of what changed."""
    from tabulate import tabulate

    if rules is None or not rules.changed:
        return []
    rows = [
        [
            f"{change.kind} {console_safe(change.name)}",
            "—" if change.base is None else console_safe(change.base, max_length=120),
            "—" if change.head is None else console_safe(change.head, max_length=120),
        ]
        for change in rules.changes
    ]
    table = tabulate(rows, headers=["rule", "base rule", "PR rule"], disable_numparse=True)
    return [f"rules: {console_safe(rules.summary, max_length=None)}", table, ""]


def _trend_cells(comparison: Comparison, charts: Any) -> list[str] | None:
    """A sparkline per gated metric (empty without a trend), or None when there is no trend at all."""
    trends = {trend.metric: trend for trend in (charts.trends if charts is not None else ())}
    if not trends:
        return None
    return [sparkline([p.value for p in trends[m.name].points]) if m.name in trends else "" for m in comparison.gated]


def render_table(comparison: Comparison, *, rules: Any = None, charts: Any = None) -> str:
    """A PR's rule change first, then gated metrics, the others, the reasons for failures and warnings, the verdict.

    `charts` (report/charts.ChartData) adds the `trend` column of sparklines to the gated table."""
    from tabulate import tabulate

    headers = ["metric", "champion", "candidate", "delta", "delta %", "status"]
    align = ("left", "right", "right", "right", "right", "left")
    lines: list[str] = rules_lines(rules)
    if comparison.gated:
        rows = [_row(m) for m in comparison.gated]
        trend = _trend_cells(comparison, charts)
        gated_headers = headers
        gated_align: tuple[str, ...] = align
        if trend is not None:
            rows = [[*row, cell] for row, cell in zip(rows, trend, strict=True)]
            gated_headers, gated_align = [*headers, "trend (PR last)"], (*align, "left")
        lines.append(tabulate(rows, headers=gated_headers, colalign=gated_align, disable_numparse=True))
    else:
        lines.append("no metrics configured (add `metrics:` to .ci-track.yml to gate on them)")
    if comparison.others:
        lines.append("")
        lines.append("not gated:")
        lines.append(
            tabulate([_row(m) for m in comparison.others], headers=headers, colalign=align, disable_numparse=True)
        )
    notes = [m for m in comparison.metrics if m.outcome in ("fail", "warn")]
    if notes:
        lines.append("")
        lines.extend(f"{OUTCOME_MARKS[m.outcome]}: {console_safe(m.reason, max_length=300)}" for m in notes)
    noise = noise_lines(comparison.gated)
    if noise:
        lines.append("")
        lines.extend(f"noise: {console_safe(text, max_length=400)}" for text in noise)
    if comparison.accepted:
        lines.append("")
        lines.append(f"accepted: {console_safe(comparison.accepted, max_length=300)}")
    if comparison.related_runs:
        lines.append("")
        lines.append(f"not judged ({len(comparison.related_runs)} other runs of this training):")
        lines.extend(
            f"  {run.kind}: run {console_safe(run.run_id)} {console_safe(run.run_name or '')} "
            f"({console_safe(run.status)})"
            for run in comparison.related_runs[:20]
        )
    lines.append("")
    lines.extend(f"note: {console_safe(text, max_length=300)}" for text in comparison.notices)
    if comparison.champion is not None:
        source = f" ({console_safe(comparison.champion_source, max_length=120)})" if comparison.champion_source else ""
        lines.append(f"champion: run {console_safe(comparison.champion.run_id)}{source}")
    lines.append(f"candidate: run {console_safe(comparison.candidate.run_id)}")
    lines.append(f"verdict: {console_safe(comparison.headline, max_length=None)}")  # Jenkins reads this line
    return "\n".join(lines) + "\n"
