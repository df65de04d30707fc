"""The comparison as GitHub-flavoured markdown: the sticky PR comment and the job summary (pure).

`render_markdown` fills the Jinja2 template `ci_track/report/templates/report.md.j2` (or a user's
`--template`) with a context in which every untrusted string (metric and param names and values,
branch names, run names, the champion rule's description) has already gone through
`report.text.escape_inline`; Jinja's HTML autoescape is off because markdown, not HTML, is
what needs escaping. Templates run in Jinja's sandbox, so a template from a pull request's
checkout cannot reach Python internals.

The output always contains the hidden marker `<!-- ci-track:KEY -->` (KEY: `report.key`, else the
experiment; a template that drops it is a ConfigError) and the report's metadata
(report/metadata.py: key, candidate run, head SHA), and is at most `max_chars` long (GitHub's
comment limit by default): over it, the charts go first, then the params details, then the rows
of metrics that are not gated, then the text is cut at a line, always with a note that says what
was left out and where the full report is (the job summary / report.md).

The charts (report/charts.py, given as `charts`) are Mermaid blocks after the table: a trend per
gated metric and the training curves, with MLflow's compare view and the runs' artifact pages.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ci_track.errors import ConfigError
from ci_track.gate.comparison import metric_label
from ci_track.gate.numbers import result_cells
from ci_track.gate.results import STATUS_LABELS as BASE_STATUS_LABELS
from ci_track.gate.results import Comparison, MetricResult
from ci_track.report.chart_context import chart_context
from ci_track.report.charts import ChartData
from ci_track.report.noise_report import noise_lines
from ci_track.report.text import comment_marker, escape_inline, fit_to_limit, link, safe_url, shortened_note
from ci_track.tracking.runs import RelatedRun, Run
from ci_track.vocabulary import COMMENT_LIMIT as MAX_CHARS

if TYPE_CHECKING:
    from typing import Unpack  # an annotation only: Python 3.10 has no typing.Unpack at run time

_MIN_CHARS = 400  # below this not even the verdict and the note fit
_MAX_VALUE = 80  # param values are cut in the table (MLflow allows 6000 characters)

VERDICT_ICONS = {"pass": "✅", "regression": "❌"}
STATUS_LABELS = {**BASE_STATUS_LABELS, "info": "not gated"}  # the comment says why it did not gate
_OUTCOME_ICONS = {"fail": "❌", "warn": "⚠️", "info": "ℹ️"}
_OK_ICONS = {"improved": "🟢", "new": "🆕", "removed": "➖"}
_SHA = re.compile(r"^[0-9a-fA-F]{7,64}$")


def marker(experiment: str) -> str:
    """The hidden marker of this experiment's comment (every forge finds its comment by it)."""
    return comment_marker(experiment)


def run_url(tracking_uri: str | None, run: Run) -> str | None:
    """The run's page in the MLflow UI, when the tracking URI is an http(s) server."""
    base = safe_url(tracking_uri)
    if base is None:
        return None
    return f"{base.rstrip('/')}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def _status_cell(result: MetricResult) -> str:
    label = STATUS_LABELS.get(result.status, result.status)
    if result.outcome in _OUTCOME_ICONS and not (result.outcome == "info" and not result.configured):
        return f"{_OUTCOME_ICONS[result.outcome]} {label}"
    if not result.configured:
        return f"{_OK_ICONS.get(result.status, 'ℹ️')} {label}"
    return f"{_OK_ICONS.get(result.status, '✅')} {label}"


def _row(result: MetricResult) -> dict[str, str]:
    champion, candidate, delta, delta_pct = result_cells(result)
    return {
        "name": escape_inline(metric_label(result.name, result.aggregate), max_length=_MAX_VALUE),
        "champion": champion,
        "candidate": candidate,
        "delta": delta,
        "delta_pct": delta_pct,
        "status": _status_cell(result),
    }


