"""The bad-input corpus: every way a user or a CI system can hand ci-track wrong input, one table.

Each case runs the real CLI in a fresh directory (a git repository unless the case says otherwise)
and asserts the exit code, exactly one `ci-track: error:` line holding the expected fragments,
and no traceback. Cases that must reach a tracking server get the session's real one; the others
point at a port where nothing listens, so a case that talks to the network by mistake fails.
Invalid credentials and TLS cases are in tests/integration/test_tls_and_auth.py (they need their own servers)
and count towards the corpus figure too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests.cli_helpers import assert_clean_failure, base_env, ci_track, init_repo
from tests.mlflow_server import MlflowServer
from tests.reliability_figures import record

NOTHING_LISTENS = "http://127.0.0.1:9"
DEEP = 5000  # levels: far beyond Python's recursion limit, which the YAML and JSON parsers run into
DEEP_LIST = "[" * DEEP + "]" * DEEP
DEEP_JSON_MAPPING = '{"a": ' * DEEP + "1" + "}" * DEEP
DEEP_YAML_MAPPING = "a: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n"


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    code: int
    fragments: tuple[str, ...]
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    files: Mapping[str, str | bytes] = dataclasses.field(default_factory=dict)
    server: bool = False  # needs the real tracking server: {server} in env/args is its URL
    git: bool = True  # run inside a git repository
    # after the error, the run that was created (if any) must not be left RUNNING
    run_created: bool = False


def metrics(**values: object) -> str:
    return json.dumps(values)


GOOD_MLPROJECT = """\
name: demo
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.1}
      epochs: {type: int, default: 3}
      data: {type: path, default: data.csv}
      required_one: string
    command: "python -c 'print(1)' {alpha} {epochs} {data} {required_one}"
