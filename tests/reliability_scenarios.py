"""Shared set-up for the tests that gate on runs: runs written straight to MLflow, read back, and a GitHub PR build.

Runs are created with ci-track's own REST client (no `mlflow` import, fast) when a test needs a
champion or candidates with exact metrics, params and tags (`record_run`, `make_run`, and
`GateScenario`, an experiment and a workdir to run `ci-track compare` in); `github_pr_env` is the
environment of a GitHub Actions `pull_request` build whose API is the fake GitHub
(tests/fakes/fake_github.py) or a proxy in front of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, base_env, compare_with_report, github_pr_build
from tests.fakes.fake_github import DEFAULT_TOKEN
from tests.mlflow_server import MlflowServer

REPOSITORY = "octo-org/ml-repo"  # the fake's default repository
PR_NUMBER = 7  # the fake's default pull request


def client_for(url: str) -> MlflowClient:
    return MlflowClient(TrackingSettings(uri=url))


def record_run(
    client: MlflowClient,
    experiment_id: str,
    *,
    branch: str,
    sha: str,
    metrics: Mapping[str, float],
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    pr: int | None = None,
    run_name: str | None = None,
    status: str = "FINISHED",
    start_time: int | None = None,
) -> str:
    """A run as `ci-track run` would leave it (the tags the champion search reads); returns its id."""
    all_tags = {"mlflow.source.git.commit": sha, "mlflow.source.git.branch": branch, **(tags or {})}
    if pr is not None:
        all_tags["ci.pr_number"] = str(pr)
    run = client.create_run(experiment_id, run_name=run_name, tags=all_tags, start_time=start_time)
    points = [{"key": key, "value": value, "step": 0} for key, value in metrics.items()]
    client.log_batch(run.run_id, metrics=points, params=dict(params or {}))
    if status != "RUNNING":
        client.update_run(run.run_id, status)
        # ci-track's completion mark, written last (after the status) as `ci-track run` does
        client.set_tag(run.run_id, "ci.exit_code", "0" if status == "FINISHED" else "1")
    return run.run_id


def make_run(url: str, experiment: str, **run: Any) -> str:
    """`record_run` in `experiment` (created when missing) of the server at `url`; returns the run's id."""
    with client_for(url) as client:
        return record_run(client, client.get_or_create_experiment(experiment).experiment_id, **run)


class GateScenario:
    """An experiment of the session server, runs recorded in it, and a workdir to run `ci-track compare` in."""

    head_sha = "c" * 40  # the commit `compare` gates (CI_TRACK_HEAD_SHA)

    def __init__(self, client: MlflowClient, server: MlflowServer, experiment: str, workdir: Path) -> None:
        self.client = client
        self.server = server
        self.experiment = experiment
        self.experiment_id = client.get_or_create_experiment(experiment).experiment_id
        self.workdir = workdir

    def record(self, **run: Any) -> Run:
        return self.client.get_run(record_run(self.client, self.experiment_id, **run))

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(**{"MLFLOW_TRACKING_URI": self.server.url, "CI_TRACK_HEAD_SHA": self.head_sha, **extra})

    def compare(self, *args: str, **env: str) -> tuple[CliResult, dict]:
        return compare_with_report(self.workdir, self.env(**env), *args)


def runs_of(url: str, experiment: str) -> list[Run]:
    """Every active run of the experiment, oldest first ([] when the experiment does not exist)."""
    with client_for(url) as client:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            return []
        runs, _ = client.search_runs([found.experiment_id], max_results=1000, order_by=["attributes.start_time ASC"])
    return runs


def metric_history(url: str, run_id: str, key: str) -> list[dict[str, Any]]:
    with client_for(url) as client:
        body = client._call("GET", "metrics/get-history", params={"run_id": run_id, "metric_key": key})
    return list(body.get("metrics", []))


def history_errors(url: str, run_id: str, key: str, length: int) -> int:
    """Entries missing plus entries doubled in a history that should be exactly steps 0..length-1."""
    steps = [int(m["step"]) for m in metric_history(url, run_id, key)]
    return len(set(range(length)) - set(steps)) + len(steps) - len(set(steps))


def github_pr_env(
    tmp_path: Path,
    *,
    tracking_uri: str,
    github_api_url: str,
    head_sha: str,
    head_ref: str = "feature",
    base_ref: str = "main",
    title: str = "A change",
    token: str = DEFAULT_TOKEN,
    **extra: str,
) -> dict[str, str]:
    """The environment of a GitHub Actions pull_request build of REPOSITORY#PR_NUMBER."""
    build = github_pr_build(
        tmp_path / "event.json",
        repository=REPOSITORY,
        number=PR_NUMBER,
        head_sha=head_sha,
        head_ref=head_ref,
        base_ref=base_ref,
        title=title,
        MLFLOW_TRACKING_URI=tracking_uri,
        GITHUB_HEAD_REF=head_ref,
        GITHUB_BASE_REF=base_ref,
        GITHUB_API_URL=github_api_url,
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="4242",
        GITHUB_TOKEN=token,
        # These builds run in a plain directory, not a clone with the base commit: gate on its rules.
        CI_TRACK_RULES_FROM="head",
    )
    return base_env(**build, **extra)
