"""A CI matrix against a real distributed deployment: MLflow on PostgreSQL with 4 workers, 20 parallel runs.

tests/postgres_server.py starts Debian's PostgreSQL on loopback; the MLflow server in front of it
runs 4 worker processes, so concurrent requests really hit different processes and one database.
All 20 `ci-track run` processes start at once and race for the experiment's creation; every run
must land once, as its own run, with its own tags, params and metrics.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_track.mlflow_client import MlflowClient, TrackingSettings
from tests import postgres_server
from tests.cli_helpers import base_env, git, init_repo
from tests.mlflow_server import MlflowServer, running_server
from tests.reliability_figures import record

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


def test_a_20_job_matrix_lands_as_20_correct_runs(
    postgres_mlflow: MlflowServer, experiment_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    repo = tmp_path / "repo"
    init_repo(repo, {"train.py": TRAIN})
    head = git(repo, "rev-parse", "HEAD")
    env = base_env(MLFLOW_TRACKING_URI=postgres_mlflow.url, CI_TRACK_HTTP_TIMEOUT="60")
    processes = []
    for shard in range(MATRIX_SIZE):
        command = [sys.executable, "-m", "ci_track", "run", "--experiment", experiment_name]
        command += ["--run-name", f"matrix-{shard}", "--tag", f"matrix.shard={shard}", "--tag", "matrix.os=linux"]
        command += ["--metrics-file", f"metrics-{shard}.json", "--", sys.executable, "train.py", str(shard)]
        command += [str(HISTORY_LENGTH)]
        log = (tmp_path / f"job-{shard}.log").open("w")  # files, not pipes: nobody blocks on a full pipe
        processes.append(subprocess.Popen(command, env=env, cwd=repo, stdout=log, stderr=subprocess.STDOUT))
        log.close()
    codes = [process.wait(timeout=300) for process in processes]
    failed = [(shard, (tmp_path / f"job-{shard}.log").read_text()) for shard, code in enumerate(codes) if code]
    assert failed == []

    with MlflowClient(TrackingSettings(uri=postgres_mlflow.url)) as client:
        experiment = client.get_experiment_by_name(experiment_name)
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
        assert run.tags["mlflow.source.git.commit"] == head
        assert run.tags["ci.exit_code"] == "0"
        steps = [int(m["step"]) for m in histories[run.run_id].get("metrics", [])]
        lost += len(set(range(HISTORY_LENGTH)) - set(steps)) + len(steps) - len(set(steps))
        values = {int(m["step"]): m["value"] for m in histories[run.run_id].get("metrics", [])}
        assert all(abs(values[s] - (shard + s / 1000)) < 1e-9 for s in values)  # no run got another's data
    record(request, "data_lost", lost)
    assert lost == 0
    assert sorted(by_shard) == list(range(MATRIX_SIZE))
    record(request, "concurrent_runs", MATRIX_SIZE)