"""

RUN = ("run", "--experiment", "corpus")
RUN_TRUE = (*RUN, "--", "true")
GH_PR = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REPOSITORY": "acme/wine"}

CASES: list[Case] = [
    # ---- the command line ------------------------------------------------------------------
    Case("unknown-command", ("frobnicate",), 2, ("invalid choice", "frobnicate")),
    Case("unknown-option", (*RUN, "--bogus", "--", "true"), 2, ("unrecognized arguments", "--bogus")),
    # one `ci-track:` prefix, and the hint names the subcommand whose --help helps
    Case(
        "unknown-top-level-option", ("--formt",), 2, ("error: unrecognized arguments: --formt (see ci-track --help)",)
    ),
    Case(
        "unknown-compare-option",
        ("compare", "--formt", "json"),
        2,
        ("error: unrecognized arguments: --formt json (see ci-track compare --help)",),
    ),
    Case("option-without-value", ("run", "--experiment"), 2, ("--experiment", "expected one argument")),
    # training reuse (docs/reuse.md): refused before any run is created
    Case("reuse-without-inputs", (*RUN, "--reuse", "--", "true"), 2, ("--reuse needs run.inputs",)),
    Case("reuse-and-no-reuse", (*RUN, "--reuse", "--no-reuse", "--", "true"), 2, ("not allowed with argument",)),
    Case(
        "reuse-config-without-inputs",
        (*RUN, "--", "true"),
        2,
        (".ci-track.yml:1:", "run.reuse needs run.inputs"),
        files={".ci-track.yml": "run: {reuse: true}\n"},
    ),
    Case(
        "reuse-input-outside-the-repository",
        (*RUN, "--", "true"),
        2,
        ("run.inputs: '../secrets.txt' is outside the repository",),
        files={".ci-track.yml": "run: {inputs: [README.md, ../secrets.txt]}\n"},
    ),
    Case(
        "reuse-input-matches-nothing",
        (*RUN, "--", "true"),
        2,
        ("run.inputs: 'data/*.csv' matches no file tracked by git at this commit",),
        files={".ci-track.yml": "run: {inputs: [README.md, 'data/*.csv'], reuse: true}\n"},
    ),
    Case(
        "reuse-env-input-not-a-name",
        (*RUN, "--", "true"),
        2,
        ("run.env_inputs: 'DATA-VERSION' is not an environment variable name",),
        files={".ci-track.yml": "run: {inputs: [README.md], env_inputs: [DATA-VERSION]}\n"},
    ),
    Case("run-without-command", RUN, 2, ("nothing to run",)),
    Case("run-entry-point-and-command", (*RUN, "--entry-point", "main", "--", "true"), 2, ("not both",)),
    Case("param-without-entry-point", (*RUN, "-P", "a=1", "--", "true"), 2, ("needs --entry-point",)),
    Case("tag-without-equals", (*RUN, "--tag", "novalue", "--", "true"), 2, ("--tag expects KEY=VALUE",)),
    Case("tag-with-empty-key", (*RUN, "--tag", "=v", "--", "true"), 2, ("--tag expects KEY=VALUE",)),
    Case(
        "param-without-equals",
        (*RUN, "--entry-point", "main", "-P", "alpha"),
        2,
        ("-P expects KEY=VALUE",),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    Case("no-experiment", ("run", "--", "true"), 2, ("no experiment",)),
    # ---- .ci-track.yml ----------------------------------------------------------------------
    *[
        Case(f"config-{name}", RUN_TRUE, 2, fragments, files={".ci-track.yml": text})
        for name, text, fragments in [
            ("malformed-yaml", "metrics: [1,", (".ci-track.yml:1", "invalid YAML")),
            ("two-documents", "a: 1\n---\nb: 2\n", ("invalid YAML", "single document")),
            ("not-a-mapping", "- a\n- b\n", ("must be a mapping",)),
            ("unknown-key", "metrcs: {}\n", ("unknown key 'metrcs'", "did you mean 'metrics'")),
            ("duplicate-key", "experiment: a\nexperiment: b\n", (".ci-track.yml:2", "duplicate key 'experiment'")),
            ("experiment-wrong-type", "experiment: [1]\n", ("experiment must be a string",)),
            ("metrics-empty", "metrics: {}\n", ("metrics is empty",)),
            ("metric-not-a-mapping", "metrics:\n  rmse: 5\n", ("metrics.rmse must be a mapping",)),
            ("unknown-goal", "metrics:\n  rmse: {goal: minimise}\n", ("metrics.rmse.goal", "did you mean 'minimize'")),
            (
                "negative-tolerance",
                "metrics:\n  rmse: {goal: minimize, max_regression: -1}\n",
                ("max_regression must not be negative",),
            ),
            (
                "negative-percent-tolerance",
                "metrics:\n  rmse: {goal: minimize, max_regression: '-5%'}\n",
                ("max_regression must not be negative", "-5%"),
            ),
            (
                "nan-tolerance",
                "metrics:\n  rmse: {goal: minimize, max_regression: .nan}\n",
                ("max_regression must be a finite number",),
            ),
            (
                "infinite-tolerance",
                "metrics:\n  rmse: {goal: minimize, max_regression: .inf}\n",
                ("max_regression must be a finite number", ".inf"),
            ),
            (
                "yaml-1.1-only-number",
                "metrics:\n  rmse: {goal: minimize, max: 1_000}\n",
                ("metrics.rmse.max must be a number", "'1_000'"),
            ),
            (
                "tolerance-without-goal",
                "metrics:\n  rmse: {max_regression: 0.1}\n",
                ("max_regression needs metrics.rmse.goal",),
            ),
            ("min-above-max", "metrics:\n  rmse: {min: 2, max: 1}\n", ("metrics.rmse.min (2) is greater",)),
            (
                "unknown-severity",
                "metrics:\n  rmse: {goal: minimize, severity: fatal}\n",
                ("metrics.rmse.severity", "fatal"),
            ),
            ("allow-nan-not-boolean", "metrics:\n  rmse: {goal: minimize, allow_nan: sometimes}\n", ("true or false",)),
            ("unknown-strategy", "champion: {strategy: [fastest]}\n", ("champion.strategy", "fastest")),
            ("alias-without-model", "champion: {alias: prod}\n", ("champion.alias 'prod' needs champion.model",)),
            ("champion-metric-not-gated", "champion: {metric: f1}\n", ("champion.metric 'f1' is not under metrics",)),
            ("no-champion-policy", "no_champion: maybe\n", ("no_champion must be one of",)),
            ("missing-policy", "missing: ignore\n", ("missing must be one of",)),
            ("comment-mode", "comment: loud\n", ("comment must be one of",)),
            ("status-not-boolean", "status: perhaps\n", ("status must be true or false",)),
            ("run-tag-not-string", "run: {tags: {a: [1]}}\n", ("run.tags.a must be a string",)),
            ("nested-lists-too-deep", DEEP_LIST, (".ci-track.yml", "nested too deeply")),
            ("nested-mappings-too-deep", DEEP_YAML_MAPPING, (".ci-track.yml", "nested too deeply")),
        ]
    ],
    Case(
        "config-experiment-too-long",
        ("run", "--", "true"),
        2,
        ("501 characters", "MLflow's limit of 500"),
        files={".ci-track.yml": f"experiment: {'e' * 501}\n"},
    ),
    Case("experiment-flag-too-long", ("run", "--experiment", "e" * 501, "--", "true"), 2, ("501 characters",)),
    Case("config-not-utf8", RUN_TRUE, 2, (".ci-track.yml", "not UTF-8"), files={".ci-track.yml": b"\xff\xfe: 1"}),
    Case("config-flag-missing-file", (*RUN, "--config", "nope.yml", "--", "true"), 2, ("nope.yml", "does not exist")),
    Case(
        "config-yml-and-yaml",
        RUN_TRUE,
        2,
        ("both .ci-track.yml and .ci-track.yaml",),
        files={".ci-track.yml": "experiment: a\n", ".ci-track.yaml": "experiment: b\n"},
    ),
    # ---- where the tracking server is -----------------------------------------------------
    Case(
        "no-tracking-uri", RUN_TRUE, 2, ("no tracking server", "MLFLOW_TRACKING_URI"), env={"MLFLOW_TRACKING_URI": ""}
    ),
    Case("file-scheme", RUN_TRUE, 2, ("not an http(s) URL",), env={"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}),
    Case("sqlite-scheme", RUN_TRUE, 2, ("not an http(s) URL",), env={"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}),
    Case("ftp-scheme", RUN_TRUE, 2, ("not an http(s) URL",), env={"MLFLOW_TRACKING_URI": "ftp://127.0.0.1/x"}),
    Case("uri-without-scheme", RUN_TRUE, 2, ("not an http(s) URL",), env={"MLFLOW_TRACKING_URI": "127.0.0.1:5000"}),
    Case("uri-without-host", RUN_TRUE, 2, ("not an http(s) URL",), env={"MLFLOW_TRACKING_URI": "http://"}),
    Case("tracking-uri-flag-bad", (*RUN, "--tracking-uri", "s3://bucket", "--", "true"), 2, ("not an http(s) URL",)),
    Case("databricks-without-host", RUN_TRUE, 2, ("DATABRICKS_HOST",), env={"MLFLOW_TRACKING_URI": "databricks"}),
    Case("timeout-not-a-number", RUN_TRUE, 2, ("CI_TRACK_HTTP_TIMEOUT", "abc"), env={"CI_TRACK_HTTP_TIMEOUT": "abc"}),
    Case("timeout-negative", RUN_TRUE, 2, ("CI_TRACK_HTTP_TIMEOUT", "positive"), env={"CI_TRACK_HTTP_TIMEOUT": "-1"}),
    Case("budget-nan", RUN_TRUE, 2, ("CI_TRACK_RETRY_BUDGET", "positive"), env={"CI_TRACK_RETRY_BUDGET": "nan"}),
    Case("attempts-zero", RUN_TRUE, 2, ("CI_TRACK_HTTP_ATTEMPTS", "positive"), env={"CI_TRACK_HTTP_ATTEMPTS": "0"}),
    Case(
        "server-down",
        RUN_TRUE,
        3,
        (NOTHING_LISTENS, "connection refused"),
        env={"MLFLOW_TRACKING_URI": NOTHING_LISTENS},
    ),
    Case(
        "not-an-mlflow-server",
        RUN_TRUE,
        3,
        ("is it an MLflow tracking server",),
        env={"MLFLOW_TRACKING_URI": "{server}/not-mlflow"},
        server=True,
    ),
    # ---- the CI environment ---------------------------------------------------------------
    Case("pr-event-without-payload", RUN_TRUE, 2, ("GITHUB_EVENT_PATH is not set", "pull_request"), env=GH_PR),
    Case(
        "pr-payload-missing-file",
        RUN_TRUE,
        2,
        ("cannot read", "missing.json"),
        env={**GH_PR, "GITHUB_EVENT_PATH": "{cwd}/missing.json"},
    ),
    Case(
        "pr-payload-not-json",
        RUN_TRUE,
        2,
        ("cannot read", "event.json"),
        env={**GH_PR, "GITHUB_EVENT_PATH": "{cwd}/event.json"},
        files={"event.json": "{not json"},
    ),
    Case(
        "pr-payload-not-an-object",
        RUN_TRUE,
        2,
        ("not a JSON object",),
        env={**GH_PR, "GITHUB_EVENT_PATH": "{cwd}/event.json"},
        files={"event.json": "[1, 2]"},
    ),
    Case(
        "pr-payload-without-pull-request",
        RUN_TRUE,
        2,
        ("no pull_request object",),
        env={**GH_PR, "GITHUB_EVENT_PATH": "{cwd}/event.json"},
        files={"event.json": json.dumps({"action": "opened"})},
    ),
    Case(
        "pr-payload-without-head-sha",
        RUN_TRUE,
        2,
        ("pull_request.head.sha",),
        env={**GH_PR, "GITHUB_EVENT_PATH": "{cwd}/event.json"},
        files={"event.json": json.dumps({"pull_request": {"number": 3, "head": {}, "base": {"ref": "main"}}})},
    ),
    Case(
        "jenkins-pr-without-change-target",
        RUN_TRUE,
        2,
        ("CHANGE_ID=7", "CHANGE_TARGET", "CI_TRACK_BASE_BRANCH"),
        env={"JENKINS_URL": "http://jenkins.invalid/", "CHANGE_ID": "7", "BUILD_NUMBER": "1"},
    ),
    Case(
        "gitlab-mr-without-iid",
        RUN_TRUE,
        2,
        ("CI_MERGE_REQUEST_IID",),
        env={"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event"},
    ),
    Case(
        "gitlab-mr-without-target",
        RUN_TRUE,
        2,
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME",),
        env={"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "merge_request_event", "CI_MERGE_REQUEST_IID": "4"},
    ),
    Case("head-sha-override-short", RUN_TRUE, 2, ("CI_TRACK_HEAD_SHA", "40"), env={"CI_TRACK_HEAD_SHA": "abc123"}),
    Case("pr-number-override-bad", RUN_TRUE, 2, ("CI_TRACK_PR_NUMBER", "positive"), env={"CI_TRACK_PR_NUMBER": "-4"}),
    # ---- MLproject files and parameters ---------------------------------------------------
    Case("no-mlproject", (*RUN, "--entry-point", "main"), 2, ("no MLproject file",)),
    Case(
        "project-dir-missing",
        (*RUN, "--entry-point", "main", "--project-dir", "nowhere"),
        2,
        ("nowhere", "does not exist"),
    ),
    Case("mlproject-bad-yaml", (*RUN, "--entry-point", "main"), 2, ("not valid YAML",), files={"MLproject": "a: [1,"}),
    Case(
        "mlproject-nested-too-deep",
        (*RUN, "--entry-point", "main"),
        2,
        ("MLproject", "nested too deeply"),
        files={"MLproject": DEEP_LIST},
    ),
    Case(
        "pr-payload-nested-too-deep",
        RUN_TRUE,
        2,
        ("event.json", "nested too deeply"),
        env={**GH_PR, "GITHUB_EVENT_PATH": "{cwd}/event.json"},
        files={"event.json": DEEP_LIST},
    ),
    Case(
        "mlproject-not-a-mapping",
        (*RUN, "--entry-point", "main"),
        2,
        ("must be a YAML mapping",),
        files={"MLproject": "- just\n- a list\n"},
    ),
    Case(
        "mlproject-no-entry-points",
        (*RUN, "--entry-point", "main"),
        2,
        ("has no entry_points",),
        files={"MLproject": "name: x\n"},
    ),
    Case(
        "mlproject-two-environments",
        (*RUN, "--entry-point", "main"),
        2,
        ("more than one environment",),
        files={"MLproject": "python_env: p.yaml\nconda_env: c.yaml\nentry_points: {main: {command: 'true'}}\n"},
    ),
    Case(
        "mlproject-entry-without-command",
        (*RUN, "--entry-point", "main"),
        2,
        ("has no command",),
        files={"MLproject": "entry_points:\n  main:\n    parameters: {a: float}\n"},
    ),
    Case(
        "mlproject-unknown-param-type",
        (*RUN, "--entry-point", "main"),
        2,
        ("unknown type", "tensor"),
        files={"MLproject": "entry_points:\n  main:\n    parameters: {a: tensor}\n    command: 'echo {a}'\n"},
    ),
    Case(
        "mlproject-undeclared-placeholder",
        (*RUN, "--entry-point", "main"),
        2,
        ("{b}", "not one of its parameters"),
        files={"MLproject": "entry_points:\n  main:\n    parameters: {a: float}\n    command: 'echo {b}'\n"},
    ),
    Case(
        "mlproject-conversion-placeholder",
        (*RUN, "--entry-point", "main", "-P", "a=1"),
        2,
        ("{a!r}", "write plain {a}"),
        files={"MLproject": "entry_points:\n  main:\n    parameters: {a: string}\n    command: 'echo {a!r}'\n"},
    ),
    Case(
        "unknown-entry-point",
        (*RUN, "--entry-point", "train"),
        2,
        ("unknown entry point", "'train'", "'main'"),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    Case(
        "missing-required-param",
        (*RUN, "--entry-point", "main"),
        2,
        ("missing required parameter", "required_one"),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    Case(
        "float-param-not-a-number",
        (*RUN, "--entry-point", "main", "-P", "required_one=x", "-P", "alpha=abc"),
        2,
        ("alpha", "float", "abc"),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    Case(
        "int-param-fraction",
        (*RUN, "--entry-point", "main", "-P", "required_one=x", "-P", "epochs=1.5"),
        2,
        ("epochs", "int", "1.5"),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    Case(
        "path-param-missing-file",
        (*RUN, "--entry-point", "main", "-P", "required_one=x", "-P", "data=nowhere.csv"),
        2,
        ("data", "does not exist"),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    Case(
        "mlproject-default-not-a-value",
        (*RUN, "--entry-point", "main"),
        2,
        ("default of parameter 'a'", "single value"),
        files={
            "MLproject": "entry_points:\n  main:\n    parameters: {a: {default: [1, 2]}}\n    command: 'echo {a}'\n"
        },
    ),
    Case(
        "param-too-long",
        (*RUN, "--entry-point", "main", "-P", "required_one=" + "x" * 6001),
        2,
        ("6000",),
        files={"MLproject": GOOD_MLPROJECT, "data.csv": "x\n"},
    ),
    # ---- the training command and its metrics files (these reach the server) ---------------
    Case("command-not-found", (*RUN, "--", "no-such-trainer-xyz"), 2, ("command not found",), server=True),
    Case(
        "command-not-executable",
        (*RUN, "--", "./train.sh"),
        2,
        ("not executable",),
        files={"train.sh": "echo hi\n"},
        server=True,
    ),
    *[
        Case(
            f"metrics-{name}",
            (*RUN, "--metrics-file", "m.json", "--", "true"),
            2,
            fragments,
            files={"m.json": content} if content is not None else {},
            server=True,
            run_created=True,
        )
        for name, content, fragments in [
            ("not-written", None, ("m.json", "was not written")),
            ("empty", "", ("m.json", "is empty")),
            ("invalid-json", "{", ("m.json", "not valid JSON")),
            ("string-value", metrics(rmse="low"), ("rmse", "must be a number", "'low'")),
            ("boolean-value", metrics(ok=True), ("ok", "boolean")),
            ("null-value", metrics(rmse=None), ("rmse", "null")),
            ("no-metrics", "{}", ("contains no metrics",)),
            ("bad-key", metrics(**{"a/../b": 1.0}), ("a/../b", "resolve")),
            ("key-with-quote", metrics(**{"it's": 1.0}), ("may only contain",)),
            ("key-too-long", metrics(**{"k" * 251: 1.0}), ("longer than 250",)),
            ("nested-list", json.dumps({"loss": [[1, 2]]}), ("nested list",)),
            ("bare-list", "[1, 2, 3]", ("without a metric name",)),
            ("bad-step", json.dumps({"loss": [{"step": "x", "value": 1}]}), ("step", "integer")),
            ("not-utf8", b"\xff\xfe{\x00", ("m.json", "UnicodeDecodeError")),
            ("nested-lists-too-deep", DEEP_LIST, ("m.json", "nested too deeply")),
            ("nested-mappings-too-deep", DEEP_JSON_MAPPING, ("m.json", "nested too deeply")),
        ]
    ],
    Case(
        "metrics-yaml-nested-too-deep",
        (*RUN, "--metrics-file", "m.yaml", "--", "true"),
        2,
        ("m.yaml", "nested too deeply"),
        files={"m.yaml": DEEP_YAML_MAPPING},
        server=True,
        run_created=True,
    ),
    Case(
        "metrics-yaml-invalid",
        (*RUN, "--metrics-file", "m.yaml", "--", "true"),
        2,
        ("m.yaml", "not valid YAML"),
        files={"m.yaml": "a: [1,\n"},
        server=True,
        run_created=True,
    ),
    # ---- sync ------------------------------------------------------------------------------
    Case("sync-missing-path", ("sync", "nowhere"), 2, ("no spool at", "nowhere")),
    Case(
        "sync-unreadable-spool",
        ("sync",),
        2,
        ("not readable", "x.json"),
        files={".ci-track/spool/x.json": "{broken"},
    ),
    Case(
        "sync-spool-nested-too-deep",
        ("sync",),
        2,
        ("x.json", "not readable", "nested too deeply"),
        files={".ci-track/spool/x.json": DEEP_LIST},
    ),
    Case(
        "sync-unknown-spool-version",
        ("sync",),
        2,
        ("not readable", "unsupported spool version"),
        files={".ci-track/spool/x.json": json.dumps({"version": 99, "run_id": "r", "tracking_uri": "http://x"})},
    ),
]


def _expand(text: str, *, server: str, cwd: Path) -> str:
    return text.replace("{server}", server).replace("{cwd}", str(cwd))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_fails_cleanly_in_one_line(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest, experiment_name: str
) -> None:
    server_url = NOTHING_LISTENS
    if case.server:
        server_url = request.getfixturevalue("mlflow_server").url
    work = tmp_path / "work"
    if case.git:
        init_repo(work, {"README.md": "corpus\n"})
    else:
        work.mkdir()
    for name, content in case.files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    defaults = {"MLFLOW_TRACKING_URI": server_url, "CI_TRACK_RETRY_BUDGET": "1", "CI_TRACK_HTTP_ATTEMPTS": "2"}
    overrides = {key: _expand(value, server=server_url, cwd=work) for key, value in case.env.items()}
    env = base_env(**{**defaults, **overrides})
    args = [_expand(arg, server=server_url, cwd=work) for arg in case.args]
    if case.server:
        args = [experiment_name if arg == "corpus" else arg for arg in args]
    result = ci_track(*args, env=env, cwd=work, timeout=120)
    assert_clean_failure(result, case.code, *case.fragments)
    if case.server:
        _assert_no_run_left_running(request.getfixturevalue("mlflow_server"), experiment_name, case)
    record(request, "bad_input_cases", 1)


def _assert_no_run_left_running(server: MlflowServer, experiment: str, case: Case) -> None:
    """A failed step must not leave a run that looks like it is still training."""
    with MlflowClient(TrackingSettings(uri=server.url)) as client:
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id])[0] if found else []
    assert [r.status for r in runs if r.status == "RUNNING"] == [], case.id
    if case.run_created:
        assert [r.status for r in runs] == ["FAILED"], case.id


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) + len(GATE_CASES) + len(NON_FINITE) >= 50
    assert len({case.id for case in CASES}) == len(CASES)


# ---- the gate: compare and comment -------------------------------------------------------------

HEAD = "c0ffee" + "0" * 34  # the fake GitHub's PR head
MISSING_RUN = "0123456789abcdef0123456789abcdef"
GATE_CONFIG = "experiment: {experiment}\nbase_branch: main\nmetrics:\n  rmse: {goal: minimize, max_regression: '5%'}\n"


@dataclasses.dataclass(frozen=True)
class GateCase:
    id: str
    args: tuple[str, ...]
    code: int
    fragments: tuple[str, ...]
    files: Mapping[str, str] = dataclasses.field(default_factory=dict)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # None: no GitHub. "ok": a working fake GitHub PR. Else: "wrong-token", "no-pr" or a fake fault kind.
    github: str | None = None
    warning: bool = False  # a warning line and no error line (the gate's own exit code)


def report(**overrides: object) -> str:
    base: dict[str, object] = {
        "experiment": "wine",
        "markdown": "<!-- ci-track:wine -->\n### report\n",
        "pr_number": 7,
        "head_sha": HEAD,
        "gate_passed": True,
    }
    base.update(overrides)
    return json.dumps({k: v for k, v in base.items() if v is not None})


COMPARE = ("compare", "--run-id", "{candidate}")
GATE_CASES: list[GateCase] = [
    GateCase("experiment-missing", (*COMPARE, "--experiment", "no-such-exp-xyz"), 2, ("'no-such-exp-xyz'", "does not")),
    GateCase("run-id-missing", ("compare", "--run-id", MISSING_RUN), 2, ("candidate run", "does not exist")),
    GateCase("run-in-other-experiment", ("compare", "--run-id", "{foreign}"), 2, ("belongs to experiment",)),
    GateCase("candidate-still-running", ("compare", "--run-id", "{running}"), 2, ("still RUNNING",)),
    GateCase(
        "champion-in-other-experiment",
        (*COMPARE, "--champion-run-id", "{foreign}"),
        2,
        ("champion run", "belongs to experiment"),
    ),
    GateCase("champion-missing", (*COMPARE, "--champion-run-id", MISSING_RUN), 2, ("champion run", "does not exist")),
    GateCase("no-run-for-commit", ("compare",), 2, ("no complete FINISHED run of ci-track for commit",)),
    GateCase("no-experiment", COMPARE, 2, ("no experiment",), files={".ci-track.yml": "base_branch: main\n"}),
    GateCase("unknown-format", (*COMPARE, "--format", "xml"), 2, ("invalid choice", "xml")),
    GateCase("template-missing", (*COMPARE, "--template", "nope.j2"), 2, ("nope.j2",)),
    GateCase(
        "template-syntax-error",
        (*COMPARE, "--template", "t.j2"),
        2,
        ("t.j2", "syntax error"),
        files={"t.j2": "{{ marker }} {% if %}"},
    ),
    GateCase(
        "template-without-marker", (*COMPARE, "--template", "t.j2"), 2, ("marker",), files={"t.j2": "just text\n"}
    ),
    GateCase(
        "template-escapes-sandbox",
        (*COMPARE, "--template", "t.j2"),
        2,
        ("t.j2",),
        files={"t.j2": "{{ marker }}{{ ''.__class__.__mro__[1].__subclasses__() }}"},
    ),
    GateCase(
        "server-down", COMPARE, 3, (NOTHING_LISTENS, "connection refused"), env={"MLFLOW_TRACKING_URI": NOTHING_LISTENS}
    ),
    GateCase("file-tracking-uri", COMPARE, 2, ("not an http(s) URL",), env={"MLFLOW_TRACKING_URI": "file:///tmp/x"}),
    GateCase("github-401", COMPARE, 3, ("GitHub", "401", "GITHUB_TOKEN"), github="wrong-token"),
    GateCase("github-404", COMPARE, 3, ("GitHub", "404"), github="no-pr"),
    GateCase("github-422", COMPARE, 3, ("GitHub", "422"), github="unprocessable"),
    GateCase("github-500", COMPARE, 3, ("GitHub", "500"), github="server-error"),
    GateCase("github-429", COMPARE, 3, ("GitHub", "rate limit"), github="rate-limit"),
    GateCase("github-secondary-limit", COMPARE, 3, ("CI_TRACK_FORGE_MAX_WAIT",), github="secondary-rate-limit"),
    GateCase("github-403-read-only", COMPARE, 0, ("read-only token",), github="forbidden", warning=True),
    GateCase(
        "github-no-token",
        (*COMPARE, "--comment", "update"),
        2,
        ("no GitHub token",),
        github="ok",
        env={"GITHUB_TOKEN": ""},
    ),
    GateCase("github-api-url", COMPARE, 2, ("GITHUB_API_URL",), github="ok", env={"GITHUB_API_URL": "ftp://x"}),
    GateCase(
        "github-timeout-setting",
        COMPARE,
        2,
        ("CI_TRACK_GITHUB_TIMEOUT",),
        github="ok",
        env={"CI_TRACK_GITHUB_TIMEOUT": "x"},
    ),
    # `comment --report`: the report is an artifact made from untrusted PR code
    GateCase("report-missing", ("comment", "--report", "r.json"), 2, ("r.json", "does not exist")),
    GateCase("report-not-json", ("comment", "--report", "r.json"), 2, ("not a JSON report",), files={"r.json": "{x"}),
    GateCase("report-a-list", ("comment", "--report", "r.json"), 2, ("r.json",), files={"r.json": "[1]"}),
    GateCase(
        "report-nested-too-deep",
        ("comment", "--report", "r.json"),
        2,
        ("r.json", "nested too deeply"),
        files={"r.json": DEEP_LIST},
    ),
    GateCase(
        "report-without-marker",
        ("comment", "--report", "r.json"),
        2,
        ("marker",),
        files={"r.json": report(markdown="### no marker")},
    ),
    GateCase(
        "report-bad-pr-number",
        ("comment", "--report", "r.json"),
        2,
        ("pull request number",),
        files={"r.json": report(pr_number="7; rm -rf /")},
    ),
    GateCase(
        "report-bad-sha",
        ("comment", "--report", "r.json"),
        2,
        ("not a commit SHA",),
        files={"r.json": report(head_sha="<img src=x>")},
    ),
    GateCase(
        "report-for-another-commit",
        ("comment", "--report", "r.json", "--expect-sha", "d" * 40),
        2,
        ("refusing",),
        files={"r.json": report()},
    ),
    GateCase(
        "report-without-decision",
        ("comment", "--report", "r.json"),
        2,
        ("gate_passed",),
        files={"r.json": report(gate_passed="yes")},
    ),
]


def seed_gate(url: str, experiment: str) -> dict[str, str]:
    """A champion, a PR candidate, a still-running run, and a run in another experiment."""
    from tests.reliability_scenarios import make_run

    ids = {
        "experiment": experiment,
        "champion": make_run(url, experiment, branch="main", sha="a" * 40, metrics={"rmse": 0.5}),
        "candidate": make_run(
            url, experiment, branch="feature", sha=HEAD, metrics={"rmse": 0.45}, tags={"ci.pr_number": "7"}
        ),
        "running": make_run(url, experiment, branch="feature", sha=HEAD, metrics={"rmse": 0.4}, status="RUNNING"),
        "foreign": make_run(url, f"{experiment}-other", branch="main", sha="e" * 40, metrics={"rmse": 0.1}),
    }
    return ids


@pytest.fixture(scope="module")
def gate_runs(mlflow_server: MlflowServer) -> dict[str, str]:
    """Seeded once: no gate case changes the runs (comments go to a fake GitHub of their own)."""
    import uuid

    return seed_gate(mlflow_server.url, f"corpus-gate-{uuid.uuid4().hex[:8]}")


def _fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.mark.parametrize("case", GATE_CASES, ids=[case.id for case in GATE_CASES])
def test_bad_gate_input_fails_cleanly_in_one_line(
    case: GateCase,
    mlflow_server: MlflowServer,
    gate_runs: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    from tests.fakes.fake_github import running_fake_github
    from tests.reliability_scenarios import github_pr_env

    values = {**gate_runs, "server": mlflow_server.url}
    work = tmp_path / "work"
    init_repo(work, {"README.md": "corpus\n"})
    files = {".ci-track.yml": GATE_CONFIG, **case.files}
    for name, content in files.items():
        (work / name).write_text(_fill(content, values))
    args = [_fill(arg, values) for arg in case.args]
    settings = {"CI_TRACK_RETRY_BUDGET": "1", "CI_TRACK_HTTP_ATTEMPTS": "2", "CI_TRACK_GITHUB_ATTEMPTS": "2"}
    settings["CI_TRACK_GITHUB_MAX_WAIT"] = "2"
    if case.github is None:
        env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url, **settings)
        env.update({key: _fill(value, values) for key, value in case.env.items()})
        result = ci_track(*args, env=env, cwd=work, timeout=120)
    else:
        with running_fake_github(head_sha=HEAD, pr_number=99 if case.github == "no-pr" else 7) as fake:
            if case.github not in ("ok", "wrong-token", "no-pr"):
                fake.fail(case.github, times=100)
            env = github_pr_env(
                work, tracking_uri=mlflow_server.url, github_api_url=fake.url, head_sha=HEAD, **settings
            )
            if case.github == "wrong-token":
                env["GITHUB_TOKEN"] = "ghs_NotTheTokenTheFakeGitHubExpects0000"
            env.update({key: _fill(value, values) for key, value in case.env.items()})
            result = ci_track(*args, env=env, cwd=work, timeout=120)
    if case.warning:
        assert result.code == case.code, result.stderr
        assert result.error_lines == [] and "Traceback" not in result.stderr, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("ci-track: warning:")]
        assert warnings and all(any(f in w for w in warnings) for f in case.fragments), result.stderr
    else:
        assert_clean_failure(result, case.code, *case.fragments)
    assert '"verdict": "pass"' not in result.stdout
    record(request, "bad_input_cases", 1)


NON_FINITE = [
    ("nan", '{"rmse": NaN}'),
    ("infinity", '{"rmse": Infinity}'),
    ("minus-infinity", '{"rmse": -Infinity}'),
    ("overflow-to-infinity", '{"rmse": 1e999}'),
    ("nan-string", '{"rmse": "NaN"}'),
]


@pytest.mark.parametrize(("label", "content"), NON_FINITE, ids=[label for label, _ in NON_FINITE])
def test_non_finite_metric_values_are_recorded_but_never_pass_the_gate(
    label: str,
    content: str,
    mlflow_server: MlflowServer,
    experiment_name: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """NaN/Inf from a training command: `run` records it (exit 0), `compare` fails it (exit 1), no traceback."""
    from tests.reliability_scenarios import make_run

    make_run(mlflow_server.url, experiment_name, branch="main", sha="a" * 40, metrics={"rmse": 0.5})
    work = tmp_path / "work"
    init_repo(work, {".ci-track.yml": _fill(GATE_CONFIG, {"experiment": experiment_name})})
    (work / "m.json").write_text(content)
    env = base_env(MLFLOW_TRACKING_URI=mlflow_server.url)
    ran = ci_track("run", "--metrics-file", "m.json", "--", "true", env=env, cwd=work)
    assert ran.code == 0 and "Traceback" not in ran.stderr, ran.stderr
    compared = ci_track("compare", "--base-branch", "main", "--format", "json", env=env, cwd=work)
    assert "Traceback" not in compared.stderr
    assert compared.code == 1, (label, compared.stdout[-2000:], compared.stderr)
    assert json.loads(compared.stdout)["verdict"] == "regression"
    record(request, "bad_input_cases", 1)
