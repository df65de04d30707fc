"""Entry script of the ci-track composite action: the action's inputs (environment) become ci-track command lines.

action.yml hands every input over as an `INPUT_*` environment variable (never as `${{ }}` text in a
script; input `champion-model` arrives as INPUT_CHAMPION_MODEL), and this script turns them into
argument lists for `ci-track run`, `compare` or `comment`: no shell sees an input, so no input can
inject anything. An input it cannot use stops the step with one `::error::` line before anything
runs. It masks the credentials first, writes what it was told that later `ci-track` steps of the
job need (`experiment`, `champion-model`, `key`) to GITHUB_ENV as CI_TRACK_EXPERIMENT,
CI_TRACK_CHAMPION_MODEL and CI_TRACK_KEY, runs the CLI, relays the CLI's step outputs, and passes
the exit code through (a regression fails the step only with `fail-on-regression: true`).

The training command never sees the GitHub token: only `compare` and `comment` get GITHUB_TOKEN.
Standard library only; it runs with the interpreter of ci-track's own virtual environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Copies of ci_track.vocabulary's (this script must run where ci_track is not importable: `install: skip`
# runs it with the job's python3); tests/unit/test_action_vocabulary.py keeps them equal.
COMMENT_MODES = ("update", "new", "delete-on-pass", "off")
CHAMPION_STRATEGIES = ("alias", "best", "latest")
NO_CHAMPION_POLICIES = ("pass", "fail")
MISSING_POLICIES = ("fail", "warn")
RULES_SOURCES = ("base", "head")
CREDENTIAL_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "DATABRICKS_TOKEN",
    "DATABRICKS_CLIENT_SECRET",
)
EXIT_REGRESSION = 1
EXIT_USAGE = 2
# Variables only this script needs; the CLI and, above all, the training command do not get them.
PRIVATE_PREFIXES = ("INPUT_",)
PRIVATE_VARIABLES = ("CI_TRACK_PYTHON", "CI_TRACK_CLI")


class InputError(Exception):
    """An input the action cannot use; the message names the input and says what to write instead."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inputs:
    command: str = ""
    entry_point: str = ""
    parameters: tuple[str, ...] = ()
    experiment: str = ""
    config: str = ""
    tracking_uri: str = ""
    github_token: str = dataclasses.field(default="", repr=False)
    comment: str = "update"
    status: bool = True
    fail_on_regression: bool = True
    base_branch: str = ""
    compare: bool = True
    metrics_files: tuple[str, ...] = ()
    report: str = ""
    # `ci-track run` only
    run_name: str = ""
    tags: tuple[str, ...] = ()
    repeat: str = ""
    repeat_max: str = ""
    reuse: str = ""  # "", "true" or "false": --reuse / --no-reuse
    # `ci-track compare` only
    run_id: str = ""
    champion_run_id: str = ""
    champion_strategy: str = ""
    champion_model: str = ""
    champion_alias: str = ""
    champion_metric: str = ""
    no_champion: str = ""
    missing: str = ""
    rules_from: str = ""
    override_label: str = ""
    check_run: bool = False
    template: str = ""
    markdown_output: str = ""
    json_output: str = ""
    key: str = ""
    charts: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Inputs:
        def text(name: str) -> str:
            return environ.get(f"INPUT_{name}", "").strip()

        inputs = cls(
            command=environ.get("INPUT_COMMAND", "").strip("\n"),
            entry_point=text("ENTRY_POINT"),
            parameters=_key_values(text("PARAMETERS"), "parameters"),
            experiment=text("EXPERIMENT"),
            config=text("CONFIG"),
            tracking_uri=text("TRACKING_URI"),
            github_token=text("GITHUB_TOKEN"),
            comment=_comment_mode(text("COMMENT") or "update"),
            status=_boolean(text("STATUS") or "true", "status"),
            fail_on_regression=_boolean(text("FAIL_ON_REGRESSION") or "true", "fail-on-regression"),
            base_branch=text("BASE_BRANCH"),
            compare=_boolean(text("COMPARE") or "true", "compare"),
            metrics_files=_lines(text("METRICS_FILES")),
            report=text("REPORT"),
            run_name=text("RUN_NAME"),
            tags=_key_values(text("TAGS"), "tags"),
            repeat=_repeat(text("REPEAT").lower()),
            repeat_max=_count(text("REPEAT_MAX"), "repeat-max"),
            reuse=str(_boolean(text("REUSE"), "reuse")).lower() if text("REUSE") else "",
            run_id=text("RUN_ID"),
            champion_run_id=text("CHAMPION_RUN_ID"),
            champion_strategy=_strategy_list(text("CHAMPION_STRATEGY")),
            champion_model=text("CHAMPION_MODEL"),
            champion_alias=text("CHAMPION_ALIAS"),
            champion_metric=text("CHAMPION_METRIC"),
            no_champion=_choice(text("NO_CHAMPION"), "no-champion", NO_CHAMPION_POLICIES),
            missing=_choice(text("MISSING"), "missing", MISSING_POLICIES),
            rules_from=_choice(text("RULES_FROM"), "rules-from", RULES_SOURCES),
            override_label=_label(text("OVERRIDE_LABEL")),
            check_run=_boolean(text("CHECK_RUN") or "false", "check-run"),
            template=text("TEMPLATE"),
            markdown_output=text("MARKDOWN_OUTPUT"),
            json_output=text("JSON_OUTPUT"),
            key=_one_line(text("KEY"), "key"),
            charts=_boolean(text("CHARTS") or "true", "charts"),
        )
        inputs.check()
        return inputs

    @property
    def trains(self) -> bool:
        return bool(self.command.strip() or self.entry_point)

    def check(self) -> None:
        if self.command.strip() and self.entry_point:
            raise InputError("give `command` or `entry-point`, not both")
        if self.parameters and not self.entry_point:
            raise InputError("`parameters` are for an MLproject `entry-point`; put a command's arguments in `command`")
        if self.report and (self.trains or self.metrics_files):
            raise InputError("`report` posts an earlier report and runs nothing: drop `command`/`entry-point`")
        if not (self.report or self.trains or self.compare):
            raise InputError("nothing to do: set `command` or `entry-point`, or `compare: true`, or `report`")
        if self.run_id and self.trains:
            raise InputError("`run-id` compares a run made earlier: drop `command`/`entry-point`, or drop `run-id`")
        if self.repeat == "auto" and not self.repeat_max:
            raise InputError("`repeat: auto` needs `repeat-max` (the most runs it may take)")
        if self.repeat_max and self.repeat != "auto":
            raise InputError("`repeat-max` is the maximum of `repeat: auto`")
        unused = [name for name in self.set_inputs(RUN_ONLY) if not self.trains]
        if unused:
            raise InputError(f"`{unused[0]}` is for the training run: set `command` or `entry-point`")
        for name in ("experiment", "champion-model"):
            _one_line(getattr(self, name.replace("-", "_")), name)
        unused = [name for name in self.set_inputs(COMPARE_ONLY) if self.report or not self.compare]
        if unused:
            raise InputError(f"`{unused[0]}` is for the comparison: it needs `compare: true` and no `report`")

    def set_inputs(self, names: Sequence[str]) -> list[str]:
        """Those of the named inputs (action spelling) that were given a value."""
        return [name for name in names if getattr(self, name.replace("-", "_"))]


