"""`ci-track run` end to end: the real CLI, a real git repository, a real MLflow server, the real MLflow client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests.cli_helpers import (
    assert_clean_failure,
    base_env,
    ci_track,
    commit_all,
    git,
    github_pr_build,
    init_repo,
    pids_alive,
    start_slow_run,
)
from tests.mlflow_server import MlflowServer, free_port

TRAIN_SCRIPT = """\
import json, sys
import mlflow

with mlflow.start_run():
    mlflow.log_param("alpha", "0.5")
    mlflow.log_metric("rmse", 0.75)
    mlflow.set_tag("from_script", "yes")
with open("metrics.json", "w") as out:
    json.dump({"test": {"mae": 0.5, "r2": 0.61}, "loss": [0.9, 0.5, 0.25]}, out)
print("trained")
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


def _runs(server: MlflowServer, experiment: str) -> list:
    with MlflowClient(TrackingSettings(uri=server.url)) as client:
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        runs, _ = client.search_runs([found.experiment_id], max_results=50)
        return runs


def _pull_request_env(tmp_path: Path, repo: Path, head_sha: str, server: MlflowServer) -> dict[str, str]:
    build = github_pr_build(
        tmp_path / "event.json",
        repository="acme/wine",
        number=42,
        head_sha=head_sha,
        head_ref="feature/alpha",
        base_sha=git(repo, "rev-parse", "main"),
        title="Tune alpha",
        MLFLOW_TRACKING_URI=server.url,
        GITHUB_HEAD_REF="feature/alpha",
        GITHUB_BASE_REF="main",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_RUN_ID="777",
        GITHUB_RUN_ATTEMPT="2",
        GITHUB_ACTOR="octocat",
        GITHUB_OUTPUT=str(tmp_path / "github_output"),
    )
    return base_env(**build)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    init_repo(repo, {"train.py": TRAIN_SCRIPT})
    git(repo, "checkout", "-q", "-b", "feature/alpha")
    (repo / "README").write_text("change\n")
    head = commit_all(repo, "change")
    return repo, head


def test_training_script_attaches_to_the_run_with_ci_tags(
    mlflow_server: MlflowServer, experiment_name: str, project: tuple[Path, str], tmp_path: Path
) -> None:
    repo, head = project
    env = _pull_request_env(tmp_path, repo, head, mlflow_server)
    result = ci_track(
        "run",
        "--experiment",
        experiment_name,
        "--metrics-file",
        "metrics.json",
        "--tag",
        "team=ml",
        "--",
        sys.executable,
        "train.py",
        env=env,
        cwd=repo,
    )
    assert result.code == 0, result.stderr
    assert "trained" in result.stdout  # the command's output streams through

    runs = _runs(mlflow_server, experiment_name)
    assert len(runs) == 1  # the script's start_run() resumed ci-track's run instead of making its own
    run = runs[0]
    assert run.status == "FINISHED"
    assert run.params == {"alpha": "0.5"}
    assert run.metrics["rmse"] == 0.75
    assert run.metrics["test.mae"] == 0.5 and run.metrics["test.r2"] == 0.61
    assert run.metrics["loss"] == 0.25  # latest step of a list metric
    tags = run.tags
    assert tags["from_script"] == "yes" and tags["team"] == "ml"
    assert tags["mlflow.source.git.commit"] == head
    assert tags["ci.merge_sha"] == "f" * 40
    assert tags["mlflow.source.git.branch"] == "feature/alpha"
    assert tags["ci.base_branch"] == "main"
    assert tags["ci.pr_number"] == "42"
    assert tags["ci.provider"] == "github-actions"
    assert tags["ci.event"] == "pull_request"
    assert tags["ci.build_url"] == "https://github.com/acme/wine/actions/runs/777/attempts/2"
    assert tags["ci.build_id"] == "777" and tags["ci.run_attempt"] == "2"
    assert tags["ci.base_sha"] == git(repo, "merge-base", "HEAD", "main")
    assert tags["mlflow.source.git.repoURL"] == "https://github.com/acme/wine"
    assert tags["mlflow.source.type"] == "JOB"
    assert tags["mlflow.user"] == "octocat"
    assert tags["mlflow.runName"] == f"pr-42@{head[:7]}"
    assert tags["ci.exit_code"] == "0"
    assert "[PR #42](https://github.com/acme/wine/pull/42)" in tags["mlflow.note.content"]

    outputs = (tmp_path / "github_output").read_text()
    assert f"run-id={run.run_id}\n" in outputs
    assert f"run-url={mlflow_server.url}/#/experiments/{run.experiment_id}/runs/{run.run_id}\n" in outputs
    assert run.run_id in result.stderr