def _note(result: MetricResult) -> dict[str, str]:
    icon = _OUTCOME_ICONS.get(result.outcome, "ℹ️")
    return {"icon": icon, "text": escape_inline(result.reason, max_length=400)}


def _sha(sha: str | None) -> str | None:
    if not sha:
        return None
    # A real SHA is shown as code; anything else in the tag is untrusted text.
    return f"`{sha[:7]}`" if _SHA.match(sha) else escape_inline(sha, max_length=40)


def _run_view(run: Run, url: str | None, source: str | None = None) -> dict[str, Any]:
    label = f"run {run.run_name}" if run.run_name else f"run {run.run_id[:8]}"
    view: dict[str, Any] = {
        "link": link(label, url, max_length=_MAX_VALUE),
        "branch": escape_inline(run.branch, max_length=_MAX_VALUE) if run.branch else None,
        "sha": _sha(run.head_sha),
        "source": escape_inline(source, max_length=200) if source else None,
    }
    line = view["link"]
    if view["branch"]:
        line += f" on {view['branch']}"
    if view["sha"]:
        line += f" at {view['sha']}"
    if view["source"]:
        line += f", found by {view['source']}"
    view["line"] = line
    return view


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def rules_notice(rules: Any) -> str | None:
    """The block at the top of the report when a PR changes the gating rules (a GitHub alert with a table)."""
    if rules is None or not rules.changed:
        return None
    kind = "WARNING" if rules.source == "base" else "CAUTION"
    lines = [f"> [!{kind}]", f"> **{escape_inline(rules.summary, max_length=400)}**", ">"]
    lines += ["> | rule | base rule | PR rule |", "> |:--|:--|:--|"]
    for change in rules.changes:
        what = "metric" if change.kind == "metric" else "setting"
        name = f"{what} {escape_inline(change.name, max_length=_MAX_VALUE)}"
        old = "—" if change.base is None else escape_inline(change.base, max_length=200)
        new = "—" if change.head is None else escape_inline(change.head, max_length=200)
        lines.append(f"> | {name} | {old} | {new} |")
    return "\n".join(lines)


class ReportFacts(TypedDict, total=False):
    """What a report says beside the comparison: the one list `build_context` and `render_markdown` take."""

    tracking_uri: str | None
    candidate_url: str | None
    champion_url: str | None
    rules: Any  # a gate.rules.RulesReport: the notice of a PR's rule change
    charts: ChartData | None
    key: str | None  # names the marker (default: the experiment)
    meta: str  # the hidden metadata (report/metadata.py) that follows the marker


