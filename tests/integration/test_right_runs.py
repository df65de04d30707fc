"""The gate judges the right runs: ci-track's own complete runs, the base branch's champion, never a script's extras.

Real training scripts with the real MLflow client (nested sweeps, extra evaluation runs), real
git repositories, the real CLI and a real MLflow server; a fault proxy stands in for a tracking
server that dies at the end of a main build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.champion import branch_alias
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, base_env, ci_track, commit_all, compare_with_report, git, init_repo
from tests.fakes.fault_proxy import fault_proxy
from tests.mlflow_server import MlflowServer

# A training script as users write them: `spec.json` says what to log. The first `start_run()`
# resumes ci-track's run; `nested` trials are children of it; `extra` runs are separate top-level runs.
# A spec with only `metrics_file` is a script that writes its metrics to a file for `ci-track run
# --metrics-file`: it never imports mlflow (about 3 s of CPU a run), for the tests whose subject is
# which run is the champion, not how the script logs.
TRAIN = """\
import json, sys

spec = json.load(open(sys.argv[1]))
if "metrics_file" in spec:
    json.dump(spec["metrics_file"], open("metrics.json", "w"))
if set(spec) == {"metrics_file"}:
    sys.exit(0)
import mlflow

with mlflow.start_run():
    for key, value in spec.get("main", {}).items():
        mlflow.log_metric(key, value)
    for index, trial in enumerate(spec.get("nested", [])):
        with mlflow.start_run(run_name=f"trial-{index}", nested=True):
            for key, value in trial.items():
                mlflow.log_metric(key, value)
for name, metrics in spec.get("extra", {}).items():
    with mlflow.start_run(run_name=name):
        for key, value in metrics.items():
            mlflow.log_metric(key, value)
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

    def __init__(self, root: Path, server: MlflowServer, experiment: str, *, strategy: str, model: str | None) -> None:
        self.root = root
        self.server = server
        self.experiment = experiment
        config = CONFIG.format(
            experiment=experiment,
            strategy=strategy,
            model=f"  model: {model}\n" if model else "",
        )
        init_repo(root, {"train.py": TRAIN, ".ci-track.yml": config, ".gitignore": "metrics.json\nspec.json\n"})

    def commit(self, branch: str, message: str) -> str:
        if branch != git(self.root, "rev-parse", "--abbrev-ref", "HEAD"):
            exists = git(self.root, "branch", "--list", branch)
            git(self.root, "checkout", "-q", *([] if exists else ["-b"]), branch)
        (self.root / "history.txt").write_text(message + "\n")
        return commit_all(self.root, message)

    def env(self, *, uri: str | None = None, pr: int | None = None, **extra: str) -> dict[str, str]:
        env = base_env(MLFLOW_TRACKING_URI=uri or self.server.url, CI_TRACK_SPOOL_DIR=str(self.root.parent / "spool"))
        if pr is not None:
            env["CI_TRACK_PR_NUMBER"] = str(pr)
        env.update(extra)
        return env

    def train(self, spec: dict[str, Any], *, pr: int | None = None, uri: str | None = None, **extra: str) -> CliResult:
        (self.root / "spec.json").write_text(json.dumps(spec))
        args = ["run"]
        if "metrics_file" in spec:
            args += ["--metrics-file", "metrics.json"]
        return ci_track(
            *args, "--", sys.executable, "train.py", "spec.json", env=self.env(pr=pr, uri=uri, **extra), cwd=self.root
        )

    def cli(self, *args: str, pr: int | None = None, **extra: str) -> CliResult:
        return ci_track(*args, env=self.env(pr=pr, **extra), cwd=self.root)

    def compare(self, *args: str, pr: int | None = None, **extra: str) -> tuple[CliResult, dict[str, Any]]:
        # the report outside the clone: the work tree stays as the commit left it
        return compare_with_report(self.root, self.env(pr=pr, **extra), *args, report=self.root.parent / "report.json")

    def runs(self) -> list[Run]:
        with MlflowClient(TrackingSettings(uri=self.server.url)) as client:
            experiment = client.get_experiment_by_name(self.experiment)
            assert experiment is not None
            runs, _ = client.search_runs([experiment.experiment_id], max_results=200)
        return runs


