"""MLflow on Databricks as its users have it: `databricks://PROFILE` from ~/.databrickscfg, and OAuth M2M.

The settings tests check the Databricks SDK's unified-auth rules (which MLflow uses) on real
files: the profile named by the URI or DATABRICKS_CONFIG_PROFILE, the variables winning attribute
by attribute, [DEFAULT] for a bare `databricks`, DATABRICKS_CONFIG_FILE. The end-to-end tests run
the real CLI and the real MLflow client of a training script against tests/fakes/fake_databricks.py, a
loopback workspace that issues OAuth tokens and checks the bearer token of every API call before
it forwards the call to the session's real MLflow server.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_track.errors import TrackingError, UsageError
from ci_track.secrets import redact
from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import assert_clean_failure, base_env, ci_track
from tests.fakes.fake_databricks import TOKEN_PATH, FakeDatabricks, running_fake_databricks
from tests.mlflow_server import MlflowServer

PAT = "dapi-profile-token-Wq83Lz0Kc5"
ENV_PAT = "dapi-env-token-Rb72Hx4Nm1"
CLIENT_ID = "3f1c2a9e-ci-service-principal"
CLIENT_SECRET = "dose-client-secret-Tz92Vb6Qp3Lm"

TRAIN = """\
import os
import mlflow

# the training script's own MLflow client: it must reach the same workspace with working credentials
print("child tracking uri:", os.environ["MLFLOW_TRACKING_URI"])
with mlflow.start_run():
    mlflow.log_metric("accuracy", 0.9)
