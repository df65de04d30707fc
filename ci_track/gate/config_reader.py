"""Reads a `.ci-track.yml` YAML tree into a `Config`, node by node, so every error names its file and line.

Only gate/config.py's `parse_config` uses it: the rules of the file are documented there.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ci_track.errors import ConfigError
from ci_track.gate import noise_config
from ci_track.gate.config import (
    CHAMPION_KEYS,
    ENV_NAME,
    GOALS,
    MEAN_LAST,
    METRIC_KEYS,
    PERCENT,
    REPORT_KEYS,
    RULES_FROM,
    RUN_KEYS,
    SEVERITIES,
    TOP_LEVEL_KEYS,
    ChampionConfig,
    Config,
    MetricRule,
    ReportConfig,
    RunConfig,
    champion_problem,
    make_champion,
    plain_number,
    strategy_problem,
    yaml12_int,
    yaml12_number,
)
from ci_track.gate.tolerance import NoiseSpecError
from ci_track.vocabulary import CHAMPION_STRATEGIES as STRATEGIES
from ci_track.vocabulary import COMMENT_MODES, MISSING_POLICIES, NO_CHAMPION_POLICIES

if TYPE_CHECKING:
    import yaml


class ConfigReader:
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
        if isinstance(value, float) and yaml12_int(str(node.value).strip()):
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
        if "report" in top:
            values["report"] = self.report(top["report"][1])
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

    def report(self, node: yaml.Node) -> ReportConfig:
        if self.is_null(node):
            return ReportConfig()
        section = self.mapping(node, "report", REPORT_KEYS)
        key = self.string(section["key"][1], "report.key") if "key" in section else None
        if key is not None and not key.strip():
            raise self.error(section["key"][1], "report.key must not be empty")
        charts = self.boolean(section["charts"][1], "report.charts") if "charts" in section else None
        return ReportConfig(key=key.strip() if key else None, charts=charts)

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
                f"{where}.min ({plain_number(values['min'])}) is greater than "
                f"{where}.max ({plain_number(values['max'])})",
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
        if text in ("last", "min", "max") or MEAN_LAST.match(text):
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
        if isinstance(value, str) and (match := PERCENT.match(value)):
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
        reuse: dict[str, Any] = {}
        if "inputs" in fields:
            reuse["inputs"] = tuple(text for text, _ in self.strings(fields["inputs"][1], "run.inputs"))
        if "env_inputs" in fields:
            names = self.strings(fields["env_inputs"][1], "run.env_inputs")
            for text, item in names:
                if not ENV_NAME.match(text):
                    raise self.error(item, f"run.env_inputs: {text!r} is not an environment variable name")
            reuse["env_inputs"] = tuple(text for text, _ in names)
        if "reuse" in fields:
            reuse["reuse"] = bool(self.boolean(fields["reuse"][1], "run.reuse"))
        if reuse.get("reuse") and not reuse.get("inputs"):
            raise self.error(fields["reuse"][1], "run.reuse needs run.inputs: the paths the training depends on")
        return RunConfig(tags=tags, metrics_files=files, repeat=repeat, **reuse)

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
            strategy = tuple(text for text, _ in names)
            wrong = strategy_problem(strategy)
            if wrong is not None:
                kind, at = wrong
                if kind == "empty":
                    raise self.error(
                        strategy_node, f"champion.strategy must list at least one of {', '.join(STRATEGIES)}"
                    )
                text, item = names[at]
                if kind == "unknown":
                    raise self.error(item, _bad_choice("champion.strategy", text, STRATEGIES))
                raise self.error(item, f"champion.strategy lists {text!r} twice")
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


_AGGREGATE_HELP = "must be last, min, max or mean_last_N (N from 1 to 999999)"


def _unknown_key(key: str, allowed: Sequence[str], where: str) -> str:
    place = "" if where == "the configuration" else f" in {where}"
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown key {key!r}{place} (did you mean {close[0]!r}?)"
    return f"unknown key {key!r}{place} (valid keys: {', '.join(allowed)})"


def _bad_choice(where: str, text: str, choices: Sequence[str]) -> str:
    return f"{where} {one_of(text, choices)}"


def one_of(text: str, choices: Sequence[str]) -> str:
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
