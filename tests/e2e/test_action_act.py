"""The GitHub Action and the workflows in workflows/ and .github/workflows/, run for real under act.

Two tiers. The entry script's own tests (fast) run action/entry.py against a stand-in `ci-track`
executable that records its argv and environment. The act tests (marked slow) run whole workflows
on this host against a real MLflow server (the session fixture) and the fake GitHub (in-process),
in real git repositories laid out as GitHub lays out a pull request, and assert on what landed:
MLflow runs and their tags, the PR comment, the commit status, step outputs, the job summary, the
job's result.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.act_harness import (
    FAST_MODEL_LOGGING,
    ActResult,
    ActSandbox,
    ProjectRepo,
    build_wheelhouse,
    copy_action,
    pull_request_event,
    push_event,
    sample_project_files,
    schedule_event,
    workflow_run_event,
)
from tests.fakes.fake_github import FakeGitHub, running_fake_github

REPO_ROOT = Path(__file__).resolve().parents[2]
# Long and distinctive: act masks secrets by value, so a short one could mask ordinary words.
GITHUB_TOKEN = "ghs_ActTestsFakeGitHubToken7Q9zXw3Lm5Np"
TRACKING_TOKEN = "mlflow-fake-tracking-token-Zq8Wv2Kx6Rj4"
REPOSITORY = "acme/diabetes"
PR_NUMBER = 7


def load_entry() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_track_action_entry", REPO_ROOT / "action" / "entry.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


entry = load_entry()


# ================================================================================================
# action/entry.py with a stand-in CLI
# ================================================================================================

RECORDING_CLI = """#!{python}
import json, os, sys
from pathlib import Path
record = Path(os.environ["RECORD_DIR"])
calls = sorted(record.glob("call-*.json"))
(record / f"call-{{len(calls):02d}}.json").write_text(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}))
verb = sys.argv[1]
codes = json.loads(os.environ.get("STAND_IN_EXIT_CODES", "{{}}"))
with open(os.environ["GITHUB_OUTPUT"], "a") as out:
    if verb == "run":
        out.write("run-id=0123456789abcdef\\nrun-url=http://mlflow.invalid/#/runs/0123456789abcdef\\n")
    if verb == "compare":
        out.write("verdict=regression\\nregressions=2\\nreport-path=/tmp/r.md\\n")
        out.write("summary<<EOF_1\\nline one\\nline two\\nEOF_1\\n")
        report = Path(sys.argv[sys.argv.index("--json-output") + 1])
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text("{{}}")
sys.exit(int(codes.get(verb, 0)))
"""


@pytest.fixture
def stand_in(tmp_path: Path) -> dict[str, str]:
    """Environment of the action's entry step, with a `ci-track` that records each call."""
    cli = tmp_path / "ci-track"
    cli.write_text(RECORDING_CLI.format(python=sys.executable))
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "record").mkdir()
    (tmp_path / "runner-temp").mkdir()
    (tmp_path / "output.txt").write_text("")
    return {
        "PATH": os.environ.get("PATH", ""),
        "CI_TRACK_CLI": str(cli),
        "CI_TRACK_PYTHON": sys.executable,
        "RECORD_DIR": str(tmp_path / "record"),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_ACTION": "ci-track",
        "INPUT_GITHUB_TOKEN": GITHUB_TOKEN,
        "INPUT_COMMENT": "update",
        "INPUT_STATUS": "true",
        "INPUT_FAIL_ON_REGRESSION": "true",
        "INPUT_COMPARE": "true",
    }


def calls(env: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(Path(env["RECORD_DIR"]).glob("call-*.json"))]


