# ruff: noqa: RUF002  (σ in docstrings is the mathematics, not a look-alike letter)
"""The noise-aware part of the gate (pure): runs grouped into repeats, the evidence per metric, the hook into compare.

ci_track/tracking/history.py reads the runs (the candidate's and the champion's repeat groups, the
base branch's recent complete runs, the last K promoted champions); everything here is plain data.

- **Groups**: the runs of one commit that `ci-track run --repeat` recorded under one
  `ci.repeat_group` tag are one candidate (or one champion): their mean is the value the table
  shows and the gate judges, their spread is noise. Base-branch runs are grouped by repeat group,
  else by commit (two complete runs of one commit are repeats too).
- **Evidence per gated metric** (`build_evidence`): the candidate's and the champion's values, one
  per run; the repeat groups with ≥ 2 runs (candidate, champion, base-branch commits); the
  base-branch commits' single runs, oldest first (the history); the last K champions' values (for
  `max_drift`). ci_track/gate/noise.py's `estimate_noise` turns the last three into σ.
- **The hook** (`apply_noise`): a metric whose rule has a sigma part (`"3sigma"`, `{sigma: 3, ...}`)
  is decided by `noise.decide` (fail when worse by more than max(F, t·SE)); a metric with a fixed
  tolerance keeps today's verdict, and σ, z and the confidence are shown beside it when there is an
  estimate. `max_drift` fails a metric whose candidate is worse than the best recent champion by
  more than its own allowance. Bounds, NaN, missing values and `severity` come first, as in
  ci_track/gate/comparison.py: only a metric that reached the comparison with the champion is judged here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ci_track.gate.noise import Decision, Goal, NoiseEstimate, decide, estimate_noise
from ci_track.gate.repeats import check_drift
from ci_track.gate.tolerance import Tolerance

if TYPE_CHECKING:
    from ci_track.gate.comparison import MetricResult
    from ci_track.gate.config import Config, MetricRule
    from ci_track.tracking.runs import Run

REPEAT_GROUP_TAG = "ci.repeat_group"  # the runs of one `ci-track run --repeat`: one candidate
ATTEMPT_TAG = "ci.attempt"  # 1..N within the group
SEED_TAG = "ci.seed"  # the seed the attempt was given (CI_TRACK_SEED)
REPEATS_TAG = "ci.repeats"  # on every attempt: how many runs the group had when it ended, and why
_JUDGED = ("improved", "unchanged", "within_tolerance", "regressed")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricEvidence:
    candidate: tuple[float, ...]  # one value per run of the candidate group
    champion: tuple[float, ...]  # one value per run of the champion group
    repeat_groups: tuple[tuple[float, ...], ...]  # groups with ≥ 2 runs, candidate and champion included
    history: tuple[float, ...]  # base-branch single runs, one per commit, oldest first
    recent_champions: tuple[tuple[float, ...], ...] = ()  # the last K promoted champions, newest first

    def noise(self) -> NoiseEstimate:
        return estimate_noise(self.repeat_groups, self.history)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoiseEvidence:
    metrics: Mapping[str, MetricEvidence]
    candidate_runs: int
    champion_runs: int
    history_runs: int  # base-branch runs read for the history
    drift_window: int = 0  # K: promotions read for max_drift (0: none asked)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NoiseView:
    """What the reports show per metric: the noise-aware decision and whether it decided."""

    decision: Decision
    applied: bool  # True: the rule has a sigma part and this decision is the verdict; False: shown only
    drift: Decision | None = None


def group_key(run: Run) -> str:
    """A run's repeat group: its `ci.repeat_group` tag, else its commit, else itself."""
    return run.tags.get(REPEAT_GROUP_TAG) or run.head_sha or run.run_id


def group_by_repeat(runs: Iterable[Run]) -> list[list[Run]]:
    """Runs grouped by `group_key`, groups in the order their first run appears."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    return list(groups.values())


def finite_values(runs: Sequence[Run], name: str) -> tuple[float, ...]:
    """The finite values of `name`, one per run that has it (NaN and inf do not measure noise)."""
    return tuple(run.metrics[name] for run in runs if name in run.metrics and math.isfinite(run.metrics[name]))


def build_evidence(
    config: Config,
    candidate_runs: Sequence[Run],
    champion_runs: Sequence[Run],
    base_runs: Sequence[Run],
    recent_champions: Sequence[Sequence[Run]] = (),
    *,
    drift_window: int = 0,
) -> NoiseEvidence:
    """The evidence of every gated metric with a goal. `base_runs`: newest first, as searched; the
    candidate's and the champion's own runs are left out of the history (they are their groups)."""
    own = {run.run_id for run in (*candidate_runs, *champion_runs)}
    base_groups = group_by_repeat(run for run in base_runs if run.run_id not in own)
    metrics: dict[str, MetricEvidence] = {}
    for name, rule in config.metrics.items():
        if rule.goal is None:
            continue
        repeats = [finite_values(group, name) for group in base_groups if len(group) >= 2]
        repeats += [finite_values(candidate_runs, name), finite_values(champion_runs, name)]
        singles = [finite_values(group, name) for group in base_groups if len(group) == 1]
        # The history is read only for the last logged value: an aggregate of each base run's whole
        # history would cost one request per run, so such a metric gets its σ from repeats alone.
        history = tuple(values[0] for values in reversed(singles) if values) if rule.aggregate == "last" else ()
        metrics[name] = MetricEvidence(
            candidate=finite_values(candidate_runs, name),
            champion=finite_values(champion_runs, name),
            repeat_groups=tuple(values for values in repeats if len(values) >= 2),
            history=history,
            recent_champions=tuple(finite_values(group, name) for group in recent_champions),
        )
    return NoiseEvidence(
        metrics=metrics,
        candidate_runs=len(candidate_runs),
        champion_runs=len(champion_runs),
        history_runs=len(base_runs),
        drift_window=drift_window,
    )


def mean_run(run: Run, group: Sequence[Run]) -> Run:
    """`run` with each metric replaced by its mean over the group's runs that have it (finite values)."""
    if len(group) < 2:
        return run
    metrics = dict(run.metrics)
    for name in metrics:
        values = finite_values(group, name)
        if values and math.isfinite(metrics[name]):
            metrics[name] = math.fsum(values) / len(values)
    return dataclasses.replace(run, metrics=metrics)