# Inputs that only one verb uses: given where that verb does not run, they would be silently ignored.
RUN_ONLY = ("run-name", "tags", "repeat", "repeat-max", "reuse")
COMPARE_ONLY = (
    "run-id",
    "champion-run-id",
    "champion-strategy",
    "champion-model",
    "champion-alias",
    "champion-metric",
    "no-champion",
    "missing",
    "rules-from",
    "override-label",
    "check-run",
    "template",
    "markdown-output",
    "json-output",
    "key",
)


def _lines(value: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in value.splitlines() if line.strip())


def split_key_value(text: str) -> tuple[str, str] | None:
    """(key, value) of `KEY=VALUE`, or None: a copy of ci_track/cli_values.py's (the test checks they agree)."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        return None
    return key.strip(), value


def _key_values(value: str, name: str) -> tuple[str, ...]:
    items = _lines(value)
    for item in items:
        if split_key_value(item) is None:
            raise InputError(f"`{name}` wants one KEY=VALUE per line, got {item!r}")
    return items


def _one_line(value: str, name: str) -> str:
    """A value that goes to GITHUB_ENV and into names: one line, no control characters."""
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in value):
        raise InputError(f"`{name}` must be one line without control characters, got {value!r}")
    return value


def _boolean(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise InputError(f"`{name}` must be true or false, got {value!r}")


def _comment_mode(value: str) -> str:
    if value not in COMMENT_MODES:
        raise InputError(f"`comment` must be one of {', '.join(COMMENT_MODES)}, got {value!r}")
    return value


def _choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Empty (the CLI's own default, from .ci-track.yml) or one of `choices`."""
    if value and value not in choices:
        raise InputError(f"`{name}` must be one of {', '.join(choices)} (or empty), got {value!r}")
    return value


