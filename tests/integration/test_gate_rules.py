"""On a pull request the gate obeys the base commit's `.ci-track.yml`, and shows what the PR changes in it.

End to end: real git repositories (a main branch, a PR branch, a shallow clone), the real CLI, a
real MLflow server and a real training script on the MLflow client. Plus the pure rule diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest

from ci_track.ci.context import CIContext
from ci_track.errors import ConfigError, ContextError
from ci_track.gate.config import parse_config
from ci_track.gate.rules import describe_rule, diff_rules, fetch_hint, load_gate_rules
from tests.cli_helpers import (
    CliResult,
    assert_clean_failure,
    base_env,
    ci_track,
    commit_all,
    git,
    github_pr_build,
    init_repo,
)
from tests.mlflow_server import MlflowServer
from tests.unit.test_reports import documented_schema

TRAIN = """\
import json
import mlflow

with open("model.json") as spec:
    metrics = json.load(spec)
with mlflow.start_run():
    for key, value in metrics.items():
        mlflow.log_metric(key, value)
print("trained", metrics)
"""

BASE_RULES = """\
experiment: {experiment}
base_branch: main
champion: {{strategy: latest}}
metrics:
  rmse: {{goal: minimize, max_regression: "2%"}}
"""

LOOSENED_RULES = """\
experiment: {experiment}
base_branch: main
champion: {{strategy: latest}}
metrics:
  rmse: {{goal: minimize, max_regression: "100%", severity: info}}
