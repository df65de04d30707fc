"""Shared fixtures: a real MLflow tracking server for the whole session, and a clean environment per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mlflow_server import MlflowServer, running_server

# Variables of the machine running the tests that must not leak into ci-track under test.
_CI_VARIABLES = (
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_NAME",
    "GITHUB_EVENT_PATH",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_TOKEN",
    "GITLAB_CI",
    "JENKINS_URL",
    "JENKINS_HOME",
    "BUILD_URL",
    "CHANGE_ID",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real `mlflow server` (sqlite store, 127.0.0.1, one worker) shared by the session."""
    with running_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


@pytest.fixture
def experiment_name() -> str:
    """A fresh experiment name per test, so tests sharing the server never see each other's runs."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """os.environ without the CI and MLflow variables of the machine running the tests."""
    for name in list(os.environ):
        if name in _CI_VARIABLES or name.startswith(("CI_TRACK_", "INPUT_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI", "false")
    return dict(os.environ)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