def _project(tmp_path: Path, server: MlflowServer, experiment: str, strategy: str, model: str | None = None) -> Project:
    return Project(tmp_path / "repo", server, experiment, strategy=strategy, model=model)


def _ci_track_runs(project: Project) -> list[Run]:
    return [run for run in project.runs() if "ci.create_id" in run.tags]


def _champions(project: Project) -> list[Run]:
    return [run for run in project.runs() if run.tags.get("ci.champion") == "true"]


# -- 1. runs the training script opens itself ----------------------------------------------------------


def test_an_extra_evaluation_run_is_listed_never_taken_for_the_candidate(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "alias, latest")
    sha = project.commit("main", "first model")
    spec = {"main": {"val_auc": 0.95}, "extra": {"evaluation": {"eval_latency_ms": 12.0}}}
    assert project.train(spec).code == 0

    promoted = project.cli("promote")
    assert promoted.code == 0, promoted.stderr
    (champion,) = _champions(project)
    assert champion.metrics == {"val_auc": 0.95} and champion.head_sha == sha
    evaluation = next(run for run in project.runs() if run.run_name == "evaluation")
    assert evaluation.head_sha == sha  # MLflow's git context gave it the same commit tag: the trap

    result, report = project.compare("--run-id", champion.run_id, "--champion-run-id", champion.run_id)
    assert result.code == 0, result.stderr
    assert [(r["run_id"], r["kind"]) for r in report["related_runs"]] == [(evaluation.run_id, "extra")]
    assert "extra: run " + evaluation.run_id in result.stdout  # the console lists it too

    refused = project.cli("compare", "--run-id", evaluation.run_id)
    assert refused.code == 2
    assert "was not created by `ci-track run`" in refused.stderr and "Traceback" not in refused.stderr


def test_a_nested_sweep_never_supplies_the_candidate_or_the_champion(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "alias, best, latest")
    project.commit("main", "sweep")
    sweep = {"main": {"val_auc": 0.95}, "nested": [{"val_auc": 0.95}, {"val_auc": 0.90}, {"val_auc": 0.80}]}
    assert project.train(sweep).code == 0
    first = project.cli("promote")
    assert first.code == 0, first.stderr
    (champion,) = _champions(project)
    assert "mlflow.parentRunId" not in champion.tags and champion.metrics["val_auc"] == 0.95

    project.commit("feature/worse", "worse model")
    worse = {"main": {"val_auc": 0.85}, "nested": [{"val_auc": 0.85}, {"val_auc": 0.80}]}
    assert project.train(worse, pr=7).code == 0
    result, report = project.compare(pr=7)
    assert result.code == 1, result.stdout + result.stderr  # 0.95 -> 0.85 is a regression, not 0.80 -> 0.85
    assert report["champion"]["run_id"] == champion.run_id
    assert {r["kind"] for r in report["related_runs"]} == {"nested"} and len(report["related_runs"]) == 2
    assert all("nested run of " + report["candidate"]["run_id"] in r["note"] for r in report["related_runs"])

    # `best` alone ranks only ci-track's own runs: the children of main's sweep (0.95 too) never count.
    best, best_report = project.compare("--champion-strategy", "best", pr=7)
    assert best.code == 1 and best_report["champion"]["run_id"] == champion.run_id
    child = next(run for run in project.runs() if run.tags.get("mlflow.parentRunId") == champion.run_id)
    refused = project.cli("promote", "--run-id", child.run_id, "--force")
    assert refused.code == 2 and f"it is a nested run of {champion.run_id}" in refused.stderr
    assert [run.run_id for run in _champions(project)] == [champion.run_id]


def test_a_newer_failed_attempt_of_the_commit_is_named_when_an_older_run_is_compared(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "latest")
    project.commit("feature/x", "change")
    assert project.train({"metrics_file": {"val_auc": 0.9}}, pr=3).code == 0
    (project.root / "spec.json").write_text("{not json")
    failed = ci_track("run", "--", sys.executable, "train.py", "spec.json", env=project.env(pr=3), cwd=project.root)
    assert failed.code == 1
    result, report = project.compare(pr=3)
    assert result.code == 0, result.stderr
    (notice,) = report["notices"]
    assert "a newer attempt of this commit is not judged" in notice and "exit code 1" in notice
    assert "note: a newer attempt" in result.stdout


