"""Shared fixtures: a real MLflow tracking server for the whole session, and a clean environment per test."""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests.cli_helpers import is_ci_variable
from tests.mlflow_server import MlflowServer, running_server

# scripts/setup installs the venvs without bytecode (pip compiling all ~26,000 of their modules costs minutes of
# CPU; the tests import a few thousand). This process and every process the tests start write the bytecode of
# what they import, once, even on machines that set PYTHONDONTWRITEBYTECODE (this one does): without it each
# mlflow server, training script and ci-track process would compile its imports again in memory.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

# Variables of the machine running the tests that must not leak into ci-track under test.


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real `mlflow server` (sqlite store, 127.0.0.1, one worker) shared by the session."""
    with running_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


@pytest.fixture
def client(mlflow_server: MlflowServer) -> Iterator[MlflowClient]:
    """ci-track's own MLflow client on the session's server."""
    with MlflowClient(TrackingSettings(uri=mlflow_server.url)) as c:
        yield c


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


# Parallel runs (pytest-xdist, `scripts/test` runs `-n 3 --dist loadgroup`): the long end-to-end tests start
# first, so none of them is left to run alone at the end; and each server generation of the compatibility
# matrix, and each module whose module-scoped fixture starts servers or builds a wheel, stays on one worker, so
# no two workers pay for the same PostgreSQL, auth server, old MLflow server or wheel. The grouping is this
# file's scheduler rather than xdist_group marks: pytest-xdist 3.8 writes the group into `Item._nodeid`, which
# pytest 9.2 no longer reads, so marks added here would be silently ignored.
_LONG_MODULES = frozenset(
    {
        "test_action_act",
        "test_concurrency",
        "test_demo",
        "test_jenkins_library",
        "test_reuse",
        "test_right_runs",
        "test_server_matrix",
    }
)
_ONE_WORKER_MODULES = frozenset(
    {"test_aggregates", "test_concurrency", "test_packaging", "test_reuse", "test_tls_and_auth"}
)
_GENERATION = re.compile(r"\[(mlflow\d+_\d+_\d+)")


def _module_of(nodeid: str) -> str:
    return Path(nodeid.split("::", 1)[0]).stem


def worker_scope(nodeid: str) -> str:
    """The tests that must share one worker share a scope; every other test is a scope of its own."""
    module = _module_of(nodeid)
    generation = _GENERATION.search(nodeid) if module == "test_server_matrix" else None
    if generation is not None:
        return f"{module}-{generation.group(1)}"
    return module if module in _ONE_WORKER_MODULES else nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not (item.get_closest_marker("slow") or _module_of(item.nodeid) in _LONG_MODULES))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_scope(nodeid)

    return SharedFixtureScheduling(config, log)
