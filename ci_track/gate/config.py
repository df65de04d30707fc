"""`.ci-track.yml`: the gate's rules, read and validated into frozen dataclasses (no network, no git).

`load_config(path, cwd=...)` reads the file (the given path, else `.ci-track.yml` or `.ci-track.yaml`
in `cwd`; no file means the defaults) and rejects anything it does not understand with a one-line
`ConfigError` that names the file and line: `.ci-track.yml:4: unknown key 'metrcs' (did you mean
'metrics'?)`. `apply_overrides(config, cli, environ)` then layers the command line and the
environment on top. `ci_track/schemas/ci-track.schema.json` describes the same file for editors;
a test keeps the two in step.

Where each setting comes from, first match wins:

    command-line flag  >  CI_TRACK_* environment variable  >  .ci-track.yml  >  default

| setting | flag | environment variable | .ci-track.yml | default |
|---|---|---|---|---|
| experiment | `--experiment` | `CI_TRACK_EXPERIMENT` | `experiment` | `MLFLOW_EXPERIMENT_NAME` |
| base branch | `--base-branch` | `CI_TRACK_BASE_BRANCH` | `base_branch` | PR base, else default branch |
| champion strategies | `--champion-strategy` | `CI_TRACK_CHAMPION_STRATEGY` | `champion.strategy` | see below |
| registered model | `--champion-model` | `CI_TRACK_CHAMPION_MODEL` | `champion.model` | none |
| alias | `--champion-alias` | `CI_TRACK_CHAMPION_ALIAS` | `champion.alias` | `champion` |
| ranking metric | `--champion-metric` | `CI_TRACK_CHAMPION_METRIC` | `champion.metric` | none |
| no champion | `--no-champion` | `CI_TRACK_NO_CHAMPION` | `no_champion` | `pass` |
| missing metric | `--missing` | `CI_TRACK_MISSING` | `missing` | `fail` |
| PR comment | `--comment` | `CI_TRACK_COMMENT` | `comment` | `update` on a PR with a token |
| commit status | `--status`/`--no-status` | `CI_TRACK_STATUS` | `status` | on with a GitHub token |
| whose rules gate a PR | `--rules-from` | `CI_TRACK_RULES_FROM` | `rules_from` (base commit's only) | `base` |

- The experiment has no default of its own: without any of the four, commands fail with exit 2.
- The base branch default (the PR's base branch from the CI context, else the repository's default
  branch) is resolved by the command, not here: `Config.base_branch` is None then.
- `CI_TRACK_CHAMPION_STRATEGY` is a comma list (`alias,latest`). The default strategy list is
  `alias, best, latest` when the file sets `champion.metric`, else `alias, latest`.
- Without a registered model (`champion.model`), `alias` means the run tagged `ci.champion=true`
  by `ci-track promote`; a custom `champion.alias` therefore needs a model.
- `CI_TRACK_STATUS` accepts true/false, 1/0, yes/no, on/off.
- `comment` and `status` are None when nobody set them: the command decides from the context.
An empty environment variable counts as unset (CI systems pass empty inputs as empty strings).
Numeric settings (`max_regression`, `min`, `max`) are read as YAML 1.2 spells numbers (`1e-2` is
0.01, `017` is 17), not as PyYAML's YAML 1.1 does, so ci-track and an editor validating against the
JSON Schema agree; they must be finite.
Metric rules (`metrics:`) and `run:` come only from the file. A metric rule's `aggregate:`
(last | min | max | mean_last_N) says which value of the logged history is judged
(ci_track/gate/aggregates.py). On a pull request the gate takes the gating settings from the base
commit's file, not the checkout's: ci_track/gate/rules.py, which also reads `rules_from`, its
flag and its variable (this module only validates the key).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_track.errors import TOO_DEEP, ConfigError, UsageError
from ci_track.gate import noise_config
from ci_track.gate.noise_config import PromoteConfig
from ci_track.gate.tolerance import NoiseSpecError, RepeatPolicy, Tolerance
from ci_track.vocabulary import CHAMPION_STRATEGIES as STRATEGIES
from ci_track.vocabulary import COMMENT_MODES, MISSING_POLICIES, NO_CHAMPION_POLICIES

if TYPE_CHECKING:
    import yaml

CONFIG_NAMES = (".ci-track.yml", ".ci-track.yaml")

GOALS = ("minimize", "maximize")
SEVERITIES = ("fail", "warn", "info")
TOLERANCE_KINDS = ("absolute", "relative", "none")

# The allowed keys at every level; the JSON Schema must list exactly these (tests/test_config.py).
TOP_LEVEL_KEYS = (
    "experiment",
    "base_branch",
    "champion",
    "no_champion",
    "metrics",
    "missing",
    "run",
    "comment",
    "status",
    "rules_from",
    "promote",  # noise-aware settings (issue 13): ci_track/gate/noise_config.py
    "override_label",
)
CHAMPION_KEYS = ("strategy", "model", "alias", "metric", "drift_window")
METRIC_KEYS = ("goal", "max_regression", "min", "max", "severity", "allow_nan", "aggregate", "max_drift")
RULES_FROM = ("base", "head")
# `aggregate:` values: one value per run out of the metric's logged history (see ci_track/gate/aggregates.py).
AGGREGATES = ("last", "min", "max", "mean_last_N")
_MEAN_LAST = re.compile(r"^mean_last_([1-9][0-9]{0,5})$")
RUN_KEYS = ("tags", "metrics_files", "repeat", "repeat_max")

DEFAULT_ALIAS = "champion"
MAX_EXPERIMENT_NAME_LENGTH = 500  # MLflow's limit (mlflow/utils/validation.py)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")
# Numbers as YAML 1.2's core schema spells them (what editors and the JSON Schema see). PyYAML
# implements YAML 1.1, where `1e-2` (no dot) is a string and `017` is octal 15.
_YAML12_INT = re.compile(r"[-+]?[0-9]+")
_YAML12_OCTAL = re.compile(r"0o[0-7]+")
_YAML12_HEX = re.compile(r"0x[0-9a-fA-F]+")
_YAML12_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_YAML12_INFINITY = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")
_YAML12_NAN = re.compile(r"\.(?:nan|NaN|NAN)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricRule:
    """How one metric is judged. `tolerance` is in the metric's units (absolute) or in percent (relative)."""

    name: str
    goal: str | None = None  # minimize | maximize | None (bounds and NaN checks only)
    tolerance_kind: str = "none"  # absolute | relative | none (no worsening allowed)
    tolerance: float = 0.0
    min: float | None = None
    max: float | None = None
    severity: str = "fail"  # fail | warn | info
    allow_nan: bool = False
    aggregate: str = "last"  # last | min | max | mean_last_<N>: which value of the history (aggregates.py)
    noise: Tolerance | None = None  # a sigma spelling or a mapping of max_regression (noise_config.py)
    max_drift: Tolerance | None = None  # against the best of the last champion.drift_window champions

    def allowed_worsening(self) -> str:
        """The tolerance in words with the sign of a worsening: `+2%`, `-0.01`, `+3sigma`, `none`."""
        if self.goal is not None and self.noise is not None:
            return ("+" if self.goal == "minimize" else "-") + self.noise.describe()
        if self.tolerance_kind == "none" or self.goal is None:
            return "none"
        sign = "+" if self.goal == "minimize" else "-"
        if self.tolerance_kind == "relative":
            return f"{sign}{_plain(self.tolerance)}%"
        return f"{sign}{_plain(self.tolerance)}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChampionConfig:
    strategy: tuple[str, ...] = ("alias", "latest")
    model: str | None = None
    alias: str = DEFAULT_ALIAS
    metric: str | None = None
    drift_window: int = noise_config.DEFAULT_DRIFT_WINDOW  # K promotions max_drift looks back on


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    metrics_files: tuple[str, ...] = ()
    repeat: RepeatPolicy | None = None  # run.repeat (+ repeat_max): None is one run


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    experiment: str | None = None
    base_branch: str | None = None  # None: from the CI context
    champion: ChampionConfig = dataclasses.field(default_factory=ChampionConfig)
    no_champion: str = "pass"
    metrics: Mapping[str, MetricRule] = dataclasses.field(default_factory=dict)
    missing: str = "fail"
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    comment: str | None = None  # None: decided by the context (update on a PR with a token)
    status: bool | None = None  # None: decided by the context (on with a token)
    rules_from: str | None = None  # base | head: whose rules gate a PR (None: base); only the base's file counts
    source: str | None = None  # the file it was read from, for messages
    promote: PromoteConfig = dataclasses.field(default_factory=PromoteConfig)
    override_label: str = noise_config.DEFAULT_OVERRIDE_LABEL  # the PR label that accepts a regression

    def metric_goal(self, name: str | None) -> str | None:
        rule = self.metrics.get(name) if name else None
        return rule.goal if rule else None


