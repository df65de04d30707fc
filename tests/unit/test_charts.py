"""The report's charts, pure: Mermaid text building, escaping, number formatting, downsampling, sparklines, metadata.

What a browser makes of the blocks is tests/e2e/test_comment_charts_chromium.py; here the text itself.
"""

from __future__ import annotations

import base64
import itertools
import math
import re

import pytest

from ci_track.report.charts import (
    MAX_CURVE_POINTS,
    ChartData,
    build_curve,
    build_trend,
    chart_text,
    curve_block,
    decimals_for,
    fenced,
    format_values,
    resample,
    short_sha,
    step_grid,
    trend_block,
    trend_labels,
)
from ci_track.report.markdown import render_markdown
from ci_track.report.metadata import ReportMeta, read_meta, shared_key_conflict, stale_body
from ci_track.report.sparkline import sparkline
from ci_track.report.text import comment_marker
from tests.report_scenarios import HOSTILE, HOSTILE_SHAS, SCENARIOS, charts_of

SHA = [f"{i:x}" * 40 for i in range(1, 10)]
# What a quoted Mermaid string, the fence and the markdown around it may not hold.
_UNSAFE = re.compile(r'["`%;#<>\[\]{}\n\r]')


def _trend(values: list[float], **kwargs: object) -> str:
    history = [(SHA[i], i, v) for i, v in enumerate(values[:-1])]
    trend = build_trend("rmse", "rmse", history, champion=None, candidate=(SHA[8], values[-1]), **kwargs)  # type: ignore[arg-type]
    assert trend is not None
    return trend_block(trend)


# -- numbers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "shown"),
    [
        ([0.30000000000000004, 0.31, 0.305], ["0.3", "0.31", "0.305"]),
        ([1234567.891, 1234999.5], ["1234567.9", "1234999.5"]),
        ([1234567.891, 2234999.5], ["1234568", "2235000"]),
        ([0.000012345, 0.000012346], ["0.000012345", "0.000012346"]),
        ([5.0, 5.0], ["5", "5"]),
        ([-0.5, 0.25], ["-0.5", "0.25"]),
        ([1e20, 2e20], ["100000000000000000000", "200000000000000000000"]),
    ],
)
def test_values_get_the_decimals_their_spread_needs(values: list[float], shown: list[str]) -> None:
    assert format_values(values) == shown
    assert all("e" not in text.lower() for text in format_values(values))  # Mermaid's grammar has no exponent


def test_decimals_are_bounded_and_ignore_non_finite_values() -> None:
    assert decimals_for([1e-30, 2e-30]) == 12
    assert decimals_for([math.nan, math.inf]) == 0
    assert decimals_for([0.0, 0.0]) == 0


def test_a_trend_chart_is_a_mermaid_line_with_the_champion_and_candidate_marked() -> None:
    history = [(SHA[0], 1, 0.30), (SHA[1], 2, 0.31), (SHA[1], 1, 0.99), (SHA[2], 3, 0.305)]
    trend = build_trend(
        "rmse", "rmse", history, champion=(SHA[1], 2, 0.31), candidate=(SHA[3], 0.33), band=(0.30, 0.32)
    )
    assert trend is not None
    assert trend_labels(trend) == [SHA[0][:7], f"★ {SHA[1][:7]}", SHA[2][:7], f"PR {SHA[3][:7]}"]  # one a commit
    block = trend_block(trend)
    assert "xychart-beta" in block and 'y-axis "rmse" 0.2985 --> 0.3315' in block
    assert "    line [0.3, 0.31, 0.305, 0.33]" in block
    assert block.count("    line [0.3, 0.3, 0.3, 0.3]") == 1 and "    line [0.32, 0.32, 0.32, 0.32]" in block
    assert fenced(block).startswith("```mermaid\n---\nconfig:") and fenced(block).endswith("\n```")


def test_a_trend_keeps_the_last_points_and_always_the_champion() -> None:
    history = [(f"{i:040x}", i, float(i)) for i in range(1, 60)]
    trend = build_trend("m", "m", history, champion=(f"{1:040x}", 1, 1.0), candidate=(SHA[0], 99.0), limit=10)
    assert trend is not None and len(trend.points) == 10
    assert trend.points[0].role == "champion" and trend.points[-1].role == "candidate"
    assert [p.value for p in trend.points[1:-1]] == [float(i) for i in range(52, 60)]


def test_no_trend_without_a_finite_candidate_or_anything_to_compare() -> None:
    assert build_trend("m", "m", [(SHA[0], 1, 1.0)], champion=None, candidate=(SHA[1], math.nan)) is None
    assert build_trend("m", "m", [(SHA[0], 1, math.inf)], champion=None, candidate=(SHA[1], 1.0)) is None