print("trained")
"""


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def settings(uri: str = "databricks", **env: str) -> TrackingSettings:
    return TrackingSettings.from_env({"MLFLOW_TRACKING_URI": uri, "HOME": "/nonexistent-home", **env})


# -- which host and credential: the SDK's rules -----------------------------------------------------


def test_a_profile_named_in_the_uri_is_read_from_the_config_file(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        f"[DEFAULT]\nhost = https://default.cloud.databricks.com\ntoken = dapi-default-x\n\n"
        f"[ci]\nhost = https://adb-123.azuredatabricks.net/?o=123\ntoken = {PAT}\n",
    )
    found = settings("databricks://ci", DATABRICKS_CONFIG_FILE=str(config))
    assert found.uri == "https://adb-123.azuredatabricks.net"  # scheme://netloc, as the SDK keeps it
    assert found.token == PAT
    assert found.child_uri == "databricks://ci"
    assert PAT not in repr(found)
    assert MlflowClient(found).run_url("1", "r") == "https://adb-123.azuredatabricks.net/ml/experiments/1/runs/r"


def test_bare_databricks_uses_the_default_profile_of_home_or_the_profile_variable(tmp_path: Path) -> None:
    (tmp_path / ".databrickscfg").write_text(
        f"[DEFAULT]\nhost = default.cloud.databricks.com\ntoken = {PAT}\n\n"
        "[other]\nhost = https://other\ntoken = t-oth\n"
    )
    default = TrackingSettings.from_env({"MLFLOW_TRACKING_URI": "databricks", "HOME": str(tmp_path)})
    assert (default.uri, default.token) == ("https://default.cloud.databricks.com", PAT)
    named = TrackingSettings.from_env(
        {"MLFLOW_TRACKING_URI": "databricks", "HOME": str(tmp_path), "DATABRICKS_CONFIG_PROFILE": "other"}
    )
    assert (named.uri, named.token) == ("https://other", "t-oth")
    # the URI's profile wins over the variable, as in MLflow
    (tmp_path / ".databrickscfg").write_text("[a]\nhost = https://a\ntoken = t-a\n[b]\nhost = https://b\ntoken = t-b\n")
    both = TrackingSettings.from_env(
        {"MLFLOW_TRACKING_URI": "databricks://a", "HOME": str(tmp_path), "DATABRICKS_CONFIG_PROFILE": "b"}
    )
    assert both.uri == "https://a"


def test_variables_win_over_the_profile_one_by_one(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", f"[ci]\nhost = https://from-profile\ntoken = {PAT}\n")
    mixed = settings(
        "databricks://ci",
        DATABRICKS_CONFIG_FILE=str(config),
        DATABRICKS_TOKEN=ENV_PAT,
        MLFLOW_TRACKING_USERNAME="someone",  # for another server: Databricks does not take it
        MLFLOW_TRACKING_PASSWORD="pw-for-another-server",
    )
    assert (mixed.uri, mixed.token, mixed.username, mixed.password) == ("https://from-profile", ENV_PAT, None, None)


def test_a_profile_variable_without_its_file_is_no_error_when_the_variables_suffice(tmp_path: Path) -> None:
    found = settings(
        DATABRICKS_CONFIG_FILE=str(tmp_path / "absent"),
        DATABRICKS_CONFIG_PROFILE="ci",
        DATABRICKS_HOST="https://from-env",
        DATABRICKS_TOKEN=ENV_PAT,
    )
    assert (found.uri, found.token) == ("https://from-env", ENV_PAT)


def test_without_a_named_profile_variables_with_a_host_skip_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", "[DEFAULT]\nhost = https://from-file\ntoken = t-file\n")
    found = settings(DATABRICKS_CONFIG_FILE=str(config), DATABRICKS_HOST="https://from-env", DATABRICKS_TOKEN=ENV_PAT)
    assert (found.uri, found.token, found.child_uri) == ("https://from-env", ENV_PAT, "databricks")


def test_oauth_client_credentials_come_from_a_profile_or_the_variables(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg", f"[sp]\nhost = https://ws\nclient_id = {CLIENT_ID}\nclient_secret = {CLIENT_SECRET}\n"
    )
    profile = settings("databricks://sp", DATABRICKS_CONFIG_FILE=str(config))
    assert profile.databricks is not None and profile.databricks.uses_oauth and profile.token is None
    assert CLIENT_SECRET not in repr(profile)
    env = settings(DATABRICKS_HOST="ws", DATABRICKS_CLIENT_ID=CLIENT_ID, DATABRICKS_CLIENT_SECRET=CLIENT_SECRET)
    assert env.databricks is not None and env.databricks.client_id == CLIENT_ID
    assert env.databricks.source == "the DATABRICKS_* variables"
    # a secret read from a file is in no variable, yet redacted from every message from now on
    assert redact(f"oops {CLIENT_SECRET}", {}) == "oops ***"


@pytest.mark.parametrize(
    ("uri", "config", "env", "fragments"),
    [
        (
            "databricks://prod",
            "[ci]\nhost = https://h\ntoken = t-1234\n",
            {},
            ("profile 'prod' is not in", "(it has: ci)"),
        ),
        ("databricks://ci", "[ci]\ntoken = t-1234\n", {}, ("profile 'ci' of", "has no host")),
        ("databricks://ci", None, {}, ("profile 'ci':", "does not exist")),
        ("databricks", None, {}, ("DATABRICKS_HOST is not set", "has no DEFAULT profile")),
        ("databricks", "[ci]\nhost = https://h\n", {}, ("DATABRICKS_HOST is not set",)),
        ("databricks://ci", "host = https://h\n", {}, ("is not a Databricks configuration file (INI)",)),
        (
            "databricks://ci",
            f"[ci]\nhost = https://h\ntoken = t-1234\nclient_id = {CLIENT_ID}\nclient_secret = {CLIENT_SECRET}\n",
            {},
            ("give both a token and client_id/client_secret",),
        ),
        ("databricks", None, {"DATABRICKS_HOST": "h", "DATABRICKS_CLIENT_ID": CLIENT_ID}, ("have no client_secret",)),
        ("databricks", "[DEFAULT]\nhost = https://h\n", {"DATABRICKS_TOKEN": "t-1234"}, ("variables are set",)),
        ("databricks://scope:prefix", None, {}, ("secret-scope URIs only work inside Databricks",)),
        ("databricks://", None, {}, ("names no profile",)),
    ],
)
def test_bad_databricks_configuration_is_one_clear_usage_error(
    tmp_path: Path, uri: str, config: str | None, env: dict[str, str], fragments: tuple[str, ...]
) -> None:
    path = tmp_path / "databrickscfg"
    if config is not None:
        write_config(path, config)
    with pytest.raises(UsageError) as raised:
        settings(uri, DATABRICKS_CONFIG_FILE=str(path), **env)
    message = str(raised.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert CLIENT_SECRET not in message and "t-1234" not in message
    if "profile '" in fragments[0]:
        assert str(path) in message


# -- against a loopback workspace ---------------------------------------------------------------


@pytest.fixture
def workspace(mlflow_server: MlflowServer) -> Iterator[FakeDatabricks]:
    with running_fake_databricks(
        mlflow_server.url, personal_token=PAT, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as fake:
        yield fake


def databricks_env(home: Path, **overrides: str) -> dict[str, str]:
    env = {key: value for key, value in base_env().items() if not key.startswith("DATABRICKS_")}
    env.update(HOME=str(home), **overrides)
    return env


def test_oauth_m2m_fetches_one_token_and_every_call_carries_it(workspace: FakeDatabricks) -> None:
    found = settings(
        DATABRICKS_HOST=workspace.url, DATABRICKS_CLIENT_ID=CLIENT_ID, DATABRICKS_CLIENT_SECRET=CLIENT_SECRET
    )
    with MlflowClient(found) as client:
        experiment = client.get_or_create_experiment(f"dbx-{uuid.uuid4().hex[:10]}")
        client.create_run(experiment.experiment_id)
    (token_request,) = workspace.token_requests
    assert token_request.authorization == workspace.expected_basic()
    assert token_request.form == {"grant_type": ["client_credentials"], "scope": ["all-apis"]}
    assert token_request.content_type == "application/x-www-form-urlencoded"
    (issued,) = workspace.issued
    calls = workspace.api_calls()
    assert len(calls) >= 3 and {call.authorization for call in calls} == {f"Bearer {issued}"}
    assert redact(f"leak {issued}", {}) == "leak ***"


def test_an_expiring_token_is_refreshed_before_the_next_call(mlflow_server: MlflowServer) -> None:
    now = [1000.0]
    with running_fake_databricks(
        mlflow_server.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, expires_in=600
    ) as workspace:
        found = settings(
            DATABRICKS_HOST=workspace.url, DATABRICKS_CLIENT_ID=CLIENT_ID, DATABRICKS_CLIENT_SECRET=CLIENT_SECRET
        )
        with MlflowClient(found, clock=lambda: now[0]) as client:
            client.get_experiment_by_name("Default")
            now[0] += 300  # still valid: the cached token is used
            client.get_experiment_by_name("Default")
            now[0] += 290  # within the refresh margin of its expiry: a new one first
            client.get_experiment_by_name("Default")
        first, second = workspace.issued
        assert [call.authorization for call in workspace.api_calls()] == [
            f"Bearer {first}",
            f"Bearer {first}",
            f"Bearer {second}",
        ]


def test_a_refused_token_request_is_a_service_error_naming_the_source_not_the_secret(
    workspace: FakeDatabricks, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "cfg", f"[sp]\nhost = {workspace.url}\nclient_id = {CLIENT_ID}\nclient_secret = wrong-secret-Zx81\n"
    )
    found = settings("databricks://sp", DATABRICKS_CONFIG_FILE=str(config))
    with MlflowClient(found) as client, pytest.raises(TrackingError) as raised:
        client.get_experiment_by_name("Default")
    message = str(raised.value)
    assert f"{workspace.url}{TOKEN_PATH} refused the client credentials (HTTP 401 invalid_client)" in message
    assert f"profile 'sp' of {config}" in message and "wrong-secret-Zx81" not in message
    assert workspace.api_calls() == []  # nothing went out unauthenticated


def test_ci_track_run_with_a_profile_reaches_the_workspace_and_so_does_the_training_script(
    workspace: FakeDatabricks, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".databrickscfg").write_text(f"[ci]\nhost = {workspace.url}\ntoken = {PAT}\n")
    (tmp_path / "train.py").write_text(TRAIN)
    experiment = f"dbx-{uuid.uuid4().hex[:10]}"
    env = databricks_env(home, MLFLOW_TRACKING_URI="databricks://ci")
    result = ci_track("run", "--experiment", experiment, "--", sys.executable, "train.py", env=env, cwd=tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert "child tracking uri: databricks://ci" in result.stdout
    run = only_run(mlflow_server, experiment)
    assert run.metrics["accuracy"] == 0.9  # logged by the script's own MLflow client, through the workspace
    assert {call.authorization for call in workspace.api_calls()} == {f"Bearer {PAT}"}
    assert PAT not in result.stdout + result.stderr


def test_ci_track_run_with_oauth_m2m_variables_and_the_training_script_gets_its_own_token(
    workspace: FakeDatabricks, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    experiment = f"dbx-{uuid.uuid4().hex[:10]}"
    env = databricks_env(
        tmp_path,
        MLFLOW_TRACKING_URI="databricks",
        DATABRICKS_HOST=workspace.url,
        DATABRICKS_CLIENT_ID=CLIENT_ID,
        DATABRICKS_CLIENT_SECRET=CLIENT_SECRET,
    )
    # the secret typed into the command line must not be stored in the run's tags
    argv = ["run", "--experiment", experiment, "--", sys.executable, "train.py", CLIENT_SECRET]
    result = ci_track(*argv, env=env, cwd=tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    run = only_run(mlflow_server, experiment)
    assert run.metrics["accuracy"] == 0.9
    assert not [key for key, value in run.tags.items() if CLIENT_SECRET in value]
    assert "***" in run.tags["mlflow.source.name"]
    # ci-track's token and the script's own (its Databricks SDK asked for one): every call had a valid one
    assert len(workspace.issued) == len(workspace.token_requests) >= 2
    assert all(request.authorization == workspace.expected_basic() for request in workspace.token_requests)
    assert {call.authorization for call in workspace.api_calls()} <= {f"Bearer {t}" for t in workspace.issued}
    output = result.stdout + result.stderr
    assert CLIENT_SECRET not in output and not [t for t in workspace.issued if t in output]


def test_ci_track_run_with_refused_client_credentials_exits_3_in_one_line(
    workspace: FakeDatabricks, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    env = databricks_env(
        tmp_path,
        MLFLOW_TRACKING_URI="databricks",
        DATABRICKS_HOST=workspace.url,
        DATABRICKS_CLIENT_ID=CLIENT_ID,
        DATABRICKS_CLIENT_SECRET="not-the-secret-Jd62",
    )
    result = ci_track("run", "--experiment", "never", "--", sys.executable, "train.py", env=env, cwd=tmp_path)
    line = assert_clean_failure(result, 3, "refused the client credentials (HTTP 401", "DATABRICKS_* variables")
    assert "not-the-secret-Jd62" not in result.stdout + result.stderr and "trained" not in result.stdout
    assert line.count("ci-track: error:") == 1
    basic = base64.b64encode(f"{CLIENT_ID}:not-the-secret-Jd62".encode()).decode()
    assert basic not in result.stderr


def test_ci_track_run_with_a_missing_profile_exits_2_naming_it_and_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", "[ci]\nhost = https://h\ntoken = t-1234\n")
    env = databricks_env(tmp_path, MLFLOW_TRACKING_URI="databricks://prod", DATABRICKS_CONFIG_FILE=str(config))
    result = ci_track("run", "--experiment", "x", "--", sys.executable, "-c", "pass", env=env, cwd=tmp_path)
    assert_clean_failure(result, 2, "Databricks profile 'prod' is not in", str(config))


def only_run(server: MlflowServer, experiment: str) -> Run:
    with MlflowClient(TrackingSettings(uri=server.url)) as client:
        found = client.get_experiment_by_name(experiment)
        assert found is not None
        runs, _ = client.search_runs([found.experiment_id])
    (run,) = runs
    return run