def test_no_complete_run_names_the_experiment_and_the_failed_attempt(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "latest")
    sha = project.commit("feature/x", "change")
    (project.root / "spec.json").write_text("{not json")
    assert ci_track("run", "--", sys.executable, "train.py", "spec.json", env=project.env(), cwd=project.root).code == 1
    result = project.cli("compare")
    assert result.code == 2
    (line,) = result.error_lines
    assert f"for commit {sha[:12]} in experiment {experiment_name!r}" in line
    assert "its training command failed (exit code 1" in line


# -- 2. incomplete runs -------------------------------------------------------------------------------------


def test_a_main_build_whose_end_was_spooled_is_no_champion_until_synced(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "alias, latest")
    (project.root / ".ci-track.yml").write_text(
        f"experiment: {experiment_name}\nchampion: {{strategy: [latest]}}\n"
        "metrics:\n  rmse: {goal: minimize, max_regression: '5%'}\n"
    )
    project.commit("main", "good model")
    assert project.train({"main": {"train_loss": 0.1}, "metrics_file": {"rmse": 0.40}}).code == 0

    project.commit("main", "second main build, the server dies at its end")
    # The script's own start_run()/end_run() go through (the run turns FINISHED), then the server
    # refuses everything ci-track sends at the end: the metrics file and the completion mark.
    with fault_proxy(
        mlflow_server.url, rate=1.0, faults=("503",), retry_after=(0,), should_fault=lambda _m, p: "log-batch" in p
    ) as dying:
        spooled = project.train(
            {"main": {"train_loss": 0.1}, "metrics_file": {"rmse": 0.41}},
            uri=dying.url,
            CI_TRACK_HTTP_ATTEMPTS="2",
            CI_TRACK_RETRY_BUDGET="2",
        )
    assert spooled.code == 3 and "ci-track sync" in spooled.stderr
    incomplete = max(_ci_track_runs(project), key=lambda run: run.start_time or 0)
    assert incomplete.status == "FINISHED" and "ci.exit_code" not in incomplete.tags  # the trap: FINISHED yet partial

    project.commit("feature/worse", "worse")
    assert project.train({"main": {"train_loss": 0.1}, "metrics_file": {"rmse": 0.90}}, pr=5).code == 0
    result, report = project.compare(pr=5)
    assert result.code == 1, result.stdout  # judged against the complete 0.40, never 'new' against the partial run
    assert report["champion"]["run_id"] != incomplete.run_id
    assert report["metrics"][0]["champion"] == 0.40

    synced = project.cli("sync")
    assert synced.code == 0, synced.stderr
    complete = next(run for run in _ci_track_runs(project) if run.run_id == incomplete.run_id)
    assert complete.tags["ci.exit_code"] == "0" and complete.metrics["rmse"] == 0.41
    _, after = project.compare(pr=5)
    assert after["champion"]["run_id"] == incomplete.run_id  # complete now, so it counts


def test_an_alias_on_an_incomplete_run_fails_closed(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str, client: MlflowClient
) -> None:
    model = f"m-{experiment_name}"
    project = _project(tmp_path, mlflow_server, experiment_name, "alias", model=model)
    project.commit("feature/x", "x")
    assert project.train({"metrics_file": {"val_auc": 0.9}}, pr=1).code == 0
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None
    stray = client.create_run(experiment.experiment_id, tags={"mlflow.source.git.branch": "main"})
    client.update_run(stray.run_id, "FINISHED")
    client.ensure_registered_model(model)
    version = client.create_model_version(model, source=f"runs:/{stray.run_id}/model", run_id=stray.run_id)
    client.set_alias(model, "champion", version.version)
    result = project.cli("compare", pr=1)
    assert result.code == 3
    (line,) = result.error_lines
    assert f"alias @champion of model {model}" in line and "cannot serve as the champion" in line


# -- 3. one champion per base branch -------------------------------------------------------------------