def _plain(number: float) -> str:
    return f"{number:g}"


def yaml12_number(text: str) -> float | None:
    """The number a plain YAML 1.2 (core schema) scalar spells, or None when it spells none.

    Accepted: 3, -3, +3, 0o17, 0x1F, 1.5, .5, 1., +1.5, 1e-2, 1E-2, 1.5e+3, .inf, -.inf, .nan.
    """
    if _YAML12_INT.fullmatch(text):
        return float(int(text))
    if _YAML12_OCTAL.fullmatch(text):
        return float(int(text[2:], 8))
    if _YAML12_HEX.fullmatch(text):
        return float(int(text[2:], 16))
    if _YAML12_FLOAT.fullmatch(text):
        return float(text)
    if match := _YAML12_INFINITY.fullmatch(text):
        return -math.inf if match.group(1) == "-" else math.inf
    if _YAML12_NAN.fullmatch(text):
        return math.nan
    return None


# ---------------------------------------------------------------- loading


def find_config_file(cwd: Path) -> Path | None:
    found = [cwd / name for name in CONFIG_NAMES if (cwd / name).is_file()]
    if len(found) > 1:
        raise ConfigError(f"both {CONFIG_NAMES[0]} and {CONFIG_NAMES[1]} exist in {cwd}: keep one")
    return found[0] if found else None