def build_context(comparison: Comparison, *, experiment: str, **facts: Unpack[ReportFacts]) -> dict[str, Any]:
    """Everything the template sees; strings are escaped markdown (see the template's header)."""
    tracking_uri, key, meta = facts.get("tracking_uri"), facts.get("key"), facts.get("meta", "")
    candidate_url, champion_url = facts.get("candidate_url"), facts.get("champion_url")
    passed = comparison.passed
    verdict = comparison.verdict
    if verdict == "no-champion":
        icon = "⚪" if passed else "❌"
        title_verdict = "no champion"
    else:
        icon = VERDICT_ICONS[verdict]
        title_verdict = verdict
    candidate_url = candidate_url or run_url(tracking_uri, comparison.candidate)
    candidate = _run_view(comparison.candidate, candidate_url)
    champion = None
    if comparison.champion is not None:
        champion_url = champion_url or run_url(tracking_uri, comparison.champion)
        champion = _run_view(comparison.champion, champion_url, comparison.champion_source)
    policy = comparison.no_champion_policy
    no_champion_text = (
        f"none found, so nothing to compare with; the gate {'passes' if passed else 'fails'} (no\\_champion: {policy})"
    )
    params = comparison.params
    counts = {kind: sum(1 for p in params if p.change == kind) for kind in ("changed", "added", "removed")}
    experiment_url = None
    base = safe_url(tracking_uri)
    if base is not None:
        experiment_url = f"{base.rstrip('/')}/#/experiments/{comparison.candidate.experiment_id}"
    others = comparison.others
    related = comparison.related_runs
    return {
        **chart_context(facts.get("charts")),
        "marker": marker(key or experiment) + meta,
        "key": escape_inline(key or experiment, max_length=_MAX_VALUE),
        "icon": icon,
        "title": _title(title_verdict, experiment, key),
        "experiment": escape_inline(experiment, max_length=_MAX_VALUE),
        "experiment_link": link(experiment, experiment_url, max_length=_MAX_VALUE),
        "headline": escape_inline(comparison.headline),
        "verdict": verdict,
        "passed": passed,
        "rows": [_row(m) for m in comparison.gated],
        "other_rows": [_row(m) for m in others],
        "other_summary": f"{_plural(len(others), 'other metric')} (not gated)",
        "notes": [_note(m) for m in comparison.metrics if m.outcome in ("fail", "warn")],
        "noise_lines": [escape_inline(text, max_length=600) for text in noise_lines(comparison.gated)],
        "accepted": escape_inline(comparison.accepted, max_length=400) if comparison.accepted else None,
        "candidate": candidate,
        "champion": champion,
        "candidate_line": candidate["line"],
        "champion_line": champion["line"] if champion else no_champion_text,
        "no_champion_text": no_champion_text,
        "params": [
            {
                "name": escape_inline(p.name, max_length=_MAX_VALUE),
                "champion": "—" if p.champion is None else escape_inline(p.champion, max_length=_MAX_VALUE),
                "candidate": "—" if p.candidate is None else escape_inline(p.candidate, max_length=_MAX_VALUE),
                "change": p.change,
            }
            for p in params
        ]
        or None,
        "params_summary": (
            f"Params: {counts['changed']} changed, {counts['added']} added, {counts['removed']} removed"
        ),
        "truncation_note": None,
        "rules_notice": rules_notice(facts.get("rules")),
        "notices": [escape_inline(text, max_length=400) for text in comparison.notices],
        "related_runs": [_related_view(run, tracking_uri, comparison.candidate.experiment_id) for run in related],
        "related_summary": (
            f"{_plural(len(related), 'other run')} of this training (opened by the training script, not judged)"
        ),
    }


def _title(verdict: str, experiment: str, key: str | None) -> str:
    """The heading: the verdict and the experiment, and the key when it differs (which model this is)."""
    title = f"ci-track: {verdict} · {escape_inline(experiment, max_length=_MAX_VALUE)}"
    if key and key != experiment:
        title += f" · {escape_inline(key, max_length=_MAX_VALUE)}"
    return title


def _related_view(run: RelatedRun, tracking_uri: str | None, experiment_id: str) -> dict[str, str]:
    base = safe_url(tracking_uri)
    url = f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run.run_id}" if base else None
    label = f"run {run.run_name}" if run.run_name else f"run {run.run_id[:8]}"
    return {
        "link": link(label, url, max_length=_MAX_VALUE),
        "kind": run.kind,
        "status": escape_inline(run.status, max_length=20),
        "note": escape_inline(run.note, max_length=200),
    }


