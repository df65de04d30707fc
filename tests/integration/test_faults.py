"""Faults between ci-track and the real MLflow server: retried within a budget, then a clean exit 3.

tests/fakes/fault_proxy.py sits between ci-track (and the MLflow client inside the training script,
which gets the proxy as MLFLOW_TRACKING_URI) and the session's real server. Faults decided
before forwarding (drop, 503/429 with Retry-After, stall) never reach the server, so what is read
back afterwards, straight from the server, is exactly what the commands achieved. Lost responses
(the write happened, the answer did not arrive) are the separate question of duplicates.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import assert_clean_failure, base_env, ci_track, git, init_repo
from tests.fakes.fake_github import running_fake_github
from tests.fakes.fault_proxy import FaultProxy, fault_proxy
from tests.mlflow_server import MlflowServer
from tests.reliability_figures import record
from tests.reliability_scenarios import PR_NUMBER, REPOSITORY, github_pr_env, history_errors, make_run, runs_of

HISTORY_LENGTH = 1500  # two log-batch requests from ci-track

TRAIN_SCRIPT = """\
import json, pathlib, sys
import mlflow

variant = sys.argv[1]
with mlflow.start_run():
    mlflow.log_param("variant", variant)
    mlflow.log_param("alpha", "0.5")
    for step in range(5):
        mlflow.log_metric("script_loss", 1.0 / (step + 1), step=step)
    mlflow.set_tag("from_script", variant)