MAX_REPEAT = 20  # as ci_track/gate/noise_config.py


def _count(value: str, name: str) -> str:
    """Empty, or a whole number of runs from 1 to MAX_REPEAT."""
    if value and not (value.isdigit() and 1 <= int(value) <= MAX_REPEAT):
        raise InputError(f"`{name}` must be a whole number of runs from 1 to {MAX_REPEAT} (or empty), got {value!r}")
    return value


def _repeat(value: str) -> str:
    return value if value == "auto" else _count(value, "repeat")


def _label(value: str) -> str:
    """Empty, or a label name without spaces (checked here so a typo fails before the training runs)."""
    if any(character.isspace() for character in value) or len(value) > 50:
        raise InputError(f"`override-label` must be one label name without spaces, got {value!r}")
    return value


def _strategy_list(value: str) -> str:
    """A comma list of champion strategies, checked here so a typo fails before the training runs."""
    if not value:
        return ""
    names = [part.strip() for part in value.split(",")]
    for name in names:
        if name not in CHAMPION_STRATEGIES:
            raise InputError(f"`champion-strategy` is a comma list of {', '.join(CHAMPION_STRATEGIES)}, got {value!r}")
    return ",".join(names)


# -- command lines ------------------------------------------------------------------------------


def run_arguments(inputs: Inputs) -> list[str]:
    """`ci-track run` arguments: the command goes to bash as one argument, exactly as written."""
    args = ["run"]
    if inputs.experiment:
        args += ["--experiment", inputs.experiment]
    if inputs.config:
        args += ["--config", inputs.config]
    if inputs.run_name:
        args += ["--run-name", inputs.run_name]
    for item in inputs.tags:
        args += ["--tag", item]
    for path in inputs.metrics_files:
        args += ["--metrics-file", path]
    if inputs.repeat:
        args += ["--repeat", inputs.repeat]
    if inputs.repeat_max:
        args += ["--repeat-max", inputs.repeat_max]
    if inputs.reuse:
        args.append("--reuse" if inputs.reuse == "true" else "--no-reuse")
    if inputs.entry_point:
        args += ["--entry-point", inputs.entry_point]
        for item in inputs.parameters:
            args += ["-P", item]
        return args
    # -eo pipefail: a failing line of a multi-line command fails the run, as in a `run:` step.
    return [*args, "--", "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", inputs.command]


def compare_arguments(inputs: Inputs, *, run_id: str, report_dir: Path) -> list[str]:
    """`ci-track compare` arguments; `run_id` is the run just trained (else the `run-id` input, else none)."""
    args = ["compare"]
    optional = {
        "--run-id": run_id or inputs.run_id,
        "--champion-run-id": inputs.champion_run_id,
        "--config": inputs.config,
        "--experiment": inputs.experiment,
        "--base-branch": inputs.base_branch,
        "--champion-strategy": inputs.champion_strategy,
        "--champion-model": inputs.champion_model,
        "--champion-alias": inputs.champion_alias,
        "--champion-metric": inputs.champion_metric,
        "--no-champion": inputs.no_champion,
        "--missing": inputs.missing,
        "--rules-from": inputs.rules_from,
        "--override-label": inputs.override_label,
        "--template": inputs.template,
        "--key": inputs.key,
    }
    for flag, value in optional.items():
        if value:
            args += [flag, value]
    markdown, json_report = report_paths(inputs, report_dir)
    args += [
        "--comment",
        inputs.comment,
        "--status" if inputs.status else "--no-status",
        "--markdown-output",
        str(markdown),
        "--json-output",
        str(json_report),
    ]
    if inputs.check_run:
        args.append("--check-run")
    if not inputs.charts:
        args.append("--no-charts")
    return args


