"""Training reuse (`ci-track run --reuse`, docs/reuse.md): the real CLI, a real git repository, the session's
MLflow server, and a training script using the real MLflow client whose numbers depend on its input files.

One module-scoped history of commits (trainings are the expensive part: each test reads what the
scenario recorded) plus a few tests with their own runs: the sources the trust rules refuse, the
bad inputs, promote.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pytest

from ci_track.commands._reuse import fingerprint_training
from ci_track.gate.config import load_config
from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, assert_clean_failure, base_env, ci_track, commit_all, git, init_repo
from tests.mlflow_server import MlflowServer

TRAIN = """\
import hashlib, os, pathlib
import mlflow

configs = sorted(pathlib.Path("conf").glob("*.yml"))
inputs = pathlib.Path("train.py").read_bytes() + b"".join(p.read_bytes() for p in configs)
seed = int(os.environ.get("CI_TRACK_SEED", "0"))
level = hashlib.sha256(inputs).digest()[0] / 255 + seed / 100
with open(os.environ["TRAIN_LOG"], "a") as log:
    log.write(os.environ["MLFLOW_RUN_ID"] + "\\n")
with mlflow.start_run() as run:
    mlflow.log_param("lr", "0.1")
    for step in range(3):
        mlflow.log_metric("loss", level + 1 / (step + 1), step=step)
    mlflow.log_metric("acc", 1 - level)
    if os.environ.get("LOG_MODEL"):
        from mlflow.entities import LoggedModelOutput
        model = mlflow.create_external_model(name="model")
        mlflow.MlflowClient().log_outputs(run.info.run_id, models=[LoggedModelOutput(model.model_id, 0)])
