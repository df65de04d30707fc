"""Several models on one pull request: one report per key, never one job overwriting another's.

A matrix of jobs (ridge and lasso) trains into ONE experiment and runs `ci-track compare` under
GitHub Actions against the real MLflow server and the fake GitHub (checked against GitHub's
OpenAPI description). Without a key of their own, the second job is refused (an `::error::` that
says to set `key`), the first job's comment stays as it was and the status of the shared context
ends `failure`, so the regressing model cannot merge. With `--key` each model has its own comment
and status; a later push that no longer reports one model marks that model's report outdated.
A read-only token's refusals are `::warning::` annotations. The act scenario of the same matrix is
in tests/e2e/test_action_act.py.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import CliResult, base_env, ci_track, init_repo
from tests.fakes.fake_github import FakeGitHub, running_fake_github
from tests.fakes.rest_fake import serve_checked
from tests.mlflow_server import MlflowServer
from tests.reliability_scenarios import PR_NUMBER, REPOSITORY, client_for, github_pr_env, make_run

FIRST_HEAD = "1a2b3c4d" * 5
SECOND_HEAD = "5e6f7a8b" * 5
RULES = "experiment: {experiment}\nmetrics:\n  rmse: {{goal: minimize, max_regression: '2%'}}\n"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    yield from serve_checked(running_fake_github(repository=REPOSITORY, pr_number=PR_NUMBER, head_sha=FIRST_HEAD))


@pytest.fixture
def models(mlflow_server: MlflowServer, tmp_path: Path) -> dict[str, Any]:
    """One experiment: main's champion (rmse 0.80), and for the PR head a ridge run (0.79) and a lasso run (0.95)."""
    experiment = f"models-{uuid.uuid4().hex[:8]}"
    url = mlflow_server.url
    make_run(url, experiment, branch="main", sha="9" * 40, metrics={"rmse": 0.80})
    for model in ("ridge", "lasso"):  # each model's own run on main, as `ci-track run` under --key leaves it
        make_run(url, experiment, branch="main", sha="9" * 40, metrics={"rmse": 0.80}, tags={"ci.key": model})
    pr_tags = {"ci.pr_number": str(PR_NUMBER)}
    runs = {
        model: make_run(url, experiment, branch="feature", sha=FIRST_HEAD, metrics={"rmse": rmse}, tags=pr_tags)
        for model, rmse in (("ridge", 0.79), ("lasso", 0.95))
    }
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / ".ci-track.yml").write_text(RULES.format(experiment=experiment))
    return {"experiment": experiment, "runs": runs, "workdir": workdir, "url": url}


def compare(
    models: dict[str, Any], github: FakeGitHub, tmp_path: Path, *args: str, head: str = FIRST_HEAD
) -> CliResult:
    env = github_pr_env(
        tmp_path, tracking_uri=models["url"], github_api_url=github.url, head_sha=head, GITHUB_RUN_ATTEMPT="1"
    )
    return ci_track("compare", "--comment", "update", "--status", *args, env=env, cwd=models["workdir"])


def statuses(github: FakeGitHub, sha: str = FIRST_HEAD) -> list[tuple[str, str]]:
    return [(s["context"], s["state"]) for s in github.statuses if s["sha"] == sha]


def test_two_jobs_under_one_key_are_refused_and_the_regression_keeps_its_failing_status(
    models: dict[str, Any], github: FakeGitHub, tmp_path: Path
) -> None:
    lasso = compare(models, github, tmp_path, "--run-id", models["runs"]["lasso"])
    assert lasso.code == 1, lasso.stderr
    (comment,) = github.comments_on(REPOSITORY, PR_NUMBER)
    lasso_body = str(comment["body"])

    ridge = compare(models, github, tmp_path, "--run-id", models["runs"]["ridge"])  # same build, same key

    assert ridge.code == 2, ridge.stderr
    assert "share the report key" in ridge.stderr and "`key` input" in ridge.stderr
    assert any(line.startswith("::error title=ci-track::") and "key" in line for line in ridge.stdout.splitlines())
    (still,) = github.comments_on(REPOSITORY, PR_NUMBER)
    assert still["body"] == lasso_body and models["runs"]["lasso"][:8] in lasso_body  # not overwritten
    context = f"ci-track/{models['experiment']}"
    # ridge's own success (set before its comment), then the refusal's failure: the key ends failing
    assert statuses(github) == [(context, "failure"), (context, "success"), (context, "failure")]