# -- hostile text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*HOSTILE, *HOSTILE_SHAS, '" ] line [1]', "%%{init}%%", "a\n```\nb"])
def test_chart_text_cannot_leave_the_quoted_string(text: str) -> None:
    cleaned = chart_text(text)
    assert not _UNSAFE.search(cleaned), cleaned
    assert len(cleaned) <= 60


@pytest.mark.parametrize("sha", [*HOSTILE_SHAS, "", "abc", "g" * 40])
def test_a_tag_that_is_not_a_sha_is_shown_as_a_question_mark(sha: str) -> None:
    assert short_sha(sha) == "?"
    assert short_sha("ABCDEF0123456789" * 2) == "abcdef0"


def test_hostile_scenario_charts_hold_only_safe_text() -> None:
    comparison = SCENARIOS["hostile"]()
    charts = charts_of("hostile", comparison)
    assert charts is not None and charts.trends and charts.curves
    for block in [trend_block(t) for t in charts.trends] + [curve_block(c) for c in charts.curves]:
        body = block.split("---\n")[-1]  # past the front matter (constants)
        for line in body.splitlines()[1:]:
            quoted = re.findall(r'"([^"]*)"', line)
            assert all(not _UNSAFE.search(text) for text in quoted), line
            assert line.count('"') % 2 == 0 and "`" not in line and "%" not in line, line
        labels = re.search(r"x-axis \[(.*)\]", body)
        if labels:  # every category distinct, or Mermaid merges them
            names = re.findall(r'"([^"]*)"', labels.group(1))
            assert len(names) == len(set(names))


# -- curves -------------------------------------------------------------------------------------------------


def test_curves_are_resampled_onto_an_even_bounded_grid() -> None:
    grid = step_grid(list(range(0, 10_001, 3)))
    assert len(grid) == MAX_CURVE_POINTS and grid[0] == 0 and grid[-1] == 9999
    gaps = {b - a for a, b in itertools.pairwise(grid)}
    assert max(gaps) - min(gaps) <= 1
    assert step_grid([0, 1, 2]) == (0, 1, 2) and step_grid([5]) == (5,)


def test_resampling_keeps_the_value_the_aggregate_judges() -> None:
    points = [(0, 5.0), (1, 1.0), (2, 4.0), (3, 3.0)]
    assert resample(points, (1, 3), "min") == (1.0, 3.0)
    assert resample(points, (1, 3), "max") == (5.0, 4.0)
    assert resample(points, (1, 3), "last") == (1.0, 3.0)
    assert resample(points, (0, 5, 9), None) == (5.0, 3.0, 3.0)  # the last value held after the run ended
    assert resample([(0, math.nan)], (0,), None) is None


def test_a_curve_needs_two_steps_and_names_the_rule() -> None:
    assert build_curve("loss", None, [(0, 1.0)], []) is None
    curve = build_curve("loss", "min", [(s, 1 / (s + 1)) for s in range(500)], [(s, 2.0) for s in range(0, 300, 10)])
    assert curve is not None and len(curve.steps) == MAX_CURVE_POINTS and curve.champion is not None
    block = curve_block(curve)
    assert 'x-axis "step" 0 --> 499' in block and "judged: min" in block
    assert block.count("    line [") == 2


# -- sparklines ---------------------------------------------------------------------------------------------


def test_sparklines() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([2, 2, 2]) == "▄▄▄"
    assert sparkline([1, math.nan, 3]) == "▁ █"
    assert len(sparkline(list(range(100)))) == 20


# -- the markdown around the charts -------------------------------------------------------------------------


def test_the_report_shows_charts_and_links_and_drops_the_charts_first_when_too_long() -> None:
    comparison = SCENARIOS["regression"]()
    charts = charts_of("regression", comparison)
    assert charts is not None
    full = render_markdown(comparison, experiment="wine-quality", charts=charts)
    assert full.count("```mermaid") == len(charts.trends) + len(charts.curves)
    assert "[compare champion and candidate in MLflow](http" in full
    short = render_markdown(comparison, experiment="wine-quality", charts=charts, max_chars=len(full) - 10)
    assert "```mermaid" not in short and "the charts left out" in short.replace(",", "")
    assert "| rmse | 0.742 | 0.801 |" in short  # the table stays