def run_entry(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = entry.main(env)
    return code, capsys.readouterr().out


def test_a_hostile_command_reaches_bash_as_one_argument(stand_in: dict[str, str], capsys: Any) -> None:
    command = "python train.py --note \"$(touch /tmp/pwned)\" '; rm -rf ~' `id` && echo done\nsecond line"
    stand_in.update(INPUT_COMMAND=command, INPUT_EXPERIMENT="exp; echo x", INPUT_METRICS_FILES="a b.json\n\nc.json\n")
    code, _ = run_entry(stand_in, capsys)
    assert code == 0
    run, compare = calls(stand_in)
    assert run["argv"] == [
        "run",
        "--experiment",
        "exp; echo x",
        "--metrics-file",
        "a b.json",
        "--metrics-file",
        "c.json",
        "--",
        "bash",
        "--noprofile",
        "--norc",
        "-eo",
        "pipefail",
        "-c",
        command,
    ]
    assert compare["argv"][:3] == ["compare", "--run-id", "0123456789abcdef"]
    assert compare["argv"][3:5] == ["--experiment", "exp; echo x"]
    assert compare["argv"][5:9] == ["--comment", "update", "--status", "--markdown-output"]


def test_an_entry_point_gets_its_parameters_as_separate_arguments(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(
        INPUT_ENTRY_POINT="main",
        INPUT_PARAMETERS="alpha=0.5\n l1_ratio = 0.1 \nnote=a=b; $(x)\n",
        INPUT_COMPARE="false",
        INPUT_CONFIG="ci/.ci-track.yml",
    )
    assert run_entry(stand_in, capsys)[0] == 0
    (run,) = calls(stand_in)
    assert run["argv"] == [
        "run",
        "--config",
        "ci/.ci-track.yml",
        "--entry-point",
        "main",
        "-P",
        "alpha=0.5",
        "-P",
        "l1_ratio = 0.1",
        "-P",
        "note=a=b; $(x)",
    ]


def test_the_training_run_never_sees_the_github_token_and_compare_does(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(INPUT_COMMAND="python train.py", INPUT_TRACKING_URI="http://127.0.0.1:5999")
    assert run_entry(stand_in, capsys)[0] == 0
    run, compare = calls(stand_in)
    assert "GITHUB_TOKEN" not in run["env"]
    assert not [key for key in run["env"] if key.startswith("INPUT_")]
    assert GITHUB_TOKEN not in json.dumps(run["env"])
    assert compare["env"]["GITHUB_TOKEN"] == GITHUB_TOKEN
    assert run["env"]["MLFLOW_TRACKING_URI"] == compare["env"]["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"


def test_credentials_are_masked_before_anything_runs(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(
        INPUT_COMMAND="true",
        INPUT_TRACKING_URI="https://ci:p%40ss-w0rd-Xy@mlflow.example.invalid",
        MLFLOW_TRACKING_TOKEN="tok-123456\nsecond-line-of-it",
        DATABRICKS_CLIENT_SECRET="dose-sp-secret-42",
    )
    code, out = run_entry(stand_in, capsys)
    assert code == 0
    masks = [line.removeprefix("::add-mask::") for line in out.splitlines() if line.startswith("::add-mask::")]
    expected = {GITHUB_TOKEN, "tok-123456", "second-line-of-it", "p%40ss-w0rd-Xy", "p@ss-w0rd-Xy", "dose-sp-secret-42"}
    assert set(masks) == expected
    assert out.index("::add-mask::") < out.index("ci-track: ci-track run")


def test_outputs_are_relayed_and_the_json_report_is_an_output(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(INPUT_COMMAND="python train.py")
    assert run_entry(stand_in, capsys)[0] == 0
    outputs = entry.read_outputs(Path(stand_in["GITHUB_OUTPUT"]).read_text())
    assert outputs["run-id"] == "0123456789abcdef"
    assert outputs["verdict"] == "regression" and outputs["regressions"] == "2"
    assert outputs["summary"] == "line one\nline two"
    assert outputs["report-path"] == "/tmp/r.md"
    assert Path(outputs["report-json"]).is_file()
    assert Path(outputs["report-json"]).is_relative_to(stand_in["RUNNER_TEMP"])


@pytest.mark.parametrize(
    ("fail_on_regression", "codes", "expected"),
    [
        ("true", {"compare": 1}, 1),
        ("false", {"compare": 1}, 0),
        ("false", {"compare": 3}, 3),
        ("false", {"compare": 2}, 2),
        ("true", {"run": 7}, 7),
    ],
)
def test_exit_codes_pass_through_and_fail_on_regression_only_softens_a_regression(
    stand_in: dict[str, str], capsys: Any, fail_on_regression: str, codes: dict[str, int], expected: int
) -> None:
    stand_in.update(
        INPUT_COMMAND="python train.py",
        INPUT_FAIL_ON_REGRESSION=fail_on_regression,
        STAND_IN_EXIT_CODES=json.dumps(codes),
    )
    code, out = run_entry(stand_in, capsys)
    assert code == expected
    verbs = [call["argv"][0] for call in calls(stand_in)]
    if "run" in codes:
        assert verbs == ["run"], "a failed training run is not compared"
        assert "::error title=ci-track::the training run failed (exit code 7)" in out
    if expected == 0:
        assert "::warning title=ci-track::the comparison found a regression" in out


def test_report_mode_posts_the_report_and_runs_nothing_else(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(INPUT_REPORT="/tmp/artifact/report.json", INPUT_COMMENT="delete-on-pass", INPUT_STATUS="false")
    assert run_entry(stand_in, capsys)[0] == 0
    (comment,) = calls(stand_in)
    assert comment["argv"] == [
        "comment",
        "--report",
        "/tmp/artifact/report.json",
        "--mode",
        "delete-on-pass",
        "--no-status",
    ]
    assert comment["env"]["GITHUB_TOKEN"] == GITHUB_TOKEN


@pytest.mark.parametrize(
    ("pull_requests", "pr_arguments"),
    [
        ([{"number": 12, "head": {"sha": "a" * 40}}], ["--pr", "12"]),
        ([], []),  # a fork's PR: GitHub does not list it, the report names it and --expect-sha guards it
    ],
)
def test_report_mode_takes_commit_and_pr_from_githubs_workflow_run_event_not_from_the_report(
    stand_in: dict[str, str], capsys: Any, tmp_path: Path, pull_requests: list[Any], pr_arguments: list[str]
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"workflow_run": {"head_sha": "b" * 40, "pull_requests": pull_requests}}))
    stand_in.update(INPUT_REPORT="r.json", GITHUB_EVENT_NAME="workflow_run", GITHUB_EVENT_PATH=str(event))
    assert run_entry(stand_in, capsys)[0] == 0
    (comment,) = calls(stand_in)
    assert comment["argv"][5:] == ["--status", "--expect-sha", "b" * 40, *pr_arguments]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"INPUT_COMMENT": "sometimes"}, "`comment` must be one of update, new, delete-on-pass, off"),
        ({"INPUT_STATUS": "yes"}, "`status` must be true or false"),
        ({"INPUT_COMMAND": "x", "INPUT_ENTRY_POINT": "main"}, "not both"),
        ({"INPUT_PARAMETERS": "alpha=1"}, "`parameters` are for an MLproject `entry-point`"),
        ({"INPUT_ENTRY_POINT": "main", "INPUT_PARAMETERS": "alpha"}, "one KEY=VALUE per line"),
        ({"INPUT_COMPARE": "false"}, "nothing to do"),
        ({"INPUT_REPORT": "r.json", "INPUT_COMMAND": "x"}, "`report` posts an earlier report"),
        # one line: an input cannot start a workflow command of its own
        ({"INPUT_COMMENT": "off\n::error::injected"}, "got 'off\\n::error::injected'"),
    ],
)
def test_bad_inputs_fail_with_one_error_that_names_the_input(
    stand_in: dict[str, str], capsys: Any, inputs: dict[str, str], message: str
) -> None:
    stand_in.update(inputs)
    code, out = run_entry(stand_in, capsys)
    assert code == 2
    assert calls(stand_in) == []
    (line,) = out.splitlines()
    assert line.startswith("::error title=ci-track input::") and message in line, line


# -- every CLI option a workflow wants, from `with:` ---------------------------------------------

RUN_ID = "0123456789abcdef"  # what the stand-in `ci-track run` reports


@pytest.mark.parametrize(
    ("inputs", "verb", "flags"),
    [
        ({"INPUT_RUN_NAME": "nightly $(id)"}, "run", ["--run-name", "nightly $(id)"]),
        ({"INPUT_TAGS": "team=ml\n\n  note = a=b; `x` \n"}, "run", ["--tag", "team=ml", "--tag", "note = a=b; `x`"]),
        ({"INPUT_EXPERIMENT": "exp 1"}, "compare", ["--experiment", "exp 1"]),
        ({"INPUT_CONFIG": "ci/gate.yml"}, "compare", ["--config", "ci/gate.yml"]),
        ({"INPUT_BASE_BRANCH": "release/2.x"}, "compare", ["--base-branch", "release/2.x"]),
        ({"INPUT_CHAMPION_RUN_ID": "feedc0de"}, "compare", ["--champion-run-id", "feedc0de"]),
        ({"INPUT_CHAMPION_STRATEGY": " best , alias"}, "compare", ["--champion-strategy", "best,alias"]),
        ({"INPUT_CHAMPION_MODEL": "diabetes model"}, "compare", ["--champion-model", "diabetes model"]),
        ({"INPUT_CHAMPION_ALIAS": "prod"}, "compare", ["--champion-alias", "prod"]),
        ({"INPUT_CHAMPION_METRIC": "val/rmse"}, "compare", ["--champion-metric", "val/rmse"]),
        ({"INPUT_NO_CHAMPION": "fail"}, "compare", ["--no-champion", "fail"]),
        ({"INPUT_MISSING": "warn"}, "compare", ["--missing", "warn"]),
        ({"INPUT_RULES_FROM": "head"}, "compare", ["--rules-from", "head"]),
        ({"INPUT_TEMPLATE": "ci/report.md.j2"}, "compare", ["--template", "ci/report.md.j2"]),
        ({"INPUT_CHECK_RUN": "true"}, "compare", ["--check-run"]),
        ({"INPUT_CHECK_RUN": "TRUE"}, "compare", ["--check-run"]),
        ({"INPUT_STATUS": "false"}, "compare", ["--no-status"]),
        ({"INPUT_COMMENT": "delete-on-pass"}, "compare", ["--comment", "delete-on-pass"]),
        ({"INPUT_REPEAT": "3"}, "run", ["--repeat", "3"]),
        ({"INPUT_REPEAT": "Auto", "INPUT_REPEAT_MAX": "4"}, "run", ["--repeat", "auto", "--repeat-max", "4"]),
        ({"INPUT_OVERRIDE_LABEL": "ml:accept"}, "compare", ["--override-label", "ml:accept"]),
        ({"INPUT_REUSE": "true"}, "run", ["--reuse"]),
        ({"INPUT_REUSE": "False"}, "run", ["--no-reuse"]),
        ({"INPUT_KEY": "lasso v2"}, "compare", ["--key", "lasso v2"]),
        ({"INPUT_CHARTS": "false"}, "compare", ["--no-charts"]),
    ],
)
def test_each_input_becomes_its_cli_flag_as_one_argument(
    stand_in: dict[str, str], capsys: Any, inputs: dict[str, str], verb: str, flags: list[str]
) -> None:
    stand_in.update(INPUT_COMMAND="python train.py", **inputs)
    assert run_entry(stand_in, capsys)[0] == 0
    (call,) = [call for call in calls(stand_in) if call["argv"][0] == verb]
    argv = call["argv"]
    if verb == "run":
        argv = argv[: argv.index("--")]  # the flags, not the command
    start = next(i for i in range(len(argv)) if argv[i : i + len(flags)] == flags)
    assert argv[start : start + len(flags)] == flags, argv


def test_inputs_left_empty_add_no_flag(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(INPUT_COMMAND="python train.py", INPUT_CHECK_RUN="false")
    assert run_entry(stand_in, capsys)[0] == 0
    run, compare = calls(stand_in)
    assert run["argv"][: run["argv"].index("--")] == ["run"]
    flags = [arg for arg in compare["argv"] if arg.startswith("--")]
    assert flags == ["--run-id", "--comment", "--status", "--markdown-output", "--json-output"]


def test_what_the_action_was_told_is_written_to_github_env_for_later_steps(
    stand_in: dict[str, str], capsys: Any, tmp_path: Path
) -> None:
    github_env = tmp_path / "github-env"
    github_env.write_text("EARLIER=1\n")
    stand_in.update(
        INPUT_COMMAND="python train.py",
        INPUT_EXPERIMENT="wine",
        INPUT_CHAMPION_MODEL="wine-lasso",
        INPUT_KEY="lasso",
        GITHUB_ENV=str(github_env),
    )
    assert run_entry(stand_in, capsys)[0] == 0
    written = entry.read_outputs(github_env.read_text())  # GITHUB_ENV has GITHUB_OUTPUT's syntax
    assert written == {
        "EARLIER": "1",
        "CI_TRACK_EXPERIMENT": "wine",
        "CI_TRACK_CHAMPION_MODEL": "wine-lasso",
        "CI_TRACK_KEY": "lasso",
    }
    assert "<<ci_track_eof_" in github_env.read_text()  # a delimiter no value can contain


def test_inputs_left_empty_write_nothing_to_github_env(stand_in: dict[str, str], capsys: Any, tmp_path: Path) -> None:
    github_env = tmp_path / "github-env"
    stand_in.update(INPUT_COMMAND="python train.py", GITHUB_ENV=str(github_env))
    assert run_entry(stand_in, capsys)[0] == 0
    assert not github_env.exists()


def test_run_id_compares_an_earlier_run_without_training(stand_in: dict[str, str], capsys: Any) -> None:
    stand_in.update(INPUT_RUN_ID="cafe0001")
    assert run_entry(stand_in, capsys)[0] == 0
    (compare,) = calls(stand_in)
    assert compare["argv"][:3] == ["compare", "--run-id", "cafe0001"]


def test_report_paths_given_as_inputs_are_where_the_reports_and_the_outputs_point(
    stand_in: dict[str, str], capsys: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the step's working-directory: relative paths are relative to it
    stand_in.update(INPUT_COMMAND="python train.py", INPUT_JSON_OUTPUT="out/gate.json", INPUT_MARKDOWN_OUTPUT="g.md")
    assert run_entry(stand_in, capsys)[0] == 0
    compare = calls(stand_in)[1]["argv"]
    assert compare[compare.index("--json-output") + 1] == "out/gate.json"
    assert compare[compare.index("--markdown-output") + 1] == "g.md"
    outputs = entry.read_outputs(Path(stand_in["GITHUB_OUTPUT"]).read_text())
    assert outputs["report-json"] == str(tmp_path / "out" / "gate.json")  # the stand-in wrote it there


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"INPUT_CHECK_RUN": "yes"}, "`check-run` must be true or false, got 'yes'"),
        ({"INPUT_NO_CHAMPION": "skip"}, "`no-champion` must be one of pass, fail (or empty), got 'skip'"),
        ({"INPUT_MISSING": "ignore"}, "`missing` must be one of fail, warn (or empty), got 'ignore'"),
        ({"INPUT_RULES_FROM": "pr"}, "`rules-from` must be one of base, head (or empty), got 'pr'"),
        ({"INPUT_CHAMPION_STRATEGY": "alias,bestest"}, "`champion-strategy` is a comma list of alias, best, latest"),
        ({"INPUT_CHAMPION_STRATEGY": "alias,,latest"}, "`champion-strategy` is a comma list"),
        ({"INPUT_TAGS": "team"}, "`tags` wants one KEY=VALUE per line, got 'team'"),
        ({"INPUT_RUN_ID": "abc", "INPUT_COMMAND": "x"}, "`run-id` compares a run made earlier"),
        ({"INPUT_RUN_NAME": "nightly"}, "`run-name` is for the training run"),
        ({"INPUT_TAGS": "a=b"}, "`tags` is for the training run"),
        ({"INPUT_COMMAND": "x", "INPUT_COMPARE": "false", "INPUT_CHAMPION_MODEL": "m"}, "`champion-model` is for the"),
        ({"INPUT_REPORT": "r.json", "INPUT_CHECK_RUN": "true"}, "`check-run` is for the comparison"),
        ({"INPUT_REPORT": "r.json", "INPUT_JSON_OUTPUT": "x.json"}, "`json-output` is for the comparison"),
        ({"INPUT_COMMAND": "x", "INPUT_REPEAT": "0"}, "`repeat` must be a whole number of runs from 1 to 20"),
        ({"INPUT_COMMAND": "x", "INPUT_REPEAT": "auto"}, "`repeat: auto` needs `repeat-max`"),
        ({"INPUT_COMMAND": "x", "INPUT_REPEAT": "3", "INPUT_REPEAT_MAX": "4"}, "`repeat-max` is the maximum of"),
        ({"INPUT_COMMAND": "x", "INPUT_REPEAT": "auto", "INPUT_REPEAT_MAX": "x"}, "`repeat-max` must be a whole"),
        ({"INPUT_REPEAT": "3"}, "`repeat` is for the training run"),
        ({"INPUT_COMMAND": "x", "INPUT_REUSE": "yes"}, "`reuse` must be true or false, got 'yes'"),
        ({"INPUT_REUSE": "true"}, "`reuse` is for the training run"),
        ({"INPUT_COMMAND": "x", "INPUT_OVERRIDE_LABEL": "accept it"}, "`override-label` must be one label name"),
        ({"INPUT_REPORT": "r.json", "INPUT_OVERRIDE_LABEL": "ok"}, "`override-label` is for the comparison"),
        ({"INPUT_REPORT": "r.json", "INPUT_KEY": "ridge"}, "`key` is for the comparison"),
        ({"INPUT_COMMAND": "x", "INPUT_CHARTS": "no"}, "`charts` must be true or false"),
        ({"INPUT_COMMAND": "x", "INPUT_KEY": "a\rCI_TRACK_X=1"}, "`key` must be one line"),
        ({"INPUT_COMMAND": "x", "INPUT_EXPERIMENT": "wine\nLD_PRELOAD=x"}, "`experiment` must be one line"),
    ],
)
def test_bad_values_of_the_new_inputs_fail_with_one_error_line(
    stand_in: dict[str, str], capsys: Any, inputs: dict[str, str], message: str
) -> None:
    stand_in.update(inputs)
    code, out = run_entry(stand_in, capsys)
    assert code == 2
    assert calls(stand_in) == []
    (line,) = out.splitlines()
    assert line.startswith("::error title=ci-track input::") and message in line, line


