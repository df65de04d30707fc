"""The command line and the CI_TRACK_* variables layered over `.ci-track.yml` (see gate/config.py's table).

Precedence: command line > environment > file > defaults; MLFLOW_EXPERIMENT_NAME is the last
fallback for the experiment. An empty variable counts as unset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ci_track.errors import ConfigError, UsageError
from ci_track.gate import noise_config
from ci_track.gate.config import Config, champion_problem, make_champion, strategy_problem
from ci_track.gate.config_reader import one_of
from ci_track.vocabulary import CHAMPION_STRATEGIES as STRATEGIES
from ci_track.vocabulary import COMMENT_MODES, MISSING_POLICIES, NO_CHAMPION_POLICIES

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
    "key": "CI_TRACK_KEY",  # report.key
    "charts": "CI_TRACK_CHARTS",  # report.charts (the flag is --no-charts)
}


_CHAMPION_KEYS = ("champion_strategy", "champion_model", "champion_alias", "champion_metric")

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
            raise error(origin, one_of(str(value), choices))
        return text

    def text(key: str, current: str | None) -> str | None:
        picked = pick(key)
        return current if picked is None else str(picked[0])

    experiment = text("experiment", config.experiment)
    if experiment is None and environ.get("MLFLOW_EXPERIMENT_NAME", "").strip():
        experiment = environ["MLFLOW_EXPERIMENT_NAME"].strip()

    def boolean(key: str, current: bool | None) -> bool | None:
        picked = pick(key)
        if picked is None:
            return current
        value, origin = picked
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in _TRUE:
            return True
        if str(value).strip().lower() in _FALSE:
            return False
        raise error(origin, f"must be true or false, got {value!r}")

    status = boolean("status", config.status)
    key = text("key", config.report.key)
    if key is not None and not key.strip():
        raise error("--key", "must not be empty")
    report = dataclasses.replace(
        config.report, key=key.strip() if key else None, charts=boolean("charts", config.report.charts)
    )

    champion = config.champion
    picked_strategy = pick("champion_strategy")
    strategy = champion.strategy
    strategy_origin = "champion.strategy"
    if picked_strategy is not None:
        value, strategy_origin = picked_strategy
        names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
        names = [n for n in names if n]
        wrong = strategy_problem(names)
        if wrong is not None and wrong[0] == "unknown":
            raise error(strategy_origin, f"names an unknown strategy: {one_of(names[wrong[1]], STRATEGIES)}")
        if wrong is not None:
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
    # The file's own champion settings were checked by the YAML reader: check again only what an override changed.
    champion_overridden = any(pick(key) is not None for key in _CHAMPION_KEYS)
    problem = champion_problem(new_champion, config.metrics) if champion_overridden else None
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
        report=report,
    )


def _origin_of(picked: tuple[Any, str] | None, default: str) -> str:
    return default if picked is None else picked[1]
