"""Charts for the PR comment, pure: Mermaid `xychart-beta` blocks built from plain data.

GitHub and GitLab render a ```` ```mermaid ```` block in a comment or job summary as a chart, so the
charts live in the comment itself, with no image host. Two kinds:

- a **trend** per gated metric: the base branch's last complete runs (x: short SHAs, oldest first,
  one point per commit), the champion marked `★`, the candidate last marked `PR`, and, where the
  noise-aware gate measured the noise, the band it allows around the champion (two flat lines);
- a **training curve** per metric logged at many steps: candidate vs champion over steps, both
  resampled onto one evenly spaced grid of at most MAX_CURVE_POINTS steps (a numeric x-axis).
  Each grid cell keeps the value the metric's `aggregate:` rule looks at (`min`/`max`: the extreme
  of the cell, else its last value), so the value the gate judged stays visible; the title names
  the rule.

Untrusted text cannot break out of the chart syntax: every string that reaches a chart (metric
names, SHAs read from run tags) is cut down to MLflow's own metric-name alphabet (letters, digits,
`_ - . : /` and spaces) by `chart_text`, so no quote, no backtick (which would end the markdown
fence), no `%%` (a Mermaid directive or comment), no `;`, `#`, `<` or newline survives. A SHA that
is not hexadecimal is shown as `?` and its position. Numbers are written with as few decimals as the spread of the
values needs (`format_values`): no 17-digit floats, no exponent (Mermaid's grammar has none).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence

MAX_TREND_POINTS = 20  # the base branch's last runs shown (the noise-aware gate reads 20 as well)
MAX_CURVE_POINTS = 50  # steps per training curve
DEFAULT_MAX_CHARTS = 3  # trend charts: the first few gated metrics
DEFAULT_MAX_CURVES = 1  # training curves: each costs one metrics/get-history-bulk-interval request
_MAX_TEXT = 60
_SIGNIFICANT = 4  # digits kept of the spread between the values of one chart
_HEX = re.compile(r"^[0-9a-fA-F]{7,64}$")
_NOT_SAFE = re.compile(r"[^A-Za-z0-9_.:/ -]+")
# Mermaid's front matter: a wider chart with smaller axis labels (7-character SHAs side by side), and line
# colours that read on white (the default palette starts with a near-white line). Constants only.
_FRONT_MATTER = """---
config:
  xyChart:
    width: 900
    height: 420
    xAxis:
      labelFontSize: 11
  themeVariables:
    xyChart:
      plotColorPalette: "{palette}"
---"""
TREND_PALETTE = "#0969da, #8c959f, #8c959f"  # the runs; the band's two edges in grey
CURVE_PALETTE = "#0969da, #bc4c00"  # the candidate blue, the champion orange
CHAMPION_MARK = "★"
CANDIDATE_MARK = "PR"


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrendPoint:
    sha: str | None
    value: float
    role: str  # history | champion | candidate


@dataclasses.dataclass(frozen=True, kw_only=True)
class Trend:
    metric: str
    label: str  # `val_loss (min)` when the value judged is an aggregate
    points: tuple[TrendPoint, ...]  # oldest first, the candidate last
    band: tuple[float, float] | None = None  # (low, high) around the champion, where the noise is known

    @property
    def champion_index(self) -> int | None:
        return next((i for i, p in enumerate(self.points) if p.role == "champion"), None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Curve:
    metric: str
    aggregate: str | None  # the rule's aggregate (None or `last`: the last value logged)
    steps: tuple[int, ...]  # the grid, ascending
    candidate: tuple[float, ...]
    champion: tuple[float, ...] | None  # None: no champion, or it never logged the metric


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChartData:
    """Everything the charts of one report need (commands/_charts.py gathers it)."""

    trends: tuple[Trend, ...] = ()
    curves: tuple[Curve, ...] = ()
    compare_url: str | None = None  # MLflow's own compare view of champion vs candidate
    artifact_urls: tuple[tuple[str, str], ...] = ()  # (role, URL of the run's artifacts page)
    notes: tuple[str, ...] = ()  # what could not be charted, in words


# -- text and numbers ---------------------------------------------------------------------------------


def chart_text(text: object, *, max_length: int = _MAX_TEXT) -> str:
    """`text` reduced to characters that are inert inside a quoted Mermaid string and a markdown fence."""
    cleaned = _NOT_SAFE.sub("_", "" if text is None else str(text)).strip()
    cleaned = re.sub(r"_{2,}", "_", cleaned)
    if len(cleaned) > max_length:
        cleaned = cleaned[: max_length - 1] + "_"
    return cleaned or "_"


def short_sha(sha: str | None) -> str:
    """The first 7 hex digits, or `?` for a tag value that is not a SHA (untrusted, never shown)."""
    return sha[:7].lower() if sha and _HEX.match(sha) else "?"


def decimals_for(values: Sequence[float]) -> int:
    """How many decimals show the differences between `values` (4 significant digits of their spread)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0
    spread = max(finite) - min(finite)
    scale = spread if spread > 0 else max(abs(v) for v in finite)
    if scale == 0:
        return 0
    return max(0, min(12, _SIGNIFICANT - 1 - math.floor(math.log10(scale))))