def test_a_custom_template_gets_the_chart_data(tmp_path: object) -> None:
    from pathlib import Path

    template = Path(str(tmp_path)) / "t.md.j2"
    template.write_text(
        "{{ marker }}\n{% for t in chart_data.trends %}{{ t.metric }}={{ t.series | join(',') }};{% endfor %}"
        "{% for c in curve_charts %}{{ c.mermaid }}{% endfor %}",
        encoding="utf-8",
    )
    comparison = SCENARIOS["regression"]()
    text = render_markdown(
        comparison, experiment="wine-quality", charts=charts_of("regression", comparison), template_path=template
    )
    assert "rmse=0.72716,0.742,0.75684," in text and text.count("```mermaid") == 1
    empty = render_markdown(comparison, experiment="wine-quality", charts=ChartData(), template_path=template)
    assert "```mermaid" not in empty


# -- the hidden metadata: several jobs, one PR ---------------------------------------------------------------


def _body(
    key: str, run: str, sha: str, build: str | None = "7", attempt: str | None = "1", job: str | None = None
) -> str:
    meta = ReportMeta(key=key, run_id=run, head_sha=sha, build=build, attempt=attempt, job=job)
    return f"{comment_marker(key)}{meta.comment()}\n### report\n"


def test_metadata_round_trips_and_cannot_end_the_comment() -> None:
    body = _body("a --> <!-- b", "r1", SHA[0])
    assert body.count("-->") == 2  # the marker's own end and the metadata's: the key is inside base64
    meta = read_meta(body)
    assert meta is not None and (meta.key, meta.run_id, meta.head_sha) == ("a --> <!-- b", "r1", SHA[0])
    assert read_meta("no metadata") is None and read_meta("<!-- ci-track-meta:!!! -->") is None


def test_two_jobs_of_one_build_under_one_key_conflict_and_a_rerun_does_not() -> None:
    first = _body("exp", "run-ridge", SHA[0])
    assert shared_key_conflict(first, _body("exp", "run-lasso", SHA[0]))
    assert not shared_key_conflict(first, _body("exp", "run-ridge", SHA[0]))  # the same report again
    assert not shared_key_conflict(first, _body("exp", "run-lasso", SHA[1]))  # a new push
    assert not shared_key_conflict(first, _body("exp", "run-lasso", SHA[0], attempt="2"))  # a re-run
    assert not shared_key_conflict(first, _body("other", "run-lasso", SHA[0]))
    # A CI that names no attempt (GitLab's retried job keeps its pipeline id): a retry cannot be told from a sibling.
    assert not shared_key_conflict(_body("exp", "a", SHA[0], attempt=None), _body("exp", "b", SHA[0], attempt=None))
    assert not shared_key_conflict(_body("exp", "a", SHA[0], build=None), _body("exp", "b", SHA[0], build=None))


def test_on_gitlab_two_job_names_in_one_pipeline_conflict_and_a_retry_does_not() -> None:
    """GitLab names no attempt, but each job its name (a parallel:matrix job's carries its values)."""

    def gitlab(run: str, job: str, pipeline: str = "900") -> str:
        return _body("exp", run, SHA[0], build=pipeline, attempt=None, job=job)

    first = gitlab("run-ridge", "train: [ridge]")
    assert read_meta(first) is not None and read_meta(first).job == "train: [ridge]"  # type: ignore[union-attr]
    assert shared_key_conflict(first, gitlab("run-lasso", "train: [lasso]"))  # a sibling job, the same key
    assert not shared_key_conflict(first, gitlab("run-ridge-2", "train: [ridge]"))  # that job retried
    assert not shared_key_conflict(first, gitlab("run-lasso", "train: [lasso]", pipeline="901"))  # a new pipeline
    # GitHub's metadata carries no job: its comments read as before
    assert "job" not in base64.urlsafe_b64decode(_body("exp", "r", SHA[0]).split("meta:")[1].split(" ")[0]).decode()


def test_other_keys_reports_on_an_older_head_are_marked_outdated_once() -> None:
    old = _body("lasso", "r1", SHA[0])
    marked = stale_body(old, SHA[1])
    assert marked is not None and marked.startswith(old.splitlines()[0] + "\n> [!NOTE]\n> ⏳ Outdated:")
    assert SHA[0][:7] in marked and SHA[1][:7] in marked and "### report" in marked
    assert stale_body(marked, SHA[2]) is None  # marked once
    assert stale_body(old, SHA[0]) is None  # the same head: current
    assert stale_body("### a comment without metadata", SHA[1]) is None


# -- report.key and report.charts ---------------------------------------------------------------------------


