"""Shared fixtures: a real MLflow tracking server for the whole session, and a clean environment per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import is_ci_variable
from tests.mlflow_server import MlflowServer, running_server

# Variables of the machine running the tests that must not leak into ci-track under test.


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
        if is_ci_variable(name):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CI", "false")
    return dict(os.environ)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
