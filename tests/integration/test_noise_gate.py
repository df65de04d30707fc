"""The noise-aware gate end to end (issue 13): real CLI, real MLflow server, real subprocesses.

`compare` with sigma rules (noise from repeats, from the base-branch history, or none), `run --repeat`,
`promote` with `require: improvement`, `max_drift`, the override label, and the bad inputs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from ci_track.gate.noise import decide, estimate_noise
from ci_track.gate.tolerance import parse_tolerance
from ci_track.tracking.client import MlflowClient
from ci_track.tracking.runs import Run
from tests.cli_helpers import CliResult, assert_clean_failure, base_env, ci_track, github_pr_build
from tests.mlflow_server import MlflowServer
from tests.reliability_scenarios import GateScenario

HEAD_SHA = "c" * 40
RULES = """\
experiment: {experiment}
base_branch: main
metrics:
  rmse:
    goal: minimize
    max_regression: {rule}
{extra}"""


class Scenario(GateScenario):
    head_sha = HEAD_SHA

    def __init__(self, client: MlflowClient, server: MlflowServer, experiment: str, workdir: Path) -> None:
        super().__init__(client, server, experiment, workdir)
        self.counter = 0

    def rules(self, rule: str, extra: str = "") -> None:
        text = RULES.format(experiment=self.experiment, rule=rule, extra=extra)
        (self.workdir / ".ci-track.yml").write_text(text)

    def run(
        self,
        rmse: float,
        *,
        branch: str,
        sha: str,
        pr: int | None = None,
        group: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        all_tags = {**(tags or {}), **({"ci.repeat_group": group} if group is not None else {})}
        self.counter += 1
        start_time = 1_700_000_000_000 + self.counter
        return self.record(metrics={"rmse": rmse}, branch=branch, sha=sha, pr=pr, tags=all_tags, start_time=start_time)

    def group(self, values: Sequence[float], *, branch: str, sha: str, pr: int | None = None) -> list[Run]:
        name = f"g-{sha[:7]}-{self.counter}"
        return [self.run(v, branch=branch, sha=sha, pr=pr, group=name) for v in values]

    def history(self, values: Sequence[float]) -> None:
        """One complete single run per base-branch commit, oldest first."""
        for index, value in enumerate(values):
            self.run(value, branch="main", sha=f"{index:040x}")


@pytest.fixture
def scenario(client: MlflowClient, mlflow_server: MlflowServer, experiment_name: str, tmp_path: Path) -> Scenario:
    return Scenario(client, mlflow_server, experiment_name, tmp_path)


def _rmse(document: dict) -> dict:
    return next(m for m in document["metrics"] if m["name"] == "rmse")


# ---------------------------------------------------------------- compare with a sigma rule


def test_sigma_rule_with_repeats_judges_the_means_and_reports_sigma_z_and_confidence(scenario: Scenario) -> None:
    scenario.rules('"3sigma"')
    champion = [10.0, 10.4, 9.6, 10.2]
    candidate = [10.3, 10.7, 9.9]
    scenario.group(champion, branch="main", sha="a" * 40)
    scenario.group(candidate, branch="feature", sha=HEAD_SHA, pr=7)
    result, document = scenario.compare()
    expected = decide(
        candidate, champion, "minimize", parse_tolerance("3sigma"), estimate_noise([candidate, champion], [])
    )
    rmse = _rmse(document)
    assert result.code == (1 if expected.verdict == "fail" else 0), result.stdout
    assert rmse["noise"]["applied"] is True
    assert rmse["noise"]["source"] == "repeats"
    assert rmse["noise"]["sigma"] == pytest.approx(expected.noise.sigma)
    assert rmse["noise"]["z"] == pytest.approx(expected.z)
    assert rmse["noise"]["confident"] == expected.confident
    assert rmse["noise"]["candidate_runs"] == 3 and rmse["noise"]["champion_runs"] == 4
    assert rmse["candidate"] == pytest.approx(sum(candidate) / 3)  # the table shows the mean
    assert rmse["champion"] == pytest.approx(sum(champion) / 4)
    assert "noise: rmse: σ" in result.stdout and "from repeats" in result.stdout
    assert any("mean of 3 runs" in notice for notice in document["notices"])


def test_a_clear_regression_in_units_of_noise_fails(scenario: Scenario) -> None:
    scenario.rules('"3σ"')
    scenario.group([10.0, 10.1, 9.9, 10.0], branch="main", sha="a" * 40)
    scenario.group([12.0, 12.1, 11.9], branch="feature", sha=HEAD_SHA, pr=7)
    result, document = scenario.compare()
    assert result.code == 1, result.stdout
    assert _rmse(document)["status"] == "regressed"
    assert _rmse(document)["noise"]["confident"] is True
    assert "FAIL: rmse" in result.stdout


def test_noise_from_the_base_branch_history_with_one_bounded_search(scenario: Scenario) -> None:
    scenario.rules("{sigma: 3, relative: 1%}")
    history = [10.0, 10.3, 9.8, 10.1, 9.9, 10.4, 9.7, 10.2, 10.0, 9.9]
    scenario.history(history)
    champion = scenario.run(10.05, branch="main", sha="a" * 40)  # the newest: `latest` picks it
    scenario.run(10.5, branch="feature", sha=HEAD_SHA, pr=7)
    scenario.run(99.0, branch="main", sha="e" * 40, pr=8)  # a PR run named main: never history
    result, document = scenario.compare()
    assert document["champion"]["run_id"] == champion.run_id
    noise = _rmse(document)["noise"]
    assert noise["source"] == "history"
    expected = estimate_noise([], history)  # the champion's own run is not its history
    assert noise["sigma"] == pytest.approx(expected.sigma)
    assert noise["noise_runs"] == len(history)
    assert result.code == 0, result.stdout  # +0.45 within 3 SE of a σ about 0.25


@pytest.mark.parametrize("reuse", [True, False], ids=["reused", "retrained"])
def test_commits_that_kept_the_training_inputs_are_not_samples_of_the_noise(scenario: Scenario, reuse: bool) -> None:
    """Runs with the inputs of a newer run (a `run --reuse` copy, or the same training retrained) would read as
    zero noise: the newest run of each fingerprint is the sample, with reuse on or off alike."""
    scenario.rules("{sigma: 3, relative: 1%}")
    history = [10.0, 10.3, 9.8, 10.1, 9.9, 10.4, 9.7, 10.2]
    for index, value in enumerate(history):
        fingerprint = {"ci.fingerprint": f"inputs-{index}"}
        trainer = scenario.run(value, branch="main", sha=f"{2 * index:040x}", tags=fingerprint)
        copy = {"ci.training": "reused", "ci.reused_from": trainer.run_id} if reuse else {}
        # the next commit touched no input: the same numbers, reused or retrained
        scenario.run(value, branch="main", sha=f"{2 * index + 1:040x}", tags={**fingerprint, **copy})
    scenario.run(10.05, branch="main", sha="a" * 40, tags={"ci.fingerprint": "inputs-champion"})
    scenario.run(10.5, branch="feature", sha=HEAD_SHA, pr=7)
    result, document = scenario.compare()
    noise = _rmse(document)["noise"]
    assert noise["source"] == "history"
    assert noise["noise_runs"] == len(history)
    assert noise["sigma"] == pytest.approx(estimate_noise([], history).sigma)
    assert "8 run(s) of the base branch's history left out of the noise estimate" in json.dumps(document)
    assert result.code == 0, result.stdout


def test_without_any_noise_estimate_the_fixed_part_alone_applies_and_the_report_says_so(scenario: Scenario) -> None:
    scenario.rules("{sigma: 3, relative: 2%}")
    scenario.run(10.0, branch="main", sha="a" * 40)
    scenario.run(10.5, branch="feature", sha=HEAD_SHA, pr=7)  # +5% > 2%
    result, document = scenario.compare()
    noise = _rmse(document)["noise"]
    assert noise["source"] == "none" and noise["sigma"] is None
    assert result.code == 1
    assert "no noise estimate: the 3σ part is not applied" in _rmse(document)["reason"]


def test_a_fixed_rule_keeps_its_verdict_and_shows_sigma_for_information(scenario: Scenario) -> None:
    scenario.rules('"2%"')
    scenario.group([10.0, 10.5, 9.5], branch="main", sha="a" * 40)
    scenario.group([10.1, 10.6, 9.6], branch="feature", sha=HEAD_SHA, pr=7)  # +1% of the mean
    result, document = scenario.compare()
    assert result.code == 0, result.stdout
    noise = _rmse(document)["noise"]
    assert noise["applied"] is False and noise["source"] == "repeats"
    assert _rmse(document)["status"] == "within_tolerance"


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ('"3sigmas"', "'3sigmas' is not a tolerance; did you mean '3sigma'?"),
        ('"-3sigma"', "must be a finite number of sigma greater than 0"),
        ("{sigma: 3, relatve: 2%}", "unknown key 'relatve'"),
        ("{sigma: 0}", "greater than 0"),
    ],
)
def test_bad_sigma_rules_are_one_line_errors_exit_2(scenario: Scenario, rule: str, fragment: str) -> None:
    scenario.rules(rule)
    result, _ = scenario.compare()
    assert_clean_failure(result, 2, fragment, ".ci-track.yml:6")


def test_the_editor_schema_accepts_the_sigma_spellings(scenario: Scenario) -> None:
    import jsonschema
    import yaml

    from tests.unit.test_config import schema

    validator = jsonschema.Draft202012Validator(schema())
    for rule in ('"3sigma"', '"3σ"', '"2.5 sigma"', "{sigma: 3, relative: 2%}", "{sigma: 2, absolute: 0.01}"):
        document = yaml.safe_load(RULES.format(experiment="x", rule=rule, extra=""))
        assert list(validator.iter_errors(document)) == [], rule
    for rule in ('"3sigmas"', "{sigma: 0}", "{sigma: 3, relatve: 2%}"):
        document = yaml.safe_load(RULES.format(experiment="x", rule=rule, extra=""))
        assert list(validator.iter_errors(document)), rule


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# ---------------------------------------------------------------- run --repeat

TRAIN = """
import json, os, sys
seed = int(os.environ["CI_TRACK_SEED"])
values = [float(v) for v in os.environ["VALUES"].split(",")]
if seed == int(os.environ.get("FAIL_AT", "0")):
    sys.exit(3)
