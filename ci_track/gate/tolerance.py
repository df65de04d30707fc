# ruff: noqa: RUF002  (σ in docstrings is the mathematics, not a look-alike letter)
"""Tolerances in units of noise and repeat settings, as the user spells them (pure, stdlib only).

`parse_tolerance` reads `max_regression`, `max_drift` and `promote.require`'s minimum;
`parse_repeat` reads `run.repeat` / `--repeat`. Every error is a `NoiseSpecError` (a ValueError)
whose `str()` is one line naming the value. The judgement itself is ci_track/gate/noise.py.

**Tolerances**: a fixed part and a noise part.

- fixed: `absolute` (metric units, `0.01`) and/or `relative` (percent of |champion mean|, `"2%"`);
  with both, the larger allowance is the fixed allowance F. A relative tolerance against a champion
  mean of 0 allows nothing (a percentage of 0 is 0), as in ci_track/gate/comparison.py.
- noise: `sigma` = k (`"3sigma"`, `"3σ"`, `"2.5 sigma"`), a significance level in standard errors
  of the observed difference: the change must be at least k·SE to count as real.
- spellings: a number (absolute), `"2%"` (relative), `"3sigma"` (noise only), a mapping
  `{sigma: 3, relative: "2%", absolute: 0.01}` (any non-empty subset), None (nothing allowed).

**Repeats**: a whole number of runs ≥ 1, or `auto` with a maximum ≥ 1 (`auto` without one is an
error: an adaptive loop needs a bound).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping


class NoiseSpecError(ValueError):
    """A tolerance or repeat setting that cannot be read; `str()` is one line naming the value."""


# ---------------------------------------------------------------- tolerances


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tolerance:
    """How much worsening is allowed: fixed parts (absolute, relative %) and a noise part (k sigma)."""

    absolute: float | None = None  # metric units
    relative: float | None = None  # percent of |champion mean|
    sigma: float | None = None  # k: standard errors of the difference

    def fixed_allowance(self, baseline: float) -> float | None:
        """F: the larger of the absolute and the relative allowance; None when neither is set."""
        parts = []
        if self.absolute is not None:
            parts.append(self.absolute)
        if self.relative is not None:
            parts.append(self.relative / 100.0 * abs(baseline))
        return max(parts) if parts else None

    def describe(self) -> str:
        """In words: `3σ`, `2%`, `0.01`, `3σ and 2%`, `none`."""
        parts = []
        if self.sigma is not None:
            parts.append(f"{plain(self.sigma)}σ")
        if self.relative is not None:
            parts.append(f"{plain(self.relative)}%")
        if self.absolute is not None:
            parts.append(plain(self.absolute))
        return " and ".join(parts) if parts else "none"


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_SIGMA_RE = re.compile(rf"\s*({_NUMBER})\s*(?:sigma|σ)\s*", re.IGNORECASE)
_PERCENT_RE = re.compile(rf"\s*({_NUMBER})\s*%\s*")
_SIGMA_LIKE = re.compile(rf"\s*{_NUMBER}\s*(?:sigma|σ|sd|std|stddev)\w*\s*", re.IGNORECASE)
TOLERANCE_KEYS = ("sigma", "relative", "absolute")
_HELP = 'write a number (absolute), a percentage ("2%"), "3sigma" (or "3σ"), or {sigma: 3, relative: "2%"}'


def parse_sigma(text: str, where: str = "max_regression") -> float | None:
    """k of `"3sigma"`, `"3σ"`, `"2.5 sigma"` (any case); None when `text` is not a sigma spelling.

    Raises NoiseSpecError for a sigma spelling that is wrong (`"3sigmas"`, `"-3sigma"`, `"0σ"`).
    """
    match = _SIGMA_RE.fullmatch(text)
    if match is None:
        if _SIGMA_LIKE.fullmatch(text):
            raise NoiseSpecError(f"{where}: {text!r} is not a tolerance; did you mean {_sigma_hint(text)!r}?")
        return None
    return _positive(float(match.group(1)), text, where, unit="sigma")


def parse_tolerance(value: object, where: str = "max_regression") -> Tolerance:
    """A Tolerance from what YAML gives (number, string, mapping, None); NoiseSpecError when unreadable."""
    if value is None:
        return Tolerance()
    if isinstance(value, Mapping):
        return _tolerance_mapping(value, where)
    if isinstance(value, str):
        sigma = parse_sigma(value, where)
        if sigma is not None:
            return Tolerance(sigma=sigma)
        if match := _PERCENT_RE.fullmatch(value):
            return Tolerance(relative=_non_negative(float(match.group(1)), value, where))
        raise NoiseSpecError(f"{where}: {value!r} is not a tolerance; {_HELP}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise NoiseSpecError(f"{where}: {value!r} is not a tolerance; {_HELP}")
    return Tolerance(absolute=_non_negative(float(value), value, where))


def _tolerance_mapping(value: Mapping[object, object], where: str) -> Tolerance:
    """`{sigma: 3 | "3sigma", relative: 2 | "2%", absolute: 0.01}`: any non-empty subset."""
    unknown = [key for key in value if key not in TOLERANCE_KEYS]
    if unknown:
        raise NoiseSpecError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(TOLERANCE_KEYS)})")
    fields = {str(key): _mapping_part(str(key), part, f"{where}.{key}") for key, part in value.items()}
    if all(part is None for part in fields.values()):
        raise NoiseSpecError(f"{where}: {dict(value)!r} sets no tolerance; {_HELP}")
    return Tolerance(**fields)


def _mapping_part(key: str, part: object, where: str) -> float | None:
    if part is None:
        return None
    if isinstance(part, bool) or not isinstance(part, (int, float, str)):
        raise NoiseSpecError(f"{where}: {part!r} is not a {key} tolerance")
    if isinstance(part, (int, float)):  # sigma: 3 is 3σ, relative: 2 is 2%, absolute: 0.01
        number = float(part)
        return _positive(number, part, where, unit="sigma") if key == "sigma" else _non_negative(number, part, where)
    parsed = parse_tolerance(part, where)
    got = {"sigma": parsed.sigma, "relative": parsed.relative, "absolute": parsed.absolute}[key]
    if got is None:
        raise NoiseSpecError(f"{where}: {part!r} is not a {key} tolerance")
    return got


def _sigma_hint(text: str) -> str:
    match = re.match(rf"\s*({_NUMBER})", text)
    return f"{match.group(1) if match else '3'}sigma"


def _positive(number: float, shown: object, where: str, *, unit: str) -> float:
    if not math.isfinite(number) or number <= 0:
        raise NoiseSpecError(f"{where}: {shown!r} must be a finite number of {unit} greater than 0")
    return number


def _non_negative(number: float, shown: object, where: str) -> float:
    if not math.isfinite(number):
        raise NoiseSpecError(f"{where}: {shown!r} must be a finite number")
    if number < 0:
        raise NoiseSpecError(f"{where}: {shown!r} must not be negative")
    return number


def plain(number: float) -> str:
    return f"{number:g}"


# ---------------------------------------------------------------- repeat settings


@dataclasses.dataclass(frozen=True, kw_only=True)
class RepeatPolicy:
    """`--repeat N` (runs fixed at N) or `--repeat auto` (1 up to `maximum`, see next_repeat)."""

    runs: int | None = None  # fixed number of runs
    maximum: int | None = None  # auto: the most runs it may take

    @property
    def auto(self) -> bool:
        return self.maximum is not None


def parse_repeat(value: object, maximum: object = None, where: str = "repeat") -> RepeatPolicy:
    """`1`, `3`, `"auto"` with `maximum` ≥ 1; NoiseSpecError for 0, negatives, auto without a maximum."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        if maximum is None:
            raise NoiseSpecError(f"{where}: 'auto' needs a maximum number of runs (e.g. repeat_max: 4)")
        return RepeatPolicy(maximum=_count(maximum, f"{where} maximum"))
    if maximum is not None:
        raise NoiseSpecError(f"{where}: a maximum applies only to 'auto', got repeat {value!r}")
    return RepeatPolicy(runs=_count(value, where, auto=True))


def _count(value: object, where: str, *, auto: bool = False) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        alternative = " (or 'auto')" if auto else ""
        raise NoiseSpecError(f"{where}: {value!r} must be a whole number of runs, at least 1{alternative}")
    return value
