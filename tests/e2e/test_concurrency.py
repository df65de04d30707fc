"""A CI matrix against a real distributed deployment: MLflow on PostgreSQL with 4 workers.

tests/postgres_server.py starts Debian's PostgreSQL on loopback; the MLflow server in front of it
runs 4 worker processes, so concurrent requests really hit different processes and one database.
All 20 `ci-track run` processes start at once and race for the experiment's creation; every run
must land once, as its own run, with its own tags, params and metrics. Then 10 `compare` processes
for the same pull request, each with another candidate of the matrix, race to keep one sticky
comment on the fake GitHub: one comment must remain, holding the report written last.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests import postgres_server
from tests.cli_helpers import base_env, git, init_repo
from tests.fakes.fake_github import running_fake_github
from tests.fakes.fault_proxy import fault_proxy
from tests.mlflow_server import MlflowServer, running_server
from tests.reliability_figures import record
from tests.reliability_scenarios import PR_NUMBER, REPOSITORY, github_pr_env

pytestmark = pytest.mark.slow

MATRIX_SIZE = 20
HISTORY_LENGTH = 50

TRAIN = """\
import json, pathlib, sys
import mlflow

shard = int(sys.argv[1])
with mlflow.start_run():
    mlflow.log_param("shard", str(shard))
    mlflow.log_metric("from_script", shard * 10.0)