def format_number(value: float, decimals: int) -> str:
    """A plain decimal (no exponent: Mermaid's number grammar has none), trailing zeros dropped."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_values(values: Sequence[float]) -> list[str]:
    """Each of `values` with the decimals their spread needs."""
    decimals = decimals_for(values)
    return [format_number(v, decimals) for v in values]


def axis_range(values: Sequence[float]) -> tuple[str, str]:
    """(min, max) of the y-axis: the values' range with 5% room, rounded to the chart's decimals."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or (abs(high) * 0.05 or 1.0)
    decimals = decimals_for([low - pad, high + pad, *values])
    lower, upper = low - pad, high + pad
    factor = 10**decimals
    return (
        format_number(math.floor(lower * factor) / factor, decimals),
        format_number(math.ceil(upper * factor) / factor, decimals),
    )


# -- trend ---------------------------------------------------------------------------------------------


def build_trend(
    metric: str,
    label: str,
    history: Sequence[tuple[str | None, int | None, float]],
    *,
    champion: tuple[str | None, int | None, float] | None,
    candidate: tuple[str | None, float],
    band: tuple[float, float] | None = None,
    limit: int = MAX_TREND_POINTS,
) -> Trend | None:
    """The trend of `metric` from (sha, start_time, value) of the base branch's runs (any order), the
    champion's (sha, start_time, judged value) and the candidate's (sha, judged value).

    One point per commit (its newest run), in commit order (start time); the champion's commit carries
    the champion's judged value; the oldest points go first when there are more than `limit` (never
    the champion's). Non-finite values are left out; None when the candidate's value is not finite or
    nothing is left to compare it with.
    """
    if not math.isfinite(candidate[1]):
        return None
    newest_first = sorted(history, key=lambda item: item[1] or 0, reverse=True)
    by_sha: dict[str | None, tuple[int, float, str]] = {}
    for sha, started, value in newest_first:
        if sha is not None and sha == candidate[0]:
            continue  # the candidate's own commit is the last point
        if math.isfinite(value) and sha not in by_sha:
            by_sha[sha] = (started or 0, value, "history")
    if champion is not None and math.isfinite(champion[2]):
        sha, started, value = champion
        previous = by_sha.get(sha)
        by_sha[sha] = (previous[0] if previous else (started or 0), value, "champion")
    ordered = sorted(by_sha.items(), key=lambda item: item[1][0])
    while len(ordered) > max(limit - 1, 1):
        drop = next(i for i, item in enumerate(ordered) if item[1][2] != "champion")
        del ordered[drop]
    if not ordered:
        return None
    points = [TrendPoint(sha=sha, value=value, role=role) for sha, (_, value, role) in ordered]
    points.append(TrendPoint(sha=candidate[0], value=candidate[1], role="candidate"))
    return Trend(metric=metric, label=label, points=tuple(points), band=band)


def trend_labels(trend: Trend) -> list[str]:
    """The x-axis labels: short SHAs, the champion and the candidate marked, each label distinct (Mermaid
    merges equal categories into one): a tag value that is not a SHA shows as `?` and its position."""
    labels = []
    for index, point in enumerate(trend.points):
        sha = short_sha(point.sha)
        if sha == "?":
            sha = f"?{index + 1}"
        if point.role == "champion":
            labels.append(f"{CHAMPION_MARK} {sha}")
        elif point.role == "candidate":
            labels.append(f"{CANDIDATE_MARK} {sha}")
        else:
            labels.append(sha)
    return labels


