"""The gate's decision as plain values: the exit code, what to post (comment, status, check run), what to annotate."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from ci_track.ci.context import CIContext
from ci_track.commands._publish import Publication, plan_publication
from ci_track.gate.comparison import compare
from ci_track.gate.config import Config, parse_config
from ci_track.gate.decision import decide, gate_exit_code, metric_annotations, publishing_choices
from ci_track.gate.results import Comparison
from ci_track.tracking.runs import Run

RULES = """\
experiment: wine
metrics:
  rmse: {goal: minimize, max_regression: "2%"}
  mae:  {goal: minimize, severity: warn}
"""

PR = CIContext(provider="github-actions", event="pull_request", head_sha="a" * 40, pr_number=7, repository="acme/wine")
PUSH = CIContext(provider="github-actions", event="push", head_sha="a" * 40, repository="acme/wine")


def run(metrics: Mapping[str, float], run_id: str) -> Run:
    return Run(
        run_id=run_id,
        experiment_id="1",
        status="FINISHED",
        metrics=dict(metrics),
        params={},
        tags={"mlflow.source.git.commit": "a" * 40, "mlflow.source.git.branch": "feature"},
    )


def judged(candidate: Mapping[str, float], champion: Mapping[str, float] | None, rules: str = RULES) -> Comparison:
    config = parse_config(rules)
    return compare(run(candidate, "cand"), run(champion, "champ") if champion is not None else None, config)


def config(**changes: object) -> Config:
    return dataclasses.replace(parse_config(RULES), **changes)


def test_a_regression_exits_1_and_passes_nothing() -> None:
    comparison = judged({"rmse": 1.2, "mae": 1.0}, {"rmse": 1.0, "mae": 1.0})
    decision = decide(comparison, config(), PR, has_token=True, no_gate=False, check_run=False)
    assert (decision.passed, decision.exit_code) == (False, 1)
    assert decision.outputs == {"verdict": "regression", "regressions": "1", "headline": comparison.headline}


def test_no_gate_reports_the_regression_but_exits_0() -> None:
    comparison = judged({"rmse": 1.2}, {"rmse": 1.0})
    decision = decide(comparison, config(), PR, has_token=True, no_gate=True, check_run=False)
    assert (decision.passed, decision.exit_code) == (False, 0)  # the status still says failure


def test_an_improvement_passes() -> None:
    decision = decide(
        judged({"rmse": 0.9}, {"rmse": 1.0}), config(), PR, has_token=True, no_gate=False, check_run=False
    )
    assert (decision.passed, decision.exit_code, decision.outputs["verdict"]) == (True, 0, "pass")


@pytest.mark.parametrize(("policy", "code"), [("pass", 0), ("fail", 1)])
def test_without_a_champion_the_policy_decides(policy: str, code: int) -> None:
    cfg = config(no_champion=policy)
    assert gate_exit_code(judged({"rmse": 1.0}, None), cfg) == code


def test_failed_metrics_are_errors_and_warned_ones_warnings() -> None:
    comparison = judged({"rmse": 1.2, "mae": 2.0}, {"rmse": 1.0, "mae": 1.0})
    annotations = metric_annotations(comparison)
    assert [level for level, _ in annotations] == ["error", "warning"]
    assert "rmse" in annotations[0][1] and "mae" in annotations[1][1]


def test_a_pass_without_warnings_annotates_nothing() -> None:
    assert metric_annotations(judged({"rmse": 1.0, "mae": 1.0}, {"rmse": 1.0, "mae": 1.0})) == ()


def test_by_default_a_pr_with_a_token_gets_the_comment_and_the_status() -> None:
    assert publishing_choices(config(), PR, has_token=True) == ("update", True)


@pytest.mark.parametrize(
    ("context", "has_token"),
    [(PR, False), (PUSH, True), (dataclasses.replace(PR, repository=None), True)],
    ids=["no-token", "not-a-pr", "no-repository"],
)
def test_by_default_nothing_is_posted_without_a_pr_a_repository_and_a_token(
    context: CIContext, has_token: bool
) -> None:
    assert publishing_choices(config(), context, has_token=has_token) == ("off", False)


def test_explicit_choices_win_over_the_default() -> None:
    assert publishing_choices(config(comment="new", status=False), PR, has_token=True) == ("new", False)
    assert publishing_choices(config(comment="delete-on-pass", status=True), PUSH, has_token=False) == (
        "delete-on-pass",
        True,
    )


def test_the_check_run_is_only_created_when_asked() -> None:
    comparison = judged({"rmse": 1.0}, {"rmse": 1.0})
    assert decide(comparison, config(), PR, has_token=True, no_gate=False, check_run=True).post_check_run
    assert not decide(comparison, config(), PR, has_token=True, no_gate=False, check_run=False).post_check_run


def publication(pr_number: int | None) -> Publication:
    return Publication(
        experiment="wine",
        markdown="<!-- ci-track:wine -->\nreport",
        headline="pass",
        verdict="pass",
        passed=True,
        repository="acme/wine",
        pr_number=pr_number,
        head_sha="a" * 40,
        target_url=None,
    )


def test_a_comment_needs_a_pull_request() -> None:
    plan = plan_publication(publication(None), comment_mode="update", post_status=True, post_check_run=False)
    assert (plan.comment_mode, plan.status, plan.anything) == (None, True, True)


def test_mode_off_with_no_status_and_no_check_posts_nothing() -> None:
    plan = plan_publication(publication(7), comment_mode="off", post_status=False, post_check_run=False)
    assert not plan.anything


def test_a_pr_comment_keeps_its_mode() -> None:
    plan = plan_publication(publication(7), comment_mode="delete-on-pass", post_status=False, post_check_run=False)
    assert (plan.comment_mode, plan.anything) == ("delete-on-pass", True)
