"""--junit-output and --gitlab-metrics-output: the reports CI systems read themselves (pure)."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

from ci_track.report.gitlab_metrics import metric_name, render_gitlab_metrics
from ci_track.report.junit import render_junit
from tests.report_scenarios import (
    hostile_comparison,
    no_champion_comparison,
    pass_comparison,
    regression_comparison,
)

OPENMETRICS_LINE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]* (?:-?[0-9.e+-]+|NaN|[+-]Inf)$")


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml.encode("utf-8"))  # noqa: S314 - our own output, no entities


def test_junit_has_one_case_per_gated_metric_and_failures_carry_the_reason() -> None:
    comparison = regression_comparison()
    root = parse(render_junit(comparison, experiment="churn", passed=False))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [m.name for m in comparison.gated]
    failed = {c.get("name"): c.find("failure") for c in cases if c.find("failure") is not None}
    assert set(failed) == {m.name for m in comparison.failures}
    for metric in comparison.failures:
        failure = failed[metric.name]
        assert failure is not None and failure.get("message") == metric.reason
    assert suite.get("tests") == str(len(cases)) and suite.get("failures") == str(len(failed))
    assert root.get("failures") == str(len(failed))
    assert {c.get("classname") for c in cases} == {"ci-track.churn"}


def test_junit_of_a_pass_has_no_failure() -> None:
    root = parse(render_junit(pass_comparison(), experiment="churn", passed=True))
    assert root.findall(".//failure") == []
    assert root.findall(".//testcase")


def test_junit_no_champion_fails_only_under_its_policy() -> None:
    comparison = no_champion_comparison()
    lenient = parse(render_junit(comparison, experiment="e", passed=True))
    assert [c.get("name") for c in lenient.iter("testcase")][-1] == "champion"
    assert lenient.findall(".//failure") == []
    strict = dataclasses.replace(comparison, no_champion_policy="fail")
    failing = parse(render_junit(strict, experiment="e", passed=False))
    assert [f.get("type") for f in failing.iter("failure")] == ["no champion"]


def test_junit_escapes_hostile_names_and_drops_what_xml_cannot_hold() -> None:
    comparison = hostile_comparison()
    evil = dataclasses.replace(comparison.gated[0], name='a"<b>&\x00\x1b]8;;x\x07', reason="</failure><x>\ud800")
    comparison = dataclasses.replace(comparison, metrics=(evil, *comparison.metrics[1:]))
    text = render_junit(comparison, experiment='exp"<&>', passed=False)
    root = parse(text)  # always well-formed
    names = [c.get("name") for c in root.iter("testcase")]
    assert names[0] == 'a"<b>&\ufffd\ufffd]8;;x\ufffd'
    assert "<x>" not in text and "</failure><x>" not in text
    assert root.find("testsuite").get("name") == 'ci-track: exp"<&>'  # type: ignore[union-attr]


def test_gitlab_metrics_lines_are_openmetrics_names_and_plain_values() -> None:
    comparison = regression_comparison()
    text = render_gitlab_metrics(comparison)
    lines = text.splitlines()
    assert all(OPENMETRICS_LINE.match(line) for line in lines), lines
    assert lines[-1] == f"ci_track_regressions {len(comparison.failures)}"
    values = dict(line.split(" ") for line in lines)
    for metric in comparison.metrics:
        if metric.candidate is not None:
            assert float(values[metric_name(metric.name)]) == metric.candidate


def test_gitlab_metric_names_are_sanitized_and_never_collide() -> None:
    assert metric_name("test/rmse score.v2") == "test_rmse_score_v2"
    assert metric_name("1st-pass") == "_1st_pass"
    comparison = hostile_comparison()
    first, second = comparison.metrics[0], comparison.metrics[1]
    twins = (
        dataclasses.replace(first, name="a/b", candidate=1.0),
        dataclasses.replace(second, name="a.b", candidate=float("nan")),
        dataclasses.replace(second, name="a_b", candidate=float("-inf")),
    )
    text = render_gitlab_metrics(dataclasses.replace(comparison, metrics=twins))
    assert text.splitlines()[:3] == ["a_b 1.0", "a_b_2 NaN", "a_b_3 -Inf"]
