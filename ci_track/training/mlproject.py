"""MLproject files: which command an entry point runs, with which validated parameters.

`load_project(dir)` reads the `MLproject` file (found case-insensitively, as MLflow does);
`Project.entry_point(name)` picks an entry point, or, MLflow's convention, a `.py` / `.sh` file
of the project run as `python FILE` / `bash FILE`; `EntryPoint.build_command(params)` returns
the shell command and the parameters to log.

Parameter values are untrusted text (they come from CI inputs and PR branches): every value is
shell-quoted with `shlex.quote` before it is put into the command, placeholders must be plain
`{name}` fields (no `!r` conversions or `:spec` that could undo the quoting), and extra
parameters are appended as quoted `--key value` pairs. Unlike MLflow, `int` and `float` values
are validated. `path` values resolve relative to the project directory and must exist (ci-track
does not download remote paths as `mlflow run` does). The environment sections (`python_env`,
`conda_env`, `docker_env`) are recorded but not built: the command runs in the current environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import string
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci_track.errors import TOO_DEEP, ConfigError
from ci_track.training.metrics_file import key_problem

PARAMETER_TYPES = ("string", "float", "int", "path", "uri")
ENV_SECTIONS = ("python_env", "conda_env", "docker_env")
SCRIPT_RUNNERS = {".py": "python", ".sh": "bash"}  # MLflow's convention for file entry points
MAX_PARAM_VALUE_LENGTH = 6000  # MLflow refuses longer param values

_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    type: str = "string"
    default: str | None = None  # None: the parameter is required


@dataclasses.dataclass(frozen=True)
class EntryPoint:
    name: str
    command: str
    parameters: Mapping[str, Parameter]
    project_dir: Path
    source: Path  # the MLproject file (or the script) this entry point comes from, for messages

    def build_command(self, user_params: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """The shell command (values quoted) and every resolved parameter to log, declared ones first."""
        missing = [p.name for p in self.parameters.values() if p.default is None and p.name not in user_params]
        if missing:
            names = ", ".join(repr(name) for name in missing)
            plural = "s" if len(missing) > 1 else ""
            hint = " ".join(f"-P {name}=VALUE" for name in missing)
            raise ConfigError(f"missing required parameter{plural} {names} of entry point '{self.name}': pass {hint}")

        resolved: dict[str, str] = {}
        for param in self.parameters.values():
            from_user = param.name in user_params
            raw = user_params[param.name] if from_user else param.default
            assert raw is not None  # required parameters were checked above
            resolved[param.name] = self._checked_value(param, str(raw), from_default=not from_user)
        extras: dict[str, str] = {}
        for key, value in user_params.items():
            if key in self.parameters:
                continue
            problem = key_problem(key)
            if problem:
                raise ConfigError(f"parameter name {key[:100]!r} for entry point '{self.name}' {problem}")
            extras[key] = self._checked_value(Parameter(key), str(value), from_default=False)

        command = _substitute(self.command, {k: shlex.quote(v) for k, v in resolved.items()})
        for key, value in extras.items():
            command += f" --{shlex.quote(key)} {shlex.quote(value)}"
        return command, {**resolved, **extras}

    def _checked_value(self, param: Parameter, value: str, *, from_default: bool) -> str:
        where = f" (the default in {self.source})" if from_default else ""
        prefix = f"parameter '{param.name}' of entry point '{self.name}'"
        shown = repr(value[:100] + ("..." if len(value) > 100 else ""))
        if "\x00" in value:
            raise ConfigError(f"{prefix} contains a NUL character, which no command can receive{where}")
        if len(value) > MAX_PARAM_VALUE_LENGTH:
            raise ConfigError(f"{prefix} is longer than MLflow's {MAX_PARAM_VALUE_LENGTH}-character limit{where}")
        if param.type == "float" and not _FLOAT.match(value):
            raise ConfigError(f"{prefix} must be a float, got {shown}{where}")
        if param.type == "int" and not _INT.match(value):
            raise ConfigError(f"{prefix} must be an int, got {shown}{where}")
        if param.type == "uri" and not urllib.parse.urlparse(value).scheme:
            raise ConfigError(f"{prefix} must be a URI with a scheme (e.g. s3://, file://), got {shown}{where}")
        if param.type == "path":
            return self._local_path(value, prefix, shown, where)
        return value

    def _local_path(self, value: str, prefix: str, shown: str, where: str) -> str:
        parsed = urllib.parse.urlparse(value)
        if parsed.scheme == "file":
            value = urllib.parse.unquote(parsed.path)
        elif len(parsed.scheme) > 1:  # one letter would be a Windows drive
            raise ConfigError(
                f"{prefix} must be a local path (ci-track does not download {parsed.scheme}:// paths), "
                f"got {shown}{where}"
            )
        if not value:
            raise ConfigError(f"{prefix} must be a path, got an empty value{where}")
        path = os.path.abspath(os.path.join(self.project_dir, value))
        if not os.path.exists(path):
            raise ConfigError(f"{prefix} is a path that does not exist: {path}{where}")
        return path


@dataclasses.dataclass(frozen=True)
class Project:
    path: Path  # the MLproject file
    project_dir: Path
    name: str | None
    entry_points: Mapping[str, EntryPoint]
    env_type: str | None = None  # "python_env" | "conda_env" | "docker_env" when declared

    def entry_point(self, name: str) -> EntryPoint:
        """A declared entry point, or a .py/.sh file of the project (run with python/bash)."""
        if name in self.entry_points:
            return self.entry_points[name]
        suffix = os.path.splitext(name)[1]
        if suffix in SCRIPT_RUNNERS and (self.project_dir / name).is_file():
            return EntryPoint(
                name=name,
                command=f"{SCRIPT_RUNNERS[suffix]} {shlex.quote(name)}",
                parameters={},
                project_dir=self.project_dir,
                source=self.project_dir / name,
            )
        valid = ", ".join(repr(n) for n in self.entry_points)
        raise ConfigError(
            f"unknown entry point {name[:100]!r} in {self.path}: valid ones are {valid} "
            "(or the name of a .py/.sh file in the project)"
        )


def load_project(project_dir: Path) -> Project:
    """Parse and validate `project_dir`'s MLproject file; ConfigError (with the file path) if it is wrong."""
    path = _find_mlproject(project_dir)
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"{path} is {TOO_DEEP}") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
        raise ConfigError(f"cannot read {path}: {reason}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path} must be a YAML mapping with an entry_points section")
    env_sections = [key for key in ENV_SECTIONS if key in data]
    if len(env_sections) > 1:
        raise ConfigError(f"{path} declares more than one environment ({', '.join(env_sections)}): keep one")
    raw_entry_points = data.get("entry_points")
    if not isinstance(raw_entry_points, Mapping) or not raw_entry_points:
        raise ConfigError(f"{path} has no entry_points: add at least one, e.g. main: {{command: python train.py}}")
    project_dir = path.parent
    entry_points = {
        str(name): _entry_point(str(name), spec, path, project_dir) for name, spec in raw_entry_points.items()
    }
    name = data.get("name")
    return Project(
        path=path,
        project_dir=project_dir,
        name=str(name) if name is not None else None,
        entry_points=entry_points,
        env_type=env_sections[0] if env_sections else None,
    )