class RecordingEnvironment(dict[str, str]):
    """An environment that remembers which variables were asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def action_metadata() -> dict[str, Any]:
    import yaml

    document = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    assert isinstance(document, dict)
    return document


def test_every_action_input_is_documented_and_used_so_they_cannot_drift() -> None:
    """Each input: a row of docs/github-action.md, and a variable the step's consumer really reads."""
    action = action_metadata()
    docs = (REPO_ROOT / "docs" / "github-action.md").read_text()
    steps = action["runs"]["steps"]
    entry_step = next(step for step in steps if step.get("id") == "ci-track")
    install_step = next(step for step in steps if step.get("id") == "install")
    environment = RecordingEnvironment({"INPUT_COMPARE": "true"})
    entry.Inputs.from_env(environment)
    install_script = (REPO_ROOT / "action" / "install.sh").read_text()
    for name in action["inputs"]:
        assert f"| `{name}` |" in docs, f"input {name} is not in docs/github-action.md"
        expression = f"${{{{ inputs.{name} }}}}"
        entry_variables = [key for key, value in entry_step["env"].items() if value == expression]
        install_variables = [key for key, value in install_step.get("env", {}).items() if value == expression]
        elsewhere = expression in json.dumps([[step.get("with"), step.get("working-directory")] for step in steps])
        assert entry_variables or install_variables or elsewhere, f"input {name} reaches no step"
        for variable in entry_variables:
            assert variable == "INPUT_" + name.upper().replace("-", "_"), (name, variable)
            assert variable in environment.asked, f"action/entry.py never reads {variable} (input {name})"
        for variable in install_variables:
            assert f"${{{variable}" in install_script, f"action/install.sh never reads {variable} (input {name})"
    for name in action["outputs"]:
        assert f"| `{name}` |" in docs, f"output {name} is not in docs/github-action.md"


