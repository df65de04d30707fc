"""`promote: {require: improvement}` (pure): the counterpart of MLflow's `min_relative_change`.

With `require: improvement`, `ci-track promote` makes the run the champion only when, beyond passing
the gate, it is better than the current champion by more than `promote.min_improvement` on the
ranking metric (`champion.metric`), or, without one, on every gated metric with a goal and
severity `fail`. The minimum is any tolerance spelling: `"1%"`, `0.01` (MLflow's
min_relative_change / min_absolute_change, inclusive as there), `"2sigma"` (a significant gain,
with the same noise estimate as the gate), or a mapping; nothing set: any gain > 0. Both sides are
means over their repeats (ci_track/gate/repeats.py `check_improvement`). Without a champion there is
nothing to improve on: the first promotion goes through. So the champion cannot drift down by one
within-tolerance merge after another.
"""

from __future__ import annotations

from ci_track.gate.config import Config
from ci_track.gate.noise import Decision, Goal
from ci_track.gate.noise_gate import NoiseEvidence
from ci_track.gate.repeats import check_improvement


def improvement_metrics(config: Config) -> list[str]:
    """The metrics that must improve: the ranking metric, else every failing-severity gated metric with a goal."""
    if config.champion.metric and config.champion.metric in config.metrics:
        return [config.champion.metric]
    return [name for name, rule in config.metrics.items() if rule.goal and rule.severity == "fail"]


def improvement_decisions(config: Config, evidence: NoiseEvidence | None) -> list[tuple[str, Decision]]:
    """(metric, Decision) per metric that must improve and that both sides have; empty without a champion."""
    if evidence is None or evidence.champion_runs == 0:
        return []
    decisions = []
    for name in improvement_metrics(config):
        metric = evidence.metrics.get(name)
        rule = config.metrics[name]
        if metric is None or not metric.candidate or not metric.champion or rule.goal is None:
            continue
        goal: Goal = "maximize" if rule.goal == "maximize" else "minimize"
        minimum = config.promote.min_improvement
        decisions.append((name, check_improvement(metric.candidate, metric.champion, goal, minimum, metric.noise())))
    return decisions


def refusal(config: Config, evidence: NoiseEvidence | None) -> str | None:
    """Why the run is not a real improvement (one line), or None when it is (or nothing is required)."""
    if config.promote.require != "improvement":
        return None
    decisions = improvement_decisions(config, evidence)
    if evidence is not None and evidence.champion_runs and not decisions:
        wanted = ", ".join(improvement_metrics(config)) or "no gated metric with a goal"
        return f"promote.require is improvement, but no metric to measure it on is on both runs ({wanted})"
    failed = [f"{name}: {decision.reason}" for name, decision in decisions if decision.verdict == "fail"]
    if failed:
        return "not a real improvement over the champion (promote.require: improvement): " + "; ".join(failed)
    return None
