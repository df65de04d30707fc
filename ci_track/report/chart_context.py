"""The chart variables of the markdown template (report/markdown.py's context), from report/charts.py (pure).

`trend_charts` and `curve_charts` are the fenced Mermaid blocks, `chart_links` MLflow's compare
view and the runs' artifact pages (safe http(s) links only), `chart_notes` why a chart is missing,
and `chart_data` the numbers themselves for a custom `--template`.
"""

from __future__ import annotations

from typing import Any

from ci_track.report.charts import ChartData, curve_block, fenced, format_values, short_sha, trend_block, trend_labels
from ci_track.report.text import escape_inline, link

_MAX_VALUE = 80  # a metric name is cut as in the table


def chart_context(charts: ChartData | None) -> dict[str, Any]:
    """The template's chart variables: the Mermaid blocks, the links, and the data itself for custom templates.

    Strings in `chart_data` went through `chart_text`/`short_sha` (inert in a chart and in markdown);
    numbers are formatted as in the charts."""
    if charts is None:
        return {"trend_charts": [], "curve_charts": [], "chart_links": [], "chart_notes": [], "chart_data": None}
    links = []
    if charts.compare_url:
        links.append(link("compare champion and candidate in MLflow", charts.compare_url))
    links += [link(f"{role} artifacts", url) for role, url in charts.artifact_urls]
    data = {
        "trends": [
            {
                "metric": escape_inline(t.label, max_length=_MAX_VALUE),
                "labels": trend_labels(t),
                "series": format_values([p.value for p in t.points]),
                "roles": [p.role for p in t.points],
                "shas": [short_sha(p.sha) for p in t.points],
                "band": format_values(list(t.band)) if t.band else None,
            }
            for t in charts.trends
        ],
        "curves": [
            {
                "metric": escape_inline(c.metric, max_length=_MAX_VALUE),
                "aggregate": c.aggregate or "last",
                "steps": list(c.steps),
                "candidate": format_values(c.candidate),
                "champion": format_values(c.champion) if c.champion else None,
            }
            for c in charts.curves
        ],
    }
    return {
        "trend_charts": [
            {"metric": escape_inline(t.label, max_length=_MAX_VALUE), "mermaid": fenced(trend_block(t))}
            for t in charts.trends
        ],
        "curve_charts": [
            {"metric": escape_inline(c.metric, max_length=_MAX_VALUE), "mermaid": fenced(curve_block(c))}
            for c in charts.curves
        ],
        "chart_links": [text for text in links if text.startswith("[")],  # only safe http(s) links
        "chart_notes": [escape_inline(note, max_length=300) for note in charts.notes],
        "chart_data": data,
    }