history = [shard + step / 1000 for step in range(int(sys.argv[2]))]
pathlib.Path(f"metrics-{shard}.json").write_text(json.dumps({"shard_value": float(shard), "curve": history}))
"""


@pytest.fixture(scope="module")
def postgres_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    reason = postgres_server.available()
    if reason:
        pytest.skip(reason)
    with (
        postgres_server.running_postgres() as database,
        running_server(tmp_path_factory.mktemp("pg-mlflow"), backend_uri=database.uri, workers=4) as server,
    ):
        yield server


@dataclasses.dataclass(frozen=True)
class Matrix:
    experiment: str
    repo: Path
    head: str
    logs: Path
    exit_codes: tuple[int, ...]


@pytest.fixture(scope="module")
def matrix(postgres_mlflow: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Matrix:
    """The 20 jobs of the matrix, all started at once (their output in files, so no pipe fills up)."""
    root = tmp_path_factory.mktemp("matrix")
    experiment = f"matrix-{uuid.uuid4().hex[:8]}"
    repo = root / "repo"
    init_repo(repo, {"train.py": TRAIN})
    env = base_env(MLFLOW_TRACKING_URI=postgres_mlflow.url, CI_TRACK_HTTP_TIMEOUT="60")
    processes = []
    for shard in range(MATRIX_SIZE):
        command = [sys.executable, "-m", "ci_track", "run", "--experiment", experiment]
        command += ["--run-name", f"matrix-{shard}", "--tag", f"matrix.shard={shard}", "--tag", "matrix.os=linux"]
        command += ["--metrics-file", f"metrics-{shard}.json", "--", sys.executable, "train.py", str(shard)]
        command += [str(HISTORY_LENGTH)]
        with (root / f"job-{shard}.log").open("w") as log:
            processes.append(subprocess.Popen(command, env=env, cwd=repo, stdout=log, stderr=subprocess.STDOUT))
    codes = tuple(process.wait(timeout=300) for process in processes)
    return Matrix(experiment, repo, git(repo, "rev-parse", "HEAD"), root, codes)


def test_a_20_job_matrix_lands_as_20_correct_runs(
    postgres_mlflow: MlflowServer, matrix: Matrix, request: pytest.FixtureRequest
) -> None:
    failed = [(shard, (matrix.logs / f"job-{shard}.log").read_text()) for shard, c in enumerate(matrix.exit_codes) if c]
    assert failed == []
    with MlflowClient(TrackingSettings(uri=postgres_mlflow.url)) as client:
        experiment = client.get_experiment_by_name(matrix.experiment)
        assert experiment is not None
        runs, _ = client.search_runs([experiment.experiment_id], max_results=1000)
        histories = {
            run.run_id: client._call("GET", "metrics/get-history", params={"run_id": run.run_id, "metric_key": "curve"})
            for run in runs
        }
    by_shard = {int(run.tags["matrix.shard"]): run for run in runs}
    lost = MATRIX_SIZE - len(by_shard) + (len(runs) - len(by_shard))  # missing runs + doubled runs
    for shard, run in by_shard.items():
        assert run.run_name == f"matrix-{shard}"
        assert run.status == "FINISHED"
        assert run.params == {"shard": str(shard)}
        assert run.metrics["shard_value"] == float(shard)
        assert run.metrics["from_script"] == shard * 10.0
        assert run.tags["matrix.os"] == "linux"
        assert run.tags["mlflow.source.git.commit"] == matrix.head
        assert run.tags["ci.exit_code"] == "0"
        steps = [int(m["step"]) for m in histories[run.run_id].get("metrics", [])]
        lost += len(set(range(HISTORY_LENGTH)) - set(steps)) + len(steps) - len(set(steps))
        values = {int(m["step"]): m["value"] for m in histories[run.run_id].get("metrics", [])}
        assert all(abs(values[s] - (shard + s / 1000)) < 1e-9 for s in values)  # no run got another's data
    record(request, "data_lost", lost)
    assert lost == 0
    assert sorted(by_shard) == list(range(MATRIX_SIZE))
    record(request, "concurrent_runs", MATRIX_SIZE)


COMPARERS = 10


@dataclasses.dataclass(frozen=True)
class Race:
    codes: list[int]
    logs: list[str]
    comments: list[dict[str, Any]]  # on the PR, in order
    statuses: list[dict[str, Any]]  # on the head commit, in the order they were set
    writes: list[dict[str, Any]]  # the comment creates and updates GitHub accepted, in order


def runs_by_shard(server: MlflowServer, matrix: Matrix) -> dict[int, str]:
    with MlflowClient(TrackingSettings(uri=server.url)) as client:
        experiment = client.get_experiment_by_name(matrix.experiment)
        assert experiment is not None
        runs, _ = client.search_runs([experiment.experiment_id], max_results=1000)
    return {int(run.tags["matrix.shard"]): run.run_id for run in runs}


def race_compares(server: MlflowServer, matrix: Matrix, tmp_path: Path, jobs: list[list[str]], humans: int) -> Race:
    """`compare --comment update` once per job, with that job's arguments, all started at once on one PR.

    Every process looks for our comment at the same moment (held at the comment list until all have
    asked), finds none, and creates one: the worst race. `humans` comments of other people are there first.
    """
    (tmp_path / ".ci-track.yml").write_text(
        f"experiment: {matrix.experiment}\nmetrics:\n  shard_value: {{goal: maximize}}\n"
    )
    with (
        running_fake_github(head_sha=matrix.head, comments=humans) as fake,
        fault_proxy(fake.url) as github_front,
    ):
        github_front.rendezvous(
            lambda method, path: method == "GET" and path.endswith("/comments?per_page=100"), len(jobs)
        )
        env = github_pr_env(
            tmp_path,
            tracking_uri=server.url,
            github_api_url=github_front.url,
            head_sha=matrix.head,
            CI_TRACK_GITHUB_TIMEOUT="300",  # a request held at the rendezvous must not time out and retry
        )
        processes = []
        for number, arguments in enumerate(jobs, 1):
            command = [sys.executable, "-m", "ci_track", "compare", "--comment", "update", *arguments]
            with (tmp_path / f"compare-{number}.log").open("w") as log:
                processes.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT))
        codes = [process.wait(timeout=300) for process in processes]
        writes = [
            r
            for r in fake.requests_for()
            if r["operation"] in ("issues/create-comment", "issues/update-comment") and 200 <= r["status"] < 300
        ]
        statuses = [s for s in fake.snapshot()["statuses"] if s["sha"] == matrix.head]
        race = Race(codes, [], fake.comments_on(REPOSITORY, PR_NUMBER), statuses, writes)
        fake.assert_no_violations()
    logs = [(tmp_path / f"compare-{number}.log").read_text() for number in range(1, len(jobs) + 1)]
    return dataclasses.replace(race, logs=logs)


def test_10_parallel_compares_for_one_pr_leave_one_comment_with_the_last_report(
    postgres_mlflow: MlflowServer, matrix: Matrix, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    by_shard = runs_by_shard(postgres_mlflow, matrix)
    jobs = [
        ["--run-id", by_shard[shard], "--champion-run-id", by_shard[0], "--markdown-output", f"report-{shard}.md"]
        for shard in range(1, COMPARERS + 1)
    ]
    race = race_compares(postgres_mlflow, matrix, tmp_path, jobs, humans=3)
    ours = [c for c in race.comments if c["body"].startswith("<!-- ci-track:")]
    humans = [c for c in race.comments if c not in ours]
    assert race.codes == [0] * COMPARERS, [log for log, code in zip(race.logs, race.codes, strict=True) if code]
    reports = {(tmp_path / f"report-{shard}.md").read_text() for shard in range(1, COMPARERS + 1)}
    assert len(reports) == COMPARERS  # ten different reports raced
    assert len(ours) == 1, [c["id"] for c in ours]
    assert len(humans) == 3  # nobody else's comment was touched
    assert ours[0]["body"] == race.writes[-1]["body"]["body"]  # the report written last is the one that stays
    assert ours[0]["body"] in reports
    assert sum(1 for w in race.writes if w["operation"] == "issues/create-comment") > 1  # the race did happen
    record(request, "concurrent_comments", COMPARERS)


def test_parallel_compares_under_two_keys_keep_each_keys_comment_and_status(
    postgres_mlflow: MlflowServer, matrix: Matrix, tmp_path: Path
) -> None:
    """Two models of one matrix (keys ridge and lasso), two compares each, all racing for the PR at once.

    Each key must end with one comment of its own and its own status: lasso's regression stays `failure`
    whatever ridge posts, and neither key's report replaces the other's.
    """
    by_shard = runs_by_shard(postgres_mlflow, matrix)
    # ridge: candidates 1 and 2 against champion 0 (better); lasso: 3 and 4 against champion 19 (worse)
    pairs = [("ridge", 1, 0), ("ridge", 2, 0), ("lasso", 3, MATRIX_SIZE - 1), ("lasso", 4, MATRIX_SIZE - 1)]
    jobs = [
        ["--key", key, "--run-id", by_shard[run], "--champion-run-id", by_shard[champion]]
        for key, run, champion in pairs
    ]
    race = race_compares(postgres_mlflow, matrix, tmp_path, jobs, humans=2)
    assert race.codes == [0, 0, 1, 1], race.logs  # lasso's candidates regressed: exit 1
    by_key = {
        key: [c for c in race.comments if c["body"].startswith(f"<!-- ci-track:{key} -->")]
        for key in ("ridge", "lasso")
    }
    assert [len(by_key["ridge"]), len(by_key["lasso"])] == [1, 1], [c["body"][:80] for c in race.comments]
    assert len(race.comments) == 2 + 2  # the two humans' comments untouched, one per key
    assert "regression" in by_key["lasso"][0]["body"].splitlines()[1]
    assert "regression" not in by_key["ridge"][0]["body"].splitlines()[1]
    final = {status["context"]: status["state"] for status in race.statuses}  # the last one set of each context
    assert final == {"ci-track/ridge": "success", "ci-track/lasso": "failure"}, race.statuses
    assert sum(1 for w in race.writes if w["operation"] == "issues/create-comment") > 2  # more creates than keys