"""


class Project:
    """A repository whose main branch has a champion run, and a PR branch that regresses rmse."""

    def __init__(self, root: Path, server: MlflowServer, experiment: str, *, base_rules: str | None) -> None:
        self.root = root
        self.server = server
        self.experiment = experiment
        self.repo = root / "repo"
        files = {"train.py": TRAIN, "model.json": json.dumps({"rmse": 0.70})}
        if base_rules is not None:
            files[".ci-track.yml"] = base_rules.format(experiment=experiment)
        self.base_sha = init_repo(self.repo, files)
        trained = ci_track(
            "run", "--experiment", experiment, "--", sys.executable, "train.py", env=self.local_env(), cwd=self.repo
        )
        assert trained.code == 0, trained.stderr

    def local_env(self, **extra: str) -> dict[str, str]:
        return base_env(MLFLOW_TRACKING_URI=self.server.url, **extra)

    def open_pr(self, rules: str | None, *, rmse: float = 0.80) -> str:
        """The PR head: a worse model (0.70 -> 0.80 is +14%), and maybe new rules."""
        git(self.repo, "checkout", "-q", "-b", "feature/loosen")
        (self.repo / "model.json").write_text(json.dumps({"rmse": rmse}))
        if rules is not None:
            (self.repo / ".ci-track.yml").write_text(rules.format(experiment=self.experiment))
        self.head_sha = commit_all(self.repo, "a worse model")
        return self.head_sha

    def pr_env(self, **extra: str) -> dict[str, str]:
        build = github_pr_build(
            self.root / "event.json",
            repository="acme/wine",
            number=5,
            head_sha=self.head_sha,
            head_ref="feature/loosen",
            base_sha=self.base_sha,
            title="Loosen the gate",
            GITHUB_SHA=self.head_sha,
            GITHUB_RUN_ID="55",
        )
        return self.local_env(**{**build, **extra})

    def train_pr(self) -> None:
        trained = ci_track("run", "--", sys.executable, "train.py", env=self.pr_env(), cwd=self.repo)
        assert trained.code == 0, trained.stderr

    def compare(self, *args: str, cwd: Path | None = None, **env: str) -> tuple[CliResult, dict, str]:
        where = cwd or self.repo
        for name in ("report.json", "report.md"):
            (where / name).unlink(missing_ok=True)
        result = ci_track(
            "compare", "--json-output", "report.json", "--markdown-output", "report.md", *args,
            env=self.pr_env(**env), cwd=where,
        )  # fmt: skip
        document = json.loads((where / "report.json").read_text()) if (where / "report.json").exists() else {}
        markdown = (where / "report.md").read_text() if (where / "report.md").exists() else ""
        return result, document, markdown


@pytest.fixture
def loosening_pr(tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str) -> Project:
    project = Project(tmp_path, mlflow_server, experiment_name, base_rules=BASE_RULES)
    project.open_pr(LOOSENED_RULES)
    project.train_pr()
    return project


def test_a_pr_that_loosens_its_own_gate_still_fails_and_the_report_shows_the_change(loosening_pr: Project) -> None:
    result, document, markdown = loosening_pr.compare()
    assert result.code == 1, result.stdout + result.stderr
    assert document["verdict"] == "regression"
    (rmse,) = [m for m in document["metrics"] if m["name"] == "rmse"]
    assert (rmse["status"], rmse["severity"], rmse["allowed"]) == ("regressed", "fail", "+2%")

    rules = document["rules"]
    assert rules["source"] == "base" and rules["base_sha"] == loosening_pr.base_sha and rules["changed"] is True
    assert rules["changes"] == [
        {
            "kind": "metric",
            "name": "rmse",
            "base": "goal: minimize, max_regression: 2%, severity: fail",
            "head": "goal: minimize, max_regression: 100%, severity: info",
        }
    ]
    assert "the new rules apply after the merge" in rules["summary"]
    jsonschema.validate(document, documented_schema())  # the `rules` field as docs/json-report-schema.md says

    # markdown: right under the title, before the headline, with both rules side by side
    notice_at, headline_at = markdown.index("[!WARNING]"), markdown.index("regression\\: rmse")
    assert notice_at < headline_at
    assert "| rule | base rule | PR rule |" in markdown
    assert "| metric rmse | goal\\: minimize, max\\_regression\\: 2%, severity\\: fail |" in markdown
    assert "max\\_regression\\: 100%, severity\\: info |" in markdown
    # console: the first line says it
    assert result.stdout.splitlines()[0].startswith("rules: This pull request changes the gating rules")
    assert "base rule" in result.stdout and "100%" in result.stdout


def test_the_ci_owner_can_opt_into_the_pr_rules(loosening_pr: Project) -> None:
    for how in ({"CI_TRACK_RULES_FROM": "head"}, {}):
        args = () if how else ("--rules-from", "head")
        result, document, markdown = loosening_pr.compare(*args, **how)
        assert result.code == 0, result.stdout + result.stderr
        assert document["rules"]["source"] == "head" and document["rules"]["changed"] is True
        assert "[!CAUTION]" in markdown and "pull request's own rules" in markdown
        (rmse,) = [m for m in document["metrics"] if m["name"] == "rmse"]
        assert (rmse["status"], rmse["severity"], rmse["allowed"]) == ("within_tolerance", "info", "+100%")


def test_rules_from_head_counts_only_in_the_base_commit(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    # The PR adds `rules_from: head` to its own file: ignored, still blocked.
    sneaky = Project(tmp_path / "sneaky", mlflow_server, experiment_name, base_rules=BASE_RULES)
    sneaky.open_pr("rules_from: head\n" + LOOSENED_RULES)
    sneaky.train_pr()
    result, document, _ = sneaky.compare()
    assert result.code == 1, result.stdout
    assert {c["name"] for c in document["rules"]["changes"]} == {"rules_from", "rmse"}

    # The base commit itself says `rules_from: head`: the team chose the PR's rules.
    chosen = Project(
        tmp_path / "chosen", mlflow_server, experiment_name + "-2", base_rules="rules_from: head\n" + BASE_RULES
    )
    chosen.open_pr("rules_from: head\n" + LOOSENED_RULES)
    chosen.train_pr()
    result, document, _ = chosen.compare()
    assert result.code == 0, result.stdout + result.stderr
    assert document["rules"]["chosen_by"] == "rules_from: head"
    # ... and the CI owner can force the base's rules back.
    forced, _, _ = chosen.compare("--rules-from", "base")
    assert forced.code == 1, forced.stdout


def test_unchanged_rules_say_nothing_at_the_top(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = Project(tmp_path, mlflow_server, experiment_name, base_rules=BASE_RULES)
    project.open_pr(None)
    project.train_pr()
    result, document, markdown = project.compare()
    assert result.code == 1
    assert document["rules"]["source"] == "base" and document["rules"]["changes"] == []
    assert "[!" not in markdown and not result.stdout.startswith("rules:")


def test_a_base_without_a_config_gates_on_the_defaults_and_shows_the_added_rules(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = Project(tmp_path, mlflow_server, experiment_name, base_rules=None)
    project.open_pr(BASE_RULES)
    project.train_pr()
    result, document, markdown = project.compare()
    # The defaults gate on no metric; the experiment comes from the PR since nothing else names one.
    assert result.code == 0, result.stdout + result.stderr
    assert document["experiment"] == experiment_name
    assert [m["configured"] for m in document["metrics"] if m["name"] == "rmse"] == [False]
    changes = {c["name"]: (c["base"], c["head"]) for c in document["rules"]["changes"]}
    assert changes["rmse"] == (None, "goal: minimize, max_regression: 2%, severity: fail")
    assert changes["experiment"] == (None, experiment_name)
    assert changes["base_branch"] == (None, "main")
    assert "| metric rmse | — |" in markdown


def test_a_shallow_clone_fails_closed_and_says_what_to_fetch(loosening_pr: Project, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git(
        tmp_path,
        "clone",
        "-q",
        "--depth",
        "1",
        "--branch",
        "feature/loosen",
        f"file://{loosening_pr.repo}",
        str(shallow),
    )
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    result, document, _ = loosening_pr.compare(cwd=shallow)
    line = assert_clean_failure(
        result, 2, "shallow", loosening_pr.base_sha[:12], "`fetch-depth: 0`", "actions/checkout"
    )
    assert "CI_TRACK_RULES_FROM=head" in line
    assert document == {}  # no report, no verdict: nothing could pass
    # The CI owner's opt-out works in the same clone (the change just cannot be shown).
    opted, document, _ = loosening_pr.compare(cwd=shallow, CI_TRACK_RULES_FROM="head")
    assert opted.code == 0, opted.stderr
    assert document["rules"] == {**document["rules"], "source": "head", "changes": []}


def test_a_pr_build_outside_a_repository_with_a_config_fails_closed(
    tmp_path: Path, mlflow_server: MlflowServer, experiment_name: str
) -> None:
    project = Project(tmp_path, mlflow_server, experiment_name, base_rules=BASE_RULES)
    project.open_pr(LOOSENED_RULES)
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / ".ci-track.yml").write_text(LOOSENED_RULES.format(experiment=experiment_name))
    result, _, _ = project.compare(cwd=plain)
    assert_clean_failure(result, 2, "not in a git repository", "CI_TRACK_RULES_FROM=head")


def test_an_explicit_config_inside_the_repository_is_read_at_the_base_commit(loosening_pr: Project) -> None:
    (loosening_pr.repo / "gate").mkdir()
    git(loosening_pr.repo, "mv", ".ci-track.yml", "gate/rules.yml")
    commit_all(loosening_pr.repo, "move the rules")  # the base has no gate/rules.yml: the defaults
    result, document, _ = loosening_pr.compare("--config", "gate/rules.yml")
    assert document["rules"]["source"] == "base"
    assert {c["name"] for c in document["rules"]["changes"]} >= {"rmse", "experiment"}
    assert result.code == 0  # the base gated nothing under that name
    outside = loosening_pr.root / "outside.yml"
    outside.write_text(LOOSENED_RULES.format(experiment=loosening_pr.experiment))
    fixed, document, _ = loosening_pr.compare("--config", str(outside))
    assert fixed.code == 0 and document["rules"]["source"] == "fixed"


# ---------------------------------------------------------------- the diff (pure)


def test_the_diff_lists_only_what_changed() -> None:
    base = parse_config(
        """\