def report_paths(inputs: Inputs, report_dir: Path) -> tuple[Path, Path]:
    """Where compare writes its reports: the `markdown-output`/`json-output` inputs, else the step's own directory."""
    markdown = Path(inputs.markdown_output) if inputs.markdown_output else report_dir / "report.md"
    json_report = Path(inputs.json_output) if inputs.json_output else report_dir / "report.json"
    return markdown, json_report


def comment_arguments(inputs: Inputs, trigger: Mapping[str, Any]) -> list[str]:
    """`ci-track comment` arguments; `trigger` is the workflow_run that made the report, from GitHub's event.

    The report itself is untrusted (the job that made it ran the PR's code): the commit it must be
    about, and the PR when GitHub names it, come from the event instead.
    """
    args = ["comment", "--report", inputs.report, "--mode", inputs.comment]
    args.append("--status" if inputs.status else "--no-status")
    head_sha = trigger.get("head_sha")
    if isinstance(head_sha, str) and head_sha:
        args += ["--expect-sha", head_sha]
    # GitHub lists the PR only when its head is in this repository; a fork's PR number comes from the
    # report, and --expect-sha still ties the report to the commit the triggering run tested.
    pulls = trigger.get("pull_requests")
    if isinstance(pulls, list) and len(pulls) == 1 and isinstance(pulls[0], dict):
        number = pulls[0].get("number")
        if isinstance(number, int) and not isinstance(number, bool) and number > 0:
            args += ["--pr", str(number)]
    return args