def rule_tolerance(rule: MetricRule) -> Tolerance:
    """The rule's tolerance in the noise core's terms (a sigma spelling, or today's fixed one)."""
    if rule.noise is not None:
        return rule.noise
    if rule.tolerance_kind == "absolute":
        return Tolerance(absolute=rule.tolerance)
    if rule.tolerance_kind == "relative":
        return Tolerance(relative=rule.tolerance)
    return Tolerance()


def apply_noise(result: MetricResult, rule: MetricRule, evidence: NoiseEvidence | None) -> MetricResult:
    """`result` judged with its noise (see the module docstring); unchanged when there is nothing to judge."""
    if evidence is None or rule.goal is None or result.status not in _JUDGED:
        return result
    metric = evidence.metrics.get(rule.name)
    if metric is None or not metric.candidate or not metric.champion:
        return result
    if result.champion is None or not math.isfinite(result.champion):
        return result
    noise = metric.noise()
    decision = decide(metric.candidate, metric.champion, _goal(rule), rule_tolerance(rule), noise)
    applied = rule.noise is not None
    drift = None
    if rule.max_drift is not None and metric.recent_champions:
        drift = check_drift(metric.candidate, metric.recent_champions, _goal(rule), rule.max_drift, noise)
    view = NoiseView(decision=decision, applied=applied, drift=drift)
    result = dataclasses.replace(result, noise=view)
    if applied:
        result = _noise_verdict(result, rule, decision)
    if drift is not None and rule.max_drift is not None and drift.verdict == "fail" and result.outcome != "fail":
        result = dataclasses.replace(
            result,
            status="regressed",
            outcome=_outcome(rule),
            reason=f"{rule.name} drifted from the best of the last {len(metric.recent_champions)} champions: "
            f"{drift.reason} (max_drift {rule.max_drift.describe()})",
            short=f"{rule.name} drift (max {rule.max_drift.describe()})",
        )
    return result


def _noise_verdict(result: MetricResult, rule: MetricRule, decision: Decision) -> MetricResult:
    name = rule.name if rule.aggregate in (None, "last") else f"{rule.name} ({rule.aggregate})"
    worse = decision.change
    if decision.verdict == "fail":
        status, outcome = "regressed", _outcome(rule)
    elif worse < 0:
        status, outcome = "improved", "ok"
    elif worse == 0:
        status, outcome = "unchanged", "ok"
    else:
        status, outcome = "within_tolerance", "ok"
    sure = "" if decision.confident else ", not confident"
    short = f"{name} z {decision.z:.2f}{sure}" if decision.z is not None else f"{name} (no noise estimate)"
    if status == "regressed":
        short = f"{name} worse by {decision.change:.4g} > {decision.allowance:.4g}{sure}"
    shown = f"{decision.champion.mean:.6g} -> {decision.candidate.mean:.6g}"
    return dataclasses.replace(
        result, status=status, outcome=outcome, reason=f"{name} {shown}: {decision.reason}", short=short, shown=None
    )


def _outcome(rule: MetricRule) -> str:
    return {"fail": "fail", "warn": "warn", "info": "info"}[rule.severity]


def _goal(rule: MetricRule) -> Goal:
    return "maximize" if rule.goal == "maximize" else "minimize"


def noise_lines(results: Iterable[MetricResult]) -> list[str]:
    """One line per gated metric judged with its noise (plain text; the reports escape it)."""
    lines = []
    for result in results:
        view = result.noise
        if view is None:
            continue
        decision = view.decision
        how = "decides" if view.applied else "for information (fixed tolerance)"
        z = f"z {decision.z:.2f}" if decision.z is not None else "z —"
        sure = "confident" if decision.confident else "not confident"
        lines.append(f"{result.name}: {decision.noise.describe()}; {z}; {sure}; {how}")
        if view.drift is not None:
            lines.append(f"{result.name} drift: {view.drift.reason}")
    return lines
