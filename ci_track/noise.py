# ruff: noqa: RUF002  (σ, ν, Φ in docstrings are the mathematics, not look-alike letters)
"""Noise-aware judgement of one metric: repeats, noise estimates, tolerances in units of noise (pure).

Standard library only (`math`, `statistics`, `re`): no I/O, no numpy. The gate hands in plain lists
of values (one per training run of a commit) and gets frozen results back. See docs/noise.md.

**Tolerances** (`parse_tolerance`): a fixed part and a noise part.

- fixed: `absolute` (metric units, `0.01`) and/or `relative` (percent of |champion mean|, `"2%"`);
  with both, the larger allowance is the fixed allowance F. A relative tolerance against a champion
  mean of 0 allows nothing (a percentage of 0 is 0), as in ci_track/comparison.py.
- noise: `sigma` = k (`"3sigma"`, `"3σ"`, `"2.5 sigma"`), a significance level in standard errors
  of the observed difference: the change must be at least k·SE to count as real.
- spellings: a number (absolute), `"2%"` (relative), `"3sigma"` (noise only), a mapping
  `{sigma: 3, relative: "2%", absolute: 0.01}` (any non-empty subset), None (nothing allowed).

**Which allowance wins**: a worsening w (candidate mean vs champion mean, positive = worse) fails
the gate when it exceeds *both* the fixed tolerance and the noise band:

    fail  <=>  w > A,   A = max(F, t·SE)

i.e. the change must matter (beyond F) *and* be real (beyond what noise explains at k sigma).
Either condition alone blocks on something the user said is fine: below F it is tolerated by
definition, and below t·SE it is what a re-run of the same code produces. Taking the larger of the
two is therefore the rule with the fewest false blocks that still blocks every change that is both
tolerable-exceeding and significant; the alternative "significantly beyond F" (w > F + t·SE) would
miss regressions that are plainly beyond F and plainly real. No part configured: A = 0 (nothing
allowed). A sigma part with no noise estimate: the fixed part alone (the result says so); with no
fixed part either that is A = 0 and the gate fails closed on any worsening.

**Standard error of the difference of means**: with candidate values c_1..c_n and champion values
b_1..b_m, both measured with the same per-run noise σ (pooled),

    SE = σ · sqrt(1/n + 1/m),     z = w / SE.

**k with an estimated σ**: "k sigma" is read as the one-sided tail probability p = 1 - Φ(k) it has
for a known σ (3σ: p = 0.00135). σ is only estimated, from ν degrees of freedom, so the threshold
is the Student-t quantile t = t_ν(1 - p) (3σ at ν = 10: t = 3.96); with ν → ∞ t = k. That keeps
the false-block rate at the level k promises when σ comes from a handful of values.

**Noise estimate** (`estimate_noise`): of these two, the one with more degrees of freedom ν
(repeats win ties; the t threshold above is what a few degrees of freedom cost):

1. `repeats`: the pooled within-commit variance of every commit that has ≥ 2 runs (candidate,
   champion, base-branch commits), s² = Σ_i Σ_j (x_ij - x̄_i)² / Σ_i (n_i - 1), ν = Σ_i (n_i - 1);
2. `history`: single runs of the base branch's recent commits, oldest first, by their successive
   differences: σ² = Σ (x_{i+1} - x_i)² / (2(N - 1)), ν ≈ 2(N - 1)/3 (see `history_noise` for why
   this and not a MAD);
3. `none`: fewer than 2 values in both; the fixed tolerance alone applies.

**Confident**: a verdict is confident when the observed change lies more than b·SE from the
allowance A (b = `band`, default 1). Why 1 SE: one more run moves the observed difference and the
noise part of A (SE shrinks) by about one SE between them, so inside that band another run can
plausibly flip the verdict and outside it rarely does. (A band of k SE would make no pass of
"3sigma" alone confident: A = k·SE itself, so it would ask for an observed improvement.)

**Adaptive repeats** (`next_repeat`): after each run the gate's decision is recomputed; training
again happens only while some decision is not confident, or while there is no noise estimate at all
(a second run measures it), and never beyond the maximum.

**Drift** (`check_drift`) and **require improvement** (`check_improvement`) reuse the same test:
drift is the worsening against the best champion (by mean) of the last K promotions; an
improvement must exceed max(F, t·SE) in the better direction (MLflow's `min_absolute_change` /
`min_relative_change` with `greater_is_better`, plus significance).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from typing import Literal

Goal = Literal["minimize", "maximize"]
Source = Literal["repeats", "history", "none"]
Verdict = Literal["pass", "fail"]
Test = Literal["regression", "drift", "improvement"]
HistoryEstimator = Literal["mssd", "mad"]

GOALS: tuple[Goal, ...] = ("minimize", "maximize")
MAD_TO_SD = 1.4826  # 1/Φ⁻¹(3/4): the MAD of a normal sample times this estimates its standard deviation
MAD_EFFICIENCY = 0.37  # the MAD's asymptotic efficiency at the normal: its ν is ~37% of the sample's
MSSD_EFFICIENCY = 2.0 / 3.0  # the mean square successive difference's efficiency at the normal
DEFAULT_BAND = 1.0  # standard errors around the allowance within which a decision is not confident
_SLACK = 1e-9  # relative slack at the limit, as ci_track/comparison.py: float noise does not decide


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
            parts.append(f"{_plain(self.sigma)}σ")
        if self.relative is not None:
            parts.append(f"{_plain(self.relative)}%")
        if self.absolute is not None:
            parts.append(_plain(self.absolute))
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


def _plain(number: float) -> str:
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


# ---------------------------------------------------------------- summaries and noise


@dataclasses.dataclass(frozen=True, kw_only=True)
class Summary:
    """The runs of one commit for one metric: n, mean, sample standard deviation (None below 2 runs)."""

    n: int
    mean: float
    sd: float | None


def summarize(values: Sequence[float]) -> Summary:
    """n, mean, and the sample standard deviation s = sqrt(Σ(x - x̄)² / (n - 1)); s is None for n < 2.

    Values must be finite (the gate's NaN rule runs first); ValueError otherwise, or when empty.
    """
    _check_values(values)
    return Summary(
        n=len(values),
        mean=statistics.fmean(values),
        sd=statistics.stdev(values) if len(values) >= 2 else None,
    )


def _check_values(values: Sequence[float]) -> None:
    if not values:
        raise ValueError("no values to summarize")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite (the NaN rule comes first), got {list(values)!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoiseEstimate:
    """σ of one run of a metric, where it came from, from how many values and degrees of freedom."""

    sigma: float | None  # None: no estimate
    source: Source
    n: int  # values used
    dof: float  # degrees of freedom of σ (effective for `history`); 0 without an estimate

    def describe(self) -> str:
        """In words for the report: `σ 0.012 from repeats (6 runs, 4 dof)`."""
        if self.sigma is None:
            return "no noise estimate (fewer than 2 values): the fixed tolerance alone applies"
        where = {"repeats": "repeats", "history": "base-branch history"}[self.source]
        return f"σ {self.sigma:.4g} from {where} ({self.n} runs, {self.dof:.3g} dof)"


NO_ESTIMATE = NoiseEstimate(sigma=None, source="none", n=0, dof=0.0)


def pooled_noise(groups: Sequence[Sequence[float]]) -> NoiseEstimate:
    """Pooled within-commit σ of every group (one commit's runs) with ≥ 2 values.

    s² = Σ_i Σ_j (x_ij - x̄_i)² / Σ_i (n_i - 1), ν = Σ_i (n_i - 1). Groups of one value carry no
    information on the spread and are skipped. None of them with 2 values: no estimate.
    """
    squares = 0.0
    dof = 0
    used = 0
    for group in groups:
        if len(group) < 2:
            continue
        _check_values(group)
        mean = statistics.fmean(group)
        squares += math.fsum((x - mean) ** 2 for x in group)
        dof += len(group) - 1
        used += len(group)
    if dof == 0:
        return NO_ESTIMATE
    return NoiseEstimate(sigma=math.sqrt(squares / dof), source="repeats", n=used, dof=float(dof))


def history_noise(values: Sequence[float], estimator: HistoryEstimator = "mssd") -> NoiseEstimate:
    """σ of one run from the base branch's recent single runs (one per commit), oldest first.

    Both estimators use successive differences d_i = x_{i+1} - x_i: consecutive base-branch commits
    mostly train the same model, so d_i is pure noise with variance 2σ², and a real shift in the
    history (a merged improvement of δ) spoils one difference, not every value after it as it does
    for deviations around a mean or median.

    - `mssd` (default; von Neumann's mean square successive difference): σ² = Σ d_i² / (2(N - 1)),
      ν ≈ 2(N - 1)/3 (its efficiency at the normal is 2/3). A shift of δ adds δ² / (2(N - 1)) to σ²
      (3σ in 20 runs: σ +11%), errs on the lenient side, and fades as the history moves on. It keeps
      the tails: the false-block rate is set by the noise's tails, so heavy or skewed noise must
      widen σ, not be discounted as outliers.
    - `mad`: σ = 1.4826 · median |d_i| / √2 (no centre to estimate: d is symmetric about 0 under no
      change), ν ≈ 0.37·(N - 1). Robust in the textbook sense: it measures the core of the
      distribution and ignores its tails, so with skewed noise it underestimates the σ the gate
      needs (bench/RESULTS-decision-quality.md: the skewed log_loss of a real model).

    Fewer than 2 values: no estimate.
    """
    if len(values) < 2:
        return NO_ESTIMATE
    _check_values(values)
    differences = [b - a for a, b in itertools.pairwise(values)]
    if estimator == "mad":
        sigma = MAD_TO_SD * statistics.median(abs(d) for d in differences) / math.sqrt(2.0)
        dof = MAD_EFFICIENCY * len(differences)
    elif estimator == "mssd":
        sigma = math.sqrt(math.fsum(d * d for d in differences) / (2.0 * len(differences)))
        dof = MSSD_EFFICIENCY * len(differences)
    else:
        raise ValueError(f"unknown history estimator {estimator!r}")
    return NoiseEstimate(sigma=sigma, source="history", n=len(values), dof=dof)


def estimate_noise(
    repeat_groups: Sequence[Sequence[float]] = (),
    history: Sequence[float] = (),
    *,
    estimator: HistoryEstimator = "mssd",
) -> NoiseEstimate:
    """The noise estimate the gate uses: repeats or history, whichever has more degrees of freedom.

    `repeat_groups`: the runs of each commit that has repeats (candidate, champion, base-branch
    commits); `history`: one value per recent base-branch commit, oldest first. Repeats measure
    exactly the noise of the code under test (the history can hold real changes), so they win ties
    and are used whenever the history gives no estimate; but the threshold t grows fast as ν falls
    (3σ: t = 6.62 at ν = 4, 3.72 at ν = 12.7), so a 20-run history (ν ≈ 12.7) beats a few repeats.
    Neither has 2 values: no estimate.
    """
    repeats = pooled_noise(repeat_groups)
    past = history_noise(history, estimator)
    if repeats.sigma is not None and (past.sigma is None or repeats.dof >= past.dof):
        return repeats
    return past


# ---------------------------------------------------------------- the threshold


def standard_error(sigma: float, n_candidate: int, n_champion: int) -> float:
    """SE of the difference of two means of n and m runs with per-run σ: σ·sqrt(1/n + 1/m)."""
    if n_candidate < 1 or n_champion < 1:
        raise ValueError("each side needs at least one run")
    return sigma * math.sqrt(1.0 / n_candidate + 1.0 / n_champion)


@functools.lru_cache(maxsize=1024)
def sigma_threshold(k: float, dof: float | None) -> float:
    """The z a change needs for "k sigma" when σ is estimated from `dof` degrees of freedom.

    p = 1 - Φ(k), the one-sided tail of k for a known σ; the answer is t_dof(1 - p), the Student-t
    quantile (k itself for dof None or infinite). E.g. k = 1.96 at 10 dof: 2.228.
    """
    if k <= 0 or not math.isfinite(k):
        raise ValueError(f"k must be a finite number greater than 0, got {k!r}")
    if dof is None or math.isinf(dof):
        return k
    if dof <= 0:
        raise ValueError(f"degrees of freedom must be greater than 0, got {dof!r}")
    tail = statistics.NormalDist().cdf(-k)
    return _student_t_isf(tail, dof)


def student_t_sf(t: float, dof: float) -> float:
    """P(T > t) for Student's t with `dof` degrees of freedom (any real dof > 0).

    P(T > t) = I_x(ν/2, 1/2) / 2 with x = ν / (ν + t²) for t ≥ 0 (I: the regularized incomplete
    beta function), and 1 - P(T > -t) for t < 0.
    """
    if t < 0:
        return 1.0 - student_t_sf(-t, dof)
    return 0.5 * _betainc(dof / 2.0, 0.5, dof / (dof + t * t))


def _student_t_isf(tail: float, dof: float) -> float:
    """t with P(T > t) = tail (0 < tail < 1/2), by bisection (the survival function decreases in t)."""
    low, high = 0.0, 1.0
    while student_t_sf(high, dof) > tail:
        low, high = high, high * 2.0
        if high > 1e300:
            return math.inf
    for _ in range(200):
        middle = (low + high) / 2.0
        if student_t_sf(middle, dof) > tail:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    return (low + high) / 2.0


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) (continued fraction, Numerical Recipes §6.4)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300

    def guard(value: float) -> float:
        return tiny if abs(value) < tiny else value

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    result = d
    for m in range(1, 500):
        even = m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m))
        d = 1.0 / guard(1.0 + even * d)
        c = guard(1.0 + even / c)
        result *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0))
        d = 1.0 / guard(1.0 + odd * d)
        c = guard(1.0 + odd / c)
        step = d * c
        result *= step
        if abs(step - 1.0) < 1e-15:
            break
    return result


# ---------------------------------------------------------------- the decision


@dataclasses.dataclass(frozen=True, kw_only=True)
class Decision:
    """One metric judged with its noise. `change` is positive in the direction the test is about
    (worse for regression and drift, better for improvement)."""

    test: Test
    verdict: Verdict
    confident: bool  # False: within `band`·SE of the allowance, or no noise estimate
    change: float
    allowance: float  # A = max(F, t·SE), the change the verdict was measured against
    allowance_from: Literal["fixed", "noise", "none"]  # which part set A ("none": nothing allowed)
    fixed: float | None  # F
    se: float | None  # SE of the difference; None without a noise estimate
    z: float | None  # change / SE; None when SE is None or 0
    threshold: float | None  # t: the z that k sigma needs at the estimate's dof
    noise: NoiseEstimate
    candidate: Summary
    champion: Summary
    reason: str  # one line, without the metric's name


def decide(
    candidate: Sequence[float],
    champion: Sequence[float],
    goal: Goal,
    tolerance: Tolerance,
    noise: NoiseEstimate,
    *,
    band: float = DEFAULT_BAND,
) -> Decision:
    """The gate for one metric: fail when the candidate's mean is worse than the champion's by more
    than A = max(F, t·SE) (see the module docstring)."""
    return _judge("regression", candidate, champion, goal, tolerance, noise, band)


def check_improvement(
    candidate: Sequence[float],
    champion: Sequence[float],
    goal: Goal,
    minimum: Tolerance,
    noise: NoiseEstimate,
    *,
    band: float = DEFAULT_BAND,
) -> Decision:
    """`promote` with `require: improvement`: pass only when the candidate's mean is better than the
    champion's by at least max(F, t·SE); F = `minimum`'s fixed part (MLflow's min_absolute_change /
    min_relative_change, inclusive as there), t·SE its sigma part (a significant improvement).
    Nothing set: any gain > 0, strictly (an unchanged candidate is no improvement)."""
    return _judge("improvement", candidate, champion, goal, minimum, noise, band)


def check_drift(
    candidate: Sequence[float],
    recent_champions: Sequence[Sequence[float]],
    goal: Goal,
    max_drift: Tolerance,
    noise: NoiseEstimate,
    *,
    band: float = DEFAULT_BAND,
) -> Decision | None:
    """`max_drift`: the regression test against the best champion (by mean) of the last K
    promotions, so K merges each within tolerance cannot add up to K tolerances. `recent_champions`:
    each promoted champion's run values (the caller fetches the K newest); None when there are none.

    The best of K noisy means is optimistic (it is a maximum); the noise part of the allowance
    (SE with that champion's runs) is what keeps this from blocking on the luck of one champion.
    """
    champions = [values for values in recent_champions if values]
    if not champions:
        return None
    best = best_by_mean(champions, goal)
    return _judge("drift", candidate, champions[best], goal, max_drift, noise, band)


def best_by_mean(groups: Sequence[Sequence[float]], goal: Goal) -> int:
    """Index of the group with the best mean (ties: the first); for `best`, never one lucky run."""
    if not groups:
        raise ValueError("no groups to rank")
    means = [summarize(group).mean for group in groups]
    pick = min if goal == "minimize" else max
    target = pick(means)
    return means.index(target)


def _judge(
    test: Test,
    candidate_values: Sequence[float],
    champion_values: Sequence[float],
    goal: Goal,
    tolerance: Tolerance,
    noise: NoiseEstimate,
    band: float,
) -> Decision:
    if goal not in GOALS:
        raise ValueError(f"goal must be minimize or maximize, got {goal!r}")
    candidate = summarize(candidate_values)
    champion = summarize(champion_values)
    worse = candidate.mean - champion.mean if goal == "minimize" else champion.mean - candidate.mean
    change = -worse if test == "improvement" else worse
    fixed = tolerance.fixed_allowance(champion.mean)
    se = standard_error(noise.sigma, candidate.n, champion.n) if noise.sigma is not None else None
    threshold = None
    noise_part = None
    if tolerance.sigma is not None and se is not None:
        threshold = sigma_threshold(tolerance.sigma, noise.dof)
        noise_part = threshold * se
    allowance_from: Literal["fixed", "noise", "none"]
    if noise_part is not None and (fixed is None or noise_part > fixed):
        allowance, allowance_from = noise_part, "noise"
    elif fixed is not None:
        allowance, allowance_from = fixed, "fixed"
    else:
        allowance, allowance_from = 0.0, "none"
    at_limit = math.isclose(change, allowance, rel_tol=_SLACK, abs_tol=0.0)
    if test == "improvement":  # at the minimum counts, as MLflow's >= (but nothing set needs a real gain)
        verdict: Verdict = "pass" if change > allowance or (allowance > 0 and at_limit) else "fail"
    else:  # at the limit is within it, as in ci_track/comparison.py
        verdict = "fail" if change > allowance and not at_limit else "pass"
    z = change / se if se else None
    if se is None:
        confident = False
    else:
        confident = se == 0 or abs(change - allowance) > band * se
    decision = Decision(
        test=test,
        verdict=verdict,
        confident=confident,
        change=change,
        allowance=allowance,
        allowance_from=allowance_from,
        fixed=fixed,
        se=se,
        z=z,
        threshold=threshold,
        noise=noise,
        candidate=candidate,
        champion=champion,
        reason="",
    )
    return dataclasses.replace(decision, reason=_reason(decision, tolerance, band))


def _reason(d: Decision, tolerance: Tolerance, band: float) -> str:
    """One line: what was observed, against what, how sure. E.g. `worse by 0.021 (mean of 2 vs 1 run,
    z 1.8); allowed 0.034 = max(fixed 2% = 0.019, 3σ → 3.96 SE = 0.034); σ 0.0082 from …: pass, confident`."""
    direction = "better" if d.test == "improvement" else "worse"
    sides = f"mean of {d.candidate.n} vs {d.champion.n} run{'s' if d.champion.n != 1 else ''}"
    observed = f"{direction} by {d.change:.4g} ({sides}" + (f", z {d.z:.2f})" if d.z is not None else ")")
    parts = []
    if d.fixed is not None:
        parts.append(f"fixed {Tolerance(absolute=tolerance.absolute, relative=tolerance.relative).describe()}")
        parts[-1] += f" = {d.fixed:.4g}"
    if d.threshold is not None and d.se is not None and tolerance.sigma is not None:
        parts.append(f"{_plain(tolerance.sigma)}σ → {d.threshold:.3g} SE = {d.threshold * d.se:.4g}")
    limit = "needed" if d.test == "improvement" else "allowed"
    if len(parts) == 2:
        allowed = f"{limit} {d.allowance:.4g} = max({parts[0]}, {parts[1]})"
    elif parts:
        allowed = f"{limit} {d.allowance:.4g} ({parts[0]})"
    else:
        allowed = f"{limit} {d.allowance:.4g} (no tolerance)"
    noise = d.noise.describe()
    if tolerance.sigma is not None and d.noise.sigma is None:
        noise = f"no noise estimate: the {_plain(tolerance.sigma)}σ part is not applied"
    if d.se is None:
        sure = "not confident (no noise estimate)"
    elif d.confident:
        sure = "confident"
    else:
        sure = f"not confident (within {_plain(band)} SE of the limit)"
    return f"{observed}; {allowed}; {noise}: {d.verdict}, {sure}"


# ---------------------------------------------------------------- adaptive repeats


@dataclasses.dataclass(frozen=True, kw_only=True)
class RepeatStep:
    """What `--repeat auto` does after `runs` runs: train again or stop, and why (for the report)."""

    again: bool
    runs: int
    reason: str


def next_repeat(decisions: Sequence[Decision], runs: int, maximum: int) -> RepeatStep:
    """Train again while any gated metric's decision is not confident, up to `maximum` runs.

    Rule, in order: `runs` ≥ `maximum` → stop (the verdict stands as it is, not confident); no
    decision to make (no champion, no gated metric) → stop; a metric without a noise estimate → again
    (a second run measures the noise); a metric within `band`·SE of its allowance → again; else stop:
    every decision is clear. The caller re-estimates the noise and re-decides after each run.
    """
    if maximum < 1 or runs < 1:
        raise ValueError(f"runs ({runs}) and maximum ({maximum}) must be at least 1")
    if runs >= maximum:
        left = sum(1 for d in decisions if not d.confident)
        note = f"; {left} decision{'s' if left != 1 else ''} still not confident" if left else ""
        return RepeatStep(again=False, runs=runs, reason=f"stopped at the maximum of {maximum} runs{note}")
    if not decisions:
        return RepeatStep(again=False, runs=runs, reason="nothing to decide (no champion or no gated metric)")
    if any(d.se is None for d in decisions):
        return RepeatStep(again=True, runs=runs, reason="no noise estimate yet: another run measures it")
    unsure = [d for d in decisions if not d.confident]
    if unsure:
        first = unsure[0]
        return RepeatStep(
            again=True,
            runs=runs,
            reason=f"ambiguous after {runs} run{'s' if runs != 1 else ''}: change {first.change:.4g} is within "
            f"the noise band of the limit {first.allowance:.4g}",
        )
    return RepeatStep(again=False, runs=runs, reason=f"decision clear after {runs} run{'s' if runs != 1 else ''}")