def test_the_defaults_in_action_yml_mean_what_an_empty_input_means() -> None:
    """A default changed on one side only (action.yml or entry.py) would make `with:` and no `with:` differ."""
    action = action_metadata()
    variables = {
        "INPUT_" + name.upper().replace("-", "_"): str(spec.get("default", ""))
        for name, spec in action["inputs"].items()
        if "${{" not in str(spec.get("default", ""))
    }
    with_defaults = entry.Inputs.from_env(variables)
    with_nothing = entry.Inputs.from_env({})
    assert with_defaults == with_nothing


# ================================================================================================
# act: whole workflows
# ================================================================================================

slow = pytest.mark.slow


@pytest.fixture(scope="session")
def action_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_action(tmp_path_factory.mktemp("acme-ci-track"))


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with running_fake_github(repository=REPOSITORY, pr_number=None, token=GITHUB_TOKEN) as fake:
        yield fake
        fake.assert_no_violations()


@pytest.fixture
def names() -> dict[str, Any]:
    """This test's experiment and registered model: the sample's champion is the model's @champion alias."""
    suffix = uuid.uuid4().hex[:10]
    return {"experiment": f"act-{suffix}", "model": f"act-model-{suffix}"}


@pytest.fixture
def sandbox(tmp_path: Path, fake_github: FakeGitHub, action_checkout: Path) -> ActSandbox:
    return ActSandbox(
        root=tmp_path / "act",
        github_token=GITHUB_TOKEN,
        github_api_url=fake_github.url,
        action_checkout=action_checkout,
    )