rmse = {"main": 0.5, "pr": 0.45}[variant]
history = [round(1.0 / (step + 1), 6) for step in range(int(sys.argv[2]))]
pathlib.Path("metrics.json").write_text(json.dumps({"test": {"rmse": rmse, "r2": 0.8}, "loss": history}))
print("trained", variant)
"""


def faulty_env(proxy: FaultProxy, *, timeout: str = "1", **extra: str) -> dict[str, str]:
    """ci-track's and the MLflow client's timeouts below the proxy's stall, their retries above its fault runs.

    Where the proxy never stalls, pass a longer `timeout`: on a loaded machine (parallel tests on 2 cores) a
    one-worker server can take over a second to answer, which would read as a fault the test did not inject.
    """
    return base_env(
        MLFLOW_TRACKING_URI=proxy.url,
        CI_TRACK_HTTP_TIMEOUT=timeout,
        CI_TRACK_HTTP_ATTEMPTS="8",
        CI_TRACK_RETRY_BUDGET="60",
        MLFLOW_HTTP_REQUEST_TIMEOUT=timeout,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="8",
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0",
        **extra,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    init_repo(repo, {"train.py": TRAIN_SCRIPT})
    return repo


def run_variant(repo: Path, experiment: str, variant: str, env: dict[str, str], *extra: str) -> Any:
    return ci_track(
        "run",
        "--experiment",
        experiment,
        "--run-name",
        f"{variant}-run",
        "--metrics-file",
        "metrics.json",
        "--tag",
        f"matrix={variant}",
        *extra,
        "--",
        sys.executable,
        "train.py",
        variant,
        str(HISTORY_LENGTH),
        env=env,
        cwd=repo,
        timeout=300,
    )


def assert_run_is_exactly_right(url: str, run: Run, variant: str, head: str) -> int:
    """Every tag, param and metric of one run as the command meant it; returns data lost or doubled."""
    assert run.status == "FINISHED"
    assert run.run_name == f"{variant}-run"
    assert run.params == {"variant": variant, "alpha": "0.5"}
    assert run.tags["from_script"] == variant and run.tags["matrix"] == variant
    assert run.tags["mlflow.source.git.commit"] == head
    assert run.tags["ci.exit_code"] == "0"
    assert run.metrics["test.rmse"] == {"main": 0.5, "pr": 0.45}[variant]
    assert run.metrics["test.r2"] == 0.8
    assert run.metrics["loss"] == round(1.0 / HISTORY_LENGTH, 6)
    assert run.metrics["script_loss"] == 0.2
    return history_errors(url, run.run_id, "loss", HISTORY_LENGTH) + history_errors(url, run.run_id, "script_loss", 5)


@pytest.mark.slow
def test_run_completes_with_exactly_the_right_data_through_30_percent_faults(
    mlflow_server: MlflowServer, experiment_name: str, project: Path, request: pytest.FixtureRequest
) -> None:
    head = git(project, "rev-parse", "HEAD")
    # max_consecutive keeps a seeded run of bad luck below the clients' attempts: the rate stays 30%.
    with fault_proxy(mlflow_server.url, rate=0.3, seed=6, stall_seconds=3, max_consecutive=3) as proxy:
        env = faulty_env(proxy)
        for variant in ("main", "pr"):
            result = run_variant(project, experiment_name, variant, env)
            assert result.code == 0, result.stderr
            assert f"trained {variant}" in result.stdout
        injected = dict(proxy.injected)
    runs = runs_of(mlflow_server.url, experiment_name)
    assert [r.run_name for r in runs] == ["main-run", "pr-run"]  # no run lost, none created twice
    lost = sum(assert_run_is_exactly_right(mlflow_server.url, run, run.run_name[:-4], head) for run in runs)
    record(request, "data_lost", lost)
    assert lost == 0
    total = sum(injected.values())
    assert total >= 8, injected  # the test really was a faulty one
    assert {"drop", "503", "429", "stall"} <= set(injected), injected
    record(request, "faults_injected", total)
    record(request, "faults_survived", total)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("drop", "connection dropped"), ("503", "HTTP 503"), ("429", "HTTP 429"), ("stall", "timed out")],
)
def test_server_failing_past_the_retry_budget_exits_3_naming_the_url(
    mlflow_server: MlflowServer, tmp_path: Path, fault: str, reason: str, request: pytest.FixtureRequest
) -> None:
    budget = 3
    with fault_proxy(mlflow_server.url, rate=1.0, faults=(fault,), retry_after=(1,), stall_seconds=5) as proxy:
        env = base_env(
            MLFLOW_TRACKING_URI=proxy.url,
            CI_TRACK_RETRY_BUDGET=str(budget),
            CI_TRACK_HTTP_ATTEMPTS="100",  # the time budget, not the attempts, is what stops it
            CI_TRACK_HTTP_TIMEOUT="1",
        )
        started = time.monotonic()
        # The bound: the budget, one more request timeout, the interpreter's start; a hang fails the test.
        result = ci_track("run", "--experiment", "never-created", "--", "true", env=env, cwd=tmp_path, timeout=60)
        elapsed = time.monotonic() - started
        injected = proxy.total_injected
    assert_clean_failure(result, 3, proxy.url, reason, "gave up after")
    assert injected >= 2  # it did retry
    assert elapsed < budget + 20, elapsed  # generous: this guards against unbounded retrying, not speed
    record(request, "faults_injected", injected)
    with MlflowClient(TrackingSettings(uri=mlflow_server.url)) as client:
        assert client.get_experiment_by_name("never-created") is None


def test_attempts_limit_is_configurable(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    with fault_proxy(mlflow_server.url, rate=1.0, faults=("503",), retry_after=(0,)) as proxy:
        env = base_env(MLFLOW_TRACKING_URI=proxy.url, CI_TRACK_HTTP_ATTEMPTS="2", CI_TRACK_RETRY_BUDGET="60")
        result = ci_track("run", "--experiment", "x", "--", "true", env=env, cwd=tmp_path, timeout=60)
        assert proxy.total_injected == 2
    assert_clean_failure(result, 3, proxy.url, "gave up after 2 attempts")


def test_client_errors_are_not_retried(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    """A 4xx answer is the server's decision, not a fault: one request, then a clean failure."""
    with fault_proxy(mlflow_server.url) as proxy:
        env = base_env(MLFLOW_TRACKING_URI=proxy.url + "/not-mlflow")
        result = ci_track("run", "--experiment", "x", "--", "true", env=env, cwd=tmp_path, timeout=60)
        assert len(proxy.requests) == 1
    assert_clean_failure(result, 3, "is it an MLflow tracking server")


WRITES_EXCEPT_RUN_CREATION = ("log-batch", "runs/update", "set-tag", "experiments/create", "log-metric", "log-param")


def test_lost_responses_to_writes_duplicate_nothing(
    mlflow_server: MlflowServer, experiment_name: str, project: Path, request: pytest.FixtureRequest
) -> None:
    """Every other write is executed by the server but its answer is lost; the retries must not double data."""
    head = git(project, "rev-parse", "HEAD")

    def writes(method: str, path: str) -> bool:
        return method == "POST" and any(endpoint in path for endpoint in WRITES_EXCEPT_RUN_CREATION)

    with fault_proxy(
        mlflow_server.url, rate=1.0, faults=("drop_response",), max_consecutive=1, should_fault=writes
    ) as proxy:
        result = run_variant(project, experiment_name, "main", faulty_env(proxy, timeout="10"))
        injected = proxy.total_injected
        lost_log_batches = [r for r in proxy.requests_to("log-batch") if r.fault == "drop_response"]
    assert result.code == 0, result.stderr
    assert lost_log_batches  # ci-track's own metrics were among the lost answers
    (run,) = runs_of(mlflow_server.url, experiment_name)
    lost = assert_run_is_exactly_right(mlflow_server.url, run, "main", head)
    record(request, "data_lost", lost)
    assert lost == 0
    record(request, "faults_injected", injected)
    record(request, "faults_survived", injected)


