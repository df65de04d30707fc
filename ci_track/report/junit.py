"""The comparison as a JUnit XML report (pure): what GitLab's merge request test widget, Jenkins' `junit`
step and most CI systems show.

One `<testsuite>` named after the experiment, one `<testcase>` per gated metric (classname
`ci-track.<experiment>`, name the metric): a metric that fails its rule carries a `<failure>` whose
message is the reason ("rmse 0.742 -> 0.801 (+7.9%), allowed +2%"), a warned one a `<system-out>`
with its reason, and a missing champion is one more test case, failed when `no_champion: fail`
makes the gate fail. Metric names are untrusted text: ElementTree escapes them, and characters XML
1.0 cannot hold at all (control characters, lone surrogates) are replaced, so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ci_track.gate.results import STATUS_LABELS, Comparison, MetricResult

# XML 1.0 allows tab, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    """`value` as text XML 1.0 can carry (what it cannot becomes U+FFFD)."""
    return _NOT_XML.sub("\ufffd", str(value))


def render_junit(comparison: Comparison, *, experiment: str, passed: bool) -> str:
    cases = [_metric_case(metric, experiment) for metric in comparison.gated]
    if comparison.verdict == "no-champion":
        cases.append(_champion_case(comparison, experiment, passed=passed))
    failures = sum(1 for case in cases if case.find("failure") is not None)
    suites = ET.Element("testsuites", name="ci-track", tests=str(len(cases)), failures=str(failures), errors="0")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=xml_text(f"ci-track: {experiment}"),
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    suite.extend(cases)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _case(experiment: str, name: str) -> ET.Element:
    return ET.Element("testcase", classname=xml_text(f"ci-track.{experiment}"), name=xml_text(name), time="0")


def _metric_case(metric: MetricResult, experiment: str) -> ET.Element:
    case = _case(experiment, metric.name)
    label = STATUS_LABELS.get(metric.status, metric.status)
    if metric.outcome == "fail":
        failure = ET.SubElement(case, "failure", message=xml_text(metric.reason), type=xml_text(label))
        failure.text = xml_text(metric.reason)
    elif metric.outcome == "warn":
        ET.SubElement(case, "system-out").text = xml_text(f"warning ({label}): {metric.reason}")
    else:
        ET.SubElement(case, "system-out").text = xml_text(f"{label}: {metric.reason}")
    return case


def _champion_case(comparison: Comparison, experiment: str, *, passed: bool) -> ET.Element:
    case = _case(experiment, "champion")
    reason = "no champion to compare with on the base branch"
    if comparison.no_champion_policy == "fail" and not passed:
        ET.SubElement(case, "failure", message=reason, type="no champion").text = reason + " (no_champion: fail)"
    else:
        ET.SubElement(case, "system-out").text = reason + " (no_champion: pass)"
    return case
