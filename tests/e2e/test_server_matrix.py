"""The same CI story against every supported MLflow generation: 2.9 (oldest), 2.22 (last 2.x), the pinned 3.x.

Each server version runs from its own venv (`.venv-mlflow-<version>/`, made by scripts/setup from
tests/server_matrix.txt), started once for this module, and the training scripts run with that
venv's python, so the client is the server's own version. The story: ci-track runs on main and
on pull requests (one of them from a fork whose branch is called `main`), compare with every
champion strategy (alias with a registry, alias with the champion tag, best, latest), promote
and rollback, a build whose end is spooled and then synced, and the sticky PR comment on a fake
GitHub. The expected champion of each step is named by its metrics, so every version must pick
the very same run.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_track.errors import TrackingError
from ci_track.settings import TrackingSettings
from ci_track.tracking import capabilities as server_capabilities
from ci_track.tracking import client as mlflow_client_module
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, base_env, ci_track, commit_all, git, init_repo
from tests.fakes.fake_github import DEFAULT_TOKEN, running_fake_github
from tests.fakes.fault_proxy import fault_proxy
from tests.mlflow_server import MlflowServer, running_server

REPO_ROOT = Path(__file__).resolve().parents[2]
PINNED = importlib.metadata.version("mlflow")


def matrix_versions() -> list[str]:
    lines = (REPO_ROOT / "tests" / "server_matrix.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def venv_of(version: str) -> Path:
    return REPO_ROOT / f".venv-mlflow-{version}"


@dataclasses.dataclass(frozen=True)
class Generation:
    version: str
    python: str  # the venv whose mlflow is the server: the training scripts' client too
    server: MlflowServer

    @property
    def parsed(self) -> tuple[int, int, int]:
        parsed = server_capabilities.parse_version(self.version)
        assert parsed is not None
        return parsed


@pytest.fixture(scope="module", params=[*matrix_versions(), PINNED], ids=lambda v: "mlflow" + v.replace(".", "_"))
def generation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generation]:
    version = request.param
    if version == PINNED:
        yield Generation(PINNED, sys.executable, request.getfixturevalue("mlflow_server"))
        return
    venv = venv_of(version)
    if not (venv / "bin" / "mlflow").exists():
        pytest.fail(f"no MLflow {version} venv at {venv}: run scripts/setup (it installs tests/server_matrix.txt)")
    root = tmp_path_factory.mktemp(f"mlflow-{version}")
    with running_server(root, mlflow_bin=str(venv / "bin" / "mlflow")) as server:
        yield Generation(version, str(venv / "bin" / "python"), server)


# A training script on the venv's own MLflow client: resumes ci-track's run, logs what spec.json says,
# records its client version, and logs a tiny pyfunc model when asked (the registry's source).
TRAIN = """\
import json, sys
import mlflow

spec = json.load(open(sys.argv[1]))
with mlflow.start_run():
    mlflow.log_param("client_version", mlflow.__version__)
    for key, value in spec.get("metrics", {}).items():
        mlflow.log_metric(key, value)
    if spec.get("model"):
        import mlflow.pyfunc

        class Identity(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input):
                return model_input

        mlflow.pyfunc.log_model(spec["model"], python_model=Identity(), pip_requirements=["mlflow"])
"""

CONFIG = """\
experiment: {experiment}
champion:
  strategy: [{strategy}]
  metric: val_auc
{model}no_champion: pass
metrics:
  val_auc: {{goal: maximize, max_regression: 0.02}}