def trend_block(trend: Trend) -> str:
    """The Mermaid chart of one trend (without the markdown fence)."""
    values = [p.value for p in trend.points]
    everything = [*values, *(trend.band or ())]
    low, high = axis_range(everything)
    formatted = format_values(everything)
    name = chart_text(trend.label)
    lines = [
        _FRONT_MATTER.replace("{palette}", TREND_PALETTE),
        "xychart-beta",
        f'    title "{name}: base branch history and this PR"',
        "    x-axis [" + ", ".join(f'"{label}"' for label in trend_labels(trend)) + "]",
        f'    y-axis "{name}" {low} --> {high}',
        "    line [" + ", ".join(formatted[: len(values)]) + "]",
    ]
    if trend.band is not None:
        for edge in formatted[len(values) :]:
            lines.append("    line [" + ", ".join([edge] * len(values)) + "]")
    return "\n".join(lines)


# -- training curves -----------------------------------------------------------------------------------


def _cell_value(values: Sequence[float], aggregate: str | None) -> float:
    if aggregate == "min":
        return min(values)
    if aggregate == "max":
        return max(values)
    return values[-1]


def resample(
    points: Sequence[tuple[int, float]], grid: Sequence[int], aggregate: str | None
) -> tuple[float, ...] | None:
    """`points` (step, value) on `grid`: each grid step gets the cell up to it (the aggregate's value of the
    cell, see the module docstring); before the first logged step the first value, after the last one the
    last value is held. None when there is no finite point."""
    finite = sorted((s, v) for s, v in points if math.isfinite(v))
    if not finite:
        return None
    out: list[float] = []
    index = 0
    held = finite[0][1]
    for step in grid:
        cell: list[float] = []
        while index < len(finite) and finite[index][0] <= step:
            cell.append(finite[index][1])
            index += 1
        if cell:
            held = _cell_value(cell, aggregate)
        out.append(held)
    return tuple(out)


def step_grid(steps: Sequence[int], limit: int = MAX_CURVE_POINTS) -> tuple[int, ...]:
    """Evenly spaced steps from the first to the last of `steps`, at most `limit` and no more than there are
    distinct steps: a numeric x-axis spreads a line's points evenly, so the grid must be even too."""
    distinct = sorted(set(steps))
    first, last = distinct[0], distinct[-1]
    count = min(limit, len(distinct), last - first + 1)
    if count < 2:
        return (first,)
    return tuple(sorted({first + round((last - first) * i / (count - 1)) for i in range(count)}))


def build_curve(
    metric: str,
    aggregate: str | None,
    candidate: Sequence[tuple[int, float]],
    champion: Sequence[tuple[int, float]],
    *,
    limit: int = MAX_CURVE_POINTS,
) -> Curve | None:
    """The training curve of `metric`, or None when the candidate did not log it at two or more steps."""
    if len({s for s, v in candidate if math.isfinite(v)}) < 2:
        return None
    grid = step_grid([s for s, _ in (*candidate, *champion)], limit)
    candidate_values = resample(candidate, grid, aggregate)
    if candidate_values is None:
        return None
    return Curve(
        metric=metric,
        aggregate=aggregate,
        steps=grid,
        candidate=candidate_values,
        champion=resample(champion, grid, aggregate) if champion else None,
    )


def curve_block(curve: Curve) -> str:
    """The Mermaid chart of one training curve: the candidate's line, then the champion's."""
    series = [curve.candidate, *([curve.champion] if curve.champion else [])]
    everything = [v for line in series for v in line]
    low, high = axis_range(everything)
    formatted = format_values(everything)
    name = chart_text(curve.metric)
    judged = curve.aggregate if curve.aggregate not in (None, "last") else "last"
    who = "candidate (first line) vs champion" if curve.champion else "candidate"
    lines = [
        _FRONT_MATTER.replace("{palette}", CURVE_PALETTE),
        "xychart-beta",
        f'    title "{name} per step: {who}, judged: {chart_text(judged)}"',
        f'    x-axis "step" {curve.steps[0]} --> {curve.steps[-1]}',
        f'    y-axis "{name}" {low} --> {high}',
    ]
    at = 0
    for line in series:
        lines.append("    line [" + ", ".join(formatted[at : at + len(line)]) + "]")
        at += len(line)
    return "\n".join(lines)


def fenced(block: str) -> str:
    """A chart as a markdown code block GitHub renders as Mermaid."""
    return f"```mermaid\n{block}\n```"