def _load_template(template_path: Path | None) -> tuple[Any, str]:
    """(compiled template, name for messages)."""
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    # autoescape off: the context is escaped for markdown already; HTML escaping would double it.
    env = SandboxedEnvironment(
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    if template_path is None:
        source = resources.files("ci_track.report").joinpath("templates/report.md.j2").read_text(encoding="utf-8")
        name = "report.md.j2"
    else:
        name = str(template_path)
        try:
            source = template_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read the report template {name}: {error}") from None
    try:
        return env.from_string(source), name
    except jinja2.TemplateSyntaxError as error:
        raise ConfigError(f"{name}:{error.lineno}: template syntax error: {error.message}") from None


def _render(template: Any, name: str, context: dict[str, Any]) -> str:
    import jinja2

    try:
        text = str(template.render(**context))
    except jinja2.TemplateError as error:
        raise ConfigError(f"{name}: cannot render the report template: {error}") from None
    notice = context.get("rules_notice")
    if notice and notice not in text:  # a custom template does not hide a PR's change to the rules
        text = _insert_after_marker(text, context["marker"], notice)
    return text


def render_markdown(
    comparison: Comparison,
    *,
    experiment: str,
    template_path: Path | None = None,
    max_chars: int = MAX_CHARS,
    **facts: Unpack[ReportFacts],
) -> str:
    """The markdown report, with the experiment's marker, at most `max_chars` characters long.

    `rules` (a gate.rules.RulesReport) puts the notice of a PR's rule change at the top; a custom
    template that leaves out `rules_notice` gets it inserted after the marker line all the same.
    `charts` adds the Mermaid charts; `key` (default: the experiment) names the marker; `meta` is the
    hidden metadata (report/metadata.py) that follows the marker.
    """
    if max_chars < _MIN_CHARS:
        raise ValueError(f"max_chars must be at least {_MIN_CHARS}, got {max_chars}")
    template, name = _load_template(template_path)
    context = build_context(comparison, experiment=experiment, **facts)
    the_marker = marker(facts.get("key") or experiment)
    text = _render(template, name, context)
    if the_marker not in text:
        raise ConfigError(
            f"the report template {name} does not output the hidden marker {the_marker}: "
            "put {{ marker }} on its first line (ci-track finds its PR comment by it)"
        )
    if len(text) <= max_chars:
        return text
    return _shorten(template, name, context, max_chars)


def _insert_after_marker(text: str, the_marker: str, block: str) -> str:
    """`block` as its own paragraph after the line holding the marker (for templates that do not place it)."""
    at = text.find(the_marker)
    if at < 0:
        return text
    end = text.find("\n", at)
    end = len(text) if end < 0 else end + 1
    return text[:end] + "\n" + block + "\n\n" + text[end:]


def _shorten(template: Any, name: str, context: dict[str, Any], max_chars: int) -> str:
    """Drop the charts, then the params details, then rows of metrics that are not gated, then cut at a line."""
    omitted: list[str] = []
    if context["trend_charts"] or context["curve_charts"]:
        omitted.append("the charts")
        context = {**context, "trend_charts": [], "curve_charts": [], "chart_data": None}
        context = {**context, "truncation_note": shortened_note(omitted)}
        text = _render(template, name, context)
        if len(text) <= max_chars:
            return text
    if context["params"]:
        omitted.append("the params diff")
        context = {**context, "params": None}
    context = {**context, "truncation_note": shortened_note(omitted)}
    text = _render(template, name, context)
    if len(text) <= max_chars:
        return text

    all_others = context["other_rows"]
    if all_others:
        # The largest number of rows that still fits (binary search: renders are cheap, rows may be many).
        def with_rows(count: int) -> dict[str, Any]:
            dropped = len(all_others) - count
            notes = [*omitted, f"{_plural(dropped, 'metric')} that {'is' if dropped == 1 else 'are'} not gated"]
            return {**context, "other_rows": all_others[:count], "truncation_note": shortened_note(notes)}

        low, high = 0, len(all_others) - 1
        best: str | None = None
        while low <= high:
            middle = (low + high) // 2
            attempt = _render(template, name, with_rows(middle))
            if len(attempt) <= max_chars:
                best, low = attempt, middle + 1
            else:
                high = middle - 1
        if best is not None:
            return best
        context = with_rows(0)
        omitted = [*omitted, "the metrics that are not gated"]
        text = _render(template, name, context)
    return fit_to_limit(text, context["marker"], max_chars, omitted=omitted)[0]