def test_failing_command_marks_the_run_failed_and_passes_its_exit_code(
    mlflow_server: MlflowServer, experiment_name: str, project: tuple[Path, str]
) -> None:
    repo, _ = project
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    result = ci_track("run", "--experiment", experiment_name, "--", sys.executable, "train.py", "7", env=env, cwd=repo)
    assert result.code == 7
    (run,) = _runs(mlflow_server, experiment_name)
    assert run.status == "FAILED"
    assert run.tags["ci.exit_code"] == "7"
    assert run.tags["ci.provider"] == "local"
    assert run.tags["mlflow.source.git.commit"] == git(repo, "rev-parse", "HEAD")


def test_a_broken_metrics_file_gives_the_reason_before_the_run_status(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    (tmp_path / "m.json").write_text('{"rmse": "low"}')
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    result = ci_track(
        "run", "--experiment", experiment_name, "--metrics-file", "m.json", "--", "true", env=env, cwd=tmp_path
    )
    reason = assert_clean_failure(result, 2, "'rmse'", "m.json", "must be a number", "'low'")
    (run,) = _runs(mlflow_server, experiment_name)
    assert run.status == "FAILED"
    lines = result.stderr.splitlines()
    status = f"ci-track: MLflow run {run.run_id} failed (the command exited 0, but a metrics file is unusable): "
    (status_line,) = [line for line in lines if line.startswith(status)]
    assert lines.index(reason) < lines.index(status_line)  # why first, then what became of the run
    assert "(exit code 0)" not in result.stderr


NO_METRICS_HINT = (
    "has no metrics, so `ci-track compare` has nothing to gate on: log them from the script with "
    "mlflow.log_metric(...), or name the file it writes with --metrics-file PATH "
    "(or run.metrics_files in .ci-track.yml)"
)

LOGS_ONE_METRIC = """\
import mlflow

with mlflow.start_run():
    mlflow.log_metric("rmse", 0.5)
"""

LOGS_NOTHING = """\
import mlflow

with mlflow.start_run():
    mlflow.log_param("alpha", "0.5")  # params, but no metric: nothing to gate on
"""


@pytest.mark.parametrize(("script", "warned"), [(LOGS_NOTHING, True), (LOGS_ONE_METRIC, False)], ids=["nothing", "one"])
def test_a_run_that_logged_no_metric_warns_how_to_log_them(
    script: str, warned: bool, mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(script)
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    result = ci_track("run", "--experiment", experiment_name, "--", sys.executable, "train.py", env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.error_lines == []
    (run,) = _runs(mlflow_server, experiment_name)
    assert run.status == "FINISHED" and bool(run.metrics) is not warned
    warnings = [line for line in result.stderr.splitlines() if line.startswith("ci-track: warning:")]
    if warned:
        assert warnings == [f"ci-track: warning: run {run.run_id} {NO_METRICS_HINT}"]
    else:
        assert warnings == []


def test_metrics_from_a_file_alone_need_no_warning(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    command = [sys.executable, "-c", "open('m.json', 'w').write('{\"rmse\": 0.5}')"]
    result = ci_track(
        "run", "--experiment", experiment_name, "--metrics-file", "m.json", "--", *command, env=env, cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    assert "warning" not in result.stderr
    (run,) = _runs(mlflow_server, experiment_name)
    assert run.metrics == {"rmse": 0.5}


def test_sigterm_kills_the_command_group_and_marks_the_run_killed(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    process, pids = start_slow_run(tmp_path, mlflow_server.url, experiment_name)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert pids_alive(pids) == []  # neither the script nor its background child survives
    (run,) = _runs(mlflow_server, experiment_name)
    assert run.status == "KILLED"
    assert run.tags["ci.stopped_by"] == "SIGTERM"


MLPROJECT = """\
name: tiny
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.1}
      label: {type: string, default: "plain"}
    command: "python train_params.py {alpha} {label}"
"""

TRAIN_PARAMS = """\
import sys
import mlflow
with mlflow.start_run():
    mlflow.log_metric("alpha_seen", float(sys.argv[1]))
    mlflow.set_tag("label_seen", sys.argv[2])
"""


def test_mlproject_entry_point_records_params_and_entry_point(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    repo = tmp_path / "proj"
    init_repo(repo, {"MLproject": MLPROJECT, "train_params.py": TRAIN_PARAMS})
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url, CI_TRACK_EXPERIMENT=experiment_name)
    hostile = "x'; touch pwned; echo '$(id)"
    result = ci_track("run", "--entry-point", "main", "-P", "alpha=0.25", "-P", f"label={hostile}", env=env, cwd=repo)
    assert result.code == 0, result.stderr
    (run,) = _runs(mlflow_server, experiment_name)
    assert run.params == {"alpha": "0.25", "label": hostile}
    assert run.metrics["alpha_seen"] == 0.25
    assert run.tags["label_seen"] == hostile  # reached the script as one argument, untouched
    assert not (repo / "pwned").exists()
    assert run.tags["mlflow.project.entryPoint"] == "main"
    assert run.tags["mlflow.source.type"] == "PROJECT"


def test_bad_mlproject_parameter_is_a_usage_error_before_any_run(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    repo = tmp_path / "proj"
    init_repo(repo, {"MLproject": MLPROJECT, "train_params.py": TRAIN_PARAMS})
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    result = ci_track(
        "run", "--experiment", experiment_name, "--entry-point", "main", "-P", "alpha=abc", env=env, cwd=repo
    )
    assert_clean_failure(result, 2, "alpha", "float", "abc")
    with MlflowClient(TrackingSettings(uri=mlflow_server.url)) as client:
        assert client.get_experiment_by_name(experiment_name) is None  # nothing was created


def test_unreachable_tracking_server_exits_3_naming_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = base_env(MLFLOW_TRACKING_URI=url, CI_TRACK_RETRY_BUDGET="2", CI_TRACK_HTTP_ATTEMPTS="3")
    started = time.monotonic()
    result = ci_track("run", "--experiment", "x", "--", "true", env=env, cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert_clean_failure(result, 3, url, "connection refused")


def test_every_retry_against_a_closed_port_is_announced_on_stderr(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # a free port: nothing listens, every connection is refused
    env = base_env(MLFLOW_TRACKING_URI=url, CI_TRACK_RETRY_BUDGET="5", CI_TRACK_HTTP_ATTEMPTS="3")
    result = ci_track("run", "--experiment", "x", "--", "true", env=env, cwd=tmp_path)
    assert_clean_failure(result, 3, url, "connection refused", "gave up after 3 attempts on experiments/get-by-name")
    notices = [line for line in result.stderr.splitlines() if line.startswith("ci-track: retrying")]
    assert len(notices) == 2, result.stderr
    for notice, attempt in zip(notices, (2, 3), strict=True):
        assert re.fullmatch(
            rf"ci-track: retrying experiments/get-by-name in \d+\.\d s \(attempt {attempt} of 3\): connection refused",
            notice,
        ), notice
    assert result.stderr.index(notices[-1]) < result.stderr.index("ci-track: error:")  # progress, then the verdict


def test_jenkins_build_gets_a_properties_file(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    sha = init_repo(workspace, {"a.txt": "a"})
    env = base_env(
        MLFLOW_TRACKING_URI=mlflow_server.url,
        JENKINS_URL="http://jenkins.invalid/",
        BUILD_URL="http://jenkins.invalid/job/train/5/",
        BUILD_NUMBER="5",
        GIT_COMMIT=sha,
        GIT_BRANCH="origin/main",
        WORKSPACE=str(workspace),
    )
    result = ci_track("run", "--experiment", experiment_name, "--", "true", env=env, cwd=workspace)
    assert result.code == 0, result.stderr
    (run,) = _runs(mlflow_server, experiment_name)
    properties = dict(
        line.split("=", 1) for line in (workspace / "ci-track.properties").read_text().splitlines() if line
    )
    assert properties["RUN_ID"] == run.run_id
    assert properties["EXPERIMENT_ID"] == run.experiment_id
    assert run.tags["ci.provider"] == "jenkins" and run.tags["ci.build_id"] == "5"
    assert run.tags["mlflow.source.git.commit"] == sha


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "nothing to run"),
        (("--entry-point", "main", "--", "true"), "not both"),
        (("-P", "a=1", "--", "true"), "needs --entry-point"),
        (("--tag", "novalue", "--", "true"), "--tag expects KEY=VALUE"),
    ],
)
def test_bad_run_arguments_are_one_line_usage_errors(args: tuple[str, ...], fragment: str, tmp_path: Path) -> None:
    env = base_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9", CI_TRACK_EXPERIMENT="x")
    assert_clean_failure(ci_track("run", *args, env=env, cwd=tmp_path), 2, fragment)


def test_missing_experiment_is_a_usage_error(tmp_path: Path) -> None:
    env = base_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    assert_clean_failure(ci_track("run", "--", "true", env=env, cwd=tmp_path), 2, "no experiment")


def test_non_utf8_output_of_the_command_passes_through(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    completed = subprocess.run(
        [sys.executable, "-m", "ci_track", "run", "--experiment", experiment_name, "--", "printf", r"\xff\xfe bytes"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == b"\xff\xfe bytes"
    assert os.fsdecode(completed.stderr).count("ci-track: MLflow run") == 2
