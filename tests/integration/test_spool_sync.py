"""Nothing is lost: results the server could not take are spooled and `ci-track sync` sends them exactly once.

The server is really stopped in the middle of `ci-track run` (the training command waits on a file
while the test stops it), then started again on the same port and sqlite file. A partially sent
spool is resumed where it stopped, counted at the wire by a proxy. SIGINT during `run` stops the
command's whole process group and marks the run KILLED (SIGTERM: tests/integration/test_run_command.py).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, assert_clean_failure, base_env, ci_track, init_repo, pids_alive, start_slow_run
from tests.fakes.fault_proxy import fault_proxy
from tests.mlflow_server import MlflowServer, free_port
from tests.reliability_figures import record
from tests.reliability_scenarios import history_errors, metric_history

HISTORY_LENGTH = 2500  # > 2 log-batch requests of 1000 metrics: the spool holds several batches
FAKE_TOKEN = "mlflowtok_SpoolMustNeverHoldThis_7Qx93LmZ"
FAKE_PASSWORD = "pw_SpoolMustNeverHoldThisEither_K2v81"

TRAIN_THEN_WAIT = """\
import json, pathlib, sys, time
import mlflow

with mlflow.start_run():
    mlflow.log_param("alpha", "0.5")
    mlflow.log_metric("script_metric", 1.5)
history = [round(1.0 / (step + 1), 6) for step in range(int(sys.argv[1]))]
pathlib.Path("metrics.json").write_text(json.dumps({"rmse": 0.25, "loss": history}))
pathlib.Path("ready").touch()
while not pathlib.Path("go").exists():  # the test stops the tracking server meanwhile
    time.sleep(0.05)
