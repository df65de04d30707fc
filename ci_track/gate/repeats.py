"""Adaptive repeats, drift, required improvement and `best` by mean: the noise core's other tests (pure).

**Adaptive repeats** (`next_repeat`): after each run the gate's decision is recomputed; training
again happens only while some decision is not confident, or while there is no noise estimate at all
(a second run measures it), and never beyond the maximum.

**Drift** (`check_drift`) and **require improvement** (`check_improvement`) reuse the regression
test of ci_track/gate/noise.py: drift is the worsening against the best champion (by mean) of the
last K promotions; an improvement must exceed max(F, t·SE) in the better direction (MLflow's
`min_absolute_change` / `min_relative_change` with `greater_is_better`, plus significance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ci_track.gate.noise import DEFAULT_BAND, Decision, Goal, NoiseEstimate, judge, summarize
from ci_track.gate.tolerance import Tolerance


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
    return judge("improvement", candidate, champion, goal, minimum, noise, band)


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
    return judge("drift", candidate, champions[best], goal, max_drift, noise, band)


def best_by_mean(groups: Sequence[Sequence[float]], goal: Goal) -> int:
    """Index of the group with the best mean (ties: the first); for `best`, never one lucky run."""
    if not groups:
        raise ValueError("no groups to rank")
    means = [summarize(group).mean for group in groups]
    pick = min if goal == "minimize" else max
    target = pick(means)
    return means.index(target)


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
