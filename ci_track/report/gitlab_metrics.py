"""The candidate's metrics in GitLab's `artifacts:reports:metrics` format (pure): the merge request's
metrics widget shows each one and how it changed from the target branch's report.

The format is OpenMetrics' text exposition, one `name value` line a metric. MLflow metric names
may hold letters, digits, `_ - . : /` and spaces; an OpenMetrics name only `[a-zA-Z_:][a-zA-Z0-9_:]*`,
so every other character becomes `_` (a leading digit gets a `_` in front), and two names that
end up the same get `_2`, `_3`... in the order the report lists them. Values are plain numbers
(`repr` of the float, `NaN`, `+Inf`, `-Inf`). Besides the metrics: `ci_track_regressions`, the
number of metrics that failed their rule.
"""

from __future__ import annotations

import math
import re

from ci_track.gate.results import Comparison

_NOT_NAME = re.compile(r"[^a-zA-Z0-9_:]")


def metric_name(name: str) -> str:
    cleaned = _NOT_NAME.sub("_", name) or "_"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def plain_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render_gitlab_metrics(comparison: Comparison) -> str:
    """One line a metric the candidate has, in the report's order, then `ci_track_regressions`."""
    taken = {"ci_track_regressions"}
    lines = []
    for metric in comparison.metrics:
        if metric.candidate is None:
            continue
        base = name = metric_name(metric.name)
        suffix = 1
        while name in taken:
            suffix += 1
            name = f"{base}_{suffix}"
        taken.add(name)
        lines.append(f"{name} {plain_value(metric.candidate)}")
    lines.append(f"ci_track_regressions {len(comparison.failures)}")
    return "\n".join(lines) + "\n"
