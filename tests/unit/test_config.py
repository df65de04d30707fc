"""`.ci-track.yml`: loading, one-line errors with line numbers, overrides, and agreement with the JSON Schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ci_track import vocabulary
from ci_track.errors import ConfigError, UsageError
from ci_track.gate import config as config_module
from ci_track.gate.config import (
    ChampionConfig,
    Config,
    MetricRule,
    RunConfig,
    load_config,
    parse_config,
    strategy_problem,
)
from ci_track.gate.overrides import OVERRIDE_VARIABLES, apply_overrides

EXAMPLE = """\
experiment: wine-quality
base_branch: main            # default: PR base from CI context, else repo default branch
champion:
  strategy: [alias, best, latest]   # tried in order (also accepts a single string)
  model: wine-elasticnet            # registered model, for alias (and promote registers versions there)
  alias: champion                   # default "champion"
  metric: rmse                      # for best; its goal comes from metrics.<metric>.goal (required then)
no_champion: pass            # pass | fail
metrics:
  rmse: {goal: minimize, max_regression: "2%"}          # relative tolerance (string with %)
  r2:   {goal: maximize, max_regression: 0.01, min: 0.30}   # absolute tolerance, hard floor; also max:
  mae:  {goal: minimize, severity: warn}                # fail (default) | warn | info
  train_time_s: {goal: minimize, severity: info}
  # per-metric also: allow_nan: false (default; NaN/inf is a failure of that metric)
missing: fail                # configured metric absent from the candidate: fail | warn
run:
  tags: {team: ml}           # extra tags `ci-track run` sets
  metrics_files: [metrics.json]
