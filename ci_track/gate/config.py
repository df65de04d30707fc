"""`.ci-track.yml`: the gate's rules, read and validated into frozen dataclasses (no network, no git).

`load_config(path, cwd=...)` reads the file (the given path, else `.ci-track.yml` or `.ci-track.yaml`
in `cwd`; no file means the defaults) and rejects anything it does not understand with a one-line
`ConfigError` that names the file and line: `.ci-track.yml:4: unknown key 'metrcs' (did you mean
'metrics'?)`. `apply_overrides(config, cli, environ)` (gate/overrides.py) then layers the command line and the
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
| report key | `--key` | `CI_TRACK_KEY` | `report.key` | the experiment |
| charts | `--no-charts` | `CI_TRACK_CHARTS` | `report.charts` | on (off when the report goes to Bitbucket) |

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
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ci_track.errors import TOO_DEEP, ConfigError, UsageError
from ci_track.gate import noise_config
from ci_track.gate.noise_config import PromoteConfig
from ci_track.gate.tolerance import RepeatPolicy, Tolerance
from ci_track.vocabulary import CHAMPION_STRATEGIES as STRATEGIES

if TYPE_CHECKING:
    pass

CONFIG_NAMES = (".ci-track.yml", ".ci-track.yaml")

GOALS = ("minimize", "maximize")
SEVERITIES = ("fail", "warn", "info")
TOLERANCE_KINDS = ("absolute", "relative", "none")

# The allowed keys at every level; the JSON Schema must list exactly these (tests/unit/test_config.py).
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
    "report",  # the charts and the report key (issue 14)
)
CHAMPION_KEYS = ("strategy", "model", "alias", "metric", "drift_window")
METRIC_KEYS = ("goal", "max_regression", "min", "max", "severity", "allow_nan", "aggregate", "max_drift")
RULES_FROM = ("base", "head")
# `aggregate:` values: one value per run out of the metric's logged history (see ci_track/gate/aggregates.py).
AGGREGATES = ("last", "min", "max", "mean_last_N")
MEAN_LAST = re.compile(r"^mean_last_([1-9][0-9]{0,5})$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # run.env_inputs entries
RUN_KEYS = ("tags", "metrics_files", "repeat", "repeat_max", "inputs", "env_inputs", "reuse")
REPORT_KEYS = ("key", "charts")

DEFAULT_ALIAS = "champion"
MAX_EXPERIMENT_NAME_LENGTH = 500  # MLflow's limit (mlflow/utils/validation.py)
PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")
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
            return f"{sign}{plain_number(self.tolerance)}%"
        return f"{sign}{plain_number(self.tolerance)}"


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
    # Training reuse (docs/reuse.md): what the training depends on, and whether to skip it when unchanged.
    inputs: tuple[str, ...] = ()  # paths/globs, relative to the run's directory
    env_inputs: tuple[str, ...] = ()  # environment variable names (their values are hashed)
    reuse: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportConfig:
    """How the report is published (not gating: a PR's own file decides it, like `comment` and `status`)."""

    key: str | None = None  # the sticky comment's marker and the status context ci-track/<key>; None: the experiment
    # the trend charts and training curves in the markdown report; None (not set anywhere): on, except
    # where the comment cannot draw Mermaid (Bitbucket: `charts_for`)
    charts: bool | None = None

    def charts_for(self, forge: str) -> bool:
        """Whether the report of a compare publishing to `forge` carries charts."""
        return self.charts if self.charts is not None else forge != "bitbucket"


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
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)

    @property
    def report_key(self) -> str | None:
        """The key the report is published under: `report.key`, else the experiment."""
        return self.report.key or self.experiment

    def metric_goal(self, name: str | None) -> str | None:
        rule = self.metrics.get(name) if name else None
        return rule.goal if rule else None


def plain_number(number: float) -> str:
    return f"{number:g}"


def yaml12_int(text: str) -> bool:
    """Whether a plain YAML 1.2 scalar spells an integer (a count such as `repeat: 3`)."""
    return _YAML12_INT.fullmatch(text) is not None


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
    from ci_track.gate.config_reader import ConfigReader

    return ConfigReader(source).config(root)


def make_champion(
    *, strategy: Sequence[str] | None, model: str | None, alias: str | None, metric: str | None
) -> ChampionConfig:
    """A ChampionConfig with the defaults filled in (the strategy default depends on `metric`)."""
    if strategy is None:
        strategy = ("alias", "best", "latest") if metric else ("alias", "latest")
    return ChampionConfig(strategy=tuple(strategy), model=model, alias=alias or DEFAULT_ALIAS, metric=metric)


def strategy_problem(names: Sequence[str]) -> tuple[str, int] | None:
    """Why `names` is not a champion strategy list, as (kind, index of the culprit), else None.

    kind: `unknown` (a name not in CHAMPION_STRATEGIES; checked first, a typo says the most),
    `empty` (index -1), `repeated` (a name given twice). The YAML reader and the overrides share it
    and word the problem each for its own source.
    """
    for index, name in enumerate(names):
        if name not in STRATEGIES:
            return "unknown", index
    if not names:
        return "empty", -1
    for index, name in enumerate(names):
        if name in names[:index]:
            return "repeated", index
    return None


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


# ---------------------------------------------------------------- overrides


def effective_config(path: str | None, *, cwd: Path, cli: Mapping[str, Any], environ: Mapping[str, str]) -> Config:
    """The file (or defaults) with the command line and CI_TRACK_* variables applied: what a command uses."""
    from ci_track.gate.overrides import apply_overrides

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