@pytest.mark.parametrize("registry", [False, True], ids=["tag", "registry-alias"])
def test_each_base_branch_has_its_own_champion(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str, registry: bool, client: MlflowClient
) -> None:
    model = f"m-{experiment_name}" if registry else None
    project = _project(tmp_path, mlflow_server, experiment_name, "alias", model=model)
    project.commit("main", "main model")
    assert project.train({"metrics_file": {"val_auc": 0.95}}).code == 0
    assert project.cli("promote").code == 0
    project.commit("release/1.x", "release model")
    assert project.train({"metrics_file": {"val_auc": 0.85}}).code == 0
    released = project.cli("promote")
    assert released.code == 0, released.stderr  # release/1.x had no champion: main's 0.95 is not its baseline
    assert "champion of release/1.x" in released.stderr

    project.commit("fix/release", "release fix")
    assert project.train({"metrics_file": {"val_auc": 0.86}}, pr=11).code == 0
    into_release, report = project.compare("--base-branch", "release/1.x", pr=11)
    assert into_release.code == 0, into_release.stdout  # 0.85 -> 0.86 against the release champion
    assert report["champion"]["branch"] == "release/1.x"

    git(project.root, "checkout", "-q", "release/1.x")
    project.commit("release/1.x", "much worse release build")
    assert project.train({"metrics_file": {"val_auc": 0.50}}).code == 0
    assert project.cli("promote", "--force").code == 0  # moves release's champion only

    project.commit("feature/main-worse", "worse for main")
    assert project.train({"metrics_file": {"val_auc": 0.90}}, pr=12).code == 0
    into_main, main_report = project.compare(pr=12)
    assert into_main.code == 1, into_main.stdout  # main's champion is still 0.95
    assert main_report["champion"]["branch"] == "main"
    if registry:
        assert client.get_model_version_by_alias(model or "", "champion") is not None
        per_branch = branch_alias("champion", "release/1.x", "main")
        release_version = client.get_model_version_by_alias(model or "", per_branch)
        assert release_version is not None
        assert client.get_run(release_version.run_id or "").metrics["val_auc"] == 0.50
    else:
        assert sorted(run.tags["mlflow.source.git.branch"] for run in _champions(project)) == ["main", "release/1.x"]


def test_promote_cannot_move_another_branchs_champion(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "alias")
    project.commit("release/1.x", "release build")
    assert project.train({"main": {"val_auc": 0.8}}).code == 0
    result = project.cli("promote", "--base-branch", "main", "--force")
    assert result.code == 2 and "would move another branch's champion" in result.stderr
    assert _champions(project) == []


def test_branch_aliases_are_valid_mlflow_aliases_and_keep_branches_apart() -> None:
    import re

    names = ["release/1.x", "release-1-x", "feature/ünïcode", "a" * 300, "v1", "latest", "it's", "-x"]
    aliases = [branch_alias("champion", name, "main") for name in names]
    assert all(re.fullmatch(r"[\w\-]{1,255}", alias, flags=re.ASCII) for alias in aliases)
    assert len(set(aliases)) == len(names)
    assert branch_alias("champion", "main", "main") == "champion"
    assert branch_alias("champion", None, "main") == "champion"
    assert branch_alias("champion", "release/1.x", "main").startswith("champion-release-1-x-")


# -- 6. smaller, same theme ------------------------------------------------------------------------------


def test_a_script_that_switches_experiments_is_told_what_to_do(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = _project(tmp_path, mlflow_server, experiment_name, "latest")
    (project.root / "switch.py").write_text(
        "import mlflow\nmlflow.set_experiment('somewhere-else')\n"
        "with mlflow.start_run():\n    mlflow.log_metric('a', 1)\n"
    )
    project.commit("main", "switching script")
    result = ci_track("run", "--", sys.executable, "switch.py", env=project.env(), cwd=project.root)
    assert result.code == 1
    assert "does not match environment run ID" in result.stderr  # the script's own stderr still comes through
    hint = next(line for line in result.stderr.splitlines() if "switched experiments" in line)
    assert f"ci-track put the run in experiment {experiment_name!r}" in hint
    assert "remove the set_experiment call" in hint and "`ci-track run --experiment NAME`" in hint
