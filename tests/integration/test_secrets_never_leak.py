"""Tokens never leave ci-track: every output of every command is scanned for distinctive fake secrets.

The environment carries a GitHub token, an MLflow token, an MLflow password (and the same password
inside the tracking URI), a Jenkins token, a GitLab token and job token, and a Bitbucket token, each
a long string no real output could contain by chance. After each command the test scans stdout,
stderr, the step outputs and summary, the Jenkins properties file, spool files, traceback logs it
names, the run's tags and params read back from MLflow, and what GitHub, GitLab and Bitbucket got.
The training command's own environment must still hold them (that is how a script uses them), so
the command line itself is also a place they must not be copied from.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests.cli_helpers import CliResult, base_env, ci_track, git, init_repo
from tests.fakes.fake_bitbucket import running_fake_bitbucket
from tests.fakes.fake_github import running_fake_github
from tests.fakes.fake_gitlab import running_fake_gitlab
from tests.fakes.fault_proxy import fault_proxy
from tests.mlflow_server import MlflowServer
from tests.reliability_figures import record
from tests.reliability_scenarios import PR_NUMBER, REPOSITORY, github_pr_env, make_run

SECRETS = {
    "GITHUB_TOKEN": "ghs_LeakCanaryGitHub0a1b2c3d4e5f6a7b8c9d0e1f2",
    "MLFLOW_TRACKING_TOKEN": "mlflowtok_LeakCanaryTracking9Zy8Xw7Vu6",
    "MLFLOW_TRACKING_PASSWORD": "mlflowpw_LeakCanaryPassword5Ts4Rq3Po2",
    "JENKINS_TOKEN": "jenkinstok_LeakCanaryJenkins1Nm0Lk9Ji8",
    "CI_TRACK_GITLAB_TOKEN": "glpat-LeakCanaryGitLab7Hg6Fe5Dc4Ba3",
    "CI_JOB_TOKEN": "glcbt-LeakCanaryJobToken2Zx1Cv0Bn9Mm8",
    "CI_TRACK_BITBUCKET_TOKEN": "ATCTT3xFfGN0LeakCanaryBitbucket6Qw5Er4Ty3",
}

TRAIN = """\
import json, os, pathlib, sys
import mlflow

# The script may use the secrets (that is why they are in its environment), not print them.
assert os.environ["GITHUB_TOKEN"] and os.environ["MLFLOW_TRACKING_TOKEN"]
with mlflow.start_run():
    mlflow.log_param("alpha", "0.5")
