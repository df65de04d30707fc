"""The comparison as versioned JSON (pure: returns a string; only the CLI writes it).

The format is documented in docs/json-report-schema.md and versioned by `schema_version`
(an integer bumped on any incompatible change; fields may be added within a version).
Every number is a JSON number, except NaN and the infinities, which are the strings "NaN",
"Infinity" and "-Infinity" so the document stays valid JSON (RFC 8259 has no NaN); an absent
value is null. Strings are the raw values from MLflow: a consumer that renders them into
markdown or HTML must escape them (see ci_track.report.text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ci_track import __version__
from ci_track.gate.results import Comparison, MetricResult, ParamChange
from ci_track.report.noise_report import noise_fields
from ci_track.tracking.runs import Run

SCHEMA_VERSION = 2  # 2: `charts` (the trend and curve points) and `key` (issue 14)


def json_number(value: float | None) -> float | int | str | None:
    """A metric value for JSON: finite numbers as they are, NaN/inf as strings, None as null."""
    if value is None:
        return None
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def parse_json_number(value: Any) -> float | None:
    """The inverse of `json_number`, for consumers of the report."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    return float(value)


def _run(run: Run, url: str | None, **more: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "run_name": run.run_name,
        "status": run.status,
        "start_time": run.start_time,
        "head_sha": run.head_sha,
        "branch": run.branch,
        "url": url,
        **more,
    }


def _metric(result: MetricResult) -> dict[str, Any]:
    aggregate = {"aggregate": result.aggregate} if result.aggregate not in (None, "last") else {}
    return {
        "name": result.name,
        "status": result.status,
        "outcome": result.outcome,
        "configured": result.configured,
        "goal": result.goal,
        "severity": result.severity,
        "allowed": result.allowed,
        "champion": json_number(result.champion),
        "candidate": json_number(result.candidate),
        "delta": json_number(result.delta),
        "delta_pct": json_number(result.delta_pct),
        "reason": result.reason,
        **aggregate,  # only when the value judged is not the last one logged (added within schema_version 1)
        **noise_fields(result),  # "noise" only for a metric judged with its noise (added within schema_version 1)
    }


def _param(change: ParamChange) -> dict[str, Any]:
    return {"name": change.name, "change": change.change, "champion": change.champion, "candidate": change.candidate}


def _counts(comparison: Comparison) -> dict[str, int]:
    return {
        "metrics": len(comparison.metrics),
        "gated": len(comparison.gated),
        "failures": comparison.failure_count,
        "warnings": comparison.warning_count,
        "improved": sum(1 for m in comparison.gated if m.status == "improved"),
        "params_changed": len(comparison.params),
    }


def charts_dict(charts: Any) -> dict[str, Any] | None:
    """The `charts` field: the points behind the report's charts (raw values, raw SHAs), or None."""
    if charts is None:
        return None
    return {
        "trends": [
            {
                "metric": trend.metric,
                "label": trend.label,
                "points": [{"sha": p.sha, "value": json_number(p.value), "role": p.role} for p in trend.points],
                "band": [json_number(v) for v in trend.band] if trend.band else None,
            }
            for trend in charts.trends
        ],
        "curves": [
            {
                "metric": curve.metric,
                "aggregate": curve.aggregate or "last",
                "steps": list(curve.steps),
                "candidate": [json_number(v) for v in curve.candidate],
                "champion": [json_number(v) for v in curve.champion] if curve.champion else None,
            }
            for curve in charts.curves
        ],
        "compare_url": charts.compare_url,
        "artifact_urls": dict(charts.artifact_urls),
        "notes": list(charts.notes),
    }


def render_json(
    comparison: Comparison,
    *,
    experiment: str | None = None,
    candidate_url: str | None = None,
    champion_url: str | None = None,
    gate: bool = True,
    extra: Mapping[str, Any] | None = None,
    rules: Any = None,
    charts: Any = None,
) -> str:
    """The JSON report, indented, ending with a newline. `extra` adds top-level fields (never replaces one).

    `rules` (a gate.rules.RulesReport) adds the `rules` field: where the gate's rules came from and
    what a pull request changes in them; `charts` (report.charts.ChartData) fills the `charts` field.
    """
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "ci-track", "version": __version__},
        "experiment": experiment,
        "verdict": comparison.verdict,
        "passed": comparison.passed,
        "exit_code": comparison.exit_code(gate=gate),
        "headline": comparison.headline,
        "no_champion_policy": comparison.no_champion_policy,
        "counts": _counts(comparison),
        "candidate": _run(comparison.candidate, candidate_url),
        "champion": (
            _run(comparison.champion, champion_url, source=comparison.champion_source)
            if comparison.champion is not None
            else None
        ),
        "notices": list(comparison.notices),
        "related_runs": [
            {"run_id": r.run_id, "run_name": r.run_name, "kind": r.kind, "status": r.status, "note": r.note}
            for r in comparison.related_runs
        ],
        "metrics": [_metric(m) for m in comparison.metrics],
        # the override label's notice, only when it accepted a regression (added within schema_version 1)
        **({"accepted": comparison.accepted} if comparison.accepted else {}),
        "params": [_param(p) for p in comparison.params],
        **({"rules": rules.as_json()} if rules is not None else {}),
        "charts": charts_dict(charts),
    }
    for key, value in (extra or {}).items():
        if key in document:
            raise ValueError(f"render_json: extra field {key!r} would replace a report field")
        document[key] = value
    # allow_nan=False: a NaN that slipped past json_number is a bug, not invalid JSON in a user's hands.
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