json.dump({"rmse": values[seed - 1], "seed": seed}, open("metrics.json", "w"))
"""


def _train(scenario: Scenario, values: Sequence[float], *args: str, sha: str, branch: str, **env: str) -> CliResult:
    environment = scenario.env(
        VALUES=",".join(str(v) for v in values),
        CI_TRACK_HEAD_SHA=sha,
        CI_TRACK_BRANCH=branch,
        **env,
    )
    return ci_track(
        "run", "--metrics-file", "metrics.json", *args, "--", *_python(TRAIN), env=environment, cwd=scenario.workdir
    )


def _group_runs(scenario: Scenario, sha: str) -> list[Run]:
    runs, _ = scenario.client.search_runs(
        [scenario.experiment_id],
        filter_string=f"tags.`mlflow.source.git.commit` = '{sha}'",
        order_by=["attributes.start_time ASC"],
    )
    return runs


def test_run_repeat_n_trains_n_seeded_runs_that_compare_treats_as_one_candidate(scenario: Scenario) -> None:
    scenario.rules('"3sigma"')
    champion_sha = "a" * 40
    result = _train(scenario, [10.0, 10.4, 9.6], "--repeat", "3", sha=champion_sha, branch="main")
    assert result.code == 0, result.stderr
    runs = _group_runs(scenario, champion_sha)
    assert [r.tags["ci.attempt"] for r in runs] == ["1", "2", "3"]
    assert [r.tags["ci.seed"] for r in runs] == ["1", "2", "3"]
    assert [r.metrics["seed"] for r in runs] == [1.0, 2.0, 3.0]  # CI_TRACK_SEED reached the command
    assert len({r.tags["ci.repeat_group"] for r in runs}) == 1
    assert all(r.tags["ci.repeats"] == "3 runs: the configured 3 runs" for r in runs)
    assert "repeat group" in result.stderr
    scenario.group([10.2, 10.5, 9.9], branch="feature", sha=HEAD_SHA, pr=7)
    compared, document = scenario.compare()
    rmse = _rmse(document)
    assert rmse["champion"] == pytest.approx(10.0) and rmse["noise"]["champion_runs"] == 3
    assert rmse["noise"]["source"] == "repeats" and rmse["noise"]["noise_runs"] == 6
    assert compared.code == 0, compared.stdout


def test_run_repeat_from_the_configuration(scenario: Scenario) -> None:
    scenario.rules('"3sigma"', extra="run:\n  repeat: 2\n")
    result = _train(scenario, [10.0, 10.4], sha="a" * 40, branch="main")
    assert result.code == 0, result.stderr
    assert len(_group_runs(scenario, "a" * 40)) == 2


def test_repeat_auto_trains_again_only_while_ambiguous_and_says_why(scenario: Scenario) -> None:
    scenario.rules('"3sigma"')
    scenario.run(10.0, branch="main", sha="a" * 40)  # a champion of one run: no noise estimate yet
    result = _train(
        scenario, [10.1, 10.3, 10.2, 10.2], "--repeat", "auto", "--repeat-max", "4", sha=HEAD_SHA, branch="feature"
    )
    assert result.code == 0, result.stderr
    runs = _group_runs(scenario, HEAD_SHA)
    assert len(runs) == 2  # the first run has no noise estimate; the second measures it and decides
    assert "no noise estimate yet: another run measures it" in result.stderr
    assert runs[0].tags["ci.repeats"] == "2 runs: decision clear after 2 runs"
    _, document = scenario.compare()
    assert any(
        "the candidate is the mean of 2 runs of repeat group" in notice
        and "(2 runs: decision clear after 2 runs)" in notice
        for notice in document["notices"]
    ), document["notices"]


def test_repeat_auto_without_a_champion_stops_after_one_run(scenario: Scenario) -> None:
    scenario.rules('"3sigma"')
    result = _train(scenario, [10.0, 10.1], "--repeat", "auto", "--repeat-max", "3", sha=HEAD_SHA, branch="feature")
    assert result.code == 0, result.stderr
    assert len(_group_runs(scenario, HEAD_SHA)) == 1
    assert "nothing to decide" in result.stderr


def test_a_failing_attempt_stops_the_repeats_and_fails_the_run(scenario: Scenario) -> None:
    scenario.rules('"3sigma"')
    result = _train(scenario, [10.0, 10.1, 10.2], "--repeat", "3", sha=HEAD_SHA, branch="feature", FAIL_AT="2")
    assert result.code == 3
    runs = _group_runs(scenario, HEAD_SHA)
    assert len(runs) == 2 and runs[1].status == "FAILED"
    assert "attempt 2 failed with exit code 3" in result.stderr


@pytest.mark.parametrize(
    ("args", "extra", "fragment"),
    [
        (("--repeat", "0"), "", "--repeat: 0 must be a whole number of runs, at least 1"),
        (("--repeat", "auto"), "", "'auto' needs a maximum"),
        (("--repeat-max", "3"), "", "--repeat-max needs --repeat auto"),
        (("--repeat", "3", "--repeat-max", "3"), "", "a maximum applies only to 'auto'"),
        ((), "run:\n  repeat: auto\n", "run.repeat: 'auto' needs a maximum"),
        ((), "run:\n  repeat: 0\n", "run.repeat: 0 must be a whole number"),
        ((), "run:\n  repeat: 50\n", "at most 20 runs per commit"),
    ],
)
def test_bad_repeat_settings_are_one_line_errors_before_any_run(
    scenario: Scenario, args: tuple[str, ...], extra: str, fragment: str
) -> None:
    scenario.rules('"3sigma"', extra=extra)
    result = _train(scenario, [10.0], *args, sha=HEAD_SHA, branch="feature")
    assert_clean_failure(result, 2, fragment)
    assert _group_runs(scenario, HEAD_SHA) == []


def test_best_ranks_commits_by_the_mean_of_their_repeats_not_by_one_lucky_run(scenario: Scenario) -> None:
    scenario.rules('"3sigma"', extra="champion:\n  strategy: best\n  metric: rmse\n")
    scenario.group([9.0, 10.0, 10.0], branch="main", sha="a" * 40)  # one lucky run, mean 9.67
    steady = scenario.group([9.5, 9.5, 9.6], branch="main", sha="b" * 40)  # mean 9.53
    scenario.run(9.55, branch="feature", sha=HEAD_SHA, pr=7)
    result, document = scenario.compare()
    assert document["champion"]["run_id"] in {run.run_id for run in steady}, result.stdout
    assert "mean of 3 runs" in document["champion"]["source"]
    assert _rmse(document)["champion"] == pytest.approx((9.5 + 9.5 + 9.6) / 3)


# ---------------------------------------------------------------- promote require: improvement, max_drift


def _promote(scenario: Scenario, sha: str, *args: str) -> CliResult:
    return ci_track("promote", *args, env=scenario.env(CI_TRACK_HEAD_SHA=sha), cwd=scenario.workdir)


def test_promote_require_improvement_refuses_a_run_that_is_only_within_tolerance(scenario: Scenario) -> None:
    scenario.rules('"2%"', extra='promote:\n  require: improvement\n  min_improvement: "1%"\n')
    first = scenario.run(10.0, branch="main", sha="a" * 40)
    promoted = _promote(scenario, "a" * 40)
    assert promoted.code == 0, promoted.stderr  # no champion yet: nothing to improve on
    scenario.run(9.95, branch="main", sha="b" * 40)  # 0.5% better: passes the gate, not an improvement of 1%
    refused = _promote(scenario, "b" * 40)
    assert refused.code == 1
    assert "not promoted: not a real improvement over the champion" in refused.stderr
    assert "needed 0.1 (fixed 1% = 0.1)" in refused.stderr
    assert scenario.client.get_run(first.run_id).tags.get("ci.champion") == "true"
    better = scenario.run(9.8, branch="main", sha="d" * 40)  # 2% better
    accepted = _promote(scenario, "d" * 40)
    assert accepted.code == 0, accepted.stderr
    assert scenario.client.get_run(better.run_id).tags.get("ci.champion") == "true"
    scenario.run(9.79, branch="main", sha="e" * 40)
    assert _promote(scenario, "e" * 40, "--force").code == 0


def test_max_drift_bounds_the_loss_against_the_best_of_the_last_champions(scenario: Scenario) -> None:
    scenario.rules('"2%"', extra="    max_drift: 3%\n")
    for index, value in enumerate((10.0, 10.1, 10.2)):  # each within 2% of the one before
        sha = f"{index + 1:x}" * 40
        scenario.run(value, branch="main", sha=sha)
        assert _promote(scenario, sha).code == 0
    scenario.run(10.35, branch="feature", sha=HEAD_SHA, pr=7)  # +1.5% on the champion, +3.5% on the best
    result, document = scenario.compare()
    assert result.code == 1, result.stdout
    rmse = _rmse(document)
    assert rmse["status"] == "regressed"
    assert "drifted from the best of the last 3 champions" in rmse["reason"]
    assert rmse["noise"]["drift"]["verdict"] == "fail"
    assert rmse["noise"]["drift"]["champion_mean"] == pytest.approx(10.0)
    scenario.run(10.25, branch="feature", sha="f" * 40, pr=8)  # +2.5% on the best: within 3%
    within, _ = scenario.compare(CI_TRACK_HEAD_SHA="f" * 40)
    assert within.code == 0, within.stdout


# ---------------------------------------------------------------- the override label

LABEL = "ci-track:accept-regression"


def _pr_env(
    scenario: Scenario,
    labels: Sequence[str],
    *,
    action: str = "synchronize",
    label: str | None = None,
    fork: bool = False,
) -> dict[str, str]:
    more: dict[str, object] = {"action": action, "sender": {"login": "maintainer"}}
    if label is not None:
        more["label"] = {"name": label}
    return github_pr_build(
        scenario.workdir / "event.json",
        repository="o/r",
        number=7,
        head_sha=HEAD_SHA,
        head_repository="fork/repo" if fork else None,
        labels=labels,
        event=more,
        CI_TRACK_RULES_FROM="head",  # a plain directory, not a clone with the base commit: gate on its rules
    )


def _regression(scenario: Scenario) -> Run:
    scenario.rules('"2%"')
    scenario.run(10.0, branch="main", sha="a" * 40)
    return scenario.run(11.0, branch="feature", sha=HEAD_SHA, pr=7)  # +10%


def test_the_override_label_turns_a_failing_gate_into_a_visible_pass_and_removing_it_restores_it(
    scenario: Scenario,
) -> None:
    candidate = _regression(scenario)
    markdown = scenario.workdir / "report.md"
    env = _pr_env(scenario, [LABEL, "other"], action="labeled", label=LABEL)
    result, document = scenario.compare("--markdown-output", str(markdown), **env)
    assert result.code == 0, result.stdout
    assert document["verdict"] == "regression" and document["passed"] is True
    assert "accepted by the label ci-track:accept-regression (maintainer," in document["accepted"]
    assert _rmse(document)["status"] == "regressed"  # the failure stays visible
    assert "Regression accepted by the label" in markdown.read_text()
    assert "accepted: Regression accepted" in result.stdout
    tags = scenario.client.get_run(candidate.run_id).tags
    assert tags["ci.override_label"] == LABEL and tags["ci.override_by"] == "maintainer"
    assert tags["ci.override_at"].endswith("Z")

    removed, document = scenario.compare(**_pr_env(scenario, ["other"], action="unlabeled", label=LABEL))
    assert removed.code == 1 and "accepted" not in document
    tags = scenario.client.get_run(candidate.run_id).tags
    assert "ci.override_by" not in tags and "ci.override_removed_at" in tags


def test_a_label_seen_on_another_event_is_recorded_as_present(scenario: Scenario) -> None:
    candidate = _regression(scenario)
    result, _ = scenario.compare(**_pr_env(scenario, [LABEL]))
    assert result.code == 0, result.stdout
    assert scenario.client.get_run(candidate.run_id).tags["ci.override_by"] == "label present"


def test_a_fork_pr_passes_only_with_the_label_on_the_pr_in_the_payload(scenario: Scenario) -> None:
    _regression(scenario)
    # Text the PR controls (its title, a variable a workflow fills from it) is never read for labels.
    env = _pr_env(scenario, [], fork=True)
    blocked, _ = scenario.compare(**env, CI_TRACK_LABELS=LABEL, PR_LABELS=LABEL)
    assert blocked.code == 1
    labelled, _ = scenario.compare(**_pr_env(scenario, [LABEL], fork=True, action="labeled", label=LABEL))
    assert labelled.code == 0


def test_a_configured_label_replaces_the_default(scenario: Scenario) -> None:
    _regression(scenario)
    env = _pr_env(scenario, [LABEL])
    result, _ = scenario.compare("--override-label", "ml:accept", **env)
    assert result.code == 1  # the default label no longer counts
    accepted, _ = scenario.compare(**_pr_env(scenario, ["ml:accept"]), CI_TRACK_OVERRIDE_LABEL="ml:accept")
    assert accepted.code == 0


@pytest.mark.parametrize(
    ("where", "fragment"),
    [
        ("flag", "--override-label 'accept it' has spaces"),
        ("env", "CI_TRACK_OVERRIDE_LABEL 'accept it' has spaces"),
        ("file", ".ci-track.yml:7: override_label: 'accept it' has spaces"),
    ],
)
def test_a_label_name_with_spaces_is_a_one_line_error(scenario: Scenario, where: str, fragment: str) -> None:
    _regression(scenario)
    args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if where == "flag":
        args = ("--override-label", "accept it")
    elif where == "env":
        env = {"CI_TRACK_OVERRIDE_LABEL": "accept it"}
    else:
        scenario.rules('"2%"', extra="override_label: accept it\n")
    result, _ = scenario.compare(*args, **env)
    assert_clean_failure(result, 2, fragment)


# ---------------------------------------------------------------- MLproject {seed}, bounded requests


def test_the_seed_placeholder_reaches_mlproject_parameters(scenario: Scenario) -> None:
    scenario.rules('"3sigma"')
    (scenario.workdir / "train.py").write_text(
        "import json, sys\njson.dump({'rmse': 10 + int(sys.argv[1]) / 10}, open('metrics.json', 'w'))\n"
    )
    (scenario.workdir / "MLproject").write_text(
        "name: seeded\nentry_points:\n  main:\n    parameters:\n      seed: {type: int}\n"
        "    command: python train.py {seed}\n"
    )
    env = scenario.env(CI_TRACK_HEAD_SHA="a" * 40, CI_TRACK_BRANCH="main")
    result = ci_track(
        "run", "--repeat", "3", "--entry-point", "main", "-P", "seed={seed}", "--metrics-file", "metrics.json",
        env=env, cwd=scenario.workdir,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    runs = _group_runs(scenario, "a" * 40)
    assert [r.params["seed"] for r in runs] == ["1", "2", "3"]
    assert [r.metrics["rmse"] for r in runs] == [pytest.approx(10.1), pytest.approx(10.2), pytest.approx(10.3)]


def test_compare_makes_the_same_bounded_number_of_requests_whatever_the_history(
    client: MlflowClient, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    from tests.fakes.fault_proxy import FaultProxy

    counts = []
    for size in (25, 75):
        scenario = Scenario(client, mlflow_server, f"noise-requests-{size}-{tmp_path.name}", tmp_path / str(size))
        scenario.workdir.mkdir()
        scenario.rules('"3sigma"', extra="    max_drift: 5%\n")
        scenario.history([10.0 + (index % 5) / 10 for index in range(size)])
        scenario.group([10.0, 10.2, 9.9], branch="main", sha="a" * 40)
        scenario.group([10.1, 10.0, 10.2], branch="feature", sha=HEAD_SHA, pr=7)
        with FaultProxy(mlflow_server.url) as proxy:
            env = base_env(MLFLOW_TRACKING_URI=proxy.url, CI_TRACK_HEAD_SHA=HEAD_SHA)
            result = ci_track("compare", env=env, cwd=scenario.workdir)
            assert result.code == 0, result.stdout + result.stderr
            counts.append(proxy.forwarded)
    assert counts[0] == counts[1], counts
    assert counts[0] <= 12, counts
