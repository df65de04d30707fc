"""Markdown, console and JSON reports: golden files, the marker, custom templates, the size limit, the JSON schema.

Golden files live in tests/golden/; regenerate them with `UPDATE_GOLDEN=1 pytest tests/unit/test_reports.py`
and review the diff.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ci_track import __version__
from ci_track.errors import ConfigError
from ci_track.forges.github import comment_marker
from ci_track.gate.comparison import compare
from ci_track.gate.config import parse_config
from ci_track.gate.results import Comparison
from ci_track.report.console import console_safe, render_table
from ci_track.report.json_report import SCHEMA_VERSION, parse_json_number, render_json
from ci_track.report.markdown import marker, render_markdown, run_url
from ci_track.report.text import escape_inline, safe_url
from tests.report_scenarios import (
    EXPERIMENT,
    SCENARIOS,
    TRACKING_URI,
    candidate,
    candidate_from,
    champion,
    charts_of,
    experiment_of,
    pass_comparison,
    regression_comparison,
)

GOLDEN = Path(__file__).parent.parent / "golden"
DOCS = Path(__file__).parents[2] / "docs" / "json-report-schema.md"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def render_all(name: str) -> dict[str, str]:
    comparison = SCENARIOS[name]()
    experiment = experiment_of(name)
    charts = charts_of(name, comparison)
    return {
        "md": render_markdown(comparison, experiment=experiment, tracking_uri=TRACKING_URI, charts=charts),
        "txt": render_table(comparison, charts=charts),
        "json": render_json(comparison, experiment=experiment, charts=charts).replace(
            f'"version": "{__version__}"', '"version": "VERSION"'
        ),
    }


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("kind", ["md", "txt", "json"])
def test_report_matches_golden_file(name: str, kind: str) -> None:
    text = render_all(name)[kind]
    path = GOLDEN / f"{name}.{kind}"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed: review, then UPDATE_GOLDEN=1"


# ---------------------------------------------------------------- markdown: content


def test_markdown_starts_with_the_marker_github_pr_looks_for() -> None:
    text = render_markdown(pass_comparison(), experiment=EXPERIMENT, tracking_uri=TRACKING_URI)
    assert text.splitlines()[0] == "<!-- ci-track:wine-quality -->"
    assert marker(EXPERIMENT) == comment_marker(EXPERIMENT)
    assert text.count("<!--") == 1


def test_markdown_has_verdict_table_links_champion_rule_params_and_short_shas() -> None:
    text = render_markdown(regression_comparison(), experiment=EXPERIMENT, tracking_uri=TRACKING_URI)
    assert "### ❌ ci-track: regression · wine-quality" in text
    assert "| metric | champion | candidate | delta | delta % | status |" in text
    assert "| rmse | 0.742 | 0.801 | +0.059 | +8.0% | ❌ regressed |" in text
    assert "| r2 | 0.27 | 0.29 | +0.02 | +7.4% | ❌ out of bounds |" in text
    assert "| mae | 0.52 | 0.58 | +0.06 | +11.5% | ⚠️ regressed |" in text
    assert f"({TRACKING_URI}/#/experiments/4/runs/5d1f3b7a9c0e4f2a8b6d1c3e5f7a9b0c)" in text
    assert f"({TRACKING_URI}/#/experiments/4/runs/8c2e5a0f7b3d4c1e9a6f0b2d4e6a8c0e)" in text
    assert "found by alias @\u200bchampion of model wine-elasticnet \\(version 3\\)" in text
    assert "`3f9a1c2`" in text and "`a1b2c3d`" in text
    assert "<summary>Params: 1 changed, 1 added, 1 removed</summary>" in text
    assert "- ❌ rmse 0.742 -&gt; 0.801 \\(+8.0%\\), allowed +2%" in text


def test_explicit_run_urls_win_over_the_tracking_uri() -> None:
    text = render_markdown(
        pass_comparison(),
        experiment=EXPERIMENT,
        tracking_uri=TRACKING_URI,
        candidate_url="https://dbc.example/ml/experiments/4/runs/x",
        champion_url="javascript:alert(1)",
    )
    assert "(https://dbc.example/ml/experiments/4/runs/x)" in text
    assert "javascript" not in text  # an unsafe URL is dropped, the label stays
    assert "**Champion:** run main@\u200ba1b2c3d on main" in text


def test_run_url_needs_an_http_tracking_server_and_drops_credentials() -> None:
    run = candidate()
    assert run_url("databricks", run) is None
    assert run_url("sqlite:///mlflow.db", run) is None
    assert run_url("https://user:secret@mlflow.example/", run) == (
        "https://mlflow.example/#/experiments/4/runs/5d1f3b7a9c0e4f2a8b6d1c3e5f7a9b0c"
    )


def test_no_metrics_configured_says_how_to_configure_them() -> None:
    comparison = compare(candidate(rmse=1.0), champion(rmse=1.0), parse_config("experiment: x\n"))
    text = render_markdown(comparison, experiment=EXPERIMENT)
    assert "No metrics are configured: add `metrics:` to `.ci-track.yml`" in text


# ---------------------------------------------------------------- custom templates


def test_custom_template_is_used_with_the_same_escaped_context(tmp_path: Path) -> None:
    template = tmp_path / "report.md.j2"
    template.write_text("{{ marker }}\n{{ icon }} {{ headline }}\n{% for r in rows %}{{ r.name }};{% endfor %}\n")
    text = render_markdown(regression_comparison(), experiment=EXPERIMENT, template_path=template)
    assert text == (
        "<!-- ci-track:wine-quality -->\n"
        "❌ regression\\: rmse +8.0% \\(allowed +2%\\); r2 0.29 &lt; min 0.3\n"
        "rmse;r2;mae;train\\_time\\_s;"  # trim_blocks: the newline after a block tag goes
    )


def test_custom_template_without_the_marker_is_a_config_error(tmp_path: Path) -> None:
    template = tmp_path / "bare.md.j2"
    template.write_text("## {{ headline }}\n")
    with pytest.raises(ConfigError) as error:
        render_markdown(pass_comparison(), experiment=EXPERIMENT, template_path=template)
    assert str(error.value) == (
        f"the report template {template} does not output the hidden marker <!-- ci-track:wine-quality -->: "
        "put {{ marker }} on its first line (ci-track finds its PR comment by it)"
    )


def test_custom_template_with_another_experiments_marker_is_rejected(tmp_path: Path) -> None:
    template = tmp_path / "other.md.j2"
    template.write_text("<!-- ci-track:other-model -->\n{{ headline }}\n")
    with pytest.raises(ConfigError, match="does not output the hidden marker"):
        render_markdown(pass_comparison(), experiment=EXPERIMENT, template_path=template)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ marker }}\n{% for r in rows %}\n", r"bad\.md\.j2:\d+: template syntax error: Unexpected end of template"),
        (
            "{{ marker }}\n{{ no_such_variable }}\n",
            r"cannot render the report template: 'no_such_variable' is undefined",
        ),
        ("{{ marker }}{{ ''.__class__.__mro__[1].__subclasses__() }}", r"cannot render the report template: .*unsafe"),
    ],
)
def test_broken_or_unsafe_templates_are_config_errors(tmp_path: Path, source: str, message: str) -> None:
    template = tmp_path / "bad.md.j2"
    template.write_text(source)
    with pytest.raises(ConfigError, match=message):
        render_markdown(pass_comparison(), experiment=EXPERIMENT, template_path=template)


def test_missing_template_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the report template .*nope\.j2"):
        render_markdown(pass_comparison(), experiment=EXPERIMENT, template_path=tmp_path / "nope.j2")


# ---------------------------------------------------------------- size limit


def _big_params_comparison(params: int, others: int, value_length: int = 70) -> Comparison:
    cand_params = {f"param_{i:04d}": "x" * value_length for i in range(params)}
    champ_params = {f"param_{i:04d}": "y" * value_length for i in range(params)}
    cand_metrics = {"rmse": 0.8, **{f"other_metric_{i:04d}": float(i) for i in range(others)}}
    champ_metrics = {"rmse": 0.7, **{f"other_metric_{i:04d}": float(i) + 0.5 for i in range(others)}}
    champ = champion(**champ_metrics)
    champ = type(champ)(**{**champ.__dict__, "params": champ_params})
    return compare(candidate_from(cand_metrics, cand_params), champ, parse_config("metrics: {rmse: {goal: minimize}}"))


def _assert_well_formed(text: str, limit: int) -> None:
    assert len(text) <= limit
    assert text.startswith("<!-- ci-track:wine-quality -->\n")
    assert text.count("<details>") == text.count("</details>")
    assert "The full report is in the CI job summary and in report.md." in text


def test_over_the_limit_the_params_go_first() -> None:
    comparison = _big_params_comparison(params=300, others=5)
    full = render_markdown(comparison, experiment=EXPERIMENT)
    assert len(full) > 20_000
    text = render_markdown(comparison, experiment=EXPERIMENT, max_chars=20_000)
    _assert_well_formed(text, 20_000)
    assert "param_0000" not in text
    assert "other\\_metric\\_0004" in text  # the other metrics survive while the params alone are enough
    assert "(the params diff left out)" in text


def test_then_rows_of_metrics_that_are_not_gated_are_dropped_as_few_as_possible() -> None:
    comparison = _big_params_comparison(params=50, others=400)
    text = render_markdown(comparison, experiment=EXPERIMENT, max_chars=10_000)
    _assert_well_formed(text, 10_000)
    kept = len(re.findall(r"^\| other\\_metric\\_\d{4} ", text, flags=re.MULTILINE))
    assert 0 < kept < 400
    assert f"{400 - kept} metrics that are not gated" in text
    # One more row would not have fitted.
    assert "| rmse | 0.7 | 0.8 |" in text


def test_as_a_last_resort_the_text_is_cut_at_a_line_and_still_ends_with_the_note() -> None:
    names = [f"gated_metric_with_a_rather_long_name_{i:04d}" for i in range(600)]
    rules = "metrics:\n" + "".join(f"  {name}: {{goal: minimize}}\n" for name in names)
    comparison = compare(
        candidate_from(dict.fromkeys(names, 2.0)), champion(**dict.fromkeys(names, 1.0)), parse_config(rules)
    )
    text = render_markdown(comparison, experiment=EXPERIMENT, max_chars=8_000)
    _assert_well_formed(text, 8_000)
    assert "the end of the report left out" in text
    assert text.endswith("report.md.\n")


@pytest.mark.parametrize("limit", [400, 1_000, 3_000, 7_777, 65_536])
def test_length_is_guaranteed_for_any_limit(limit: int) -> None:
    for comparison in (_big_params_comparison(params=200, others=200), SCENARIOS["hostile"]()):
        experiment = EXPERIMENT
        text = render_markdown(comparison, experiment=experiment, tracking_uri=TRACKING_URI, max_chars=limit)
        assert len(text) <= limit
        assert text.startswith(marker(experiment))


def test_a_report_that_fits_is_not_touched() -> None:
    text = render_markdown(pass_comparison(), experiment=EXPERIMENT, max_chars=65_536)
    assert "shortened" not in text


# ---------------------------------------------------------------- console


def test_console_table_has_the_rows_the_reasons_and_the_verdict() -> None:
    text = render_table(regression_comparison())
    lines = text.splitlines()
    assert lines[0].split() == ["metric", "champion", "candidate", "delta", "delta", "%", "status"]
    assert any(line.startswith("rmse") and line.endswith("REGRESSED") for line in lines)
    assert any(line.startswith("mae") and line.endswith("regressed (warn)") for line in lines)
    assert "FAIL: rmse 0.742 -> 0.801 (+8.0%), allowed +2%" in lines
    assert lines[-1] == "verdict: regression: rmse +8.0% (allowed +2%); r2 0.29 < min 0.3"


def test_console_neutralizes_terminal_escapes_and_bidi() -> None:
    assert console_safe("red\x1b[31m\rover\u202eevil") == "red\ufffd[31m over\ufffdevil"
    text = render_table(SCENARIOS["hostile"]())
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text


# ---------------------------------------------------------------- JSON


def _strict_loads(text: str) -> Any:
    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def documented_schema() -> dict[str, Any]:
    """The JSON Schema block of docs/json-report-schema.md (the documentation is what the test checks)."""
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"```json schema\n(.*?)\n```", text, flags=re.DOTALL)
    assert match, "docs/json-report-schema.md must hold the schema in a ```json schema block"
    return json.loads(match.group(1))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_json_report_is_strict_json_valid_against_the_documented_schema(name: str) -> None:
    document = _strict_loads(render_json(SCENARIOS[name](), experiment=experiment_of(name)))
    schema = documented_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["schema_version"] == SCHEMA_VERSION == 2


def test_json_report_writes_nan_and_infinity_as_strings() -> None:
    comparison = compare(
        candidate(rmse=math.nan, r2=math.inf, mae=-math.inf),
        champion(rmse=0.7, r2=0.8, mae=0.5),
        parse_config("metrics: {rmse: {goal: minimize}, r2: {goal: maximize}, mae: {goal: minimize}}"),
    )
    document = _strict_loads(render_json(comparison))
    values = {m["name"]: m["candidate"] for m in document["metrics"]}
    assert values == {"rmse": "NaN", "r2": "Infinity", "mae": "-Infinity"}
    assert all(m["status"] == "nan" for m in document["metrics"])
    assert math.isnan(parse_json_number("NaN") or 0.0) and parse_json_number("-Infinity") == -math.inf
    assert parse_json_number(None) is None and parse_json_number(0.5) == 0.5


def test_json_report_carries_verdict_exit_code_and_every_status() -> None:
    document = _strict_loads(render_json(regression_comparison(), experiment=EXPERIMENT))
    assert (document["verdict"], document["passed"], document["exit_code"]) == ("regression", False, 1)
    assert document["counts"] == {
        "metrics": 6,
        "gated": 4,
        "failures": 2,
        "warnings": 1,
        "improved": 1,
        "params_changed": 3,
    }
    assert [(m["name"], m["status"], m["outcome"]) for m in document["metrics"]] == [
        ("rmse", "regressed", "fail"),
        ("r2", "out_of_bounds", "fail"),
        ("mae", "regressed", "warn"),
        ("train_time_s", "improved", "ok"),
        ("lr_final", "new", "info"),
        ("val_loss", "removed", "info"),
    ]
    assert document["champion"]["source"] == "alias @champion of model wine-elasticnet (version 3)"
    assert document["candidate"]["head_sha"] == "3f9a1c2d4e5b6a7980c1d2e3f4a5b6c7d8e9f012"
    no_gate = _strict_loads(render_json(regression_comparison(), gate=False))
    assert no_gate["exit_code"] == 0


def test_json_extra_fields_are_added_but_never_replace_report_fields() -> None:
    document = _strict_loads(render_json(pass_comparison(), extra={"pr_number": 12, "markdown": "x"}))
    assert (document["pr_number"], document["markdown"]) == (12, "x")
    with pytest.raises(ValueError, match="'verdict'"):
        render_json(pass_comparison(), extra={"verdict": "pass"})


def test_json_keeps_raw_strings_for_consumers_to_escape() -> None:
    document = _strict_loads(render_json(SCENARIOS["hostile"]()))
    assert any(m["name"] == "m1 <script>alert(1)</script>" for m in document["metrics"])
    assert escape_inline(document["candidate"]["branch"]).count("&lt;") == 2


def test_safe_url_accepts_only_http_and_encodes_link_breakers() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("data:text/html,x") is None
    assert safe_url("https://h.example/a b)|c") == "https://h.example/a%20b%29%7Cc"
