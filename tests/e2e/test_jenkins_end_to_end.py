"""Jenkins multibranch PR build end to end: `ci-track run` then `ci-track compare` against a real MLflow server.

The workspace is a real git repository laid out the way Jenkins' GitHub Branch Source checks out a
PR: GIT_COMMIT is a merge of the PR head into the target branch. The shared library's verdict
reader is also run on the real CLI's JSON report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests.cli_helpers import base_env, ci_track, commit_all, git, init_repo
from tests.mlflow_server import MlflowServer

LIBRARY_SRC = Path(__file__).resolve().parents[2] / "jenkins_plugin" / "src"
READ_VERDICT = "print io.citrack.Gate.verdictFromReport(new File(args[0]).getText('UTF-8'))"

TRAIN = """\
import json, sys
import mlflow
rmse = float(sys.argv[1])
with mlflow.start_run():
    mlflow.log_metric("rmse", rmse)
    mlflow.log_metric("r2", 0.6)
"""

CONFIG = """\
experiment: {experiment}
champion: {{strategy: [alias, latest]}}
metrics:
  rmse: {{goal: minimize, max_regression: "2%"}}
  r2: {{goal: maximize, min: 0.3}}
"""


def _jenkins_env(server: MlflowServer, workspace: Path, **extra: str) -> dict[str, str]:
    return base_env(
        MLFLOW_TRACKING_URI=server.url,
        JENKINS_URL="https://jenkins.example.invalid/",
        JENKINS_HOME="/var/lib/jenkins",
        GIT_URL="https://github.com/acme/wine.git",
        WORKSPACE=str(workspace),
        **extra,
    )


def test_multibranch_pr_build_tags_the_pr_head_and_gates_against_main(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    main_sha = init_repo(
        workspace,
        {"train.py": TRAIN, ".ci-track.yml": CONFIG.format(experiment=experiment_name)},
    )
    # main's build: a plain branch job trains and promotes
    main_env = _jenkins_env(
        mlflow_server,
        workspace,
        BRANCH_NAME="main",
        GIT_COMMIT=main_sha,
        GIT_BRANCH="main",
        BUILD_URL="https://jenkins.example.invalid/job/wine/job/main/3/",
        BUILD_NUMBER="3",
        JOB_NAME="wine/main",
    )
    trained = ci_track("run", "--", sys.executable, "train.py", "0.70", env=main_env, cwd=workspace)
    assert trained.code == 0, trained.stderr
    promoted = ci_track("promote", env=main_env, cwd=workspace)
    assert promoted.code == 0, promoted.stderr

    # the PR: a feature branch, checked out by Jenkins as a merge into main
    git(workspace, "checkout", "-q", "-b", "feature/tune")
    (workspace / "notes.txt").write_text("tuning\n")
    head_sha = commit_all(workspace, "tune")
    git(workspace, "checkout", "-q", "main")
    (workspace / "main.txt").write_text("main moved\n")
    commit_all(workspace, "main moves on")
    git(workspace, "checkout", "-q", "--detach")
    git(workspace, "merge", "-q", "--no-ff", "-m", "Merge commit into HEAD", head_sha)
    merge_sha = git(workspace, "rev-parse", "HEAD")

    pr_env = _jenkins_env(
        mlflow_server,
        workspace,
        BRANCH_NAME="PR-12",
        CHANGE_ID="12",
        CHANGE_TARGET="main",
        CHANGE_BRANCH="feature/tune",
        CHANGE_URL="https://github.com/acme/wine/pull/12",
        CHANGE_TITLE="Tune <b>alpha</b> @team",
        GIT_COMMIT=merge_sha,
        BUILD_URL="https://jenkins.example.invalid/job/wine/job/PR-12/1/",
        BUILD_NUMBER="1",
        JOB_NAME="wine/PR-12",
    )
    run = ci_track("run", "--", sys.executable, "train.py", "0.75", env=pr_env, cwd=workspace)
    assert run.code == 0, run.stderr
    properties = dict(
        line.split("=", 1) for line in (workspace / "ci-track.properties").read_text().splitlines() if line
    )
    with MlflowClient(TrackingSettings(uri=mlflow_server.url)) as client:
        tags = client.get_run(properties["RUN_ID"]).tags
    assert tags["ci.provider"] == "jenkins"
    assert tags["mlflow.source.git.commit"] == head_sha  # the PR head, not Jenkins' merge commit
    assert tags["ci.merge_sha"] == merge_sha
    assert tags["ci.pr_number"] == "12"
    assert tags["ci.base_branch"] == "main"
    assert tags["mlflow.source.git.branch"] == "feature/tune"
    assert tags["ci.build_url"] == "https://jenkins.example.invalid/job/wine/job/PR-12/1/"
    assert tags["ci.build_id"] == "1"
    assert tags["ci.base_sha"] == main_sha  # the merge-base of the PR head and main

    compared = ci_track("compare", "--json-output", "report.json", env=pr_env, cwd=workspace)
    assert compared.code == 1, compared.stdout + compared.stderr  # 0.70 -> 0.75 is +7.1%, 2% allowed
    report = json.loads((workspace / "report.json").read_text())
    assert report["candidate"]["run_id"] == properties["RUN_ID"]
    assert report["verdict"] == "regression"
    assert report["champion"]["source"].startswith("run tagged ci.champion=true")
    verdict_lines = [line for line in compared.stdout.splitlines() if line.startswith("verdict:")]
    assert verdict_lines == ["verdict: regression: rmse +7.1% (allowed +2%)"]


@pytest.mark.skipif(shutil.which("groovy") is None, reason="groovy is not installed (apt-get install groovy)")
def test_the_jenkins_library_reads_the_console_verdict_from_the_json_report(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    # ciTrackCompare takes the verdict from report.json (io.citrack.Gate.verdictFromReport), not from
    # the console: with the real CLI's report, it must be the console's verdict line exactly.
    workspace = tmp_path / "ws"
    sha = init_repo(workspace, {"train.py": TRAIN, ".ci-track.yml": CONFIG.format(experiment=experiment_name)})
    env = _jenkins_env(mlflow_server, workspace, BRANCH_NAME="main", GIT_COMMIT=sha, GIT_BRANCH="main")
    for rmse in ("0.70", "0.75"):
        trained = ci_track("run", "--", sys.executable, "train.py", rmse, env=env, cwd=workspace)
        assert trained.code == 0, trained.stderr
        if rmse == "0.70":
            assert ci_track("promote", env=env, cwd=workspace).code == 0
    compared = ci_track("compare", "--json-output", "report.json", env=env, cwd=workspace)
    assert compared.code == 1, compared.stdout + compared.stderr
    console = [line for line in compared.stdout.splitlines() if line.startswith("verdict:")]

    java_env = dict(os.environ, HOME=str(tmp_path))
    if "JAVA_HOME" not in java_env and Path("/usr/lib/jvm/java-17-openjdk-amd64").is_dir():
        java_env["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    read = subprocess.run(
        ["groovy", "-cp", str(LIBRARY_SRC), "-e", READ_VERDICT, str(workspace / "report.json")],
        env=java_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert read.returncode == 0, read.stdout + read.stderr
    assert [read.stdout.rstrip("\n")] == console == ["verdict: regression: rmse +7.1% (allowed +2%)"]
