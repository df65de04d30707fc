"""TLS and credentials against real servers: fail closed with one line that says what to fix, work when right.

TLS: tests/fakes/tls_terminator.py serves the session's MLflow server over HTTPS with a certificate from
a CA made for this module. Auth: a real `mlflow server --app-name basic-auth`. Both the ci-track
client and the MLflow client in the training script must get through when configured correctly.
REQUESTS_CA_BUNDLE is set on many CI images (and on this one): with it set, the MLflow variables
must still decide, so the cases run with and without it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, assert_clean_failure, base_env, ci_track
from tests.fakes.fault_proxy import FaultProxy
from tests.fakes.tls_terminator import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    TestCertificates,
    make_certificates,
    running_basic_auth_server,
    tls_terminator,
)
from tests.mlflow_server import MlflowServer
from tests.reliability_figures import record

SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
WRONG_PASSWORD = "wrong-pw-Hx73Kq0Pz9aa"
READER_USER = "reader"
READER_PASSWORD = "reader-pw-Mn52Ty8Qw1"

TRAIN = """\
import mlflow
with mlflow.start_run():
    mlflow.log_metric("accuracy", 0.9)
print("trained")
"""


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def https_front(mlflow_server: MlflowServer, certificates: TestCertificates) -> Iterator[FaultProxy]:
    with tls_terminator(mlflow_server.url, certificates) as front:
        yield front


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    with running_basic_auth_server(tmp_path_factory.mktemp("auth-server")) as server:
        response = requests.post(
            f"{server.url}/api/2.0/mlflow/users/create",
            json={"username": READER_USER, "password": READER_PASSWORD},
            auth=(ADMIN_USER, ADMIN_PASSWORD),
            timeout=30,
        )
        response.raise_for_status()
        yield server


def with_ca_bundle(env: dict[str, str], ca_bundle: str | None) -> dict[str, str]:
    env = {k: v for k, v in env.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    if ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = ca_bundle
    return env


def run_training(tmp_path: Path, experiment: str, env: dict[str, str]) -> CliResult:
    (tmp_path / "train.py").write_text(TRAIN)
    return ci_track("run", "--experiment", experiment, "--", sys.executable, "train.py", env=env, cwd=tmp_path)


def only_run(settings: TrackingSettings, experiment: str) -> Run:
    with MlflowClient(settings) as client:
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        runs, _ = client.search_runs([found.experiment_id])
    assert len(runs) == 1
    return runs[0]


CA_BUNDLE_CASES = pytest.mark.parametrize("ca_bundle", [None, SYSTEM_BUNDLE], ids=["plain-env", "REQUESTS_CA_BUNDLE"])


@CA_BUNDLE_CASES
def test_untrusted_certificate_fails_closed_with_a_tls_message(
    https_front: FaultProxy, tmp_path: Path, ca_bundle: str | None, request: pytest.FixtureRequest
) -> None:
    env = with_ca_bundle(base_env(MLFLOW_TRACKING_URI=https_front.url), ca_bundle)
    result = ci_track("run", "--experiment", "tls-untrusted", "--", "true", env=env, cwd=tmp_path)
    assert_clean_failure(result, 3, "TLS", https_front.url, "MLFLOW_TRACKING_SERVER_CERT_PATH")
    assert https_front.requests_to("tls-untrusted") == []  # nothing got past the handshake
    record(request, "bad_input_cases", 1)


@CA_BUNDLE_CASES
def test_server_cert_path_pointing_at_the_ca_works(
    mlflow_server: MlflowServer,
    https_front: FaultProxy,
    certificates: TestCertificates,
    experiment_name: str,
    tmp_path: Path,
    ca_bundle: str | None,
) -> None:
    env = with_ca_bundle(
        base_env(MLFLOW_TRACKING_URI=https_front.url, MLFLOW_TRACKING_SERVER_CERT_PATH=str(certificates.ca_cert)),
        ca_bundle,
    )
    result = run_training(tmp_path, experiment_name, env)
    assert result.code == 0, result.stderr
    assert "trained" in result.stdout
    run = only_run(TrackingSettings(uri=mlflow_server.url), experiment_name)  # read behind the terminator
    assert run.status == "FINISHED" and run.metrics["accuracy"] == 0.9  # the script's client got through too
    assert f"{https_front.url}/#/experiments/" in result.stderr


@CA_BUNDLE_CASES
def test_insecure_tls_switch_works(
    mlflow_server: MlflowServer, https_front: FaultProxy, experiment_name: str, tmp_path: Path, ca_bundle: str | None
) -> None:
    env = with_ca_bundle(base_env(MLFLOW_TRACKING_URI=https_front.url, MLFLOW_TRACKING_INSECURE_TLS="true"), ca_bundle)
    result = run_training(tmp_path, experiment_name, env)
    assert result.code == 0, result.stderr
    run = only_run(TrackingSettings(uri=mlflow_server.url), experiment_name)
    assert run.status == "FINISHED" and run.metrics["accuracy"] == 0.9


def test_a_missing_ca_file_is_a_clean_error(https_front: FaultProxy, tmp_path: Path) -> None:
    env = base_env(MLFLOW_TRACKING_URI=https_front.url, MLFLOW_TRACKING_SERVER_CERT_PATH=str(tmp_path / "nope.pem"))
    result = ci_track("run", "--experiment", "x", "--", "true", env=env, cwd=tmp_path)
    assert_clean_failure(result, 2, "nope.pem", "MLFLOW_TRACKING_SERVER_CERT_PATH")


@pytest.mark.parametrize(
    ("credentials", "fragments"),
    [
        ({"MLFLOW_TRACKING_USERNAME": ADMIN_USER, "MLFLOW_TRACKING_PASSWORD": WRONG_PASSWORD}, ("credentials", "401")),
        ({}, ("credentials", "MLFLOW_TRACKING_USERNAME")),
        ({"MLFLOW_TRACKING_TOKEN": "mlflowtok_NotAValidBearer_x81"}, ("credentials", "401")),
    ],
    ids=["wrong-password", "no-credentials", "bearer-token-on-basic-auth"],
)
def test_refused_credentials_exit_3_in_one_line(
    auth_server: MlflowServer,
    tmp_path: Path,
    credentials: dict[str, str],
    fragments: tuple[str, ...],
    request: pytest.FixtureRequest,
) -> None:
    env = base_env(MLFLOW_TRACKING_URI=auth_server.url, **credentials)
    result = ci_track("run", "--experiment", "auth-refused", "--", "true", env=env, cwd=tmp_path)
    line = assert_clean_failure(result, 3, auth_server.url, *fragments)
    for secret in credentials.values():
        if secret != ADMIN_USER:
            assert secret not in result.stderr + result.stdout, line
    record(request, "bad_input_cases", 1)


def test_right_password_works_for_ci_track_and_the_training_script(
    auth_server: MlflowServer, experiment_name: str, tmp_path: Path
) -> None:
    env = base_env(
        MLFLOW_TRACKING_URI=auth_server.url,
        MLFLOW_TRACKING_USERNAME=ADMIN_USER,
        MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD,
    )
    result = run_training(tmp_path, experiment_name, env)
    assert result.code == 0, result.stderr
    run = only_run(TrackingSettings(uri=auth_server.url, username=ADMIN_USER, password=ADMIN_PASSWORD), experiment_name)
    assert run.status == "FINISHED" and run.metrics["accuracy"] == 0.9
    assert run.tags["ci.exit_code"] == "0"
    assert ADMIN_PASSWORD not in result.stderr + result.stdout


def test_a_user_without_write_permission_gets_a_clean_403(
    auth_server: MlflowServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    experiment = f"admins-{uuid.uuid4().hex[:8]}"
    with MlflowClient(TrackingSettings(uri=auth_server.url, username=ADMIN_USER, password=ADMIN_PASSWORD)) as admin:
        admin.get_or_create_experiment(experiment)
    env = base_env(
        MLFLOW_TRACKING_URI=auth_server.url,
        MLFLOW_TRACKING_USERNAME=READER_USER,
        MLFLOW_TRACKING_PASSWORD=READER_PASSWORD,
    )
    result = ci_track("run", "--experiment", experiment, "--", "true", env=env, cwd=tmp_path)
    assert_clean_failure(result, 3, "403", "runs/create")
    record(request, "bad_input_cases", 1)
