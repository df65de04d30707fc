# ruff: noqa: RUF002  (σ, ν, Φ in docstrings are the mathematics, not look-alike letters)
"""Noise-aware judgement of one metric: repeats, noise estimates, tolerances in units of noise (pure).

Standard library only (`math`, `statistics`, `re`): no I/O, no numpy. The gate hands in plain lists
of values (one per training run of a commit) and gets frozen results back. See docs/noise.md.

**Tolerances** (a fixed part F and a noise part of k sigma, and how they are spelled): see
ci_track/gate/tolerance.py, which reads them (`parse_tolerance`).

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

**Adaptive repeats, drift, require improvement, `best` by mean**: ci_track/gate/repeats.py, on
the same `judge`. The Student-t threshold: ci_track/gate/student_t.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Sequence
from typing import Literal

from ci_track.gate.student_t import sigma_threshold
from ci_track.gate.tolerance import Tolerance, plain

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
_SLACK = 1e-9  # relative slack at the limit, as ci_track/gate/comparison.py: float noise does not decide


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
    return judge("regression", candidate, champion, goal, tolerance, noise, band)


def judge(
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
    else:  # at the limit is within it, as in ci_track/gate/comparison.py
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
        parts.append(f"{plain(tolerance.sigma)}σ → {d.threshold:.3g} SE = {d.threshold * d.se:.4g}")
    limit = "needed" if d.test == "improvement" else "allowed"
    if len(parts) == 2:
        allowed = f"{limit} {d.allowance:.4g} = max({parts[0]}, {parts[1]})"
    elif parts:
        allowed = f"{limit} {d.allowance:.4g} ({parts[0]})"
    else:
        allowed = f"{limit} {d.allowance:.4g} (no tolerance)"
    noise = d.noise.describe()
    if tolerance.sigma is not None and d.noise.sigma is None:
        noise = f"no noise estimate: the {plain(tolerance.sigma)}σ part is not applied"
    if d.se is None:
        sure = "not confident (no noise estimate)"
    elif d.confident:
        sure = "confident"
    else:
        sure = f"not confident (within {plain(band)} SE of the limit)"
    return f"{observed}; {allowed}; {noise}: {d.verdict}, {sure}"