def _find_mlproject(project_dir: Path) -> Path:
    try:
        candidates = sorted(p for p in project_dir.iterdir() if p.name.lower() == "mlproject" and p.is_file())
    except OSError:
        raise ConfigError(f"project directory {project_dir} does not exist or cannot be read") from None
    if not candidates:
        raise ConfigError(f"no MLproject file in {project_dir}: pass --project-dir or run a command after --")
    return candidates[0].resolve()


def _entry_point(name: str, spec: Any, path: Path, project_dir: Path) -> EntryPoint:
    where = f"entry point '{name}' in {path}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be a mapping with a command")
    command = spec.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ConfigError(f"{where} has no command")
    raw_params = spec.get("parameters") or {}
    if not isinstance(raw_params, Mapping):
        raise ConfigError(f"parameters of {where} must be a mapping of name to type")
    parameters = {str(p): _parameter(str(p), s, where) for p, s in raw_params.items()}
    _check_placeholders(command, parameters, where)
    return EntryPoint(name=name, command=command, parameters=parameters, project_dir=project_dir, source=path)


def _parameter(name: str, spec: Any, where: str) -> Parameter:
    if isinstance(spec, str) or spec is None:
        type_, default = spec or "string", None
    elif isinstance(spec, Mapping):
        type_, default = spec.get("type", "string"), spec.get("default")
    else:
        raise ConfigError(f"parameter '{name}' of {where} must be a type name or {{type, default}}")
    if type_ not in PARAMETER_TYPES:
        raise ConfigError(
            f"parameter '{name}' of {where} has unknown type {type_!r}: use one of {', '.join(PARAMETER_TYPES)}"
        )
    if isinstance(default, (Mapping, list)):
        raise ConfigError(f"default of parameter '{name}' of {where} must be a single value")
    return Parameter(name=name, type=type_, default=None if default is None else str(default))


def _check_placeholders(command: str, parameters: Mapping[str, Parameter], where: str) -> None:
    try:
        fields = list(string.Formatter().parse(command))
    except ValueError as error:
        raise ConfigError(
            f"command of {where} has unbalanced braces ({error}): write {{{{ and }}}} for literal ones"
        ) from None
    for _literal, field, spec, conversion in fields:
        if field is None:
            continue
        if field not in parameters or conversion or spec:
            shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            if field in parameters:
                raise ConfigError(f"command of {where} uses {shown}: write plain {{{field}}}")
            raise ConfigError(f"command of {where} uses {shown}, which is not one of its parameters")


def _substitute(command: str, quoted: Mapping[str, str]) -> str:
    """str.format restricted to plain {name} fields (checked at load), so a value can never be re-formatted."""
    parts = []
    for literal, field, _spec, _conversion in string.Formatter().parse(command):
        parts.append(literal)
        if field is not None:
            parts.append(quoted[field])
    return "".join(parts)