"""


class Project:
    """A git repository with the training script and `.ci-track.yml`, driven through the real CLI."""

    def __init__(self, root: Path, generation: Generation, experiment: str) -> None:
        self.root = root
        self.generation = generation
        self.experiment = experiment
        init_repo(root, {"train.py": TRAIN, ".gitignore": "spec.json\n"})
        self.configure("best")

    def configure(self, strategy: str, model: str | None = None) -> None:
        model_line = f"  model: {model}\n" if model else ""
        config = CONFIG.format(experiment=self.experiment, strategy=strategy, model=model_line)
        (self.root / ".ci-track.yml").write_text(config)

    def commit(self, branch: str, message: str) -> str:
        if branch != git(self.root, "rev-parse", "--abbrev-ref", "HEAD"):
            exists = git(self.root, "branch", "--list", branch)
            git(self.root, "checkout", "-q", *([] if exists else ["-b"]), branch)
        (self.root / "history.txt").write_text(message + "\n")
        return commit_all(self.root, message)

    def env(self, *, uri: str | None = None, pr: int | None = None, **extra: str) -> dict[str, str]:
        env = base_env(
            MLFLOW_TRACKING_URI=uri or self.generation.server.url,
            CI_TRACK_SPOOL_DIR=str(self.root.parent / "spool"),
            # The story rewrites .ci-track.yml (one champion strategy after the other) in the checkout;
            # which file gates a PR is tests/integration/test_gate_rules.py's subject, not the server's.
            CI_TRACK_RULES_FROM="head",
        )
        if pr is not None:
            env["CI_TRACK_PR_NUMBER"] = str(pr)
        env.update(extra)
        return env

    def train(self, val_auc: float, *, pr: int | None = None, model: str | None = None, **extra: str) -> CliResult:
        spec: dict[str, Any] = {"metrics": {"val_auc": val_auc}}
        if model:
            spec["model"] = model
        (self.root / "spec.json").write_text(json.dumps(spec))
        python = self.generation.python
        result = ci_track("run", "--", python, "train.py", "spec.json", env=self.env(pr=pr, **extra), cwd=self.root)
        return result

    def cli(self, *args: str, pr: int | None = None, **extra: str) -> CliResult:
        return ci_track(*args, env=self.env(pr=pr, **extra), cwd=self.root)

    def compare(self, *args: str, pr: int | None = None, **extra: str) -> tuple[CliResult, dict[str, Any]]:
        report = self.root.parent / "report.json"
        report.unlink(missing_ok=True)
        result = self.cli("compare", "--json-output", str(report), *args, pr=pr, **extra)
        return result, (json.loads(report.read_text()) if report.exists() else {})

    def runs(self) -> list[Run]:
        with MlflowClient(TrackingSettings(uri=self.generation.server.url)) as client:
            experiment = client.get_experiment_by_name(self.experiment)
            assert experiment is not None
            runs, _ = client.search_runs([experiment.experiment_id], max_results=200)
        return runs


@pytest.fixture
def client(generation: Generation) -> Iterator[MlflowClient]:
    with MlflowClient(TrackingSettings(uri=generation.server.url)) as c:
        yield c


# MLflow requests per `compare` (candidate found by its commit), whatever the server generation, without the
# charts (they add two: tests/integration/test_compare_command.py, bench/RESULTS.md).
# experiment + candidate + related runs, then: best 1 search; latest 2 (the merge-base commit's runs, here
# only the fork's, then the newest); alias with tag 1 search; alias with registry 2 (the alias, its run).
EXPECTED_REQUESTS = {"best": 4, "latest": 5, "alias with tag": 4, "alias with registry": 5}


def _champion_auc(report: dict[str, Any]) -> float | None:
    champion = report.get("champion")
    if not champion:
        return None
    (row,) = [m for m in report["metrics"] if m["name"] == "val_auc"]
    return float(row["champion"])


# -- the probe -----------------------------------------------------------------------------------------


def test_the_matrix_starts_at_the_oldest_supported_server() -> None:
    oldest = min(server_capabilities.parse_version(v) or (0, 0, 0) for v in matrix_versions())
    assert oldest[:2] == server_capabilities.OLDEST_TESTED  # README, "Supported MLflow servers"


def test_the_server_says_its_version_once_per_client(generation: Generation, client: MlflowClient) -> None:
    before = client.request_count
    capabilities = client.capabilities
    assert client.capabilities is capabilities and client.request_count == before + 1  # one probe, cached
    assert capabilities.version == generation.parsed
    assert capabilities.tag_is_null is (generation.parsed[:2] >= (3, 11))
    assert capabilities.logged_models is (generation.parsed[0] >= 3)
    if not capabilities.tag_is_null:  # the reason for the fallback: this server refuses the clause
        with pytest.raises(TrackingError, match="IS"):
            client.search_runs(["0"], filter_string="tags.`ci.pr_number` IS NULL")


# -- compare: every strategy picks the same champion on every generation -------------------------------


def test_every_champion_strategy_picks_the_same_run(
    generation: Generation, tmp_path: Path, experiment_name: str
) -> None:
    project = Project(tmp_path / "repo", generation, experiment_name)
    project.commit("main", "first main model")
    first = project.train(0.80)
    assert first.code == 0, first.stderr
    project.commit("main", "second main model")
    assert project.train(0.85).code == 0
    # A fork's pull request whose branch is also called `main`: the best val_auc, and the newest, yet never main's.
    project.commit("main", "a fork's main")
    assert project.train(0.99, pr=41).code == 0
    assert all(run.params.get("client_version") == generation.version for run in project.runs())

    project.commit("feature/better", "candidate")
    assert project.train(0.86, pr=42).code == 0
    requests: dict[str, int] = {}
    for strategy, expected in (("best", 0.85), ("latest", 0.85)):
        project.configure(strategy)
        with fault_proxy(generation.server.url) as counting:  # rate 0: a plain proxy that records requests
            result, report = project.compare("--no-charts", pr=42, MLFLOW_TRACKING_URI=counting.url)
            requests[strategy] = len(counting.requests_to("/"))
        assert result.code == 0, (strategy, result.stdout, result.stderr)
        assert report["champion"]["source"].startswith(strategy) and _champion_auc(report) == expected, report

    # alias: promote main's first model (the champion tag, then a registry alias), and compare against it.
    first_run = next(run for run in project.runs() if run.metrics.get("val_auc") == 0.80)
    model = f"m-{experiment_name}"
    for strategy_model in (None, model):
        project.configure("alias", strategy_model)
        promoted = project.cli("promote", "--run-id", first_run.run_id)
        assert promoted.code == 0, promoted.stderr
        with fault_proxy(generation.server.url) as counting:
            result, report = project.compare("--no-charts", pr=42, MLFLOW_TRACKING_URI=counting.url)
            requests["alias with registry" if strategy_model else "alias with tag"] = len(counting.requests_to("/"))
        assert result.code == 0, result.stdout
        source = "alias @champion of model" if strategy_model else "run tagged ci.champion=true on main"
        assert report["champion"]["source"].startswith(source) and _champion_auc(report) == 0.80, report
        assert report["champion"]["run_id"] == first_run.run_id
    # The same requests on every generation: the first page always held main's runs, so no version probe.
    assert requests == EXPECTED_REQUESTS, requests


def test_pull_request_runs_crowding_the_base_branch_leave_the_champion_alone(
    generation: Generation, client: MlflowClient, experiment_name: str
) -> None:
    """More PR runs named `main` than a first page holds: the newest generation's answer, on every server."""
    experiment = client.get_or_create_experiment(experiment_name).experiment_id
    base = {"mlflow.source.git.branch": "main", "ci.exit_code": "0"}

    def complete(start: int, val_auc: float, **tags: str) -> Run:
        run = client.create_run(experiment, tags={**base, **tags}, start_time=start)
        client.log_batch(run.run_id, metrics=[{"key": "val_auc", "value": val_auc, "timestamp": start}])
        client.update_run(run.run_id, "FINISHED", end_time=start + 1)
        return run

    older = complete(1_000, 0.70)
    champion = complete(2_000, 0.80)
    for index in range(2 * mlflow_client_module.LACKING_SLACK):  # newer and better, all for PRs
        complete(3_000 + index, 0.90 + index / 1000, **{"ci.pr_number": str(index + 1)})
    filter_string = "tags.`mlflow.source.git.branch` = 'main' and tags.`ci.exit_code` = '0'"
    orders = (["metrics.`val_auc` DESC", "attributes.start_time DESC"], ["attributes.start_time DESC"])
    expected = [champion.run_id, older.run_id]
    oldest_rules = server_capabilities.from_version((2, 9, 2))
    before = client.request_count
    for order_by in orders:
        found = client.search_runs_lacking(
            [experiment], tag="ci.pr_number", filter_string=filter_string, order_by=order_by, max_results=2
        )
        assert [run.run_id for run in found] == expected, order_by
        with MlflowClient(client.settings, capabilities=oldest_rules) as compatible:
            again = compatible.search_runs_lacking(
                [experiment], tag="ci.pr_number", filter_string=filter_string, order_by=order_by, max_results=2
            )
            assert [run.run_id for run in again] == expected, order_by
            assert compatible.request_count == 2  # the first page held only PR runs: one more page
    # The first order: the first page, the version probe, then the IS NULL search (3.11+) or the next page.
    # The second: on 3.11+ the IS NULL search straight away (now known to work), elsewhere the two pages again.
    assert client.request_count - before == (4 if client.capabilities.tag_is_null else 5)