def test_lost_response_to_run_creation_leaves_one_live_run(
    mlflow_server: MlflowServer, experiment_name: str, project: Path
) -> None:
    def run_creation(method: str, path: str) -> bool:
        return method == "POST" and path.endswith("/runs/create")

    with fault_proxy(
        mlflow_server.url, rate=1.0, faults=("drop_response",), max_consecutive=1, should_fault=run_creation
    ) as proxy:
        result = run_variant(project, experiment_name, "main", faulty_env(proxy, timeout="10"))
        assert proxy.total_injected == 1
    assert result.code == 0, result.stderr
    runs = runs_of(mlflow_server.url, experiment_name)  # ACTIVE_ONLY: a deleted twin does not count
    assert [r.status for r in runs] == ["FINISHED"], [(r.run_id, r.status) for r in runs]


def test_retry_after_from_the_server_is_honoured(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    """429 with Retry-After: 1 on every other call; the run still completes and nothing is sent early."""
    with fault_proxy(mlflow_server.url, rate=1.0, faults=("429",), retry_after=(1,), max_consecutive=1) as proxy:
        env = base_env(MLFLOW_TRACKING_URI=proxy.url, CI_TRACK_HTTP_ATTEMPTS="3", CI_TRACK_RETRY_BUDGET="30")
        result = ci_track("run", "--experiment", experiment_name, "--", "true", env=env, cwd=tmp_path, timeout=120)
        injected = proxy.total_injected
    assert result.code == 0, result.stderr
    assert injected >= 3
    (run,) = runs_of(mlflow_server.url, experiment_name)
    assert run.status == "FINISHED"


def test_fault_proxy_counts_what_it_injects(mlflow_server: MlflowServer) -> None:
    """The figures in build/reliability.json are only as good as the proxy's own counting."""
    with fault_proxy(mlflow_server.url, rate=0.5, seed=1, faults=("503", "drop")) as proxy:
        settings = TrackingSettings(uri=proxy.url, timeout=5, max_attempts=20, retry_budget=60)
        with MlflowClient(settings, sleep=lambda _s: None) as client:
            for _ in range(20):
                assert client.get_experiment_by_name("Default") is not None
            attempts = client.request_count
        assert proxy.total_injected == attempts - 20 == sum(1 for r in proxy.requests if r.fault)
        assert proxy.forwarded == 20
        assert json.dumps(dict(proxy.injected))  # plain counts, serialisable into the figures file


# ---- compare: the gate under faults ------------------------------------------------------------

GATE_RULES = """\
metrics:
  rmse: {goal: minimize, max_regression: "5%"}
  r2: {goal: maximize, min: 0.5}
"""
CANDIDATE_SHA = "c0ffee" + "0" * 34  # the fake GitHub's default PR head


def gate_env(tmp_path: Path, tracking_uri: str, github_api_url: str, **extra: str) -> dict[str, str]:
    """The PR build that gates CANDIDATE_SHA through proxies: ci-track's MLflow timeout below their stall."""
    output = str(tmp_path / "github_output")
    return github_pr_env(
        tmp_path,
        tracking_uri=tracking_uri,
        github_api_url=github_api_url,
        head_sha=CANDIDATE_SHA,
        **{"CI_TRACK_HTTP_TIMEOUT": "1", "GITHUB_OUTPUT": output, **extra},
    )


def gate_scenario(url: str, experiment: str, *, candidate_rmse: float) -> str:
    """A champion on main and a PR candidate; returns the candidate's run id."""
    make_run(url, experiment, branch="main", sha="a" * 40, metrics={"rmse": 0.5, "r2": 0.8}, run_name="champion")
    return make_run(
        url,
        experiment,
        branch="feature",
        sha=CANDIDATE_SHA,
        metrics={"rmse": candidate_rmse, "r2": 0.8},
        tags={"ci.pr_number": str(PR_NUMBER), "ci.base_branch": "main"},
        run_name="candidate",
    )


def gate_json(path: Path) -> dict[str, Any]:
    """The parts of the JSON report that must not depend on the route the requests took."""
    report = json.loads(path.read_text())
    return {
        "verdict": report["verdict"],
        "passed": report["passed"],
        "candidate": report["candidate"]["run_id"],
        "champion": report["champion"]["run_id"],
        "metrics": [(m["name"], m["status"], m["outcome"], m["champion"], m["candidate"]) for m in report["metrics"]],
    }


@pytest.mark.parametrize(("candidate_rmse", "code", "verdict"), [(0.45, 0, "pass"), (0.6, 1, "regression")])
def test_compare_gives_the_right_verdict_and_one_comment_through_30_percent_faults(
    mlflow_server: MlflowServer,
    experiment_name: str,
    tmp_path: Path,
    candidate_rmse: float,
    code: int,
    verdict: str,
    request: pytest.FixtureRequest,
) -> None:
    candidate = gate_scenario(mlflow_server.url, experiment_name, candidate_rmse=candidate_rmse)
    (tmp_path / ".ci-track.yml").write_text(f"experiment: {experiment_name}\n{GATE_RULES}")
    clean_env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    clean = ci_track("compare", "--run-id", candidate, "--json-output", "clean.json", env=clean_env, cwd=tmp_path)
    assert clean.code == code, clean.stderr

    with (
        running_fake_github(head_sha=CANDIDATE_SHA) as fake,
        fault_proxy(mlflow_server.url, rate=0.3, seed=11, stall_seconds=3, max_consecutive=3) as mlflow_faults,
        fault_proxy(
            fake.url, rate=0.3, seed=12, stall_seconds=3, max_consecutive=3, should_fault=lambda *_: True
        ) as github_faults,
    ):
        env = gate_env(
            tmp_path,
            mlflow_faults.url,
            github_faults.url,
            CI_TRACK_HTTP_ATTEMPTS="8",
            CI_TRACK_GITHUB_TIMEOUT="1",
            CI_TRACK_GITHUB_ATTEMPTS="8",
        )
        faulty = ci_track("compare", "--run-id", candidate, "--json-output", "faulty.json", env=env, cwd=tmp_path)
        injected = mlflow_faults.total_injected + github_faults.total_injected
        comments = fake.comments_on(REPOSITORY, PR_NUMBER)
        statuses = [s for s in fake.statuses if s["sha"] == CANDIDATE_SHA]
        fake.assert_no_violations()
    assert faulty.code == code, faulty.stderr
    assert gate_json(tmp_path / "faulty.json") == gate_json(tmp_path / "clean.json")
    assert gate_json(tmp_path / "faulty.json")["verdict"] == verdict
    assert len(comments) == 1, [c["body"][:60] for c in comments]  # retried writes made no second comment
    assert comments[0]["body"] == json.loads((tmp_path / "faulty.json").read_text())["markdown"]
    assert [s["state"] for s in statuses][-1:] == ["success" if code == 0 else "failure"]
    assert f"verdict={verdict}\n" in (tmp_path / "github_output").read_text()
    assert injected >= 3
    record(request, "faults_injected", injected)
    record(request, "faults_survived", injected)


@pytest.mark.parametrize("fault", ["503", "500", "403", "drop", "stall"])
def test_compare_never_passes_when_it_cannot_read_the_champion(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path, fault: str, request: pytest.FixtureRequest
) -> None:
    """Only the champion search fails (the candidate comes by --run-id): the gate fails closed, exit 3."""
    candidate = gate_scenario(mlflow_server.url, experiment_name, candidate_rmse=0.45)  # would pass
    (tmp_path / ".ci-track.yml").write_text(f"experiment: {experiment_name}\n{GATE_RULES}")
    with (
        running_fake_github(head_sha=CANDIDATE_SHA) as fake,
        fault_proxy(
            mlflow_server.url,
            rate=1.0,
            faults=(fault,),
            retry_after=(0,),
            stall_seconds=3,
            should_fault=lambda _method, path: "runs/search" in path,
        ) as proxy,
    ):
        env = gate_env(
            tmp_path,
            proxy.url,
            fake.url,
            CI_TRACK_HTTP_ATTEMPTS="3",
            CI_TRACK_RETRY_BUDGET="5",
            GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        )
        result = ci_track("compare", "--run-id", candidate, "--json-output", "report.json", env=env, cwd=tmp_path)
        injected = proxy.total_injected
        comments = fake.comments_on(REPOSITORY, PR_NUMBER)
        statuses = list(fake.statuses)
    assert_clean_failure(result, 3, "champion", "failing closed")
    assert "pass" not in result.stdout.lower()
    assert not (tmp_path / "report.json").exists()
    for written in ("github_output", "summary.md"):
        path = tmp_path / written
        assert not path.exists() or "pass" not in path.read_text().lower(), path.read_text()
    assert all(status["state"] != "success" for status in statuses)
    assert all("pass" not in comment["body"].lower() for comment in comments)
    record(request, "faults_injected", injected)