def triggering_run(environ: Mapping[str, str]) -> dict[str, Any]:
    """The `workflow_run` object of a workflow_run event (GitHub's own payload), else {}."""
    if environ.get("GITHUB_EVENT_NAME") != "workflow_run" or not environ.get("GITHUB_EVENT_PATH"):
        return {}
    try:
        payload = json.loads(Path(environ["GITHUB_EVENT_PATH"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    run = payload.get("workflow_run") if isinstance(payload, dict) else None
    return run if isinstance(run, dict) else {}


# -- environment --------------------------------------------------------------------------------


def secrets_to_mask(inputs: Inputs, environ: Mapping[str, str]) -> list[str]:
    """Values the log must never show: tokens, passwords, and the password inside a tracking URL."""
    values = [inputs.github_token, *(environ.get(name, "") for name in CREDENTIAL_VARIABLES)]
    for uri in (inputs.tracking_uri, environ.get("MLFLOW_TRACKING_URI", "")):
        try:
            password = urllib.parse.urlsplit(uri).password
        except ValueError:
            password = None
        if password:
            values += [password, urllib.parse.unquote(password)]
    masked: list[str] = []
    for value in values:
        # the runner masks line by line; a multi-line secret needs each line masked
        for line in value.splitlines():
            if line.strip() and line not in masked:
                masked.append(line)
    return masked


def cli_environment(environ: Mapping[str, str], inputs: Inputs, *, github_token: bool) -> dict[str, str]:
    """The CLI's environment: the step's, minus the action's private variables, plus the inputs that
    `run` and `compare` both read from the environment (comment and status go as flags)."""
    env = {
        key: value
        for key, value in environ.items()
        if not key.startswith(PRIVATE_PREFIXES) and key not in PRIVATE_VARIABLES
    }
    if inputs.tracking_uri:
        env["MLFLOW_TRACKING_URI"] = inputs.tracking_uri
    if inputs.experiment:
        env["CI_TRACK_EXPERIMENT"] = inputs.experiment
    if inputs.base_branch:
        env["CI_TRACK_BASE_BRANCH"] = inputs.base_branch
    if inputs.key:  # `run` tags the run with its key (ci.key); `compare` judges only the key's runs
        env["CI_TRACK_KEY"] = inputs.key
    if github_token and inputs.github_token:
        env["GITHUB_TOKEN"] = inputs.github_token
    return env


# What the action was told, for the later `ci-track` steps of the job (input -> CI_TRACK_* variable).
CARRIED_INPUTS = (
    ("experiment", "CI_TRACK_EXPERIMENT"),
    ("champion_model", "CI_TRACK_CHAMPION_MODEL"),
    ("key", "CI_TRACK_KEY"),
)


def carried_environment(inputs: Inputs) -> dict[str, str]:
    """The CI_TRACK_* variables later steps inherit: a `ci-track promote` after the action compares the same
    experiment, against the same registered model, under the same key."""
    return {variable: getattr(inputs, field) for field, variable in CARRIED_INPUTS if getattr(inputs, field)}


def write_github_env(path: str, values: Mapping[str, str]) -> None:
    """Append to GITHUB_ENV with a random heredoc delimiter, so no value can end early and set another variable."""
    if not path or not values:
        return
    with open(path, "a", encoding="utf-8") as out:
        for name, value in values.items():
            delimiter = f"ci_track_eof_{secrets.token_hex(16)}"
            out.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def read_outputs(text: str) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file: `key=value` lines and `key<<DELIMITER` blocks."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, _, delimiter = line.partition("<<")
            block: list[str] = []
            while index < len(lines) and lines[index] != delimiter:
                block.append(lines[index])
                index += 1
            index += 1  # the delimiter line
            values[key] = "\n".join(block)
        elif "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def command_data(text: str) -> str:
    """Escape text for a workflow command, so it cannot end the command or start another one.

    The same as ci_track.ci.github_actions.command_data (a test keeps them equal)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


# -- running ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Step:
    """Runs the CLI with a private GITHUB_OUTPUT, then relays what it wrote to the step's real one."""

    cli: str
    github_output: str
    scratch: Path

    def call(self, args: Sequence[str], env: Mapping[str, str]) -> tuple[int, dict[str, str]]:
        print(f"ci-track: {shlex.join(['ci-track', *args])}", flush=True)
        fd, private_output = tempfile.mkstemp(prefix="output-", dir=self.scratch)
        os.close(fd)
        code = subprocess.run([self.cli, *args], env={**env, "GITHUB_OUTPUT": private_output}, check=False).returncode
        text = Path(private_output).read_text(encoding="utf-8")
        Path(private_output).unlink()
        self.relay(text)
        return code, read_outputs(text)

    def relay(self, text: str) -> None:
        if self.github_output and text:
            with open(self.github_output, "a", encoding="utf-8") as out:
                out.write(text if text.endswith("\n") else text + "\n")

    def set_output(self, key: str, value: str) -> None:
        self.relay(f"{key}={value}\n")


def execute(inputs: Inputs, environ: Mapping[str, str], step: Step) -> int:
    if inputs.report:
        args = comment_arguments(inputs, triggering_run(environ))
        code, _ = step.call(args, cli_environment(environ, inputs, github_token=True))
        return code

    run_id = ""
    if inputs.trains:
        code, outputs = step.call(run_arguments(inputs), cli_environment(environ, inputs, github_token=False))
        if code != 0:
            print(f"::error title=ci-track::the training run failed (exit code {code}); nothing was compared")
            return code
        run_id = outputs.get("run-id", "")

    if not inputs.compare:
        return 0
    report_dir = step.scratch / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    args = compare_arguments(inputs, run_id=run_id, report_dir=report_dir)
    code, outputs = step.call(args, cli_environment(environ, inputs, github_token=True))
    markdown, json_report = report_paths(inputs, report_dir)
    if json_report.is_file():
        step.set_output("report-json", str(json_report.resolve()))
    if "report-path" not in outputs and markdown.is_file():
        step.set_output("report-path", str(markdown.resolve()))
    if code == EXIT_REGRESSION and not inputs.fail_on_regression:
        print("::warning title=ci-track::the comparison found a regression (fail-on-regression: false)")
        return 0
    return code


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = dict(os.environ if environ is None else environ)
    try:
        inputs = Inputs.from_env(environ)
    except InputError as error:
        print(f"::error title=ci-track input::{command_data(str(error))}")
        return EXIT_USAGE
    for value in secrets_to_mask(inputs, environ):
        print(f"::add-mask::{value}", flush=True)
    write_github_env(environ.get("GITHUB_ENV", ""), carried_environment(inputs))

    cli = environ.get("CI_TRACK_CLI") or "ci-track"
    # a fresh directory per use of the action: two ci-track steps in one job keep their own reports
    scratch = Path(tempfile.mkdtemp(prefix="ci-track-", dir=environ.get("RUNNER_TEMP") or None))
    step = Step(cli=cli, github_output=environ.get("GITHUB_OUTPUT", ""), scratch=scratch)
    return execute(inputs, environ, step)


if __name__ == "__main__":
    sys.exit(main())
