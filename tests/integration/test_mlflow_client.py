"""The REST client against a real MLflow server (and a scripted loopback server for retry behaviour)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from ci_track.errors import NotFoundError, TrackingError, UsageError
from ci_track.settings import TrackingSettings
from ci_track.tracking.batches import plan_log_batches
from ci_track.tracking.client import MlflowClient
from tests.mlflow_server import free_port


def test_experiment_is_created_once_and_found_by_name(client: MlflowClient, experiment_name: str) -> None:
    assert client.get_experiment_by_name(experiment_name) is None
    created = client.get_or_create_experiment(experiment_name)
    again = client.get_or_create_experiment(experiment_name)
    assert created.experiment_id == again.experiment_id
    assert client.get_experiment(created.experiment_id).name == experiment_name


def test_run_keeps_start_time_tags_and_nan_metrics(client: MlflowClient, experiment_name: str) -> None:
    experiment = client.get_or_create_experiment(experiment_name)
    run = client.create_run(experiment.experiment_id, run_name="r1", tags={"ci.provider": "local"})
    assert run.start_time and run.start_time > 1_600_000_000_000  # omitting it would store 0
    client.log_batch(
        run.run_id,
        metrics=[
            {"key": "nan_metric", "value": math.nan},
            {"key": "inf_metric", "value": math.inf},
            {"key": "rmse", "value": 0.5},
        ],
        params={"alpha": "0.1"},
    )
    client.update_run(run.run_id, "FINISHED")
    stored = client.get_run(run.run_id)
    assert stored.status == "FINISHED"
    assert math.isnan(stored.metrics["nan_metric"])  # a bare NaN would have been stored as 0
    assert stored.metrics["inf_metric"] > 1e300
    assert stored.metrics["rmse"] == 0.5
    assert stored.params == {"alpha": "0.1"}
    assert stored.tags["ci.provider"] == "local"
    assert stored.tags["mlflow.runName"] == "r1"


def test_log_batch_is_split_within_server_limits_and_nothing_is_lost(
    client: MlflowClient, experiment_name: str
) -> None:
    experiment = client.get_or_create_experiment(experiment_name)
    run = client.create_run(experiment.experiment_id)
    metrics = [{"key": "loss", "value": i / 10, "step": i} for i in range(2500)]
    params = {f"p{i}": str(i) for i in range(250)}
    tags = {f"t{i}": "x" for i in range(150)}
    sent = client.log_batch(run.run_id, metrics=metrics, params=params, tags=tags)
    assert sent == 3  # 2900 items in 1000-item requests of <= 100 params and <= 100 tags each
    stored = client.get_run(run.run_id)
    assert len(stored.params) == 250
    assert sum(1 for key in stored.tags if key.startswith("t")) == 150
    history = client._call("GET", "metrics/get-history", params={"run_id": run.run_id, "metric_key": "loss"})
    assert len(history["metrics"]) == 2500


def test_batch_plan_respects_every_limit() -> None:
    batches = plan_log_batches(
        "r", metrics=[{"key": "m", "value": 1.0, "step": i} for i in range(1500)], params={}, tags={}
    )
    assert [len(b["metrics"]) for b in batches] == [1000, 500]
    big = plan_log_batches("r", metrics=[], params={}, tags={f"t{i}": "v" * 7000 for i in range(300)})
    assert all(len(json.dumps(b)) < 1_000_000 for b in big)
    assert all(len(b["tags"]) <= 100 for b in big)
    assert sum(len(b["tags"]) for b in big) == 300


def test_empty_search_results_are_an_empty_list(client: MlflowClient, experiment_name: str) -> None:
    experiment = client.get_or_create_experiment(experiment_name)
    runs, token = client.search_runs([experiment.experiment_id], filter_string="tags.`ci.pr_number` = '999'")
    assert runs == [] and token is None


def test_search_filters_and_orders_on_the_server(client: MlflowClient, experiment_name: str) -> None:
    experiment = client.get_or_create_experiment(experiment_name)
    for value in (0.3, 0.1, 0.2):
        run = client.create_run(experiment.experiment_id, tags={"mlflow.source.git.branch": "main"})
        client.log_batch(run.run_id, metrics=[{"key": "rmse", "value": value}])
        client.update_run(run.run_id, "FINISHED")
    runs, _ = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`mlflow.source.git.branch` = 'main' and attributes.status = 'FINISHED'",
        order_by=["metrics.rmse ASC"],
        max_results=1,
    )
    assert [r.metrics["rmse"] for r in runs] == [0.1]


def test_missing_run_is_not_found_with_mlflow_error_code(client: MlflowClient) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.get_run("0" * 32)
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_missing_alias_or_model_reads_as_none(client: MlflowClient, experiment_name: str) -> None:
    assert client.get_model_version_by_alias(f"no-such-model-{experiment_name}", "champion") is None
    client.ensure_registered_model(experiment_name)
    client.ensure_registered_model(experiment_name)  # idempotent
    assert client.get_model_version_by_alias(experiment_name, "champion") is None


def test_unreachable_server_fails_after_bounded_retries_naming_the_url() -> None:
    port = free_port()  # nothing listens there
    sleeps: list[float] = []
    settings = TrackingSettings(uri=f"http://127.0.0.1:{port}", max_attempts=4, retry_budget=30)
    with MlflowClient(settings, sleep=sleeps.append) as client, pytest.raises(TrackingError) as raised:
        client.get_run("abc")
    assert f"http://127.0.0.1:{port}" in str(raised.value)
    assert "connection refused" in str(raised.value)
    assert client.request_count == 4 and len(sleeps) == 3


class _Scripted(BaseHTTPRequestHandler):
    """Answers from a script of (status, headers, body); records what it was asked."""

    script: ClassVar[list[tuple[int, dict[str, str], object]]] = []
    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        self.seen.append(self.path)
        status, headers, body = self.script.pop(0) if self.script else (200, {}, {})
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    handler = type("Handler", (_Scripted,), {"script": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def test_retry_after_is_honoured_on_429_and_503(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.script = [
        (429, {"Retry-After": "2"}, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow down"}),
        (503, {"Retry-After": "1"}, b"unavailable"),
        (200, {}, {"run": {"info": {"run_id": "r1", "experiment_id": "1", "status": "FINISHED"}}}),
    ]
    sleeps: list[float] = []
    notices: list[str] = []
    with MlflowClient(TrackingSettings(uri=url), sleep=sleeps.append, progress=notices.append) as client:
        run = client.get_run("r1")
    assert run.run_id == "r1" and run.metrics == {} and run.tags == {}  # empty lists omitted by the server
    assert sleeps == [2.0, 1.0]
    assert notices == [
        "ci-track: retrying runs/get in 2.0 s (attempt 2 of 6): HTTP 429",
        "ci-track: retrying runs/get in 1.0 s (attempt 3 of 6): HTTP 503",
    ]


def test_client_errors_are_never_retried(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.script = [(400, {}, {"error_code": "INVALID_PARAMETER_VALUE", "message": "bad filter\ndetails"})]
    with (
        MlflowClient(TrackingSettings(uri=url), sleep=lambda _: None) as client,
        pytest.raises(TrackingError) as raised,
    ):
        client.search_runs(["1"], filter_string="nonsense")
    assert client.request_count == 1
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert str(raised.value) == "MLflow INVALID_PARAMETER_VALUE: bad filter"


def test_retry_budget_bounds_the_time_spent(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.script = [(503, {"Retry-After": "30"}, b"down")] * 10
    sleeps: list[float] = []
    notices: list[str] = []
    settings = TrackingSettings(uri=url, retry_budget=5)
    with (
        MlflowClient(settings, sleep=sleeps.append, progress=notices.append) as client,
        pytest.raises(TrackingError) as raised,
    ):
        client.get_run("r1")
    assert sleeps == [] and notices == []  # waiting 30 s would exceed the 5 s budget: give up at once, no retry
    assert "HTTP 503" in str(raised.value) and url in str(raised.value)


def test_a_server_that_is_not_mlflow_is_named(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.script = [(404, {"Content-Type": "text/html"}, b"<html>Not Found</html>")]
    with MlflowClient(TrackingSettings(uri=url)) as client, pytest.raises(TrackingError) as raised:
        client.get_run("r1")
    assert "is it an MLflow tracking server?" in str(raised.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set MLFLOW_TRACKING_URI"),
        ({"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}, "is not an http(s) URL"),
        ({"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, "is not an http(s) URL"),
        ({"MLFLOW_TRACKING_URI": "databricks"}, "DATABRICKS_HOST is not set"),
        ({"MLFLOW_TRACKING_URI": "http://x", "CI_TRACK_RETRY_BUDGET": "soon"}, "CI_TRACK_RETRY_BUDGET must be"),
    ],
)
def test_settings_reject_bad_environment(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TrackingSettings.from_env(env)


def test_settings_read_the_mlflow_client_environment(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("ca")
    (tmp_path / "client.pem").write_text("client")
    settings = TrackingSettings.from_env(
        {
            "MLFLOW_TRACKING_URI": "https://mlflow.example/",
            "MLFLOW_TRACKING_USERNAME": "u",
            "MLFLOW_TRACKING_PASSWORD": "secret-password-value",
            "MLFLOW_TRACKING_SERVER_CERT_PATH": str(tmp_path / "ca.pem"),
            "MLFLOW_TRACKING_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
        }
    )
    assert settings.uri == "https://mlflow.example"
    assert settings.verify == str(tmp_path / "ca.pem") and settings.client_cert == str(tmp_path / "client.pem")
    assert "secret-password-value" not in repr(settings)
    insecure = TrackingSettings.from_env({"MLFLOW_TRACKING_URI": "https://h", "MLFLOW_TRACKING_INSECURE_TLS": "true"})
    assert insecure.verify is False
    databricks = TrackingSettings.from_env(
        {
            "MLFLOW_TRACKING_URI": "databricks",
            "DATABRICKS_HOST": "adb-1.azuredatabricks.net",
            "DATABRICKS_TOKEN": "dapi-x",
        }
    )
    assert databricks.uri == "https://adb-1.azuredatabricks.net" and databricks.token == "dapi-x"
    client = MlflowClient(databricks)
    assert client.run_url("1", "abc") == "https://adb-1.azuredatabricks.net/ml/experiments/1/runs/abc"
