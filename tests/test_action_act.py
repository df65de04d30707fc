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
    ActResult,
    ActSandbox,
    ProjectRepo,
    build_wheelhouse,
    copy_action,
    pull_request_event,
    sample_project_files,
)
from tests.fake_github import FakeGitHub, running_fake_github

REPO_ROOT = Path(__file__).resolve().parent.parent
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
        Path(sys.argv[sys.argv.index("--json-output") + 1]).write_text("{{}}")
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
    assert compare["argv"][3:7] == ["--comment", "update", "--status", "--markdown-output"]


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
    )
    code, out = run_entry(stand_in, capsys)
    assert code == 0
    masks = [line.removeprefix("::add-mask::") for line in out.splitlines() if line.startswith("::add-mask::")]
    assert set(masks) == {GITHUB_TOKEN, "tok-123456", "second-line-of-it", "p%40ss-w0rd-Xy", "p@ss-w0rd-Xy"}
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
    stand_in.update(INPUT_REPORT="/tmp/artifact/report.json", INPUT_COMMENT="delete-on-pass")
    assert run_entry(stand_in, capsys)[0] == 0
    (comment,) = calls(stand_in)
    assert comment["argv"] == ["comment", "--report", "/tmp/artifact/report.json", "--mode", "delete-on-pass"]
    assert comment["env"]["GITHUB_TOKEN"] == GITHUB_TOKEN


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
def names() -> dict[str, str]:
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
def project(tmp_path: Path, names: dict[str, str]) -> ProjectRepo:
    repo = ProjectRepo(tmp_path / "diabetes")
    repo.init(sample_project_files(experiment=names["experiment"], model=names["model"]))
    return repo


def gate_workflow(*, command: str, with_: dict[str, str] | None = None, on: str = "pull_request") -> str:
    """A user's workflow around the action (install: skip: the test venv's ci-track is on PATH)."""
    settings = {"command": command, "install": "skip", **(with_ or {})}
    lines = "\n".join(f"          {key}: {json.dumps(value)}" for key, value in settings.items())
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
      statuses: write
    env:
      MLFLOW_TRACKING_URI: ${{{{ vars.MLFLOW_TRACKING_URI }}}}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: ci-track
        uses: acme/ci-track@v0.1.0
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
    sandbox: ActSandbox, project: ProjectRepo, names: dict[str, str], mlflow_server: Any, fake_github: FakeGitHub
) -> None:
    project.add_workflow(
        "gate.yml",
        gate_workflow(
            command='env > "$ACT_TEST_ARTIFACTS/training-env.txt"; echo "token: $MLFLOW_TRACKING_TOKEN"; '
            "python train.py --alpha 0.05 --log-model false",
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