def test_report_key_and_charts_come_from_the_file_the_environment_and_the_flags() -> None:
    from ci_track.errors import ConfigError, UsageError
    from ci_track.gate.config import parse_config
    from ci_track.gate.overrides import apply_overrides

    config = parse_config("experiment: wine\nreport: {key: ridge, charts: false}\n")
    assert (config.report_key, config.report.charts) == ("ridge", False)
    assert parse_config("experiment: wine\n").report_key == "wine"  # the experiment by default
    from_env = apply_overrides(config, {}, {"CI_TRACK_KEY": "lasso", "CI_TRACK_CHARTS": "on"})
    assert (from_env.report_key, from_env.report.charts) == ("lasso", True)
    flagged = apply_overrides(config, {"key": "elastic", "charts": False}, {"CI_TRACK_KEY": "lasso"})
    assert (flagged.report_key, flagged.report.charts) == ("elastic", False)
    with pytest.raises(ConfigError, match=r"report\.key must not be empty"):
        parse_config("report: {key: ' '}\n")
    with pytest.raises(ConfigError, match="unknown key 'chart'"):
        parse_config("report: {chart: false}\n")
    with pytest.raises(ConfigError, match="CI_TRACK_CHARTS must be true or false"):
        apply_overrides(config, {}, {"CI_TRACK_CHARTS": "maybe"})
    with pytest.raises(UsageError):
        apply_overrides(config, {"key": " "}, {})


def test_charts_default_on_except_where_the_comment_cannot_draw_them() -> None:
    """Bitbucket shows a Mermaid block as code: charts are off there unless asked for; set anywhere, they obey."""
    from ci_track.ci.context import CIContext
    from ci_track.commands._publish import choose_forge
    from ci_track.commands.compare import _with_charts_decided
    from ci_track.gate.config import parse_config
    from ci_track.gate.rules import GateRules

    unset = parse_config("experiment: wine\n").report
    assert unset.charts is None
    assert [unset.charts_for(forge) for forge in ("github", "gitlab", "bitbucket", "none")] == [True, True, False, True]
    asked = parse_config("experiment: wine\nreport: {charts: true}\n").report
    assert asked.charts_for("bitbucket") is True

    def decided(environ: dict[str, str], provider: str, flag: str | None = None, text: str = "") -> bool | None:
        rules = GateRules(config=parse_config("experiment: wine\n" + text), report=None)  # type: ignore[arg-type]
        context = CIContext(provider=provider, event="push", head_sha=None, repo_url="https://bitbucket.org/team/repo")
        forge = choose_forge(environ, context.provider, flag=flag, repo_url=context.repo_url)
        return _with_charts_decided(rules, forge).config.report.charts

    assert decided({}, "bitbucket") is False  # Bitbucket Pipelines
    assert decided({}, "jenkins") is False  # a Jenkins build of a Bitbucket repository
    assert decided({}, "github-actions") is True
    assert decided({"CI_TRACK_FORGE": "bitbucket"}, "local") is False
    assert decided({}, "local", flag="gitlab") is True
    assert decided({}, "bitbucket", text="report: {charts: true}\n") is True


def test_the_rest_forges_sticky_comment_refuses_a_shared_key_and_marks_other_keys_outdated() -> None:
    """forges/sticky.py (GitLab, Bitbucket) decides from the same metadata as forges/github.py."""
    from ci_track.errors import SharedKeyError
    from ci_track.forges.sticky import Comment, post_sticky

    class Thread:
        def __init__(self, *bodies: str) -> None:
            self.comments = {index + 1: body for index, body in enumerate(bodies)}

        def list(self) -> list[Comment]:
            return [Comment(i, body) for i, body in sorted(self.comments.items())]

        def create(self, body: str) -> Comment:
            self.comments[max(self.comments, default=0) + 1] = body
            return Comment(max(self.comments), body)

        def update(self, comment_id: int, body: str) -> Comment:
            self.comments[comment_id] = body
            return Comment(comment_id, body)

        def delete(self, comment_id: int) -> None:
            self.comments.pop(comment_id, None)

    ridge, lasso_old = _body("exp", "run-ridge", SHA[0]), _body("lasso", "run-l", SHA[1])
    thread = Thread(ridge, lasso_old)
    with pytest.raises(SharedKeyError, match="share the report key 'exp'"):
        post_sticky(thread, _body("exp", "run-lasso", SHA[0]), marker=comment_marker("exp"), mode="update",
                    passed=True, limit=65536)  # fmt: skip
    assert thread.comments[1] == ridge  # not overwritten
    post_sticky(thread, _body("exp", "run-ridge-2", SHA[2]), marker=comment_marker("exp"), mode="update",
                passed=True, limit=65536)  # fmt: skip
    assert "run-ridge-2" in str(read_meta(thread.comments[1])) and "Outdated:" in thread.comments[2]
