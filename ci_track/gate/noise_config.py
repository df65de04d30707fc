# ruff: noqa: RUF002
"""`.ci-track.yml`'s noise-aware settings, read into plain values (pure); ci_track/gate/config.py calls these.

- `metrics.<m>.max_regression`: `"3sigma"`, `"3σ"`, `{sigma: 3, relative: "2%", absolute: 0.01}`
  is a tolerance in units of noise, alone or with a fixed part (ci_track/gate/tolerance.py); a
  plain number or `"2%"` stays today's fixed tolerance, read by config.py as before.
- `metrics.<m>.max_drift`: any tolerance spelling; the candidate against the best of the last
  `champion.drift_window` champions (K, a whole number 1-20, default 5).
- `run.repeat`: runs per commit, a whole number 1-20 or `auto` with `run.repeat_max` (required).
- `promote.require`: `improvement` or `none` (default); `promote.min_improvement`: the minimum
  gain, any tolerance spelling (MLflow's min_absolute/relative_change; a sigma part makes it
  significant).
- `override_label`: the PR label that turns a failing gate into a pass (default
  `ci-track:accept-regression`): one word, no spaces.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from ci_track.gate.tolerance import NoiseSpecError, RepeatPolicy, Tolerance, parse_repeat, parse_tolerance

__all__ = ["PromoteConfig", "parse_tolerance"]

DEFAULT_OVERRIDE_LABEL = "ci-track:accept-regression"
DEFAULT_DRIFT_WINDOW = 5
MAX_DRIFT_WINDOW = 20  # one group search per promoted champion with repeats: kept small and bounded
MAX_REPEAT = 20  # runs per commit; also what one search of a repeat group reads
PROMOTE_REQUIRES = ("none", "improvement")
PROMOTE_KEYS = ("require", "min_improvement")
_NOISE_WORD = re.compile(r"sigma|σ|sd|std", re.IGNORECASE)  # "3sigma", and the typos tolerance.py names
_LABEL_MAX = 50  # GitHub's limit on a label name


@dataclasses.dataclass(frozen=True, kw_only=True)
class PromoteConfig:
    require: str = "none"  # none | improvement
    min_improvement: Tolerance = dataclasses.field(default_factory=Tolerance)


def noise_spec(value: object, where: str) -> Tolerance | None:
    """The Tolerance of a `max_regression` that uses the noise-aware spellings, else None.

    None for what the fixed tolerance reads today (a number, `"2%"`, a negative one it rejects), so
    those keep their messages and their exact behaviour; a sigma spelling or a mapping is parsed here.
    """
    if isinstance(value, dict):
        spec = parse_tolerance(value, where)
        return spec
    if isinstance(value, str) and _NOISE_WORD.search(value):
        return parse_tolerance(value, where)
    return None


def fixed_part(spec: Tolerance) -> tuple[str, float]:
    """(kind, value) of today's MetricRule fields for a spec: its single fixed part, else none."""
    if spec.relative is not None and spec.absolute is None:
        return "relative", spec.relative
    if spec.absolute is not None and spec.relative is None:
        return "absolute", spec.absolute
    return "none", 0.0


def repeat_policy(value: object, maximum: object, where: str = "run.repeat") -> RepeatPolicy:
    """`run.repeat` (+ `run.repeat_max`) or `--repeat` (+ `--repeat-max`), at most MAX_REPEAT runs."""
    policy = parse_repeat(value, maximum, where)
    most = policy.maximum if policy.auto else policy.runs
    if most is not None and most > MAX_REPEAT:
        raise NoiseSpecError(f"{where}: at most {MAX_REPEAT} runs per commit, got {most}")
    return policy


def drift_window(value: object, where: str = "champion.drift_window") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DRIFT_WINDOW:
        raise NoiseSpecError(f"{where}: {value!r} must be a whole number from 1 to {MAX_DRIFT_WINDOW}")
    return value


def promote_require(value: object, where: str = "promote.require") -> str:
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in PROMOTE_REQUIRES:
        raise NoiseSpecError(f"{where}: {value!r} must be one of {', '.join(PROMOTE_REQUIRES)}")
    return text


def override_label(value: object, where: str = "override_label") -> str:
    """A PR label name: non-empty, no whitespace (a label with spaces is a typo in a workflow), ≤ 50 characters."""
    if not isinstance(value, str) or not value.strip():
        raise NoiseSpecError(f"{where}: {value!r} must be a label name")
    text = value.strip()
    if any(character.isspace() for character in text):
        example = DEFAULT_OVERRIDE_LABEL
        raise NoiseSpecError(f"{where}: {text!r} has spaces; the override label is one word like {example}")
    if len(text) > _LABEL_MAX or any(not character.isprintable() for character in text):
        raise NoiseSpecError(f"{where}: {text[:60]!r} is not a label name (printable, at most {_LABEL_MAX} characters)")
    return text


# ---------------------------------------------------------------- readers for ci_track/gate/config.py
# `reader` is config.py's _Reader: `noise(node, read, *args)` turns a NoiseSpecError into a ConfigError
# naming the file and line; `mapping`, `error`, `value`, `is_null` as there.


def read_max_drift(reader: Any, fields: Mapping[str, Any], where: str, *, goal: str | None) -> dict[str, Any]:
    """`metrics.<m>.max_drift` into MetricRule fields ({} when absent); it needs the metric's goal."""
    if "max_drift" not in fields:
        return {}
    node = fields["max_drift"][1]
    drift = reader.noise(node, parse_tolerance, f"{where}.max_drift")
    if goal is None:
        raise reader.error(node, f"{where}.max_drift needs {where}.goal (minimize or maximize)")
    return {"max_drift": drift}


def read_repeat(reader: Any, fields: Mapping[str, Any]) -> RepeatPolicy | None:
    """`run.repeat` with `run.repeat_max`; None when not set."""
    if "repeat" in fields:
        maximum = reader.value(fields["repeat_max"][1]) if "repeat_max" in fields else None
        policy: RepeatPolicy = reader.noise(fields["repeat"][1], repeat_policy, maximum, "run.repeat")
        return policy
    if "repeat_max" in fields:
        raise reader.error(fields["repeat_max"][1], "run.repeat_max needs run.repeat: auto")
    return None


def read_promote(reader: Any, node: Any) -> PromoteConfig:
    """`promote: {require: improvement, min_improvement: ...}`."""
    fields = reader.mapping(node, "promote", PROMOTE_KEYS)
    require = "none"
    if "require" in fields:
        require = reader.noise(fields["require"][1], promote_require)
    minimum = Tolerance()
    if "min_improvement" in fields:
        minimum = reader.noise(fields["min_improvement"][1], parse_tolerance, "promote.min_improvement")
    return PromoteConfig(require=require, min_improvement=minimum)


def override_label_from(picked: tuple[Any, str] | None, error: Callable[[str, str], Exception], current: str) -> str:
    """The label from `--override-label` / CI_TRACK_OVERRIDE_LABEL (`picked`: value, origin), else `current`."""
    if picked is None:
        return current
    value, origin = picked
    try:
        return override_label(str(value), origin)
    except NoiseSpecError as bad:
        raise error(origin, str(bad).split(": ", 1)[1]) from None