def test_each_key_gets_its_own_comment_and_status_and_a_report_no_longer_made_is_marked_outdated(
    models: dict[str, Any], github: FakeGitHub, tmp_path: Path
) -> None:
    for model in ("lasso", "ridge"):
        result = compare(models, github, tmp_path, "--run-id", models["runs"][model], "--key", model)
        assert result.code == (1 if model == "lasso" else 0), result.stderr
    bodies = {c["id"]: str(c["body"]) for c in github.comments_on(REPOSITORY, PR_NUMBER)}
    assert len(bodies) == 2
    by_key = {key: next(b for b in bodies.values() if f"<!-- ci-track:{key} -->" in b) for key in ("lasso", "ridge")}
    assert f"· {models['experiment']} · lasso" in by_key["lasso"] and "regression" in by_key["lasso"].splitlines()[1]
    assert sorted(statuses(github)) == [("ci-track/lasso", "failure"), ("ci-track/ridge", "success")]

    # A second push trains only ridge: its report moves on, lasso's is kept but marked outdated.
    ridge_two = make_run(
        models["url"], models["experiment"], branch="feature", sha=SECOND_HEAD, metrics={"rmse": 0.78},
        tags={"ci.pr_number": str(PR_NUMBER)},
    )  # fmt: skip
    result = compare(models, github, tmp_path, "--run-id", ridge_two, "--key", "ridge", head=SECOND_HEAD)
    assert result.code == 0, result.stderr
    after = {c["id"]: str(c["body"]) for c in github.comments_on(REPOSITORY, PR_NUMBER)}
    assert after.keys() == bodies.keys()  # nothing deleted, nothing added
    lasso_now = next(b for b in after.values() if "<!-- ci-track:lasso -->" in b)
    ridge_now = next(b for b in after.values() if "<!-- ci-track:ridge -->" in b)
    assert "Outdated:" in lasso_now and FIRST_HEAD[:7] in lasso_now and SECOND_HEAD[:7] in lasso_now
    assert re.sub(r"> \[!NOTE\]\n> ⏳ Outdated:[^\n]*\n\n", "", lasso_now) == by_key["lasso"]  # only the note added
    assert "Outdated:" not in ridge_now and SECOND_HEAD[:7] in ridge_now
    assert statuses(github, SECOND_HEAD) == [("ci-track/ridge", "success")]


def test_a_read_only_tokens_refusals_are_warning_annotations(
    models: dict[str, Any], github: FakeGitHub, tmp_path: Path
) -> None:
    github.fail("forbidden", operation="issues/create-comment")
    github.fail("forbidden", operation="repos/create-commit-status")
    result = compare(models, github, tmp_path, "--run-id", models["runs"]["ridge"])
    assert result.code == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("::warning title=ci-track::")]
    assert any("refused the PR comment" in line for line in warnings), result.stdout
    assert any("refused the commit status" in line for line in warnings), result.stdout
    assert github.comments_on(REPOSITORY, PR_NUMBER) == [] and github.statuses == []


def test_a_run_of_another_experiment_is_an_error_annotation_that_says_what_to_set(
    models: dict[str, Any], github: FakeGitHub, tmp_path: Path
) -> None:
    other = make_run(models["url"], f"other-{uuid.uuid4().hex[:8]}", branch="feature", sha=FIRST_HEAD, metrics={})
    result = compare(models, github, tmp_path, "--run-id", other)
    assert result.code == 2, result.stderr
    (error,) = [line for line in result.stdout.splitlines() if line.startswith("::error title=ci-track::")]
    assert "belongs to experiment" in error and "CI_TRACK_EXPERIMENT" in error and "`experiment` input" in error
    assert github.comments_on(REPOSITORY, PR_NUMBER) == [] and github.statuses == []