print("trained")
"""


def only_run(url: str, experiment: str) -> Run:
    with MlflowClient(TrackingSettings(uri=url)) as client:
        found = client.get_experiment_by_name(experiment)
        assert found is not None, f"experiment {experiment} was never created"
        runs, _ = client.search_runs([found.experiment_id], max_results=10)
    assert len(runs) == 1, [r.run_id for r in runs]
    return runs[0]


def spool_files(repo: Path) -> list[Path]:
    return sorted((repo / ".ci-track" / "spool").glob("*"))


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MlflowServer]:
    """A server this test may stop and start again (the session server is shared)."""
    root = tmp_path / "server"
    server = MlflowServer(root=root, port=free_port(), backend_uri=f"sqlite:///{root / 'mlflow.db'}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_results_spooled_while_the_server_is_down_are_synced_exactly_once(
    own_server: MlflowServer, experiment_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    repo = tmp_path / "repo"
    init_repo(repo, {"train.py": TRAIN_THEN_WAIT})
    # Credentials in the URI and a token in the environment: neither may reach the spool file.
    uri_with_password = own_server.url.replace("http://", f"http://ci:{FAKE_PASSWORD}@")
    env = base_env(
        MLFLOW_TRACKING_URI=uri_with_password,
        MLFLOW_TRACKING_TOKEN=FAKE_TOKEN,
        CI_TRACK_RETRY_BUDGET="2",
        CI_TRACK_HTTP_ATTEMPTS="3",
        CI_TRACK_HTTP_TIMEOUT="2",
    )
    command = [sys.executable, "-m", "ci_track", "run", "--experiment", experiment_name]
    command += ["--metrics-file", "metrics.json", "--", sys.executable, "train.py", str(HISTORY_LENGTH)]
    process = subprocess.Popen(command, env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (repo / "ready").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the training command never got ready"
            time.sleep(0.1)
        own_server.stop()  # the tracking server goes away before ci-track sends the results
        (repo / "go").touch()
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    result = CliResult(process.returncode, stdout, stderr)
    assert "trained" in result.stdout
    (spooled,) = spool_files(repo)
    line = assert_clean_failure(result, 3, str(spooled), "ci-track sync", "127.0.0.1")
    assert FAKE_PASSWORD not in line and FAKE_PASSWORD not in result.stderr
    spool_text = spooled.read_text()
    assert FAKE_TOKEN not in spool_text and FAKE_PASSWORD not in spool_text
    assert json.loads(spool_text)["status"] == "FINISHED"  # the command itself succeeded

    own_server.start()  # same port, same sqlite file
    sync_env = base_env(MLFLOW_TRACKING_TOKEN=FAKE_TOKEN)  # no tracking URI: the spool's own is used
    synced = ci_track("sync", env=sync_env, cwd=repo)
    assert synced.code == 0, synced.stderr
    assert spool_files(repo) == []
    assert FAKE_TOKEN not in synced.stderr + synced.stdout

    again = ci_track("sync", env=sync_env, cwd=repo)
    assert again.code == 0 and "nothing to sync" in again.stderr

    run = only_run(own_server.url, experiment_name)
    assert run.status == "FINISHED"
    assert run.metrics["rmse"] == 0.25 and run.metrics["script_metric"] == 1.5
    assert run.params == {"alpha": "0.5"}
    assert run.tags["ci.exit_code"] == "0"
    history = metric_history(own_server.url, run.run_id, "loss")
    lost = history_errors(own_server.url, run.run_id, "loss", HISTORY_LENGTH) + history_errors(
        own_server.url, run.run_id, "rmse", 1
    )
    record(request, "data_lost", lost)
    assert lost == 0
    assert len(history) == HISTORY_LENGTH
    record(request, "spool_round_trips", 1)
    record(request, "secret_scans", 4)  # stderr of run, the spool file, stdout/stderr of sync


def _spool_by_failing_every_log_batch(
    mlflow_server: MlflowServer, experiment: str, repo: Path, env: dict[str, str]
) -> tuple[Path, CliResult]:
    """`ci-track run` whose log-batch requests all get 503: everything after the command is spooled."""
    metrics = {"loss": [round(1.0 / (step + 1), 6) for step in range(HISTORY_LENGTH)], "rmse": 0.5}
    (repo / "metrics.json").write_text(json.dumps(metrics))
    with fault_proxy(
        mlflow_server.url, rate=1.0, faults=("503",), retry_after=(0,), should_fault=lambda _m, p: "log-batch" in p
    ) as proxy:
        result = ci_track(
            "run",
            "--experiment",
            experiment,
            "--metrics-file",
            "metrics.json",
            "--",
            "true",
            env={**env, "MLFLOW_TRACKING_URI": proxy.url},
            cwd=repo,
        )
    (spooled,) = spool_files(repo)
    return spooled, result


def test_a_partially_sent_spool_resumes_where_it_stopped(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    repo = tmp_path / "repo"
    init_repo(repo, {"README": "x\n"})
    env = base_env(CI_TRACK_RETRY_BUDGET="1", CI_TRACK_HTTP_ATTEMPTS="2")
    spooled, result = _spool_by_failing_every_log_batch(mlflow_server, experiment_name, repo, env)
    assert_clean_failure(result, 3, str(spooled))
    batches = json.loads(spooled.read_text())["batches"]
    assert len(batches) >= 3

    # The first log-batch of this sync goes through, every later one fails: the spool keeps the rest.
    log_batches_seen: list[int] = []

    def fail_after_first_batch(_method: str, path: str) -> bool:
        if "log-batch" not in path:
            return False
        log_batches_seen.append(1)
        return len(log_batches_seen) > 1

    with fault_proxy(
        mlflow_server.url, rate=1.0, faults=("503",), retry_after=(0,), should_fault=fail_after_first_batch
    ) as proxy:
        partial = ci_track("sync", "--tracking-uri", proxy.url, env=env, cwd=repo)
    assert partial.code == 3, partial.stderr
    assert str(spooled) in partial.stderr
    remaining = json.loads(spooled.read_text())["batches"]
    assert remaining == batches[1:]  # exactly the ones not yet accepted, unchanged (same timestamps)

    with fault_proxy(mlflow_server.url) as counting:
        finished = ci_track("sync", "--tracking-uri", counting.url, env=env, cwd=repo)
        sent_batches = len(counting.requests_to("runs/log-batch"))
        sent_updates = len(counting.requests_to("runs/update"))
    assert finished.code == 0, finished.stderr
    # resumed: nothing that was already accepted was sent again; then the status, then the completion mark
    assert sent_batches == len(remaining) + 1
    assert sent_updates == 1
    assert spool_files(repo) == []

    run = only_run(mlflow_server.url, experiment_name)
    assert run.status == "FINISHED" and run.metrics["rmse"] == 0.5
    assert run.tags["ci.exit_code"] == "0"  # complete only now
    lost = history_errors(mlflow_server.url, run.run_id, "loss", HISTORY_LENGTH)
    record(request, "data_lost", lost)
    assert lost == 0


def test_sync_of_an_unreadable_spool_file_is_a_clean_error_and_keeps_the_file(tmp_path: Path) -> None:
    spool = tmp_path / ".ci-track" / "spool"
    spool.mkdir(parents=True)
    (spool / "broken.json").write_text("{not json")
    result = ci_track("sync", env=base_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9"), cwd=tmp_path)
    assert_clean_failure(result, 2, "broken.json", "not readable")
    assert (spool / "broken.json").exists()  # never thrown away: a person can still look at it


@pytest.mark.parametrize("spool", ["absent", "empty", "absent-CI_TRACK_SPOOL_DIR"])
def test_sync_with_nothing_spooled_passes_saying_so(spool: str, tmp_path: Path) -> None:
    """A CI step that always runs `ci-track sync` must not fail when `run` had nothing to keep."""
    env = base_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9")  # nothing listens: sync must not even try
    if spool == "empty":
        (tmp_path / ".ci-track" / "spool").mkdir(parents=True)
    if spool == "absent-CI_TRACK_SPOOL_DIR":
        env["CI_TRACK_SPOOL_DIR"] = str(tmp_path / "no-such-spool")
    result = ci_track("sync", env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stderr.splitlines() == ["ci-track: nothing to sync"]


def test_sync_of_a_named_path_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    result = ci_track("sync", "spool-typo", env=base_env(MLFLOW_TRACKING_URI="http://127.0.0.1:9"), cwd=tmp_path)
    assert_clean_failure(result, 2, "no spool at spool-typo")


def test_sync_with_the_server_still_down_keeps_the_spool_and_names_the_url(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    init_repo(repo, {"README": "x\n"})
    env = base_env(CI_TRACK_RETRY_BUDGET="1", CI_TRACK_HTTP_ATTEMPTS="2")
    spooled, _ = _spool_by_failing_every_log_batch(mlflow_server, experiment_name, repo, env)
    before = spooled.read_text()
    down = f"http://127.0.0.1:{free_port()}"
    result = ci_track("sync", "--tracking-uri", down, env=env, cwd=repo)
    assert result.code == 3
    assert down in result.stderr and "Traceback" not in result.stderr
    assert spooled.read_text() == before


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    "started_with_sigint_ignored",
    [False, True],
    ids=["plain", "sigint-ignored-by-the-parent"],  # as a shell starts a background job (`cmd &`)
)
def test_sigint_during_run_kills_the_command_group_and_marks_the_run_killed(
    mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path, started_with_sigint_ignored: bool
) -> None:
    preexec_fn = _ignore_sigint if started_with_sigint_ignored else None
    process, pids = start_slow_run(tmp_path, mlflow_server.url, experiment_name, preexec_fn=preexec_fn)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr
    assert pids_alive(pids) == []
    run = only_run(mlflow_server.url, experiment_name)
    assert run.status == "KILLED"
    assert run.tags["ci.stopped_by"] == "SIGINT"
    assert run.end_time is not None
