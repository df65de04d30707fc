"""MLproject parsing and command building; hostile parameter values are run through a real bash."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ci_track.errors import ConfigError
from ci_track.training.mlproject import Parameter, load_project

# Prints its arguments as JSON, so a test can see exactly what argv the command received.
ECHO_ARGS = "import json, sys\nprint(json.dumps(sys.argv[1:]))\n"

HOSTILE_VALUES = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "line one\nline two; rm -rf /",
    'it\'s "quoted" \\ back',
    "$HOME ${PATH} $((1+1))",
    "--help",
    "  padded  ",
    "* ? [a-z]",
    "{alpha} {{x}}",
    "naïve ✓ \u202etxt.exe",
    "",
]


def make_project(tmp_path: Path, mlproject: str, *, filename: str = "MLproject") -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / filename).write_text(mlproject, encoding="utf-8")
    (project / "echo_args.py").write_text(ECHO_ARGS, encoding="utf-8")
    return project


@pytest.fixture
def trap_bin(tmp_path: Path) -> Path:
    """A PATH directory whose rm/id/touch only leave a marker: an injected command is caught, not run."""
    bin_dir = tmp_path / "trap-bin"
    bin_dir.mkdir()
    for name in ("rm", "id", "touch"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{tmp_path}/INJECTED"\n', encoding="utf-8")
        script.chmod(0o755)
    python = bin_dir / "python"
    python.symlink_to(sys.executable)
    return bin_dir


def run_in_bash(command: str, cwd: Path, trap_bin: Path) -> list[str]:
    bash = shutil.which("bash")
    assert bash is not None
    env = {"PATH": f"{trap_bin}:/usr/bin:/bin", "HOME": "/nonexistent-home", "LC_ALL": "C.UTF-8"}
    result = subprocess.run([bash, "-c", command], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    assert not (trap_bin.parent / "INJECTED").exists(), (trap_bin.parent / "INJECTED").read_text()
    return json.loads(result.stdout)


MAIN_PROJECT = """\
name: house-prices
python_env: python_env.yaml
entry_points:
  main:
    parameters:
      alpha: {type: float, default: 0.05}
      epochs: {type: int, default: 10}
      name: string
      data: {type: path, default: data.csv}
    command: "python echo_args.py --alpha {alpha} --epochs {epochs} --name {name} --data {data}"
  validate:
    command: python echo_args.py validate