"""


def _config(experiment: str, *, model: str | None = None) -> str:
    champion = f"champion: {{model: {model}, strategy: [alias, latest]}}\n" if model else ""
    return (
        f"experiment: {experiment}\n"
        "metrics:\n  loss: {goal: minimize}\n  acc: {goal: maximize}\n"
        f"{champion}"
        "run:\n  inputs: [train.py, 'conf/*.yml']\n  env_inputs: [DATA_VERSION]\n  reuse: true\n"
    )


@dataclasses.dataclass
class Project:
    repo: Path
    env: dict[str, str]
    train_log: Path
    server: MlflowServer
    experiment: str

    def run(self, *extra: str, env: dict[str, str] | None = None) -> CliResult:
        return ci_track("run", *extra, "--", sys.executable, "train.py", env={**self.env, **(env or {})}, cwd=self.repo)

    def trainings(self) -> int:
        return len(self.train_log.read_text().split()) if self.train_log.exists() else 0

    def runs(self) -> list[Run]:
        with MlflowClient(TrackingSettings(uri=self.server.url)) as client:
            experiment = client.get_experiment_by_name(self.experiment)
            assert experiment is not None
            return client.search_runs([experiment.experiment_id], max_results=100)[0]

    def history(self, run_id: str, key: str) -> list[tuple[int, int, float]]:
        with MlflowClient(TrackingSettings(uri=self.server.url)) as client:
            return sorted((p.step, p.timestamp, p.value) for p in client.get_metric_history(run_id, key))


def _project(tmp_path: Path, server: MlflowServer, experiment: str, *, model: str | None = None) -> Project:
    repo = tmp_path / "repo"
    init_repo(
        repo,
        {
            "train.py": TRAIN,
            "conf/base.yml": "lr: 0.1\n",
            "README.md": "# v1\n",
            ".ci-track.yml": _config(experiment, model=model),
            ".gitignore": "mlruns/\nmlflow.db\n",
        },
    )
    log = tmp_path / "train.log"
    env = base_env(MLFLOW_TRACKING_URI=server.url, TRAIN_LOG=str(log), DATA_VERSION="v1")
    return Project(repo=repo, env=env, train_log=log, server=server, experiment=experiment)


def _run_id(result: CliResult) -> str:
    assert result.code == 0, result.stderr
    line = next(
        line
        for line in result.stderr.splitlines()
        if line.startswith("ci-track: MLflow run ") and " in experiment " in line
    )
    return line.split()[3]


@dataclasses.dataclass
class History:
    project: Project
    trained: str  # commit 1: trains (nothing to reuse)
    reused: str  # commit 2 (README only): reuses `trained`
    chained: str  # commit 3 (README only): reuses `trained`, not `reused`
    forced: str  # commit 3 again with --no-reuse: trains
    after_forced: str  # commit 4 (README only): reuses the newest training, `forced`
    changed: str  # commit 5 (train.py): trains
    results: dict[str, CliResult]
    trainings: dict[str, int]  # trainings done so far, after each step


@pytest.fixture(scope="module")
def history(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> History:
    project = _project(tmp_path_factory.mktemp("reuse-history"), mlflow_server, "reuse-history")
    results: dict[str, CliResult] = {}
    trainings: dict[str, int] = {}
    ids: dict[str, str] = {}

    def step(name: str, *extra: str) -> None:
        results[name] = project.run(*extra)
        ids[name] = _run_id(results[name])
        trainings[name] = project.trainings()

    step("trained")
    for name, text in (("reused", "# v2\n"), ("chained", "# v3\n")):
        (project.repo / "README.md").write_text(text)
        commit_all(project.repo, name)
        step(name)
    step("forced", "--no-reuse")
    (project.repo / "README.md").write_text("# v4\n")
    commit_all(project.repo, "docs again")
    step("after_forced")
    (project.repo / "train.py").write_text(TRAIN + "# a real change\n")
    commit_all(project.repo, "train.py")
    step("changed")
    return History(project=project, results=results, trainings=trainings, **ids)


def _run(history: History, run_id: str) -> Run:
    return next(run for run in history.project.runs() if run.run_id == run_id)


def test_the_first_run_trains_and_records_its_fingerprint(history: History) -> None:
    run = _run(history, history.trained)
    assert history.trainings["trained"] == 1
    assert run.tags["ci.training"] == "trained" and len(run.tags["ci.fingerprint"]) == 64
    assert "ci.reused_from" not in run.tags
    assert "training reuse: no complete training with fingerprint" in history.results["trained"].stderr


def test_a_commit_that_changes_no_input_reuses_the_run_without_training(history: History) -> None:
    source, reused = _run(history, history.trained), _run(history, history.reused)
    assert history.trainings["reused"] == 1  # the command did not run
    assert reused.status == "FINISHED" and reused.tags["ci.exit_code"] == "0"
    assert reused.tags["ci.reused_from"] == source.run_id and reused.tags["ci.training"] == "reused"
    assert reused.tags["ci.fingerprint"] == source.tags["ci.fingerprint"]
    assert reused.head_sha != source.head_sha and reused.head_sha == git(history.project.repo, "rev-parse", "HEAD~3")
    assert reused.metrics == source.metrics and reused.params == source.params
    assert history.project.history(reused.run_id, "loss") == history.project.history(source.run_id, "loss")
    assert len(history.project.history(reused.run_id, "loss")) == 3
    assert reused.tags["ci.reused_artifact_uri"] == source.artifact_uri  # referenced, not copied
    assert reused.tags["mlflow.note.content"].endswith(f"Training skipped: inputs unchanged since run {source.run_id}.")
    stderr = history.results["reused"].stderr
    assert f"training skipped: inputs unchanged since run {source.run_id}: {history.project.server.url}" in stderr


def test_a_reuse_of_a_reuse_points_at_the_run_that_trained(history: History) -> None:
    assert _run(history, history.chained).tags["ci.reused_from"] == history.trained
    assert history.trainings["chained"] == 1


def test_no_reuse_forces_the_training_and_the_next_reuse_takes_the_newest_training(history: History) -> None:
    forced = _run(history, history.forced)
    assert history.trainings["forced"] == 2
    assert forced.tags["ci.training"] == "trained" and "ci.reused_from" not in forced.tags
    assert forced.tags["ci.fingerprint"] == _run(history, history.trained).tags["ci.fingerprint"]
    assert _run(history, history.after_forced).tags["ci.reused_from"] == history.forced


def test_a_changed_input_misses_and_trains(history: History) -> None:
    changed = _run(history, history.changed)
    assert history.trainings["changed"] == 3
    assert changed.tags["ci.fingerprint"] != _run(history, history.trained).tags["ci.fingerprint"]
    assert changed.metrics != _run(history, history.trained).metrics


def test_compare_judges_a_reused_run_and_says_where_its_numbers_come_from(history: History) -> None:
    project = history.project
    result = ci_track(
        "compare", "--run-id", history.reused, "--champion-run-id", history.trained, env=project.env, cwd=project.repo
    )
    assert result.code == 0, result.stderr
    assert f"note: training skipped: inputs unchanged since run {history.trained}" in result.stdout


@pytest.fixture
def project(tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str) -> Project:
    return _project(tmp_path, mlflow_server, experiment_name)


def test_dirty_or_untracked_inputs_train_with_a_one_line_notice_and_no_fingerprint(project: Project) -> None:
    (project.repo / "train.py").write_text(TRAIN + "# not committed\n")
    dirty = project.run()
    assert "ci-track: training reuse is off for this run: input 'train.py' is changed since the commit (dirty)" in (
        dirty.stderr
    )
    git(project.repo, "checkout", "--", "train.py")
    (project.repo / "conf/extra.yml").write_text("x: 1\n")
    untracked = project.run()
    assert "training reuse is off for this run: input 'conf/extra.yml' is untracked; training" in untracked.stderr
    assert project.trainings() == 2
    assert all("ci.fingerprint" not in run.tags for run in project.runs())


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ("[train.py, 'data/*.csv']", "run.inputs: 'data/*.csv' matches no file tracked by git at this commit"),
        ("[train.py, ../secrets.txt]", "run.inputs: '../secrets.txt' is outside the repository"),
    ],
)
def test_bad_inputs_are_a_one_line_usage_error_before_any_run(project: Project, inputs: str, fragment: str) -> None:
    config = project.repo / ".ci-track.yml"
    config.write_text(config.read_text().replace("[train.py, 'conf/*.yml']", inputs))
    commit_all(project.repo, "bad inputs")
    assert_clean_failure(project.run(), 2, fragment)
    assert project.trainings() == 0
    with MlflowClient(TrackingSettings(uri=project.server.url)) as client:
        experiment = client.get_experiment_by_name(project.experiment)
        assert experiment is None or not client.search_runs([experiment.experiment_id])[0]


def _forge(client: MlflowClient, experiment_id: str, fingerprint: str, *, status: str, tags: dict[str, str]) -> str:
    """A run as another build left it, with this fingerprint (the trust rules must refuse it)."""
    run = client.create_run(
        experiment_id,
        tags={
            "ci.fingerprint": fingerprint,
            "ci.training": "trained",
            "ci.provider": "github-actions",
            "mlflow.source.git.branch": "main",
            **tags,
        },
    )
    client.log_batch(run.run_id, metrics=[{"key": "loss", "value": 0.0, "step": 0}])
    client.update_run(run.run_id, status)
    if "ci.exit_code" in tags:
        client.set_tag(run.run_id, "ci.exit_code", tags["ci.exit_code"])
    return run.run_id


def test_fork_failed_killed_and_incomplete_runs_never_serve(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.repo)
    config = load_config(None, cwd=project.repo)
    plan = argparse.Namespace(argv=[sys.executable, "train.py"], entry_point=None, params={}, workdir=project.repo)
    fingerprint = fingerprint_training(
        config, cwd=project.repo, environ=project.env, plan=plan, repeat="1", metrics_files=(), announce=False
    )
    assert fingerprint is not None
    with MlflowClient(TrackingSettings(uri=project.server.url)) as client:
        experiment = client.get_or_create_experiment(project.experiment)
        refused = {
            _forge(
                client,
                experiment.experiment_id,
                fingerprint,
                status="FINISHED",
                tags={"ci.fork": "true", "ci.pr_number": "7", "ci.exit_code": "0"},
            ),
            _forge(client, experiment.experiment_id, fingerprint, status="FAILED", tags={"ci.exit_code": "1"}),
            _forge(client, experiment.experiment_id, fingerprint, status="KILLED", tags={"ci.exit_code": "143"}),
            _forge(client, experiment.experiment_id, fingerprint, status="FINISHED", tags={}),  # no ci.exit_code
        }
    result = project.run()
    run_id = _run_id(result)
    assert project.trainings() == 1 and "training skipped" not in result.stderr
    run = next(run for run in project.runs() if run.run_id == run_id)
    assert run.tags["ci.fingerprint"] == fingerprint  # the same inputs: only the trust rules kept them out
    assert "ci.reused_from" not in run.tags and run.run_id not in refused


def test_promote_of_a_reused_run_registers_the_model_of_the_run_that_trained(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    model = f"model-{experiment_name}"
    project = _project(tmp_path, mlflow_server, experiment_name, model=model)
    trainer = _run_id(project.run(env={"LOG_MODEL": "1"}))
    (project.repo / "README.md").write_text("# docs only\n")
    commit_all(project.repo, "docs")
    reused = _run_id(project.run(env={"LOG_MODEL": "1"}))
    assert project.trainings() == 1
    promoted = ci_track("promote", env=project.env, cwd=project.repo)
    assert promoted.code == 0, promoted.stderr
    with MlflowClient(TrackingSettings(uri=project.server.url)) as client:
        version = client.get_model_version_by_alias(model, "champion")
        trained = client.get_run(trainer)
    assert version is not None and version.run_id == reused
    assert trained.logged_model_ids and version.source == f"models:/{trained.logged_model_ids[-1]}"


def test_a_repeat_group_is_reused_attempt_by_attempt_and_compare_sees_the_same_group(project: Project) -> None:
    first = project.run("--repeat", "2")
    assert first.code == 0, first.stderr
    (project.repo / "README.md").write_text("# docs only\n")
    commit_all(project.repo, "docs")
    second = project.run("--repeat", "2")
    assert second.code == 0, second.stderr
    assert project.trainings() == 2 and second.stderr.count("training skipped: inputs unchanged since run") == 2
    head = git(project.repo, "rev-parse", "HEAD")
    runs = project.runs()
    sources = {run.tags["ci.seed"]: run for run in runs if run.head_sha != head}
    copies = {run.tags["ci.seed"]: run for run in runs if run.head_sha == head}
    assert sorted(copies) == ["1", "2"] == sorted(sources)
    for seed, copy in copies.items():
        assert copy.tags["ci.reused_from"] == sources[seed].run_id and copy.metrics == sources[seed].metrics
    assert len({run.tags["ci.repeat_group"] for run in copies.values()}) == 1
    assert copies["1"].tags["ci.repeat_group"] != sources["1"].tags["ci.repeat_group"]
    compared = ci_track("compare", "--champion-run-id", sources["2"].run_id, env=project.env, cwd=project.repo)
    assert compared.code == 0, compared.stderr
    assert "the candidate is the mean of 2 runs of repeat group" in compared.stdout