experiment: wine
missing: fail
champion: {strategy: [alias, best], metric: rmse}
metrics:
  rmse: {goal: minimize, max_regression: "2%"}
  r2: {goal: maximize, min: 0.3}
  mae: {goal: minimize, severity: warn}
"""
    )
    head = parse_config(
        """\
experiment: wine
missing: warn
champion: {strategy: [latest]}
metrics:
  rmse: {goal: minimize, max_regression: "100%", severity: info}
  r2: {goal: maximize, min: 0.3}
  val_loss: {goal: minimize, aggregate: min}
"""
    )
    rows = [(c.kind, c.name, c.base, c.head) for c in diff_rules(base, head)]
    assert rows == [
        ("setting", "missing", "fail", "warn"),
        (
            "setting",
            "champion",
            "strategy: alias, best; metric: rmse; alias: champion",
            "strategy: latest; alias: champion",
        ),
        (
            "metric",
            "rmse",
            "goal: minimize, max_regression: 2%, severity: fail",
            "goal: minimize, max_regression: 100%, severity: info",
        ),
        ("metric", "val_loss", None, "goal: minimize, severity: fail, aggregate: min"),
        ("metric", "mae", "goal: minimize, severity: warn", None),
    ]


def test_the_diff_is_semantic_not_textual() -> None:
    base = parse_config('metrics:\n  rmse: {goal: minimize, max_regression: "2%"}\n')
    head = parse_config(
        "# reformatted, same meaning\nmissing: fail\nrules_from: base\nmetrics:\n"
        "  rmse:\n    goal: minimize\n    max_regression: 2 %\n    severity: fail\n    aggregate: last\n"
    )
    assert diff_rules(base, head) == ()
    assert diff_rules(head, parse_config("")) == tuple(diff_rules(head, parse_config("")))
    assert [c.name for c in diff_rules(base, parse_config(""))] == ["rmse"]


def test_every_field_of_a_rule_is_described() -> None:
    rule = parse_config(
        "metrics:\n  loss: {goal: minimize, max_regression: 0.01, min: 0, max: 5, severity: warn, "
        "aggregate: mean_last_5, allow_nan: true}\n"
    ).metrics["loss"]
    assert describe_rule(rule) == (
        "goal: minimize, max_regression: 0.01, min: 0, max: 5, severity: warn, aggregate: mean_last_5, allow_nan: true"
    )


# ---------------------------------------------------------------- which commit, and what to fetch


def _context(provider: str, **fields: object) -> CIContext:
    values: dict = {"provider": provider, "event": "pull_request", "head_sha": "e" * 40, "pr_number": 3}
    return CIContext(**{**values, **fields})


def test_without_a_base_sha_the_merge_commits_base_side_is_the_base(tmp_path: Path) -> None:
    """A Jenkins PR build checked out as a merge: no base_sha from the provider, the merge's first parent."""
    repo = tmp_path / "ws"
    base = init_repo(repo, {".ci-track.yml": 'metrics:\n  rmse: {goal: minimize, max_regression: "2%"}\n'})
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / ".ci-track.yml").write_text("metrics:\n  rmse: {goal: minimize, severity: info}\n")
    head = commit_all(repo, "loosen")
    git(repo, "checkout", "-q", "--detach", base)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", head)
    merge = git(repo, "rev-parse", "HEAD")
    context = _context("jenkins", head_sha=head, merge_sha=merge, base_branch="main")
    rules = load_gate_rules(None, cwd=repo, cli={}, environ={}, context=context)
    assert rules.report.base_sha == base and rules.config.metrics["rmse"].severity == "fail"
    assert [c.name for c in rules.report.changes] == ["rmse"]
    with pytest.raises(ContextError, match="cannot tell this pull request's base commit"):
        load_gate_rules(None, cwd=repo, cli={}, environ={}, context=_context("jenkins", base_branch="main"))


@pytest.mark.parametrize(
    ("provider", "fragment"),
    [
        ("github-actions", "`fetch-depth: 0` (or 2 for the merge commit of a pull_request event) on actions/checkout"),
        ("gitlab", "`GIT_DEPTH: 0`"),
        ("jenkins", "shallow clone"),
        ("local", "git fetch --unshallow"),
    ],
)
def test_the_fetch_hint_names_each_ci_systems_option(provider: str, fragment: str) -> None:
    hint = fetch_hint(_context(provider), shallow=True)
    assert fragment in hint and hint.endswith("set CI_TRACK_RULES_FROM=head to gate on the pull request's own rules")


def test_a_bad_rules_from_variable_is_a_config_error(tmp_path: Path) -> None:
    init_repo(tmp_path / "r", {"x": "y"})
    with pytest.raises(ConfigError, match="CI_TRACK_RULES_FROM must be one of base, head, got 'heads'"):
        load_gate_rules(
            None, cwd=tmp_path / "r", cli={}, environ={"CI_TRACK_RULES_FROM": "heads"}, context=_context("local")
        )