def load_config(path: Path | None, *, cwd: Path) -> Config:
    """The configuration from `path`, else from `.ci-track.yml`/`.ci-track.yaml` in `cwd`, else the defaults."""
    if path is None:
        found = find_config_file(cwd)
        if found is None:
            return Config()
        full, shown = found, found.name
    else:
        full = path if path.is_absolute() else cwd / path
        shown = str(path)
        if not full.is_file():
            raise ConfigError(f"configuration file {shown} does not exist")
    try:
        text = full.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{shown}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ConfigError(f"{shown}: cannot read it ({error.strerror})") from None
    return parse_config(text, source=shown)


def parse_config(text: str, *, source: str = CONFIG_NAMES[0]) -> Config:
    """Validate the YAML text of a configuration file; `source` names it in error messages."""
    try:
        return _parse_config(text, source=source)
    except RecursionError:  # PyYAML composes and constructs recursively
        raise ConfigError(f"{source}: {TOO_DEEP}") from None


def _parse_config(text: str, *, source: str) -> Config:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = str(error.problem or "syntax error")
        if error.context and not str(error.context).startswith("while"):
            problem = f"{error.context}, {problem}"  # "expected a single document in the stream, but found another"
        problem = " ".join(problem.split())
        raise ConfigError(f"{source}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: invalid YAML: {' '.join(str(error).split())}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        return Config(source=source)
    return _Reader(source).config(root)


class _Reader:
    """Turns the composed YAML nodes into a Config, with the node's line in every error."""

    def __init__(self, source: str) -> None:
        import yaml

        self.yaml = yaml
        self.source = source
        self.loader = yaml.SafeLoader("")

    # -- helpers

    def error(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(f"{self.source}:{node.start_mark.line + 1}: {message}")

    def is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, self.yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"

    def value(self, node: yaml.Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except self.yaml.YAMLError as error:
            problem = " ".join(str(getattr(error, "problem", None) or error).split())
            raise self.error(node, f"cannot read this value: {problem}") from None

    def mapping(self, node: yaml.Node, where: str, allowed: Sequence[str] | None) -> dict[str, tuple[Any, Any]]:
        """{key: (key_node, value_node)}; rejects non-mappings, duplicates and (with `allowed`) unknown keys."""
        if not isinstance(node, self.yaml.MappingNode):
            raise self.error(node, f"{where} must be a mapping, got {_show(self.value(node))}")
        self.loader.flatten_mapping(node)  # `<<: *anchor` merge keys
        entries: dict[str, tuple[Any, Any]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, self.yaml.ScalarNode):
                raise self.error(key_node, f"{where} keys must be plain names, got {_show(self.value(key_node))}")
            key = str(key_node.value)
            if key in entries:
                first = entries[key][0].start_mark.line + 1
                raise self.error(key_node, f"duplicate key {key!r} in {where} (first on line {first})")
            if allowed is not None and key not in allowed:
                raise self.error(key_node, _unknown_key(key, allowed, where))
            entries[key] = (key_node, value_node)
        return entries

    def string(self, node: yaml.Node, where: str) -> str | None:
        """A string setting; plain scalars count as their text (`base_branch: 1.10` is "1.10")."""
        if self.is_null(node):
            return None
        if not isinstance(node, self.yaml.ScalarNode):
            raise self.error(node, f"{where} must be a string, got {_show(self.value(node))}")
        text = str(node.value)
        if not text.strip():
            raise self.error(node, f"{where} must not be empty")
        return text

    def choice(self, node: yaml.Node, where: str, choices: Sequence[str]) -> str | None:
        if self.is_null(node):
            return None
        if not isinstance(node, self.yaml.ScalarNode):
            raise self.error(node, f"{where} must be one of {', '.join(choices)}, got {_show(self.value(node))}")
        # Raw text, because YAML 1.1 reads `comment: off` as the boolean false.
        text = str(node.value).strip()
        if text.lower() in choices:
            return text.lower()
        raise self.error(node, _bad_choice(where, text, choices))

    def boolean(self, node: yaml.Node, where: str) -> bool | None:
        if self.is_null(node):
            return None
        value = self.value(node)
        if not isinstance(value, bool):
            raise self.error(node, f"{where} must be true or false, got {_show(value)}")
        return value

    def numeric_value(self, node: yaml.Node) -> Any:
        """A numeric setting's value, read as YAML 1.2 reads it: `1e-2` is 0.01 (PyYAML: a string)."""
        if isinstance(node, self.yaml.ScalarNode) and node.style is None:  # plain, not quoted
            number = yaml12_number(str(node.value))
            if number is not None:
                return number
            if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
                return str(node.value)  # a YAML 1.1-only spelling (1_000, 1:30, 0b1): a string in YAML 1.2
        return self.value(node)

    def number(self, node: yaml.Node, where: str) -> float | None:
        if self.is_null(node):
            return None
        value = self.numeric_value(node)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(node, f"{where} must be a number, got {_show(value)}")
        if not math.isfinite(value):
            raise self.error(node, f"{where} must be a finite number, got {_show(value)}")
        return float(value)

    def noise(self, node: yaml.Node, read: Any, *args: Any) -> Any:
        """`read(value, *args)` of ci_track/gate/noise_config.py, its NoiseSpecError as this node's ConfigError."""
        value = self.numeric_value(node)
        if isinstance(value, float) and _YAML12_INT.fullmatch(str(node.value).strip()):
            value = int(value)  # a count (repeat: 3), not 3.0
        try:
            return read(value, *args)
        except NoiseSpecError as error:
            raise self.error(node, str(error)) from None

    def strings(self, node: yaml.Node, where: str) -> tuple[tuple[str, Any], ...]:
        """A string or a list of strings, each with its node."""
        if self.is_null(node):
            return ()
        items = node.value if isinstance(node, self.yaml.SequenceNode) else [node]
        out = []
        for item in items:
            text = self.string(item, where) if isinstance(item, self.yaml.ScalarNode) else None
            if text is None:
                raise self.error(item, f"{where} must be a string or a list of strings, got {_show(self.value(item))}")
            out.append((text, item))
        return tuple(out)

    # -- sections

    def config(self, root: yaml.Node) -> Config:
        top = self.mapping(root, "the configuration", TOP_LEVEL_KEYS)
        values: dict[str, Any] = {"source": self.source}
        if "experiment" in top:
            values["experiment"] = self.string(top["experiment"][1], "experiment")
        if "base_branch" in top:
            values["base_branch"] = self.string(top["base_branch"][1], "base_branch")
        if "no_champion" in top:
            values["no_champion"] = self.choice(top["no_champion"][1], "no_champion", NO_CHAMPION_POLICIES) or "pass"
        if "missing" in top:
            values["missing"] = self.choice(top["missing"][1], "missing", MISSING_POLICIES) or "fail"
        if "comment" in top:
            values["comment"] = self.choice(top["comment"][1], "comment", COMMENT_MODES)
        if "status" in top:
            values["status"] = self.boolean(top["status"][1], "status")
        if "rules_from" in top:
            values["rules_from"] = self.choice(top["rules_from"][1], "rules_from", RULES_FROM)
        if "override_label" in top:
            values["override_label"] = self.noise(top["override_label"][1], noise_config.override_label)
        if "promote" in top and not self.is_null(top["promote"][1]):
            values["promote"] = noise_config.read_promote(self, top["promote"][1])
        metrics: dict[str, MetricRule] = {}
        if "metrics" in top:
            metrics = self.metrics(top["metrics"][1])
            values["metrics"] = metrics
        if "run" in top:
            values["run"] = self.run(top["run"][1])
        if "champion" in top:
            values["champion"] = self.champion(top["champion"][1], metrics)
        return Config(**values)

    def metrics(self, node: yaml.Node) -> dict[str, MetricRule]:
        if self.is_null(node):
            raise self.error(node, "metrics is empty: list the metrics to gate on, or remove the key")
        entries = self.mapping(node, "metrics", None)
        if not entries:
            raise self.error(node, "metrics is empty: list the metrics to gate on, or remove the key")
        return {name: self.metric_rule(name, value_node) for name, (_, value_node) in entries.items()}

    def metric_rule(self, name: str, node: yaml.Node) -> MetricRule:
        where = f"metrics.{name}"
        if self.is_null(node):
            return MetricRule(name=name)
        fields = self.mapping(node, where, METRIC_KEYS)
        values: dict[str, Any] = {"name": name}
        if "goal" in fields:
            values["goal"] = self.choice(fields["goal"][1], f"{where}.goal", GOALS)
        if "severity" in fields:
            values["severity"] = self.choice(fields["severity"][1], f"{where}.severity", SEVERITIES) or "fail"
        if "allow_nan" in fields:
            values["allow_nan"] = bool(self.boolean(fields["allow_nan"][1], f"{where}.allow_nan"))
        if "aggregate" in fields:
            values["aggregate"] = self.aggregate(fields["aggregate"][1], f"{where}.aggregate")
        for bound in ("min", "max"):
            if bound in fields:
                values[bound] = self.number(fields[bound][1], f"{where}.{bound}")
        if values.get("min") is not None and values.get("max") is not None and values["min"] > values["max"]:
            raise self.error(
                fields["min"][1],
                f"{where}.min ({_plain(values['min'])}) is greater than {where}.max ({_plain(values['max'])})",
            )
        values.update(noise_config.read_max_drift(self, fields, where, goal=values.get("goal")))
        if "max_regression" in fields:
            tolerance_node = fields["max_regression"][1]
            spec = self.noise(tolerance_node, noise_config.noise_spec, f"{where}.max_regression")  # "3sigma"
            if spec is not None:
                values["noise"] = spec
            kind, tolerance = (
                noise_config.fixed_part(spec) if spec else self.tolerance(tolerance_node, f"{where}.max_regression")
            )
            if (kind != "none" or spec is not None) and values.get("goal") is None:
                raise self.error(
                    tolerance_node, f"{where}.max_regression needs {where}.goal (minimize or maximize) to know worse"
                )
            values["tolerance_kind"], values["tolerance"] = kind, tolerance
        return MetricRule(**values)

    def aggregate(self, node: yaml.Node, where: str) -> str:
        if self.is_null(node):
            return "last"
        if not isinstance(node, self.yaml.ScalarNode):
            raise self.error(node, f"{where} {_AGGREGATE_HELP}, got {_show(self.value(node))}")
        text = str(node.value).strip().lower()
        if text in ("last", "min", "max") or _MEAN_LAST.match(text):
            return text
        return self._bad_aggregate(node, where, text)

    def _bad_aggregate(self, node: yaml.Node, where: str, text: str) -> str:
        hint = ""
        if text.startswith("mean"):
            hint = " (the mean of the last N steps is spelled mean_last_N, e.g. mean_last_5)"
        else:
            close = difflib.get_close_matches(text, ("last", "min", "max", "mean_last_5"), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise self.error(node, f"{where} {_AGGREGATE_HELP}, got {text!r}{hint}")

    def tolerance(self, node: yaml.Node, where: str) -> tuple[str, float]:
        if self.is_null(node):
            return "none", 0.0
        value = self.numeric_value(node)
        if isinstance(value, str) and (match := _PERCENT.match(value)):
            return "relative", float(match.group(1))
        if isinstance(value, str) and value.strip().startswith("-") and value.strip().endswith("%"):
            raise self.error(node, f"{where} must not be negative, got {_show(value)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(node, f'{where} must be a number or a percentage like "2%", got {_show(value)}')
        if not math.isfinite(value):
            raise self.error(node, f"{where} must be a finite number, got {_show(value)}")
        if value < 0:
            raise self.error(node, f"{where} must not be negative, got {_show(value)}")
        return "absolute", float(value)

    def run(self, node: yaml.Node) -> RunConfig:
        if self.is_null(node):
            return RunConfig()
        fields = self.mapping(node, "run", RUN_KEYS)
        tags: dict[str, str] = {}
        if "tags" in fields and not self.is_null(fields["tags"][1]):
            for key, (key_node, value_node) in self.mapping(fields["tags"][1], "run.tags", None).items():
                if not key.strip():
                    raise self.error(key_node, "run.tags keys must not be empty")
                if not isinstance(value_node, self.yaml.ScalarNode) or self.is_null(value_node):
                    raise self.error(
                        value_node, f"run.tags.{key} must be a string, got {_show(self.value(value_node))}"
                    )
                tags[key] = str(value_node.value)
        files: tuple[str, ...] = ()
        if "metrics_files" in fields:
            files = tuple(text for text, _ in self.strings(fields["metrics_files"][1], "run.metrics_files"))
        repeat = noise_config.read_repeat(self, fields)  # run.repeat, run.repeat_max
        return RunConfig(tags=tags, metrics_files=files, repeat=repeat)

    def champion(self, node: yaml.Node, metrics: Mapping[str, MetricRule]) -> ChampionConfig:
        if self.is_null(node):
            return ChampionConfig()
        fields = self.mapping(node, "champion", CHAMPION_KEYS)
        model = self.string(fields["model"][1], "champion.model") if "model" in fields else None
        alias = self.string(fields["alias"][1], "champion.alias") if "alias" in fields else None
        metric = self.string(fields["metric"][1], "champion.metric") if "metric" in fields else None
        strategy: tuple[str, ...] | None = None
        if "strategy" in fields:
            strategy_node = fields["strategy"][1]
            names = self.strings(strategy_node, "champion.strategy")
            if not names:
                raise self.error(strategy_node, f"champion.strategy must list at least one of {', '.join(STRATEGIES)}")
            seen: list[str] = []
            for text, item in names:
                if text not in STRATEGIES:
                    raise self.error(item, _bad_choice("champion.strategy", text, STRATEGIES))
                if text in seen:
                    raise self.error(item, f"champion.strategy lists {text!r} twice")
                seen.append(text)
            strategy = tuple(seen)
        champion = make_champion(strategy=strategy, model=model, alias=alias, metric=metric)
        if "drift_window" in fields:
            window = self.noise(fields["drift_window"][1], noise_config.drift_window)
            champion = dataclasses.replace(champion, drift_window=window)
        problem = champion_problem(champion, metrics)
        if problem is not None:
            field, message = problem
            culprit = fields.get(field) or fields.get("strategy") or (None, node)
            raise self.error(culprit[1], message)
        return champion


def make_champion(
    *, strategy: Sequence[str] | None, model: str | None, alias: str | None, metric: str | None
) -> ChampionConfig:
    """A ChampionConfig with the defaults filled in (the strategy default depends on `metric`)."""
    if strategy is None:
        strategy = ("alias", "best", "latest") if metric else ("alias", "latest")
    return ChampionConfig(strategy=tuple(strategy), model=model, alias=alias or DEFAULT_ALIAS, metric=metric)


def champion_problem(champion: ChampionConfig, metrics: Mapping[str, MetricRule]) -> tuple[str, str] | None:
    """(offending field, message) when the champion settings cannot work together, else None."""
    if champion.alias != DEFAULT_ALIAS and not champion.model:
        return (
            "alias",
            f"champion.alias {champion.alias!r} needs champion.model (an alias belongs to a registered model; "
            "without one the champion is the run tagged ci.champion=true)",
        )
    if "best" in champion.strategy:
        if not champion.metric:
            return "strategy", "champion.strategy 'best' needs champion.metric (the metric that ranks the runs)"
        if champion.metric not in metrics:
            return (
                "metric",
                f"champion.metric {champion.metric!r} is not under metrics: add metrics.{champion.metric} with a goal",
            )
        if metrics[champion.metric].goal is None:
            return (
                "metric",
                f"champion.metric {champion.metric!r} needs metrics.{champion.metric}.goal (minimize or maximize)",
            )
    return None


_AGGREGATE_HELP = "must be last, min, max or mean_last_N (N from 1 to 999999)"


def _unknown_key(key: str, allowed: Sequence[str], where: str) -> str:
    place = "" if where == "the configuration" else f" in {where}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r}{place} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r}{place} (valid keys: {', '.join(allowed)})"


def _bad_choice(where: str, text: str, choices: Sequence[str]) -> str:
    return f"{where} {_one_of(text, choices)}"


def _one_of(text: str, choices: Sequence[str]) -> str:
    message = f"must be one of {', '.join(choices)}, got {text!r}"
    close = difflib.get_close_matches(text.lower(), choices, n=1)
    return f"{message} (did you mean {close[0]!r}?)" if close else message


def _show(value: Any) -> str:
    """A value as the user would write it in YAML/JSON: [1], {'a': 1}, 'text', true, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k)}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- overrides

# cli key -> environment variable; `cli` keys are the argparse dests of the flags.
OVERRIDE_VARIABLES = {
    "experiment": "CI_TRACK_EXPERIMENT",
    "base_branch": "CI_TRACK_BASE_BRANCH",
    "no_champion": "CI_TRACK_NO_CHAMPION",
    "missing": "CI_TRACK_MISSING",
    "champion_strategy": "CI_TRACK_CHAMPION_STRATEGY",
    "champion_model": "CI_TRACK_CHAMPION_MODEL",
    "champion_alias": "CI_TRACK_CHAMPION_ALIAS",
    "champion_metric": "CI_TRACK_CHAMPION_METRIC",
    "comment": "CI_TRACK_COMMENT",
    "status": "CI_TRACK_STATUS",
    "override_label": "CI_TRACK_OVERRIDE_LABEL",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def apply_overrides(config: Config, cli: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """`config` with command-line values (None = not given) and CI_TRACK_* variables applied.

    Precedence: command line > environment > file > defaults; MLFLOW_EXPERIMENT_NAME is the last
    fallback for the experiment. Bad values fail with the flag's or the variable's name.
    """
    unknown = set(cli) - set(OVERRIDE_VARIABLES)
    if unknown:
        raise ValueError(f"apply_overrides: unknown keys {sorted(unknown)}")  # a programming error, not the user's

    def pick(key: str) -> tuple[Any, str] | None:
        """(raw value, where it came from) of the highest-precedence override, or None."""
        value = cli.get(key)
        if value is not None and value != "" and value != ():
            return value, "--" + key.replace("_", "-")
        variable = OVERRIDE_VARIABLES[key]
        text = environ.get(variable, "")
        if text.strip():
            return text.strip(), variable
        return None

    def error(origin: str, message: str) -> UsageError:
        return UsageError(f"{origin} {message}") if origin.startswith("--") else ConfigError(f"{origin} {message}")

    def choice(key: str, choices: Sequence[str], current: Any) -> Any:
        picked = pick(key)
        if picked is None:
            return current
        value, origin = picked
        text = str(value).strip().lower()
        if text not in choices:
            raise error(origin, _one_of(str(value), choices))
        return text

    def text(key: str, current: str | None) -> str | None:
        picked = pick(key)
        return current if picked is None else str(picked[0])

    experiment = text("experiment", config.experiment)
    if experiment is None and environ.get("MLFLOW_EXPERIMENT_NAME", "").strip():
        experiment = environ["MLFLOW_EXPERIMENT_NAME"].strip()

    status = config.status
    picked_status = pick("status")
    if picked_status is not None:
        value, origin = picked_status
        if isinstance(value, bool):
            status = value
        elif str(value).strip().lower() in _TRUE:
            status = True
        elif str(value).strip().lower() in _FALSE:
            status = False
        else:
            raise error(origin, f"must be true or false, got {value!r}")

    champion = config.champion
    picked_strategy = pick("champion_strategy")
    strategy = champion.strategy
    strategy_origin = "champion.strategy"
    if picked_strategy is not None:
        value, strategy_origin = picked_strategy
        names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
        names = [n for n in names if n]
        for name in names:
            if name not in STRATEGIES:
                raise error(strategy_origin, f"names an unknown strategy: {_one_of(name, STRATEGIES)}")
        if not names or len(set(names)) != len(names):
            raise error(strategy_origin, f"must list each of {', '.join(STRATEGIES)} at most once, got {value!r}")
        strategy = tuple(names)
    new_champion = make_champion(
        strategy=strategy,
        model=text("champion_model", champion.model),
        alias=text("champion_alias", champion.alias),
        metric=text("champion_metric", champion.metric),
    )
    new_champion = dataclasses.replace(new_champion, drift_window=champion.drift_window)
    label = noise_config.override_label_from(pick("override_label"), error, config.override_label)
    problem = champion_problem(new_champion, config.metrics)
    if problem is not None:
        field, message = problem
        origin = {
            "strategy": strategy_origin,
            "metric": _origin_of(pick("champion_metric"), "champion.metric"),
            "alias": _origin_of(pick("champion_alias"), "champion.alias"),
        }[field]
        where = "" if origin.startswith("champion.") else f" (from {origin})"
        raise ConfigError(f"{message}{where}")

    return dataclasses.replace(
        config,
        experiment=experiment,
        base_branch=text("base_branch", config.base_branch),
        no_champion=choice("no_champion", NO_CHAMPION_POLICIES, config.no_champion),
        missing=choice("missing", MISSING_POLICIES, config.missing),
        comment=choice("comment", COMMENT_MODES, config.comment),
        status=status,
        champion=new_champion,
        override_label=label,
    )


def _origin_of(picked: tuple[Any, str] | None, default: str) -> str:
    return default if picked is None else picked[1]


def effective_config(path: str | None, *, cwd: Path, cli: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """The file (or defaults) with the command line and CI_TRACK_* variables applied: what a command uses."""
    return apply_overrides(load_config(Path(path) if path else None, cwd=cwd), cli, environ)


def require_experiment(config: Config) -> str:
    if not config.experiment:
        raise UsageError(
            "no experiment: pass --experiment, set CI_TRACK_EXPERIMENT, or put `experiment:` in .ci-track.yml"
        )
    if len(config.experiment) > MAX_EXPERIMENT_NAME_LENGTH:
        # checked here: the server's refusal would be a 400 after a run was half set up (exit 3)
        raise UsageError(
            f"the experiment name is {len(config.experiment)} characters long, more than MLflow's limit of "
            f"{MAX_EXPERIMENT_NAME_LENGTH}: choose a shorter one"
        )
    return config.experiment