comment: update              # update | new | delete-on-pass | off
status: true
"""


def schema() -> dict[str, Any]:
    text = resources.files("ci_track").joinpath("schemas/ci-track.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def schema_errors(text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema())
    return [error.message for error in validator.iter_errors(yaml.safe_load(text))]


# ---------------------------------------------------------------- the documented example


def test_documented_example_loads_into_frozen_dataclasses() -> None:
    config = parse_config(EXAMPLE)
    assert config == Config(
        experiment="wine-quality",
        base_branch="main",
        champion=ChampionConfig(
            strategy=("alias", "best", "latest"), model="wine-elasticnet", alias="champion", metric="rmse"
        ),
        no_champion="pass",
        metrics={
            "rmse": MetricRule(name="rmse", goal="minimize", tolerance_kind="relative", tolerance=2.0),
            "r2": MetricRule(name="r2", goal="maximize", tolerance_kind="absolute", tolerance=0.01, min=0.30),
            "mae": MetricRule(name="mae", goal="minimize", severity="warn"),
            "train_time_s": MetricRule(name="train_time_s", goal="minimize", severity="info"),
        },
        missing="fail",
        run=RunConfig(tags={"team": "ml"}, metrics_files=("metrics.json",)),
        comment="update",
        status=True,
        source=".ci-track.yml",
    )
    with pytest.raises(AttributeError):
        config.experiment = "other"  # type: ignore[misc]
    assert list(config.metrics) == ["rmse", "r2", "mae", "train_time_s"]  # file order is report order


def test_documented_example_is_valid_against_the_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema_errors(EXAMPLE) == []


def _schema_keys(node: dict[str, Any]) -> set[str]:
    assert node.get("additionalProperties") is False, "every object level of the schema must reject unknown keys"
    return set(node["properties"])


def test_schema_and_loader_allow_the_same_keys_at_every_level() -> None:
    root = schema()
    assert _schema_keys(root) == set(config_module.TOP_LEVEL_KEYS)
    assert _schema_keys(root["properties"]["champion"]) == set(config_module.CHAMPION_KEYS)
    assert _schema_keys(root["properties"]["run"]) == set(config_module.RUN_KEYS)
    assert _schema_keys(root["$defs"]["metric_rule"]) == set(config_module.METRIC_KEYS)
    assert root["properties"]["metrics"]["additionalProperties"] == {"$ref": "#/$defs/metric_rule"}


def test_schema_and_loader_agree_on_the_allowed_values() -> None:
    root = schema()
    rule = root["$defs"]["metric_rule"]["properties"]
    assert tuple(rule["goal"]["enum"]) == config_module.GOALS
    assert tuple(rule["severity"]["enum"]) == config_module.SEVERITIES
    assert tuple(root["$defs"]["strategy"]["enum"]) == vocabulary.CHAMPION_STRATEGIES
    assert tuple(root["properties"]["no_champion"]["enum"]) == vocabulary.NO_CHAMPION_POLICIES
    assert tuple(root["properties"]["missing"]["enum"]) == vocabulary.MISSING_POLICIES
    assert tuple(v for v in root["properties"]["comment"]["enum"] if v is not False) == vocabulary.COMMENT_MODES


@pytest.mark.parametrize(
    "text",
    [
        "metrcs: {rmse: {goal: minimize}}",
        "metrics: {rmse: {goal: minimise}}",
        "metrics: {rmse: {goal: minimize, max_regression: [1]}}",
        "metrics: {rmse: {goal: minimize, max_regression: -1}}",
        "metrics: {rmse: {goal: minimize, max_regression: 'two percent'}}",
        "metrics: {}",
        "champion: {strategy: [bset]}",
        "champion: {strategy: []}",
        "champion: {stratgy: best}",
        "run: {tag: {a: b}}",
        "no_champion: maybe",
        "status: 3",
    ],
)
def test_schema_rejects_what_the_loader_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text)
    assert schema_errors(text), f"the schema accepts {text!r} but the loader rejects it"


# ---------------------------------------------------------------- finding the file


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    config = load_config(None, cwd=tmp_path)
    assert config == Config()
    assert config.no_champion == "pass"
    assert config.missing == "fail"
    assert config.champion == ChampionConfig(strategy=("alias", "latest"), model=None, alias="champion", metric=None)
    assert config.metrics == {}
    assert config.comment is None
    assert config.status is None


def test_ci_track_yaml_extension_is_found_too(tmp_path: Path) -> None:
    (tmp_path / ".ci-track.yaml").write_text("experiment: from-yaml\n")
    assert load_config(None, cwd=tmp_path).experiment == "from-yaml"


def test_both_file_names_present_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".ci-track.yml").write_text("experiment: a\n")
    (tmp_path / ".ci-track.yaml").write_text("experiment: b\n")
    with pytest.raises(ConfigError, match=r"both \.ci-track\.yml and \.ci-track\.yaml exist"):
        load_config(None, cwd=tmp_path)


def test_explicit_path_is_read_relative_to_cwd_and_named_in_errors(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gate.yml").write_text("experiment: x\nmetrics:\n  rmse: {goal: up}\n")
    with pytest.raises(ConfigError) as error:
        load_config(Path("conf/gate.yml"), cwd=tmp_path)
    assert str(error.value) == "conf/gate.yml:3: metrics.rmse.goal must be one of minimize, maximize, got 'up'"


def test_explicit_path_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^configuration file missing\.yml does not exist$"):
        load_config(Path("missing.yml"), cwd=tmp_path)


def test_empty_file_means_the_defaults(tmp_path: Path) -> None:
    (tmp_path / ".ci-track.yml").write_text("# nothing configured yet\n")
    assert load_config(None, cwd=tmp_path) == Config(source=".ci-track.yml")


def test_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".ci-track.yml").write_bytes(b"experiment: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"^\.ci-track\.yml: not UTF-8 text"):
        load_config(None, cwd=tmp_path)


# ---------------------------------------------------------------- errors: one line, file and line number

BAD_CONFIGS = [
    ("metrcs:\n  rmse: {goal: minimize}\n", ".ci-track.yml:1: unknown key 'metrcs' (did you mean 'metrics'?)"),
    (
        "experiment: x\nmetrics:\n  rmse: {goal: minimize, max_regression: [1]}\n",
        '.ci-track.yml:3: metrics.rmse.max_regression must be a number or a percentage like "2%", got [1]',
    ),
    (
        "metrics:\n  rmse:\n    goal: minimize\n    max_regresion: 0.1\n",
        ".ci-track.yml:4: unknown key 'max_regresion' in metrics.rmse (did you mean 'max_regression'?)",
    ),
    (
        "metrics:\n  rmse: {goal: minimize, max_regression: -0.5}\n",
        ".ci-track.yml:2: metrics.rmse.max_regression must not be negative, got -0.5",
    ),
    (
        "metrics:\n  rmse: {goal: minimize, max_regression: '-2%'}\n",
        ".ci-track.yml:2: metrics.rmse.max_regression must not be negative, got '-2%'",
    ),
    (
        "metrics:\n  r2:\n    goal: maximize\n    min: 0.9\n    max: 0.5\n",
        ".ci-track.yml:4: metrics.r2.min (0.9) is greater than metrics.r2.max (0.5)",
    ),
    (
        "metrics:\n  r2: {goal: maximise}\n",
        ".ci-track.yml:2: metrics.r2.goal must be one of minimize, maximize, got 'maximise' (did you mean 'maximize'?)",
    ),
    (
        "metrics:\n  r2: {goal: maximize, severity: error}\n",
        ".ci-track.yml:2: metrics.r2.severity must be one of fail, warn, info, got 'error'",
    ),
    ("metrics: {}\n", ".ci-track.yml:1: metrics is empty: list the metrics to gate on, or remove the key"),
    ("metrics:\n", ".ci-track.yml:1: metrics is empty: list the metrics to gate on, or remove the key"),
    (
        "champion:\n  strategy: [alias, bset]\n",
        ".ci-track.yml:2: champion.strategy must be one of alias, best, latest, got 'bset' (did you mean 'best'?)",
    ),
    ("champion:\n  strategy: [alias, alias]\n", ".ci-track.yml:2: champion.strategy lists 'alias' twice"),
    (
        "champion:\n  strategy: best\n",
        ".ci-track.yml:2: champion.strategy 'best' needs champion.metric (the metric that ranks the runs)",
    ),
    (
        "champion:\n  strategy: [best]\n  metric: accuracy\nmetrics:\n  rmse: {goal: minimize}\n",
        ".ci-track.yml:3: champion.metric 'accuracy' is not under metrics: add metrics.accuracy with a goal",
    ),
    (
        "champion:\n  strategy: [best]\n  metric: rmse\nmetrics:\n  rmse: {max: 3}\n",
        ".ci-track.yml:3: champion.metric 'rmse' needs metrics.rmse.goal (minimize or maximize)",
    ),
    (
        "champion:\n  strategy: alias\n  alias: production\n",
        ".ci-track.yml:3: champion.alias 'production' needs champion.model (an alias belongs to a registered model; "
        "without one the champion is the run tagged ci.champion=true)",
    ),
    (
        "metrics:\n  rmse: {max_regression: 0.1}\n",
        ".ci-track.yml:2: metrics.rmse.max_regression needs metrics.rmse.goal (minimize or maximize) to know worse",
    ),
    (
        "metrics:\n  rmse: {goal: minimize, min: .nan}\n",
        ".ci-track.yml:2: metrics.rmse.min must be a finite number, got .nan",
    ),
    ("metrics:\n  rmse: {goal: minimize, max: '3'}\n", ".ci-track.yml:2: metrics.rmse.max must be a number, got '3'"),
    (
        "metrics:\n  rmse: {goal: minimize, allow_nan: 1}\n",
        ".ci-track.yml:2: metrics.rmse.allow_nan must be true or false, got 1",
    ),
    ("no_champion: skip\n", ".ci-track.yml:1: no_champion must be one of pass, fail, got 'skip'"),
    ("missing: warning\n", ".ci-track.yml:1: missing must be one of fail, warn, got 'warning' (did you mean 'warn'?)"),
    ("comment: sticky\n", ".ci-track.yml:1: comment must be one of update, new, delete-on-pass, off, got 'sticky'"),
    ("status: maybe\n", ".ci-track.yml:1: status must be true or false, got 'maybe'"),
    ("experiment: [a, b]\n", ".ci-track.yml:1: experiment must be a string, got ['a', 'b']"),
    ("experiment: ''\n", ".ci-track.yml:1: experiment must not be empty"),
    ("run:\n  tags: {team: [ml]}\n", ".ci-track.yml:2: run.tags.team must be a string, got ['ml']"),
    (
        "run:\n  metrics_files: {a: b}\n",
        ".ci-track.yml:2: run.metrics_files must be a string or a list of strings, got {'a': 'b'}",
    ),
    ("champion: [alias]\n", ".ci-track.yml:1: champion must be a mapping, got ['alias']"),
    ("- experiment\n", ".ci-track.yml:1: the configuration must be a mapping, got ['experiment']"),
    (
        "experiment: a\nexperiment: b\n",
        ".ci-track.yml:2: duplicate key 'experiment' in the configuration (first on line 1)",
    ),
    (
        "color: blue\n",
        ".ci-track.yml:1: unknown key 'color' (valid keys: experiment, base_branch, champion, no_champion, "
        "metrics, missing, run, comment, status, rules_from, promote, override_label, report)",
    ),
    ("experiment: x\nmetrics: [rmse\n", ".ci-track.yml:3: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ("experiment: x\n  bad indent: y\n", ".ci-track.yml:2: invalid YAML: mapping values are not allowed here"),
    (
        "experiment: a\n---\nexperiment: b\n",
        ".ci-track.yml:2: invalid YAML: expected a single document in the stream, but found another document",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONFIGS, ids=[m.split(": ", 1)[1][:50] for _, m in BAD_CONFIGS])
def test_invalid_configuration_fails_with_one_precise_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    assert str(error.value) == message
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------- YAML quirks the loader smooths over


def test_bare_off_for_comment_means_off_although_yaml_reads_it_as_false() -> None:
    assert parse_config("comment: off\n").comment == "off"
    assert schema_errors("comment: off\n") == []


def test_a_numeric_looking_branch_keeps_its_text() -> None:
    # YAML would read 1.10 as the float 1.1; the branch is called "1.10".
    assert parse_config("base_branch: 1.10\n").base_branch == "1.10"


@pytest.mark.parametrize(
    ("spelling", "value"),
    [
        ("1e-2", 0.01),  # YAML 1.1 (PyYAML) reads this as a string
        ("1E-2", 0.01),
        ("1e2", 100.0),  # YAML 1.1 wants a signed exponent and a dot
        ("2.5e+1", 25.0),
        ("+1.5", 1.5),
        (".5", 0.5),
        ("1.", 1.0),
        ("017", 17.0),  # YAML 1.1 would read octal 15
        ("0o17", 15.0),
        ("0x1F", 31.0),
        ("-0.25", -0.25),
        ("3", 3.0),
    ],
)
def test_numbers_are_read_as_yaml_1_2_spells_them(spelling: str, value: float) -> None:
    config = parse_config(
        f"metrics:\n  r2: {{goal: maximize, max_regression: {spelling.lstrip('-')}, min: {spelling}}}\n"
    )
    rule = config.metrics["r2"]
    assert (rule.tolerance_kind, rule.tolerance) == ("absolute", abs(value))
    assert rule.min == value
    assert parse_config(f"metrics:\n  r2: {{max: {spelling}}}\n").metrics["r2"].max == value


@pytest.mark.parametrize(
    ("spelling", "message"),
    [
        (".inf", "max_regression must be a finite number, got .inf"),  # "any worsening" is severity: info
        ("-.inf", "max_regression must be a finite number, got -.inf"),
        (".NaN", "max_regression must be a finite number, got .nan"),
        ("'1e-2'", "max_regression must be a number or a percentage like \"2%\", got '1e-2'"),  # quoted: a string
        ("1_000", "max_regression must be a number or a percentage like \"2%\", got '1_000'"),  # YAML 1.1 only
        ("1:30", "max_regression must be a number or a percentage like \"2%\", got '1:30'"),  # sexagesimal, 1.1
        ("1e", "max_regression must be a number or a percentage like \"2%\", got '1e'"),
    ],
)
def test_numbers_yaml_1_2_does_not_spell_are_refused(spelling: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"metrics:\n  r2: {{goal: maximize, max_regression: {spelling}}}\n")
    assert str(raised.value) == f".ci-track.yml:2: metrics.r2.{message}"


def test_bounds_refuse_infinity_and_yaml_1_1_spellings() -> None:
    with pytest.raises(ConfigError, match=r"metrics.r2.max must be a finite number, got .inf"):
        parse_config("metrics:\n  r2: {max: .Inf}\n")
    with pytest.raises(ConfigError, match=r"metrics.r2.min must be a number, got '1_0'"):
        parse_config("metrics:\n  r2: {min: 1_0}\n")


def test_single_strategy_string_and_merge_keys_are_accepted() -> None:
    text = "defaults: &strict {goal: minimize, max_regression: '1%'}\n"  # an anchor under an unknown key is rejected...
    with pytest.raises(ConfigError, match="unknown key 'defaults'"):
        parse_config(text)
    config = parse_config(
        "champion: {strategy: latest}\n"
        "metrics:\n"
        "  rmse: &strict {goal: minimize, max_regression: '1%'}\n"
        "  mae: {<<: *strict, severity: warn}\n"
    )
    assert config.champion.strategy == ("latest",)
    assert config.metrics["mae"] == MetricRule(
        name="mae", goal="minimize", tolerance_kind="relative", tolerance=1.0, severity="warn"
    )


def test_a_metric_without_rule_is_tracked_with_no_direction() -> None:
    config = parse_config("metrics:\n  loss:\n  acc: {min: 0.5}\n")
    assert config.metrics["loss"] == MetricRule(name="loss")
    assert config.metrics["acc"] == MetricRule(name="acc", min=0.5)


def test_percent_tolerance_allows_spaces_and_decimals() -> None:
    config = parse_config("metrics:\n  rmse: {goal: minimize, max_regression: ' 2.5 %'}\n")
    assert (config.metrics["rmse"].tolerance_kind, config.metrics["rmse"].tolerance) == ("relative", 2.5)
    assert config.metrics["rmse"].allowed_worsening() == "+2.5%"


def test_allowed_worsening_is_signed_by_goal() -> None:
    config = parse_config(EXAMPLE)
    assert config.metrics["rmse"].allowed_worsening() == "+2%"
    assert config.metrics["r2"].allowed_worsening() == "-0.01"
    assert config.metrics["mae"].allowed_worsening() == "none"


def test_default_strategy_includes_best_only_when_a_metric_is_set() -> None:
    with_metric = parse_config("champion: {metric: rmse}\nmetrics: {rmse: {goal: minimize}}\n")
    assert with_metric.champion.strategy == ("alias", "best", "latest")
    assert parse_config("champion: {model: m}\n").champion.strategy == ("alias", "latest")


def test_run_tags_are_strings() -> None:
    config = parse_config("run:\n  tags: {team: ml, tier: 2, gpu: false}\n  metrics_files: out/metrics.json\n")
    assert config.run == RunConfig(
        tags={"team": "ml", "tier": "2", "gpu": "false"}, metrics_files=("out/metrics.json",)
    )


# ---------------------------------------------------------------- overrides


def test_precedence_is_flag_then_environment_then_file_then_default() -> None:
    config = parse_config("experiment: from-file\nmissing: warn\nno_champion: fail\n")
    environ = {"CI_TRACK_EXPERIMENT": "from-env", "CI_TRACK_MISSING": "fail", "MLFLOW_EXPERIMENT_NAME": "mlflow"}
    assert apply_overrides(config, {}, environ).experiment == "from-env"
    assert apply_overrides(config, {"experiment": "from-flag"}, environ).experiment == "from-flag"
    assert apply_overrides(config, {"experiment": None}, {}).experiment == "from-file"
    assert apply_overrides(Config(), {}, {"MLFLOW_EXPERIMENT_NAME": "mlflow"}).experiment == "mlflow"
    assert apply_overrides(Config(), {}, {}).experiment is None
    overridden = apply_overrides(config, {"no_champion": "pass"}, environ)
    assert (overridden.missing, overridden.no_champion) == ("fail", "pass")


def test_every_documented_variable_overrides_its_setting() -> None:
    config = parse_config(EXAMPLE)
    environ = {
        "CI_TRACK_EXPERIMENT": "e",
        "CI_TRACK_BASE_BRANCH": "develop",
        "CI_TRACK_NO_CHAMPION": "fail",
        "CI_TRACK_MISSING": "warn",
        "CI_TRACK_CHAMPION_STRATEGY": "latest, alias",
        "CI_TRACK_CHAMPION_MODEL": "other-model",
        "CI_TRACK_CHAMPION_ALIAS": "prod",
        "CI_TRACK_CHAMPION_METRIC": "r2",
        "CI_TRACK_COMMENT": "delete-on-pass",
        "CI_TRACK_STATUS": "off",
    }
    result = apply_overrides(config, {}, environ)
    assert result.experiment == "e"
    assert result.base_branch == "develop"
    assert (result.no_champion, result.missing, result.comment, result.status) == (
        "fail",
        "warn",
        "delete-on-pass",
        False,
    )
    assert result.champion == ChampionConfig(
        strategy=("latest", "alias"), model="other-model", alias="prod", metric="r2"
    )
    assert result.metrics == config.metrics  # rules come only from the file


def test_empty_environment_variables_count_as_unset() -> None:
    config = parse_config(EXAMPLE)
    environ = {name: "" for name in OVERRIDE_VARIABLES.values()}
    assert apply_overrides(config, {}, environ) == config


def test_flags_win_over_environment_for_status_and_strategy() -> None:
    config = parse_config(EXAMPLE)
    environ = {"CI_TRACK_STATUS": "true", "CI_TRACK_CHAMPION_STRATEGY": "alias"}
    result = apply_overrides(config, {"status": False, "champion_strategy": ["latest"]}, environ)
    assert result.status is False
    assert result.champion.strategy == ("latest",)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CI_TRACK_MISSING": "wran"}, "CI_TRACK_MISSING must be one of fail, warn, got 'wran' (did you mean 'warn'?)"),
        ({"CI_TRACK_NO_CHAMPION": "skip"}, "CI_TRACK_NO_CHAMPION must be one of pass, fail, got 'skip'"),
        ({"CI_TRACK_STATUS": "sometimes"}, "CI_TRACK_STATUS must be true or false, got 'sometimes'"),
        (
            {"CI_TRACK_CHAMPION_STRATEGY": "alias,lastest"},
            "CI_TRACK_CHAMPION_STRATEGY names an unknown strategy: must be one of alias, best, latest, got 'lastest' "
            "(did you mean 'latest'?)",
        ),
        (
            {"CI_TRACK_CHAMPION_STRATEGY": "best"},
            "champion.strategy 'best' needs champion.metric (the metric that ranks the runs) "
            "(from CI_TRACK_CHAMPION_STRATEGY)",
        ),
        (
            {"CI_TRACK_CHAMPION_ALIAS": "prod"},
            "champion.alias 'prod' needs champion.model (an alias belongs to a registered model; without one the "
            "champion is the run tagged ci.champion=true) (from CI_TRACK_CHAMPION_ALIAS)",
        ),
    ],
)
def test_bad_environment_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        apply_overrides(Config(), {}, environ)
    assert str(error.value) == message


def test_champion_metric_from_the_environment_must_be_a_configured_metric() -> None:
    with pytest.raises(ConfigError) as error:
        apply_overrides(parse_config(EXAMPLE), {}, {"CI_TRACK_CHAMPION_METRIC": "accuracy"})
    assert str(error.value) == (
        "champion.metric 'accuracy' is not under metrics: add metrics.accuracy with a goal "
        "(from CI_TRACK_CHAMPION_METRIC)"
    )


def test_bad_flag_values_are_usage_errors_naming_the_flag() -> None:
    with pytest.raises(UsageError) as error:
        apply_overrides(Config(), {"no_champion": "maybe"}, {})
    assert str(error.value) == "--no-champion must be one of pass, fail, got 'maybe'"
    assert not isinstance(error.value, ConfigError)


@pytest.mark.parametrize(
    ("names", "problem"),
    [
        (("alias", "latest"), None),
        ((), ("empty", -1)),
        (("alias", "lastest"), ("unknown", 1)),
        (("latest", "alias", "latest"), ("repeated", 2)),
        (("alias", "alias", "bset"), ("unknown", 2)),  # a typo is named before a repeat
    ],
)
def test_one_validator_judges_a_strategy_list_for_the_file_and_the_overrides(
    names: tuple[str, ...], problem: tuple[str, int] | None
) -> None:
    assert strategy_problem(names) == problem


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CI_TRACK_CHAMPION_STRATEGY": "alias,alias"}, "must list each of alias, best, latest at most once"),
        ({"CI_TRACK_CHAMPION_STRATEGY": " , "}, "must list each of alias, best, latest at most once"),
    ],
)
def test_a_repeated_or_empty_strategy_variable_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        apply_overrides(Config(), {}, environ)
    assert str(error.value).startswith(f"CI_TRACK_CHAMPION_STRATEGY {message}, got ")


def test_an_override_of_another_setting_keeps_the_files_champion() -> None:
    config = parse_config(EXAMPLE)
    assert apply_overrides(config, {}, {"CI_TRACK_MISSING": "warn"}).champion == config.champion