@pytest.fixture
def project(tmp_path: Path, names: dict[str, Any]) -> ProjectRepo:
    repo = ProjectRepo(tmp_path / "diabetes")
    repo.init(sample_project_files(experiment=names["experiment"], model=names["model"]))
    return repo


def gate_workflow(*, command: str, with_: dict[str, str] | None = None, on: str = "pull_request") -> str:
    """A user's workflow around the action (install: skip: the test venv's ci-track is on PATH)."""
    settings = {"command": command, "install": "skip", **(with_ or {})}
    lines = "\n".join(f"          {key}: {json.dumps(value)}" for key, value in settings.items())
    checks = "\n      checks: write" if settings.get("check-run") == "true" else ""
    return f"""\
name: gate
on: {on}
permissions: {{}}
jobs:
  gate:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      pull-requests: write
      statuses: write{checks}
    env:
      MLFLOW_TRACKING_URI: ${{{{ vars.MLFLOW_TRACKING_URI }}}}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: ci-track
        uses: ci-track/ci-track@main
        with:
{lines}
      - name: after
        if: always()
        env:
          OUTPUTS: ${{{{ toJSON(steps.ci-track.outputs) }}}}
        run: echo "outputs-json=$OUTPUTS"
"""


def mlflow_runs(tracking_uri: str, experiment: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return list(client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"]))


def assert_job(result: ActResult, expected: str) -> None:
    results = set(result.job_results().values())
    assert results == {expected}, result.describe()


@slow
def test_pull_request_run_is_tagged_with_the_head_commit_and_sets_the_outputs(
    sandbox: ActSandbox, project: ProjectRepo, names: dict[str, Any], mlflow_server: Any, fake_github: FakeGitHub
) -> None:
    project.add_workflow(
        "gate.yml",
        gate_workflow(
            command='env > "$ACT_TEST_ARTIFACTS/training-env.txt"; echo "token: $MLFLOW_TRACKING_TOKEN"; '
            "python train.py --alpha 0.01 --log-model false",
            with_={"compare": "false", "metrics-files": "metrics.json"},
        ),
    )
    pr = project.open_pull_request(PR_NUMBER, {"NOTES.md": "tuning\n"})
    fake_github.add_pull(REPOSITORY, PR_NUMBER, head_sha=pr.head_sha, base_sha=pr.base_sha, head_ref=pr.head_ref)

    result = sandbox.run(
        project,
        "pull_request",
        pull_request_event(project, pr),
        workflow="gate.yml",
        env={"MLFLOW_TRACKING_TOKEN": TRACKING_TOKEN},
        variables={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    assert_job(result, "success")

    (run,) = mlflow_runs(mlflow_server.url, names["experiment"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.source.git.commit"] == pr.head_sha != pr.merge_sha
    assert run.data.tags["ci.pr_number"] == str(PR_NUMBER)
    assert run.data.tags["mlflow.source.git.branch"] == pr.head_ref
    assert {"rmse", "r2", "mae"} <= set(run.data.metrics)

    outputs = result.outputs("ci-track")
    assert outputs["run-id"] == run.info.run_id
    assert run.info.run_id in outputs["run-url"] and outputs["run-url"].startswith(mlflow_server.url)

    # the training command had the MLflow token (masked in the log) but neither the GitHub token nor the inputs
    training_env = (sandbox.artifacts / "training-env.txt").read_text()
    assert f"MLFLOW_TRACKING_TOKEN={TRACKING_TOKEN}" in training_env
    assert GITHUB_TOKEN not in training_env and "\nINPUT_" not in training_env
    assert "token: ***" in result.log
    assert TRACKING_TOKEN not in result.log and GITHUB_TOKEN not in result.log


# -- helpers for the gate tests -------------------------------------------------------------------

TEMPLATES = REPO_ROOT / "workflows"


def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def current_champion(tracking_uri: str, names: dict[str, Any]) -> str | None:
    """The champion's run id: the registered model's alias, or the run tagged ci.champion=true."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri)
    if names["model"]:
        try:
            return str(client.get_model_version_by_alias(names["model"], "champion").run_id)
        except MlflowException:
            return None
    tagged = [
        run for run in mlflow_runs(tracking_uri, names["experiment"]) if run.data.tags.get("ci.champion") == "true"
    ]
    return tagged[-1].info.run_id if tagged else None


def train_champion_locally(project: ProjectRepo, tracking_uri: str, tmp_path: Path) -> str:
    """A champion made outside CI (faster than a workflow): `ci-track run` on main, then `ci-track promote`."""
    from tests.act_harness import git
    from tests.cli_helpers import base_env, ci_track

    git(project.path, "checkout", "-q", "main")
    properties = tmp_path / "champion.properties"
    env = base_env(MLFLOW_TRACKING_URI=tracking_uri, CI_TRACK_PROPERTIES_FILE=str(properties), **FAST_MODEL_LOGGING)
    trained = ci_track("run", "--", sys.executable, "train.py", "--alpha", "0.01", env=env, cwd=project.path)
    assert trained.code == 0, trained.stderr
    run_id = dict(line.split("=", 1) for line in properties.read_text().splitlines())["RUN_ID"]
    promoted = ci_track("promote", "--run-id", run_id, env=env, cwd=project.path)
    assert promoted.code == 0, promoted.stderr
    return run_id


def statuses_on(fake: FakeGitHub, sha: str) -> list[dict[str, Any]]:
    return [status for status in fake.snapshot()["statuses"] if status.get("sha") == sha]


# -- the copy-ready workflows ---------------------------------------------------------------------


@slow
def test_promote_on_merge_then_pr_gate_keep_one_comment_and_set_the_head_status(
    sandbox: ActSandbox,
    wheelhouse: Path,
    project: ProjectRepo,
    names: dict[str, Any],
    mlflow_server: Any,
    fake_github: FakeGitHub,
) -> None:
    """promote-on-merge.yml and pr-gate.yml as copied, each with the action's default install."""
    sandbox.wheelhouse = wheelhouse
    project.add_workflow("promote-on-merge.yml", template("promote-on-merge.yml"))
    project.add_workflow("pr-gate.yml", template("pr-gate.yml"))
    variables = {"MLFLOW_TRACKING_URI": mlflow_server.url}
    main_sha = project.head()

    merged = sandbox.run(
        project,
        "push",
        push_event(project, before="0" * 40, after=main_sha),
        workflow="promote-on-merge.yml",
        variables=variables,
    )
    assert_job(merged, "success")
    (champion,) = mlflow_runs(mlflow_server.url, names["experiment"])
    assert champion.data.tags["mlflow.source.git.commit"] == main_sha
    assert champion.data.tags["mlflow.source.git.branch"] == "main"
    assert current_champion(mlflow_server.url, names) == champion.info.run_id

    pr = project.open_pull_request(PR_NUMBER, {"NOTES.md": "same hyper-parameters, new notes\n"})
    fake_github.add_pull(REPOSITORY, PR_NUMBER, head_sha=pr.head_sha, base_sha=pr.base_sha, head_ref=pr.head_ref)
    first = sandbox.run(
        project, "pull_request", pull_request_event(project, pr), workflow="pr-gate.yml", variables=variables
    )
    assert_job(first, "success")
    outputs = first.outputs("ci-track")
    assert outputs["verdict"] == "pass", first.describe()
    assert outputs["regressions"] == "0"
    candidate = mlflow_runs(mlflow_server.url, names["experiment"])[-1]
    assert outputs["run-id"] == candidate.info.run_id != champion.info.run_id
    assert candidate.data.tags["mlflow.source.git.commit"] == pr.head_sha
    assert any("rmse" in summary for summary in first.summaries), first.describe()
    (comment,) = fake_github.comments_on(REPOSITORY, PR_NUMBER)
    first_body = str(comment["body"])  # the fake edits its comment objects in place
    assert outputs["comment-url"].endswith(str(comment["id"])), outputs
    assert "rmse" in first_body and pr.head_sha[:7] in first_body
    (status,) = statuses_on(fake_github, pr.head_sha)
    assert status["state"] == "success"
    assert statuses_on(fake_github, pr.merge_sha) == []

    # a second push to the PR: still one comment, edited in place; a status on the new head. The default
    # install has just been run twice above; this run uses the test venv's ci-track (install: skip, ~20 s less).
    pr = project.update_pull_request(pr, {"NOTES.md": "second push\n"})
    last_input = "          fail-on-regression: true\n"
    skipping = template("pr-gate.yml").replace(last_input, last_input + "          install: skip\n")
    assert skipping.count("install: skip") == 1, "pr-gate.yml no longer ends its `with:` with fail-on-regression"
    project.add_workflow("pr-gate.yml", skipping)
    fake_github.add_pull(REPOSITORY, PR_NUMBER, head_sha=pr.head_sha, base_sha=pr.base_sha, head_ref=pr.head_ref)
    second = sandbox.run(
        project, "pull_request", pull_request_event(project, pr), workflow="pr-gate.yml", variables=variables
    )
    assert_job(second, "success")
    (edited,) = fake_github.comments_on(REPOSITORY, PR_NUMBER)
    assert edited["id"] == comment["id"]
    assert pr.head_sha[:7] in edited["body"] and edited["body"] != first_body
    assert [s["state"] for s in statuses_on(fake_github, pr.head_sha)] == ["success"]


@slow
def test_a_regression_fails_the_job_and_report_only_mode_still_reports_it(
    tmp_path: Path,
    sandbox: ActSandbox,
    project: ProjectRepo,
    names: dict[str, Any],
    mlflow_server: Any,
    fake_github: FakeGitHub,
) -> None:
    champion_id = train_champion_locally(project, mlflow_server.url, tmp_path)
    worse = "python train.py --alpha 0.05 --log-model false"
    project.add_workflow(
        "gate.yml", gate_workflow(command=worse, with_={"metrics-files": "metrics.json", "check-run": "true"})
    )
    project.add_workflow(
        "report-only.yml",
        gate_workflow(command=worse, with_={"metrics-files": "metrics.json", "fail-on-regression": "false"}),
    )
    pr = project.open_pull_request(PR_NUMBER, {"NOTES.md": "much stronger regularisation\n"})
    fake_github.add_pull(REPOSITORY, PR_NUMBER, head_sha=pr.head_sha, base_sha=pr.base_sha, head_ref=pr.head_ref)
    event = pull_request_event(project, pr)
    variables = {"MLFLOW_TRACKING_URI": mlflow_server.url}

    gated = sandbox.run(project, "pull_request", event, workflow="gate.yml", variables=variables)
    assert_job(gated, "failure")
    assert gated.step_result("ci-track") == "failure"
    outputs = gated.outputs("ci-track")
    assert outputs["verdict"] == "regression", gated.describe()
    assert int(outputs["regressions"]) >= 1
    assert any("rmse" in line for line in gated.annotations("error")), gated.describe()
    (comment,) = fake_github.comments_on(REPOSITORY, PR_NUMBER)
    assert "rmse" in comment["body"]
    (status,) = statuses_on(fake_github, pr.head_sha)
    assert status["state"] == "failure"
    # check-run: true -> one completed check run on the PR head carrying the same report
    (check,) = fake_github.snapshot()["check_runs"]
    assert check["head_sha"] == pr.head_sha and check["name"] == status["context"]
    assert check["status"] == "completed" and check["conclusion"] == "failure"
    assert "rmse" in check["output"]["summary"] and check["output"]["title"] == outputs["headline"]
    assert outputs["check-run-url"].endswith(f"/runs/{check['id']}"), outputs
    assert current_champion(mlflow_server.url, names) == champion_id

    # Another workflow of the same PR: its own GitHub run id (act numbers every run 1), so it is not a
    # sibling job sharing the key within one build (which ci-track refuses), and it updates the comment.
    reported = sandbox.run(
        project, "pull_request", event, workflow="report-only.yml", variables=variables, env={"GITHUB_RUN_ID": "2"}
    )
    assert_job(reported, "success")
    assert reported.step_result("ci-track") == "success"
    assert reported.outputs("ci-track")["verdict"] == "regression"
    assert any("fail-on-regression: false" in line for line in reported.annotations("warning")), reported.describe()
    assert len(fake_github.comments_on(REPOSITORY, PR_NUMBER)) == 1
    assert {s["state"] for s in statuses_on(fake_github, pr.head_sha)} == {"failure"}
    assert len(fake_github.snapshot()["check_runs"]) == 1, "report-only.yml did not ask for a check run"


@slow
def test_fork_safe_pair_builds_the_report_without_posting_then_posts_it_from_workflow_run(
    sandbox: ActSandbox,
    wheelhouse: Path,
    project: ProjectRepo,
    names: dict[str, Any],
    mlflow_server: Any,
    fake_github: FakeGitHub,
) -> None:
    sandbox.wheelhouse = wheelhouse
    project.add_workflow("fork-safe-report.yml", template("fork-safe-report.yml"))
    project.add_workflow("fork-safe-comment.yml", template("fork-safe-comment.yml"))
    fork = "mallory/diabetes"
    pr = project.open_pull_request(PR_NUMBER, {"NOTES.md": "from a fork\n"}, head_ref="main")
    fake_github.add_pull(
        REPOSITORY,
        PR_NUMBER,
        head_sha=pr.head_sha,
        base_sha=pr.base_sha,
        head_ref=pr.head_ref,
        head_repository=fork,
    )

    report = sandbox.run(
        project,
        "pull_request",
        pull_request_event(project, pr, head_repository=fork),
        workflow="fork-safe-report.yml",
        variables={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    assert_job(report, "success")
    assert report.step_result("ci-track") == "success"
    assert fake_github.comments_on(REPOSITORY, PR_NUMBER) == [] and fake_github.snapshot()["statuses"] == []
    artifact = sandbox.artifacts / "ci-track-report" / "report.json"
    assert artifact.is_file(), report.describe()
    (run,) = mlflow_runs(mlflow_server.url, names["experiment"])
    assert run.data.tags["mlflow.source.git.commit"] == pr.head_sha

    comment = sandbox.run(
        project,
        "workflow_run",
        workflow_run_event(project, pr, workflow="ci-track report", run_id=4711, conclusion="success", fork=fork),
        workflow="fork-safe-comment.yml",
    )
    assert_job(comment, "success")
    assert (sandbox.artifacts / "ci-track-report.downloads").read_text().split() == ["run-id=4711"]
    (posted,) = fake_github.comments_on(REPOSITORY, PR_NUMBER)
    assert names["experiment"] in posted["body"]
    (status,) = statuses_on(fake_github, pr.head_sha)
    assert status["state"] == "success"


@slow
def test_scheduled_retrain_promotes_the_first_model(
    sandbox: ActSandbox,
    wheelhouse: Path,
    project: ProjectRepo,
    names: dict[str, Any],
    mlflow_server: Any,
    fake_github: FakeGitHub,
) -> None:
    sandbox.wheelhouse = wheelhouse
    project.add_workflow("scheduled-retrain.yml", template("scheduled-retrain.yml"))
    result = sandbox.run(
        project,
        "schedule",
        schedule_event(project),
        workflow="scheduled-retrain.yml",
        variables={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    assert_job(result, "success")
    (run,) = mlflow_runs(mlflow_server.url, names["experiment"])
    assert run.data.tags["mlflow.source.git.commit"] == project.head()
    assert result.outputs("ci-track")["verdict"] == "no-champion"
    assert current_champion(mlflow_server.url, names) == run.info.run_id
    assert fake_github.comments_on(REPOSITORY, PR_NUMBER) == []


# -- .github/workflows ------------------------------------------------------------------------------

CALLER = """\
name: caller
on: pull_request
permissions: {}
jobs:
  ci-track:
    permissions:
      contents: read
      pull-requests: write
      statuses: write
    uses: ./.github/workflows/ci-track.yml
    with:
      tracking-uri: ${{ vars.MLFLOW_TRACKING_URI }}
      setup: python -m pip install -r requirements.txt
      entry-point: main
      parameters: |
        alpha=0.01
        log_model=false
      metrics-files: metrics.json
  check:
    needs: ci-track
    runs-on: ubuntu-latest
    permissions: {}
    steps:
      - env:
          RUN_ID: ${{ needs.ci-track.outputs.run-id }}
          VERDICT: ${{ needs.ci-track.outputs.verdict }}
        run: echo "reusable-outputs run-id=$RUN_ID verdict=$VERDICT"
"""


@slow
def test_reusable_workflow_trains_compares_and_hands_its_outputs_to_the_caller(
    sandbox: ActSandbox,
    wheelhouse: Path,
    project: ProjectRepo,
    names: dict[str, Any],
    mlflow_server: Any,
    fake_github: FakeGitHub,
) -> None:
    sandbox.wheelhouse = wheelhouse
    project.add_workflow("ci-track.yml", (REPO_ROOT / ".github" / "workflows" / "ci-track.yml").read_text())
    project.add_workflow("caller.yml", CALLER)
    pr = project.open_pull_request(PR_NUMBER, {"NOTES.md": "via the reusable workflow\n"})
    fake_github.add_pull(REPOSITORY, PR_NUMBER, head_sha=pr.head_sha, base_sha=pr.base_sha, head_ref=pr.head_ref)
    result = sandbox.run(
        project,
        "pull_request",
        pull_request_event(project, pr),
        workflow="caller.yml",
        variables={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    assert set(result.job_results().values()) == {"success"}, result.describe()
    (run,) = mlflow_runs(mlflow_server.url, names["experiment"])
    assert run.data.tags["mlflow.source.git.commit"] == pr.head_sha
    assert run.data.tags["mlflow.project.entryPoint"] == "main"
    assert run.data.params["alpha"] == "0.01" and run.data.params["log_model"] == "false"
    assert f"reusable-outputs run-id={run.info.run_id} verdict=no-champion" in result.log, result.describe()
    assert len(fake_github.comments_on(REPOSITORY, PR_NUMBER)) == 1
    assert [s["state"] for s in statuses_on(fake_github, pr.head_sha)] == ["success"]


@slow
def test_self_test_workflow_passes_on_this_repository(
    tmp_path: Path,
    sandbox: ActSandbox,
    wheelhouse: Path,
    names: dict[str, Any],
    mlflow_server: Any,
) -> None:
    """.github/workflows/self-test.yml on a checkout of this repository (`uses: ./`)."""
    sandbox.wheelhouse = wheelhouse
    repo = ProjectRepo(tmp_path / "ci-track", origin="https://github.com/ci-track/ci-track.git")
    copy_action(repo.path)
    files = {
        f"examples/diabetes/{name}": text
        for name, text in sample_project_files(experiment=names["experiment"], model=names["model"]).items()
    }
    files[".github/workflows/self-test.yml"] = (REPO_ROOT / ".github" / "workflows" / "self-test.yml").read_text()
    main_sha = repo.init(files)
    result = sandbox.run(
        repo,
        "push",
        push_event(repo, before="0" * 40, after=main_sha),
        workflow="self-test.yml",
        variables={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )
    assert_job(result, "success")
    # the act host's venv has the packages and the test's server runs: neither step may touch them
    # (act reports nothing at all for a step whose `if:` is false)
    assert result.step_result("dependencies") is None and result.step_result("server") is None, result.describe()
    assert result.step_result("champion") == result.step_result("candidate") == "success"
    assert result.step_result("gate") == "failure"  # continue-on-error: the job still succeeds
    assert "self-test passed: regression" in result.log, result.describe()
    runs = mlflow_runs(mlflow_server.url, names["experiment"])
    assert len(runs) == 2 and {run.data.tags["mlflow.source.git.commit"] for run in runs} == {main_sha}


@slow
def test_matrix_of_two_models_on_one_experiment_keeps_both_reports_and_the_failing_status(
    tmp_path: Path,
    sandbox: ActSandbox,
    project: ProjectRepo,
    names: dict[str, Any],
    mlflow_server: Any,
    fake_github: FakeGitHub,
) -> None:
    """workflows/matrix-models.yml as copied (ridge and lasso, one shared experiment), the lasso one regressing.

    Each job reports under its own key: both comments survive, `ci-track/lasso` fails and is not
    overwritten by ridge's success, and what the action was told reaches the job's later steps.

    The two jobs run one after the other here (`max-parallel: 1`, lasso first, so ridge's success comes
    last): act 0.2.89 crashes when two jobs fetch their `--local-repository` actions at the same moment (it
    writes a Go map without a lock: "concurrent map writes"). Two keys racing on GitHub at the same moment
    is test_concurrency's `test_parallel_compares_under_two_keys_keep_each_keys_comment_and_status`.
    """
    train_champion_locally(project, mlflow_server.url, tmp_path)
    workflow = (
        template("matrix-models.yml")
        # the test venv's ci-track (this checkout) is on PATH: installing it again in each job costs ~27 s
        .replace(
            "          fail-on-regression: true\n", "          fail-on-regression: true\n          install: skip\n"
        )
        .replace(
            "        model: [ridge, lasso]\n",
            '        model: [lasso, ridge]\n        include:\n          - {model: ridge, alpha: "0.01"}\n'
            '          - {model: lasso, alpha: "0.05"}\n',
        )
        .replace("      fail-fast: false", "      max-parallel: 1\n      fail-fast: false")
        .replace(
            "python train.py --model ${{ matrix.model }}",
            "python train.py --alpha ${{ matrix.alpha }} --log-model false",
        )
        .replace("experiment: wine\n", f"experiment: {names['experiment']}\n")
        .replace("champion-model: wine-${{ matrix.model }}", f"champion-model: {names['model']}")
    )
    workflow += (
        "\n      - name: A later step sees what the action was told\n        if: always()\n"
        '        run: echo "carried=$CI_TRACK_EXPERIMENT|$CI_TRACK_KEY|$CI_TRACK_CHAMPION_MODEL"\n'
    )
    # the template still has these lines
    assert workflow.count("matrix.alpha") == 1 and "include:" in workflow and "max-parallel: 1" in workflow
    assert "install: skip" in workflow
    project.add_workflow("matrix-models.yml", workflow)
    pr = project.open_pull_request(PR_NUMBER, {"NOTES.md": "two model families\n"})
    fake_github.add_pull(REPOSITORY, PR_NUMBER, head_sha=pr.head_sha, base_sha=pr.base_sha, head_ref=pr.head_ref)

    result = sandbox.run(
        project,
        "pull_request",
        pull_request_event(project, pr),
        workflow="matrix-models.yml",
        variables={"MLFLOW_TRACKING_URI": mlflow_server.url},
    )

    # act reports the matrix's result on both jobs (failure: lasso regressed); the gate steps say which failed.
    assert "failure" in {str(e["jobResult"]) for e in result.events if "jobResult" in e}, result.describe()
    gate_steps = [line for line in result.log.splitlines() if "Main Train, compare, gate" in line]
    assert sorted("Success" if "Success" in line else "Failure" for line in gate_steps if "-" in line) == [
        "Failure",
        "Success",
    ], gate_steps
    comments = fake_github.comments_on(REPOSITORY, PR_NUMBER)
    markers = sorted(m for c in comments for m in ("ridge", "lasso") if f"<!-- ci-track:{m} -->" in c["body"])
    assert markers == ["lasso", "ridge"], [c["body"][:200] for c in comments]
    lasso = next(c["body"] for c in comments if "<!-- ci-track:lasso -->" in c["body"])
    assert "regression" in lasso.splitlines()[1] and "· lasso" in lasso
    assert sorted((s["context"], s["state"]) for s in statuses_on(fake_github, pr.head_sha)) == [
        ("ci-track/lasso", "failure"),
        ("ci-track/ridge", "success"),
    ]
    carried = sorted(line.split("carried=", 1)[1].strip() for line in result.log.splitlines() if "carried=" in line)
    carried = [line for line in carried if not line.startswith("$")]  # the echoed command itself
    assert carried == [f"{names['experiment']}|{key}|{names['model']}" for key in ("lasso", "ridge")], carried