pathlib.Path("metrics.json").write_text(json.dumps({"rmse": 0.5}))
print("trained")
"""


def leaks(outputs: Mapping[str, str]) -> list[tuple[str, str]]:
    """(where, which secret) for every secret found in any output."""
    found = []
    for where, text in outputs.items():
        for name, value in SECRETS.items():
            if value in text:
                found.append((where, name))
    return found


def secret_env(tracking_uri: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    with_password = tracking_uri.replace("http://", f"http://ci-bot:{SECRETS['MLFLOW_TRACKING_PASSWORD']}@")
    return base_env(
        MLFLOW_TRACKING_URI=with_password,
        MLFLOW_TRACKING_USERNAME="ci-bot",
        GITHUB_OUTPUT=str(tmp_path / "github_output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "step_summary"),
        CI_TRACK_PROPERTIES_FILE=str(tmp_path / "ci-track.properties"),
        **SECRETS,
        **extra,
    )


def files_written(tmp_path: Path, repo: Path) -> dict[str, str]:
    outputs = {}
    for path in [tmp_path / "github_output", tmp_path / "step_summary", tmp_path / "ci-track.properties"]:
        if path.exists():
            outputs[path.name] = path.read_text(errors="replace")
    for path in sorted((repo / ".ci-track").rglob("*")) if (repo / ".ci-track").exists() else []:
        if path.is_file():
            outputs[f"spool:{path.name}"] = path.read_text(errors="replace")
    return outputs


def cli_outputs(label: str, result: CliResult) -> dict[str, str]:
    outputs = {f"{label}:stdout": result.stdout, f"{label}:stderr": result.stderr}
    # An internal error names a traceback log: that file leaves the machine in bug reports.
    for log in re.findall(r"traceback in (\S+?\.log)", result.stderr):
        outputs[f"{label}:traceback"] = Path(log).read_text(errors="replace")
    return outputs


def run_data(server: MlflowServer, experiment: str) -> dict[str, str]:
    with MlflowClient(TrackingSettings(uri=server.url)) as client:
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        runs, _ = client.search_runs([found.experiment_id])
    outputs = {}
    for run in runs:
        outputs[f"run:{run.run_id}:tags"] = json.dumps(dict(run.tags))
        outputs[f"run:{run.run_id}:params"] = json.dumps(dict(run.params))
        outputs[f"run:{run.run_id}:name"] = run.run_name or ""
    return outputs


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    init_repo(path, {"train.py": TRAIN})
    # Some CI systems clone with the token in the remote URL; it must not become the repoURL tag.
    git(path, "remote", "add", "origin", f"https://x-access-token:{SECRETS['GITHUB_TOKEN']}@github.com/acme/wine.git")
    return path


def test_a_successful_run_leaks_no_token(
    mlflow_server: MlflowServer, experiment_name: str, repo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = secret_env(mlflow_server.url, tmp_path)
    # A command line that carries a token (an everyday mistake) must not be recorded verbatim either.
    result = ci_track(
        "run",
        "--experiment",
        experiment_name,
        "--metrics-file",
        "metrics.json",
        "--",
        sys.executable,
        "train.py",
        f"--hub-token={SECRETS['GITHUB_TOKEN']}",
        env=env,
        cwd=repo,
    )
    assert result.code == 0, result.stderr
    assert "trained" in result.stdout
    outputs = {
        **cli_outputs("run", result),
        **files_written(tmp_path, repo),
        **run_data(mlflow_server, experiment_name),
    }
    assert "github.com/acme/wine" in outputs[next(k for k in outputs if k.endswith(":tags"))]
    assert leaks(outputs) == [], leaks(outputs)
    record(request, "secret_scans", len(outputs))


def test_a_spooled_run_and_its_sync_leak_no_token(
    mlflow_server: MlflowServer, experiment_name: str, repo: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    (repo / "metrics.json").write_text(json.dumps({"rmse": 0.5}))
    with fault_proxy(
        mlflow_server.url, rate=1.0, faults=("503",), retry_after=(0,), should_fault=lambda _m, p: "log-batch" in p
    ) as proxy:
        env = secret_env(proxy.url, tmp_path, CI_TRACK_RETRY_BUDGET="1", CI_TRACK_HTTP_ATTEMPTS="2")
        result = ci_track(
            "run", "--experiment", experiment_name, "--metrics-file", "metrics.json", "--", "true", env=env, cwd=repo
        )
    assert result.code == 3, result.stderr
    spooled = files_written(tmp_path, repo)
    assert any(key.startswith("spool:") for key in spooled)

    sync_env = secret_env(mlflow_server.url, tmp_path)
    synced = ci_track("sync", env=sync_env, cwd=repo)
    assert synced.code == 0, synced.stderr
    outputs = {
        **cli_outputs("run", result),
        **spooled,
        **cli_outputs("sync", synced),
        **run_data(mlflow_server, experiment_name),
    }
    assert leaks(outputs) == [], leaks(outputs)
    record(request, "secret_scans", len(outputs))


@pytest.mark.parametrize(
    "tracking_uri",
    ["http://127.0.0.1:9", "https://127.0.0.1:9/nowhere"],
    ids=["connection-refused", "https"],
)
def test_failures_leak_no_token(tmp_path: Path, repo: Path, tracking_uri: str, request: pytest.FixtureRequest) -> None:
    env = secret_env(tracking_uri, tmp_path, CI_TRACK_RETRY_BUDGET="1", CI_TRACK_HTTP_ATTEMPTS="2")
    result = ci_track("run", "--experiment", "x", "--", "true", env=env, cwd=repo)
    assert result.code == 3
    outputs = {**cli_outputs("run", result), **files_written(tmp_path, repo)}
    assert leaks(outputs) == [], leaks(outputs)
    record(request, "secret_scans", len(outputs))


def test_the_training_command_still_receives_the_secrets(
    mlflow_server: MlflowServer, experiment_name: str, repo: Path, tmp_path: Path
) -> None:
    """Redaction is for what ci-track writes, not for the command's own environment."""
    env = secret_env(mlflow_server.url, tmp_path)
    probe = [sys.executable, "-c", "import os; print(os.environ['JENKINS_TOKEN'] == os.environ['EXPECTED'])"]
    completed = subprocess.run(
        [sys.executable, "-m", "ci_track", "run", "--experiment", experiment_name, "--", *probe],
        env={**env, "EXPECTED": SECRETS["JENKINS_TOKEN"]},
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "True"


def github_side(fake: Any) -> dict[str, str]:
    """What ci-track sent to GitHub: comment bodies, statuses, and every request body."""
    snapshot = fake.snapshot()
    return {
        "github:comments": json.dumps([c["body"] for c in snapshot["comments"]]),
        "github:statuses": json.dumps(snapshot["statuses"]),
        "github:request-bodies": json.dumps([r["body"] for r in snapshot["requests"]]),
    }


def test_compare_and_comment_leak_no_token(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    head = "c0ffee" + "0" * 34
    make_run(mlflow_server.url, experiment_name, branch="main", sha="a" * 40, metrics={"rmse": 0.5})
    candidate = make_run(
        mlflow_server.url,
        experiment_name,
        branch="feature",
        sha=head,
        metrics={"rmse": 0.6},
        params={"alpha": "0.7"},
        tags={"ci.pr_number": str(PR_NUMBER)},
    )
    rules = "metrics:\n  rmse: {goal: minimize, max_regression: '5%'}\n"
    (tmp_path / ".ci-track.yml").write_text(f"experiment: {experiment_name}\nbase_branch: main\n{rules}")
    outputs: dict[str, str] = {}
    with running_fake_github(head_sha=head, token=SECRETS["GITHUB_TOKEN"]) as fake:
        env = {
            **secret_env(mlflow_server.url, tmp_path),
            **{
                k: v
                for k, v in github_pr_env(tmp_path, tracking_uri="", github_api_url=fake.url, head_sha=head).items()
                if k.startswith("GITHUB_") and k not in ("GITHUB_TOKEN", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")
            },
            "CI_TRACK_RULES_FROM": "head",  # tmp_path is no clone: the PR's base rules are not at hand
        }
        compared = ci_track(
            "compare",
            "--run-id",
            candidate,
            "--markdown-output",
            "report.md",
            "--json-output",
            "report.json",
            env=env,
            cwd=tmp_path,
        )
        assert compared.code == 1, compared.stderr  # a regression: the full report, comment and status
        assert len(fake.comments_on(REPOSITORY, PR_NUMBER)) == 1
        outputs.update(cli_outputs("compare", compared))
        outputs.update(github_side(fake))
    for name in ("report.md", "report.json"):
        outputs[name] = (tmp_path / name).read_text()
    outputs.update(files_written(tmp_path, tmp_path))

    # The fork-safe second phase posts the same report with `comment`, in another job.
    with running_fake_github(head_sha=head, token=SECRETS["GITHUB_TOKEN"]) as fake:
        env = {**env, "GITHUB_API_URL": fake.url}
        commented = ci_track("comment", "--report", "report.json", env=env, cwd=tmp_path)
        assert commented.code == 0, commented.stderr
        assert len(fake.comments_on(REPOSITORY, PR_NUMBER)) == 1
        outputs.update(cli_outputs("comment", commented))
        outputs.update({f"{k}:second": v for k, v in github_side(fake).items()})

    # GitHub refusing the token: the error names the problem, not the token.
    with running_fake_github(head_sha=head, token="ghs_SomeOtherTokenTheFakeExpects000000") as fake:
        env = {**env, "GITHUB_API_URL": fake.url}
        refused = ci_track("comment", "--report", "report.json", env=env, cwd=tmp_path)
        assert refused.code == 3, refused.stderr
        outputs.update(cli_outputs("refused", refused))
    assert leaks(outputs) == [], leaks(outputs)
    record(request, "secret_scans", len(outputs))


def forge_side(fake: Any) -> dict[str, str]:
    """What ci-track sent to GitLab or Bitbucket: every request (bodies, paths, queries) and the state."""
    snapshot = fake.snapshot()
    return {f"{fake.name}:state": json.dumps({k: v for k, v in snapshot.items() if k != "url"})}


def test_gitlab_and_bitbucket_publishing_leak_no_token(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.forge_scenarios import BITBUCKET_REPO, GITLAB_PROJECT, MR_IID, bitbucket_pr_env, gitlab_mr_env

    head = "c0ffee" + "2" * 34
    make_run(mlflow_server.url, experiment_name, branch="main", sha="a" * 40, metrics={"rmse": 0.5})
    candidate = make_run(mlflow_server.url, experiment_name, branch="feature", sha=head, metrics={"rmse": 0.6})
    (tmp_path / ".ci-track.yml").write_text(
        f"experiment: {experiment_name}\nmetrics:\n  rmse: {{goal: minimize, max_regression: '5%'}}\n"
    )
    secrets = secret_env(mlflow_server.url, tmp_path)
    tracking = secrets["MLFLOW_TRACKING_URI"]
    outputs: dict[str, str] = {}
    args = ("compare", "--run-id", candidate, "--junit-output", "junit.xml", "--gitlab-metrics-output", "metrics.txt")
    gitlab_token, job_token = SECRETS["CI_TRACK_GITLAB_TOKEN"], SECRETS["CI_JOB_TOKEN"]
    with running_fake_gitlab(project=GITLAB_PROJECT, iid=MR_IID, token=gitlab_token, job_token=job_token) as fake:
        env = {**secrets, **gitlab_mr_env(fake.url, tracking_uri=tracking, head_sha=head), **SECRETS}
        posted = ci_track(*args, env=env, cwd=tmp_path)
        assert posted.code == 1, posted.stderr  # a regression: note and status posted
        assert len(fake.notes_on(GITLAB_PROJECT, MR_IID)) == 1 and fake.statuses
        outputs.update(cli_outputs("gitlab", posted))
        # only the job token: its refusal (403) is a warning that names the problem, not the token
        only_job = ci_track(*args, env={**env, "CI_TRACK_GITLAB_TOKEN": job_token}, cwd=tmp_path)
        assert only_job.code == 1 and "GitLab refused" in only_job.stderr, only_job.stderr
        outputs.update(cli_outputs("gitlab-job-token", only_job))
        refused = ci_track(*args, env={**env, "CI_TRACK_GITLAB_TOKEN": SECRETS["GITHUB_TOKEN"]}, cwd=tmp_path)
        assert refused.code == 3 and "401 Unauthorized" in refused.stderr, refused.stderr
        outputs.update(cli_outputs("gitlab-refused", refused))
        outputs.update(forge_side(fake))
    bitbucket_token = SECRETS["CI_TRACK_BITBUCKET_TOKEN"]
    with running_fake_bitbucket(repository=BITBUCKET_REPO, pr_id=MR_IID, token=bitbucket_token) as fake:
        env = {**secrets, **bitbucket_pr_env(fake.url, tracking_uri=tracking, head_sha=head), **SECRETS}
        posted = ci_track(*args, env=env, cwd=tmp_path)
        assert posted.code == 1, posted.stderr
        assert len(fake.comments_on(BITBUCKET_REPO, MR_IID)) == 1 and fake.statuses
        outputs.update(cli_outputs("bitbucket", posted))
        refused = ci_track(*args, env={**env, "CI_TRACK_BITBUCKET_TOKEN": SECRETS["GITHUB_TOKEN"]}, cwd=tmp_path)
        assert refused.code == 3 and "401 Unauthorized" in refused.stderr, refused.stderr
        outputs.update(cli_outputs("bitbucket-refused", refused))
        outputs.update(forge_side(fake))
    for name in ("junit.xml", "metrics.txt"):
        outputs[name] = (tmp_path / name).read_text()
    outputs.update(files_written(tmp_path, tmp_path))
    assert leaks(outputs) == [], leaks(outputs)
    record(request, "secret_scans", len(outputs))
