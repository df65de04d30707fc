"""`ci-track compare`, `promote` and `rollback` through the real CLI against a real MLflow server."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import pytest

from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import assert_clean_failure, base_env, ci_track
from tests.fakes.fake_github import DEFAULT_TOKEN, running_fake_github
from tests.fakes.fault_proxy import FaultProxy
from tests.mlflow_server import MlflowServer
from tests.reliability_scenarios import GateScenario

CONFIG = """\
experiment: {experiment}
base_branch: main
champion:
  strategy: [alias, best, latest]
  metric: rmse
no_champion: {no_champion}
metrics:
  rmse: {{goal: minimize, max_regression: "2%"}}
  r2: {{goal: maximize, max_regression: 0.01, min: 0.30}}
  mae: {{goal: minimize, severity: warn}}
missing: fail
"""

HEAD_SHA = "c" * 40


class Scenario(GateScenario):
    """An experiment with a champion on main and a candidate for HEAD_SHA, and a workdir with .ci-track.yml."""

    head_sha = HEAD_SHA

    def __init__(self, client: MlflowClient, server: MlflowServer, experiment: str, workdir: Path) -> None:
        super().__init__(client, server, experiment, workdir)
        self.write_config()

    def write_config(self, no_champion: str = "pass") -> None:
        (self.workdir / ".ci-track.yml").write_text(CONFIG.format(experiment=self.experiment, no_champion=no_champion))

    def run(
        self,
        metrics: Mapping[str, float],
        *,
        branch: str,
        sha: str,
        pr: int | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Run:
        return self.record(metrics=metrics, branch=branch, sha=sha, pr=pr, params=params)

    def champion(self, **metrics: float) -> Run:
        return self.run(metrics, branch="main", sha="a" * 40, params={"alpha": "0.1"})

    def candidate(self, **metrics: float) -> Run:
        return self.run(metrics, branch="feature", sha=HEAD_SHA, pr=9, params={"alpha": "0.2"})


@pytest.fixture
def scenario(client: MlflowClient, mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path) -> Scenario:
    return Scenario(client, mlflow_server, experiment_name, tmp_path)


def _statuses(document: dict) -> dict[str, str]:
    return {m["name"]: m["status"] for m in document["metrics"]}


def test_a_better_candidate_passes(scenario: Scenario) -> None:
    scenario.champion(rmse=0.80, r2=0.60, mae=0.5)
    scenario.candidate(rmse=0.70, r2=0.65, mae=0.4)
    result, document = scenario.compare()
    assert result.code == 0, result.stderr
    assert document["verdict"] == "pass"
    assert _statuses(document) == {"rmse": "improved", "r2": "improved", "mae": "improved"}
    assert "verdict: pass" in result.stdout
    assert "IMPROVED" in result.stdout.upper()


def test_a_small_regression_within_tolerance_passes(scenario: Scenario) -> None:
    scenario.champion(rmse=0.800, r2=0.600, mae=0.5)
    scenario.candidate(rmse=0.812, r2=0.595, mae=0.5)  # +1.5% (2% allowed), -0.005 (0.01 allowed)
    result, document = scenario.compare()
    assert result.code == 0, result.stdout
    assert _statuses(document)["rmse"] == "within_tolerance"
    assert _statuses(document)["r2"] == "within_tolerance"


def test_a_worse_candidate_is_a_regression_and_blocks(scenario: Scenario) -> None:
    scenario.champion(rmse=0.742, r2=0.60, mae=0.5)
    scenario.candidate(rmse=0.801, r2=0.60, mae=0.5)
    result, document = scenario.compare()
    assert result.code == 1
    assert document["verdict"] == "regression"
    assert "FAIL: rmse 0.742 -> 0.801 (+8.0%), allowed +2%" in result.stdout
    params = {p["name"]: p for p in document["params"]}
    assert params["alpha"]["champion"] == "0.1" and params["alpha"]["candidate"] == "0.2"
    no_gate, _ = scenario.compare("--no-gate")
    assert no_gate.code == 0


def test_a_warn_severity_regression_does_not_block(scenario: Scenario) -> None:
    scenario.champion(rmse=0.8, r2=0.6, mae=0.5)
    scenario.candidate(rmse=0.8, r2=0.6, mae=0.9)
    result, document = scenario.compare()
    assert result.code == 0
    assert [m["outcome"] for m in document["metrics"] if m["name"] == "mae"] == ["warn"]


def test_a_missing_metric_fails_unless_the_policy_warns(scenario: Scenario) -> None:
    scenario.champion(rmse=0.8, r2=0.6, mae=0.5)
    scenario.candidate(rmse=0.7, mae=0.5)
    result, document = scenario.compare()
    assert result.code == 1 and _statuses(document)["r2"] == "missing"
    relaxed, _ = scenario.compare(CI_TRACK_MISSING="warn")
    assert relaxed.code == 0


def test_a_nan_metric_is_a_failure(scenario: Scenario) -> None:
    scenario.champion(rmse=0.8, r2=0.6, mae=0.5)
    scenario.candidate(rmse=math.nan, r2=0.6, mae=0.5)
    result, document = scenario.compare()
    assert result.code == 1 and _statuses(document)["rmse"] == "nan"


def test_relative_tolerance_against_a_zero_champion(scenario: Scenario) -> None:
    scenario.champion(rmse=0.0, r2=0.6, mae=0.5)
    candidate = scenario.candidate(rmse=0.001, r2=0.6, mae=0.5)
    result, document = scenario.compare("--run-id", candidate.run_id)
    assert result.code == 1 and _statuses(document)["rmse"] == "regressed"
    same = scenario.run({"rmse": 0.0, "r2": 0.6, "mae": 0.5}, branch="feature", sha="d" * 40, pr=9)
    result, document = scenario.compare("--run-id", same.run_id)
    assert result.code == 0 and _statuses(document)["rmse"] == "unchanged"


def test_a_hard_floor_breached_while_improving_still_fails(scenario: Scenario) -> None:
    scenario.champion(rmse=0.8, r2=0.20, mae=0.5)
    scenario.candidate(rmse=0.8, r2=0.25, mae=0.5)
    result, document = scenario.compare()
    assert result.code == 1
    assert _statuses(document)["r2"] == "out_of_bounds"


def test_no_champion_passes_or_fails_by_policy(scenario: Scenario) -> None:
    scenario.candidate(rmse=0.8, r2=0.6, mae=0.5)
    result, document = scenario.compare()
    assert result.code == 0 and document["verdict"] == "no-champion"
    scenario.write_config(no_champion="fail")
    result, _ = scenario.compare()
    assert result.code == 1
    # precedence: flag > CI_TRACK_* variable > file
    assert scenario.compare(CI_TRACK_NO_CHAMPION="pass")[0].code == 0
    assert scenario.compare("--no-champion", "fail", CI_TRACK_NO_CHAMPION="pass")[0].code == 1


def test_promote_then_rollback_through_the_cli(scenario: Scenario) -> None:
    first = scenario.run({"rmse": 0.8, "r2": 0.6, "mae": 0.5}, branch="main", sha="1" * 40)
    env = base_env(MLFLOW_TRACKING_URI=scenario.server.url)
    promoted = ci_track("promote", "--run-id", first.run_id, env=env, cwd=scenario.workdir)
    assert promoted.code == 0, promoted.stderr
    worse = scenario.run({"rmse": 0.9, "r2": 0.6, "mae": 0.5}, branch="main", sha="2" * 40)
    refused = ci_track("promote", "--run-id", worse.run_id, env=env, cwd=scenario.workdir)
    assert refused.code == 1 and "not promoted" in refused.stderr
    better = scenario.run({"rmse": 0.7, "r2": 0.6, "mae": 0.5}, branch="main", sha="3" * 40)
    assert ci_track("promote", "--run-id", better.run_id, env=env, cwd=scenario.workdir).code == 0
    assert scenario.client.get_run(better.run_id).tags["ci.champion"] == "true"
    assert scenario.client.get_run(better.run_id).tags["ci.previous_champion"] == first.run_id

    candidate = scenario.candidate(rmse=0.75, r2=0.6, mae=0.5)
    _, document = scenario.compare("--run-id", candidate.run_id)
    assert document["champion"]["run_id"] == better.run_id  # the alias strategy answered
    rolled = ci_track("rollback", env=env, cwd=scenario.workdir)
    assert rolled.code == 0, rolled.stderr
    _, document = scenario.compare("--run-id", candidate.run_id)
    assert document["champion"]["run_id"] == first.run_id


def test_an_unreadable_champion_fails_closed_with_exit_3(scenario: Scenario) -> None:
    scenario.champion(rmse=0.8, r2=0.6, mae=0.5)
    scenario.candidate(rmse=0.7, r2=0.7, mae=0.4)
    searches = 0

    def champion_lookups(method: str, path: str) -> bool:
        nonlocal searches
        if "runs/search" in path:
            searches += 1
            return searches > 1  # the candidate search (first) succeeds; champion searches fail
        return "registered-models" in path

    with FaultProxy(
        scenario.server.url, rate=1.0, faults=("503",), retry_after=(0,), should_fault=champion_lookups
    ) as proxy:
        env = base_env(
            MLFLOW_TRACKING_URI=proxy.url,
            CI_TRACK_HEAD_SHA=HEAD_SHA,
            CI_TRACK_RETRY_BUDGET="3",
            CI_TRACK_HTTP_ATTEMPTS="2",
        )
        result = ci_track("compare", env=env, cwd=scenario.workdir)
    assert_clean_failure(result, 3, "cannot read the champion, failing closed", proxy.url)
    assert "verdict: pass" not in result.stdout


def test_compare_under_github_actions_writes_summary_outputs_annotations_comment_and_status(
    scenario: Scenario, tmp_path: Path
) -> None:
    scenario.champion(rmse=0.742, r2=0.60, mae=0.5)
    scenario.candidate(rmse=0.801, r2=0.60, mae=0.9)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    with running_fake_github(repository="acme/wine", pr_number=9, head_sha=HEAD_SHA) as github:
        env = dict(
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME="workflow_dispatch",
            GITHUB_SHA=HEAD_SHA,
            GITHUB_REF="refs/heads/feature",
            GITHUB_REPOSITORY="acme/wine",
            GITHUB_API_URL=github.url,
            GITHUB_TOKEN=DEFAULT_TOKEN,
            GITHUB_STEP_SUMMARY=str(summary),
            GITHUB_OUTPUT=str(outputs),
            CI_TRACK_PR_NUMBER="9",
            CI_TRACK_RULES_FROM="head",  # the workdir is no clone: the PR's base rules are not at hand
        )
        result, _ = scenario.compare("--comment", "update", "--status", "--markdown-output", "report.md", **env)
        again, _ = scenario.compare("--comment", "update", "--status", "--check-run", **env)
        comments = github.comments_on("acme/wine", 9)
        statuses = list(github.statuses)
        check_runs = list(github.check_runs.values())
        github.assert_no_violations()
    assert result.code == 1 and again.code == 1
    assert f"<!-- ci-track:{scenario.experiment} -->" in summary.read_text()
    assert "::error title=ci-track::rmse" in result.stdout
    assert "::warning title=ci-track::mae" in result.stdout
    assert "verdict=regression" in outputs.read_text() and "regressions=1" in outputs.read_text()
    assert len(comments) == 1 and f"<!-- ci-track:{scenario.experiment} -->" in comments[0]["body"]
    assert [s["state"] for s in statuses] == ["failure", "failure"]
    assert statuses[0]["sha"] == HEAD_SHA and statuses[0]["context"] == f"ci-track/{scenario.experiment}"
    assert DEFAULT_TOKEN not in result.stdout + result.stderr
    assert len(check_runs) == 1 and check_runs[0]["conclusion"] == "failure", again.stderr


def test_request_count_does_not_grow_with_the_experiment(tmp_path: Path) -> None:
    from bench.populate import CANDIDATE_SHA, EXPERIMENT, populated_db, serving

    counts: dict[tuple[int, str], int] = {}
    for size in (20, 2000):
        population = populated_db(size, log=lambda _: None)
        with serving(population, tmp_path / f"server-{size}") as server, FaultProxy(server.url) as proxy:
            workdir = tmp_path / f"work-{size}"
            workdir.mkdir()
            (workdir / ".ci-track.yml").write_text(
                CONFIG.format(experiment=EXPERIMENT, no_champion="pass").replace(
                    "[alias, best, latest]", "[alias, best]"
                )
            )
            env = base_env(MLFLOW_TRACKING_URI=proxy.url, CI_TRACK_HEAD_SHA=CANDIDATE_SHA)
            for charts, flags in (("off", ["--no-charts"]), ("on", [])):  # charts: two requests more, any size
                before = len(proxy.requests)
                result = ci_track("compare", "--format", "json", *flags, env=env, cwd=workdir)
                assert result.code in (0, 1), result.stderr
                assert json.loads(result.stdout)["champion"]["run_id"] == population.champion_run_id
                counts[size, charts] = len([r for r in proxy.requests[before:] if "/api/" in r.path])
    assert counts[20, "off"] == counts[2000, "off"] <= 4, counts
    assert counts[20, "on"] == counts[2000, "on"] == counts[20, "off"] + 2, counts