"""


@pytest.fixture
def main_project(tmp_path: Path) -> Path:
    project = make_project(tmp_path, MAIN_PROJECT)
    (project / "data.csv").write_text("x,y\n1,2\n")
    return project


# --- loading --------------------------------------------------------------------------------


def test_load_project_reads_name_environment_and_entry_points(main_project: Path) -> None:
    project = load_project(main_project)

    assert project.name == "house-prices"
    assert project.env_type == "python_env"
    assert project.path == (main_project / "MLproject").resolve()
    assert list(project.entry_points) == ["main", "validate"]
    assert project.entry_point("main").parameters == {
        "alpha": Parameter("alpha", "float", "0.05"),
        "epochs": Parameter("epochs", "int", "10"),
        "name": Parameter("name", "string", None),
        "data": Parameter("data", "path", "data.csv"),
    }


def test_the_mlproject_file_name_is_matched_case_insensitively(tmp_path: Path) -> None:
    project = make_project(tmp_path, "entry_points:\n  main:\n    command: python echo_args.py\n", filename="mlproject")

    assert load_project(project).entry_point("main").command == "python echo_args.py"


def test_the_sample_project_in_examples_loads(repo_root: Path) -> None:
    entry = load_project(repo_root / "examples" / "diabetes").entry_point("main")

    command, params = entry.build_command({})

    assert params == {"alpha": "0.01", "l1_ratio": "0.5", "seed": "42", "log_model": "true"}
    assert command == "python train.py --alpha 0.01 --l1-ratio 0.5 --seed 42 --log-model true"


# --- building commands ----------------------------------------------------------------------


def test_defaults_fill_in_and_the_command_runs_with_the_resolved_values(main_project: Path, trap_bin: Path) -> None:
    entry = load_project(main_project).entry_point("main")

    command, params = entry.build_command({"name": "baseline", "epochs": "3"})

    data = str((main_project / "data.csv").resolve())
    assert params == {"alpha": "0.05", "epochs": "3", "name": "baseline", "data": data}
    assert run_in_bash(command, main_project, trap_bin) == [
        "--alpha",
        "0.05",
        "--epochs",
        "3",
        "--name",
        "baseline",
        "--data",
        data,
    ]


def test_extra_parameters_are_appended_as_quoted_key_value_pairs(main_project: Path, trap_bin: Path) -> None:
    entry = load_project(main_project).entry_point("validate")

    command, params = entry.build_command({"threshold": "0.9", "note text": "$(id) ; rm -rf /"})

    assert params == {"threshold": "0.9", "note text": "$(id) ; rm -rf /"}
    assert run_in_bash(command, main_project, trap_bin) == [
        "validate",
        "--threshold",
        "0.9",
        "--note text",
        "$(id) ; rm -rf /",
    ]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_reach_the_command_as_one_unchanged_argument(
    value: str, main_project: Path, trap_bin: Path
) -> None:
    entry = load_project(main_project).entry_point("main")

    command, params = entry.build_command({"name": value, "extra": value})

    assert params["name"] == value
    argv = run_in_bash(command, main_project, trap_bin)
    assert argv[argv.index("--name") + 1] == value
    assert argv[-2:] == ["--extra", value]
    assert len(argv) == 10


def test_literal_braces_in_the_command_survive(tmp_path: Path, trap_bin: Path) -> None:
    project = make_project(
        tmp_path,
        "entry_points:\n  main:\n    parameters: {x: string}\n    command: python echo_args.py '{{literal}}' {x}\n",
    )

    command, _ = load_project(project).entry_point("main").build_command({"x": "{x}"})

    assert run_in_bash(command, project, trap_bin) == ["{literal}", "{x}"]


@pytest.mark.parametrize("script", ["echo_args.py", "run me.sh"])
def test_script_entry_points_run_with_python_or_bash_and_params_as_flags(
    script: str, tmp_path: Path, trap_bin: Path
) -> None:
    project = make_project(tmp_path, MAIN_PROJECT)
    (project / "run me.sh").write_text('python echo_args.py "$@"\n')

    entry = load_project(project).entry_point(script)
    command, params = entry.build_command({"alpha": "0.1", "msg": "`id`"})

    assert params == {"alpha": "0.1", "msg": "`id`"}
    assert shlex.split(command)[:2] == ["python" if script.endswith(".py") else "bash", script]
    assert run_in_bash(command, project, trap_bin) == ["--alpha", "0.1", "--msg", "`id`"]


@pytest.mark.parametrize("value", ["1e-3", "-0.5", ".5", "3", "+2.", "NaN", "inf"])
def test_float_parameters_accept_float_syntax(value: str, main_project: Path) -> None:
    _, params = load_project(main_project).entry_point("main").build_command({"name": "n", "alpha": value})

    assert params["alpha"] == value


@pytest.mark.parametrize("value", ["abc", "0.1; id", "1_000.0", " 0.5", "0x1p3", ""])
def test_float_parameters_reject_other_text(value: str, main_project: Path) -> None:
    entry = load_project(main_project).entry_point("main")

    with pytest.raises(ConfigError) as error:
        entry.build_command({"name": "n", "alpha": value})
    assert str(error.value) == f"parameter 'alpha' of entry point 'main' must be a float, got {value!r}"


def test_the_documented_float_message(main_project: Path) -> None:
    entry = load_project(main_project).entry_point("main")

    with pytest.raises(ConfigError) as error:
        entry.build_command({"name": "n", "alpha": "abc"})
    assert str(error.value) == "parameter 'alpha' of entry point 'main' must be a float, got 'abc'"


@pytest.mark.parametrize("value", ["1.5", "ten", "1e3", "3 "])
def test_int_parameters_reject_non_integers(value: str, main_project: Path) -> None:
    with pytest.raises(ConfigError, match="parameter 'epochs' of entry point 'main' must be an int"):
        load_project(main_project).entry_point("main").build_command({"name": "n", "epochs": value})


def test_a_bad_default_is_reported_as_coming_from_the_file(tmp_path: Path) -> None:
    project = make_project(
        tmp_path, "entry_points:\n  main:\n    parameters: {lr: {type: float, default: fast}}\n    command: x {lr}\n"
    )

    with pytest.raises(ConfigError, match=r"must be a float, got 'fast' \(the default in .*MLproject\)"):
        load_project(project).entry_point("main").build_command({})


def test_missing_required_parameters_are_named_with_the_entry_point(tmp_path: Path) -> None:
    project = make_project(
        tmp_path,
        "entry_points:\n  train:\n    parameters: {a: string, b: int, c: {default: 1}}\n    command: x {a} {b}\n",
    )

    with pytest.raises(ConfigError) as error:
        load_project(project).entry_point("train").build_command({"b": "2"})
    assert str(error.value) == "missing required parameter 'a' of entry point 'train': pass -P a=VALUE"

    with pytest.raises(ConfigError, match="missing required parameters 'a', 'b' of entry point 'train'"):
        load_project(project).entry_point("train").build_command({})


def test_path_parameters_resolve_relative_to_the_project_dir(main_project: Path) -> None:
    (main_project / "sub").mkdir()
    (main_project / "sub" / "train.csv").write_text("x\n")
    entry = load_project(main_project).entry_point("main")

    _, relative = entry.build_command({"name": "n", "data": "sub/train.csv"})
    _, as_file_uri = entry.build_command({"name": "n", "data": (main_project / "data.csv").resolve().as_uri()})

    assert relative["data"] == str((main_project / "sub" / "train.csv").resolve())
    assert as_file_uri["data"] == str((main_project / "data.csv").resolve())


@pytest.mark.parametrize(
    ("value", "expected"),
    [("missing.csv", "is a path that does not exist"), ("s3://bucket/data.csv", "must be a local path")],
)
def test_path_parameters_must_be_existing_local_paths(value: str, expected: str, main_project: Path) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_project(main_project).entry_point("main").build_command({"name": "n", "data": value})


def test_uri_parameters_need_a_scheme(tmp_path: Path) -> None:
    project = make_project(tmp_path, "entry_points:\n  main:\n    parameters: {src: uri}\n    command: x {src}\n")
    entry = load_project(project).entry_point("main")

    assert entry.build_command({"src": "s3://bucket/key"})[1] == {"src": "s3://bucket/key"}
    with pytest.raises(ConfigError, match="must be a URI"):
        entry.build_command({"src": "just/a/path"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "a\x00b"}, "NUL character"),
        ({"name": "x" * 6001}, "6000-character limit"),
        ({"name": "n", "bad;key": "v"}, "parameter name 'bad;key'"),
    ],
)
def test_values_and_names_mlflow_or_a_command_cannot_take_are_rejected(
    params: dict[str, str], expected: str, main_project: Path
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_project(main_project).entry_point("main").build_command(params)


def test_unknown_entry_point_lists_the_valid_ones(main_project: Path) -> None:
    project = load_project(main_project)

    with pytest.raises(ConfigError) as error:
        project.entry_point("trian")
    message = str(error.value)
    assert "unknown entry point 'trian'" in message
    assert "'main', 'validate'" in message
    assert str(project.path) in message


def test_a_script_entry_point_must_exist(main_project: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown entry point 'absent\.py'"):
        load_project(main_project).entry_point("absent.py")


# --- bad files ------------------------------------------------------------------------------


def test_a_directory_without_mlproject_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"no MLproject file in {tmp_path}"):
        load_project(tmp_path)


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_project(tmp_path / "nope")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("entry_points:\n  main: [unclosed\n", "is not valid YAML at line"),
        ("", "must be a YAML mapping"),
        ("name: x\n", "has no entry_points"),
        ("entry_points: {}\n", "has no entry_points"),
        ("entry_points:\n  main:\n    parameters: {a: string}\n", "entry point 'main' in .* has no command"),
        ("entry_points:\n  main: python train.py\n", "entry point 'main' in .* must be a mapping"),
        ("entry_points:\n  main:\n    parameters: {a: double}\n    command: x {a}\n", "unknown type 'double'"),
        ("entry_points:\n  main:\n    command: x {alpha}\n", r"uses \{alpha\}, which is not one of its parameters"),
        ("entry_points:\n  main:\n    parameters: {a: string}\n    command: x {a!r}\n", r"write plain \{a\}"),
        ("entry_points:\n  main:\n    parameters: {a: string}\n    command: x {a:>9}\n", r"write plain \{a\}"),
        ("entry_points:\n  main:\n    command: x {\n", "unbalanced braces"),
        ("python_env: p.yaml\nconda_env: c.yaml\nentry_points:\n  m: {command: x}\n", "more than one environment"),
    ],
)
def test_invalid_mlproject_files_are_errors_naming_the_file(content: str, expected: str, tmp_path: Path) -> None:
    project = make_project(tmp_path, content)

    with pytest.raises(ConfigError, match=expected) as error:
        load_project(project)
    assert str((project / "MLproject").resolve()) in str(error.value)
    assert "\n" not in str(error.value)