def test_under_a_key_the_candidate_champion_and_history_are_that_models_own_runs(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """One experiment, two model families: lasso's runs are worse by nature. A lasso PR is judged against
    lasso's champion, never ridge's; a ridge PR against ridge's, never the newer lasso run; and without
    --run-id the candidate is the key's run of the head commit, not the sibling job's."""
    experiment = f"families-{uuid.uuid4().hex[:8]}"
    url = mlflow_server.url
    ridge_champion = make_run(
        url, experiment, branch="main", sha="8" * 40, metrics={"rmse": 0.80}, tags={"ci.key": "ridge"}
    )
    lasso_champion = make_run(
        url, experiment, branch="main", sha="8" * 40, metrics={"rmse": 0.99}, tags={"ci.key": "lasso"}
    )
    pr = {"ci.pr_number": str(PR_NUMBER)}
    for model, rmse in (("ridge", 0.85), ("lasso", 0.97)):  # ridge regressed, lasso improved
        make_run(
            url, experiment, branch="feature", sha=FIRST_HEAD, metrics={"rmse": rmse}, tags={**pr, "ci.key": model}
        )
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / ".ci-track.yml").write_text(
        RULES.format(experiment=experiment) + "champion:\n  strategy: [latest]\nno_champion: fail\n"
    )
    env = base_env(MLFLOW_TRACKING_URI=url, CI_TRACK_HEAD_SHA=FIRST_HEAD, CI_TRACK_BASE_BRANCH="main")
    judged = {}
    for model in ("ridge", "lasso"):
        report = tmp_path / f"{model}.json"
        result = ci_track("compare", "--key", model, "--json-output", str(report), env=env, cwd=workdir)
        document = json.loads(report.read_text())
        judged[model] = (result.code, document["champion"]["run_id"], document["metrics"][0]["candidate"])
    assert judged["ridge"] == (1, ridge_champion, 0.85)  # not the newer lasso run, which it would beat
    assert judged["lasso"] == (0, lasso_champion, 0.97)  # not ridge's 0.80, which it would lose to

    # `ci-track run` under a key (the action's `key` input, CI_TRACK_KEY) tags the run with it.
    init_repo(tmp_path / "repo", {"train.py": "print('trained')\n"})
    trained = ci_track(
        "run", "--", sys.executable, "train.py",
        env={**env, "CI_TRACK_EXPERIMENT": experiment, "CI_TRACK_KEY": "ridge", "CI_TRACK_HEAD_SHA": "7" * 40},
        cwd=tmp_path / "repo",
    )  # fmt: skip
    assert trained.code == 0, trained.stderr
    with client_for(url) as client:
        experiment_id = client.get_experiment_by_name(experiment).experiment_id
        runs, _ = client.search_runs(
            [experiment_id], filter_string="tags.`mlflow.source.git.commit` = '" + "7" * 40 + "'"
        )
    assert [run.tags.get("ci.key") for run in runs] == ["ridge"]


def test_on_gitlab_two_jobs_of_one_pipeline_under_one_key_are_refused_and_a_retry_is_not(
    models: dict[str, Any], tmp_path: Path
) -> None:
    """GitLab names no attempt, but each job its name (CI_JOB_NAME; a parallel:matrix job's carries its
    values): two names in one pipeline under one key is the shared-key conflict, the same name a retry."""
    from tests.fakes.fake_gitlab import running_fake_gitlab
    from tests.forge_scenarios import GITLAB_PROJECT, MR_IID, gitlab_mr_env

    with running_fake_gitlab(project=GITLAB_PROJECT, iid=MR_IID) as fake:
        env = gitlab_mr_env(fake.url, tracking_uri=models["url"], head_sha=FIRST_HEAD, CI_PIPELINE_ID="900")

        def compare_as(job: str, run: str) -> CliResult:
            return ci_track(
                "compare", "--run-id", run, "--comment", "update", "--status",
                env={**env, "CI_JOB_NAME": job}, cwd=models["workdir"],
            )  # fmt: skip

        lasso = compare_as("train: [lasso]", models["runs"]["lasso"])
        assert lasso.code == 1, lasso.stderr
        ridge = compare_as("train: [ridge]", models["runs"]["ridge"])
        assert ridge.code == 2, ridge.stderr
        assert "give each job its own key" in ridge.stderr.lower()
        (note,) = fake.notes_on(GITLAB_PROJECT, MR_IID)
        assert models["runs"]["lasso"] in note["body"] and models["runs"]["ridge"] not in note["body"]
        assert [s["status"] for s in fake.statuses][-1] == "failed"  # the regression cannot be merged

        retried = compare_as("train: [lasso]", models["runs"]["ridge"])  # the lasso job retried, another run
        assert retried.code == 0, retried.stderr
        (note,) = fake.notes_on(GITLAB_PROJECT, MR_IID)
        assert models["runs"]["ridge"] in note["body"]
        fake.assert_no_violations()
