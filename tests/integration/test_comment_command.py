"""`ci-track comment --report`: the fork-safe second phase posts a report made earlier, and trusts it only so far."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import assert_clean_failure, base_env, ci_track
from tests.fakes.fake_github import DEFAULT_TOKEN, running_fake_github

HEAD = "ab" * 20
EXPERIMENT = "wine"


def _report(tmp_path: Path, **changes: object) -> Path:
    report = {
        "schema_version": 1,
        "experiment": EXPERIMENT,
        "verdict": "regression",
        "headline": "regression: rmse +8.0% (allowed +2%)",
        "candidate": {"run_id": "r1", "url": "http://127.0.0.1:5000/#/experiments/1/runs/r1"},
        "markdown": f"<!-- ci-track:{EXPERIMENT} -->\n### ❌ regression\n",
        "pr_number": 7,
        "head_sha": HEAD,
        "gate_passed": False,
    }
    report.update(changes)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return path


def _env(url: str) -> dict[str, str]:
    return base_env(GITHUB_API_URL=url, GITHUB_TOKEN=DEFAULT_TOKEN, GITHUB_REPOSITORY="octo-org/ml-repo")


def test_a_report_for_the_prs_head_is_posted_once_with_its_status(tmp_path: Path) -> None:
    with running_fake_github(pr_number=7, head_sha=HEAD) as github:
        for _ in range(2):
            result = ci_track(
                "comment", "--report", str(_report(tmp_path)), "--expect-sha", HEAD, env=_env(github.url), cwd=tmp_path
            )
            assert result.code == 0, result.stderr
        comments = github.comments_on("octo-org/ml-repo", 7)
        statuses = list(github.statuses)
        github.assert_no_violations()
    assert len(comments) == 1 and comments[0]["body"].startswith(f"<!-- ci-track:{EXPERIMENT} -->")
    assert [(s["sha"], s["state"], s["context"]) for s in statuses] == [(HEAD, "failure", "ci-track/wine")] * 2


def test_a_report_for_another_commit_than_the_prs_head_is_refused(tmp_path: Path) -> None:
    with running_fake_github(pr_number=7, head_sha="cd" * 20) as github:
        result = ci_track(
            "comment", "--report", str(_report(tmp_path)), "--expect-sha", HEAD, env=_env(github.url), cwd=tmp_path
        )
        assert github.comments_on("octo-org/ml-repo", 7) == []
    assert_clean_failure(result, 2, "refusing to post it")


def test_the_workflow_runs_sha_must_match_the_report(tmp_path: Path) -> None:
    result = ci_track(
        "comment",
        "--report",
        str(_report(tmp_path)),
        "--expect-sha",
        "cd" * 20,
        env=_env("http://127.0.0.1:9"),
        cwd=tmp_path,
    )
    assert_clean_failure(result, 2, "refusing it")


def test_malformed_reports_are_usage_errors(tmp_path: Path) -> None:
    env = _env("http://127.0.0.1:9")
    cases = [
        ({"pr_number": "7; rm -rf /"}, "no valid pull request number"),
        ({"head_sha": "$(id)"}, "is not a commit SHA"),
        ({"markdown": "no marker here"}, "lacks ci-track's marker"),
        ({"gate_passed": "yes"}, "no gate decision"),
    ]
    for changes, fragment in cases:
        assert_clean_failure(
            ci_track("comment", "--report", str(_report(tmp_path, **changes)), env=env, cwd=tmp_path), 2, fragment
        )
    (tmp_path / "bad.json").write_text("{not json")
    assert_clean_failure(
        ci_track("comment", "--report", str(tmp_path / "bad.json"), env=env, cwd=tmp_path), 2, "is not a JSON report"
    )
    assert_clean_failure(
        ci_track("comment", "--report", str(tmp_path / "none.json"), env=env, cwd=tmp_path), 2, "does not exist"
    )