def test_the_client_side_filter_fails_closed_past_its_bound(
    generation: Generation, client: MlflowClient, experiment_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment = client.get_or_create_experiment(experiment_name).experiment_id
    for index in range(6):
        run = client.create_run(experiment, tags={"ci.pr_number": str(index)}, start_time=1_000 + index)
        client.update_run(run.run_id, "FINISHED")
    monkeypatch.setattr(mlflow_client_module, "LACKING_SLACK", 0)
    monkeypatch.setattr(mlflow_client_module, "LACKING_PAGE", 2)
    monkeypatch.setattr(mlflow_client_module, "LACKING_MAX_REQUESTS", 2)
    oldest_rules = server_capabilities.from_version((2, 9, 2))
    with (
        MlflowClient(client.settings, capabilities=oldest_rules) as compatible,
        pytest.raises(TrackingError, match=r"needs MLflow 3\.11"),
    ):
        compatible.search_runs_lacking(
            [experiment],
            tag="ci.pr_number",
            filter_string="",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )


# -- promote and rollback, with the registry and with the tag ------------------------------------------


@pytest.mark.parametrize("registry", [True, False], ids=["registry-alias", "champion-tag"])
def test_promote_registers_the_runs_model_and_rollback_restores_the_last_champion(
    generation: Generation, client: MlflowClient, tmp_path: Path, experiment_name: str, registry: bool
) -> None:
    model = f"m-{experiment_name}" if registry else None
    project = Project(tmp_path / "repo", generation, experiment_name)
    project.configure("alias", model)
    project.commit("main", "first")
    assert project.train(0.80, model="clf" if registry else None).code == 0
    assert project.cli("promote").code == 0
    project.commit("main", "second")
    assert project.train(0.85).code == 0
    promoted = project.cli("promote")
    assert promoted.code == 0, promoted.stderr
    by_auc = {run.metrics["val_auc"]: run for run in project.runs()}
    if model:
        first_version = client.search_model_versions(f"name = '{model}' and run_id = '{by_auc[0.80].run_id}'")[0]
        if generation.parsed[0] >= 3:
            assert (first_version.source or "").startswith("models:/")  # the run's LoggedModel
        else:
            assert first_version.source == f"runs:/{by_auc[0.80].run_id}/clf"  # where the 2.x client put it
        champion = client.get_model_version_by_alias(model, "champion")
        assert champion is not None and champion.run_id == by_auc[0.85].run_id
    else:
        assert by_auc[0.85].tags.get("ci.champion") == "true" and "ci.champion" not in by_auc[0.80].tags

    rolled = project.cli("rollback")
    assert rolled.code == 0, rolled.stderr
    if model:
        back = client.get_model_version_by_alias(model, "champion")
        assert back is not None and back.run_id == by_auc[0.80].run_id
    else:
        tagged = {run.metrics["val_auc"] for run in project.runs() if run.tags.get("ci.champion") == "true"}
        assert tagged == {0.80}


# -- spool and sync ------------------------------------------------------------------------------------


def test_a_build_whose_end_was_spooled_counts_once_synced(
    generation: Generation, tmp_path: Path, experiment_name: str
) -> None:
    project = Project(tmp_path / "repo", generation, experiment_name)
    project.configure("latest")
    project.commit("main", "main build, the server refuses its end")
    with fault_proxy(
        generation.server.url,
        rate=1.0,
        faults=("503",),
        retry_after=(0,),
        should_fault=lambda _method, path: "log-batch" in path,
    ) as dying:
        spooled = project.train(
            0.80, MLFLOW_TRACKING_URI=dying.url, CI_TRACK_HTTP_ATTEMPTS="2", CI_TRACK_RETRY_BUDGET="2"
        )
    assert spooled.code == 3 and "ci-track sync" in spooled.stderr, spooled.stderr
    project.commit("feature/x", "candidate")
    assert project.train(0.81, pr=7).code == 0
    before, report = project.compare(pr=7)
    assert before.code == 0 and report.get("champion") is None  # the spooled run is not complete yet
    synced = project.cli("sync")
    assert synced.code == 0, synced.stderr
    after, report = project.compare(pr=7)
    assert after.code == 0 and _champion_auc(report) == 0.80, after.stdout


# -- the sticky comment --------------------------------------------------------------------------------


def test_the_sticky_comment_is_posted_once_and_updated(
    generation: Generation, tmp_path: Path, experiment_name: str
) -> None:
    project = Project(tmp_path / "repo", generation, experiment_name)
    project.configure("best")
    project.commit("main", "champion")
    assert project.train(0.90).code == 0
    project.commit("feature/worse", "worse")
    head = git(project.root, "rev-parse", "HEAD")
    assert project.train(0.80, pr=9).code == 0
    with running_fake_github(repository="acme/wine", pr_number=9, head_sha=head) as github:
        env = dict(
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_NAME="workflow_dispatch",
            GITHUB_SHA=head,
            GITHUB_REF="refs/heads/feature/worse",
            GITHUB_REPOSITORY="acme/wine",
            GITHUB_API_URL=github.url,
            GITHUB_TOKEN=DEFAULT_TOKEN,
        )
        first, _ = project.compare("--base-branch", "main", "--comment", "update", pr=9, **env)
        second, _ = project.compare("--base-branch", "main", "--comment", "update", pr=9, **env)
        comments = github.comments_on("acme/wine", 9)
        github.assert_no_violations()
    assert first.code == 1 and second.code == 1, first.stdout
    assert len(comments) == 1 and f"<!-- ci-track:{experiment_name} -->" in comments[0]["body"]
    assert "regression" in comments[0]["body"] and "val\\_auc" in comments[0]["body"]
