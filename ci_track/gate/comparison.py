"""The merge gate's decision: a candidate run against the champion under the configured rules (pure).

`compare(candidate, champion, config)` judges every metric and returns a frozen `Comparison`
that the reports render and the CLI turns into an exit code. Nothing here does I/O.

Rules for a configured metric (`metrics:` in .ci-track.yml), checked in this order:

1. absent from the candidate run -> `missing`; the `missing:` policy (fail | warn) decides,
   capped by the metric's severity (a `severity: info` metric never fails the gate);
2. NaN or infinite in the candidate -> `nan`, a failure of that metric unless `allow_nan: true`
   (then it is accepted, but an infinite value still breaches a bound);
3. below `min` or above `max` -> `out_of_bounds`, even when better than the champion: bounds
   are hard;
4. no champion, or the champion lacks the metric -> `new` (nothing to compare with); when a
   champion exists but lacks a metric that has a goal, that is a warning, never a silent pass, and
   when it lacks every gated metric it is unusable: each of them fails (the gate fails closed);
5. no `goal` -> `info` (only the checks above apply);
6. else, against the champion's value: equal -> `unchanged`; better -> `improved`; worse by at
   most the tolerance -> `within_tolerance`; worse by more -> `regressed`. A value exactly at the
   limit is within it (compared with a relative slack of 1e-9 so float noise does not decide).
   A champion value of NaN counts as worse than any finite value; an infinite one is compared by
   order, and a worsening from it is beyond any tolerance.

Values: each side's value is the one the rule's `aggregate:` picks from the run's logged history
(`last` by default; see ci_track/gate/aggregates.py); the gate computes them before calling `compare`,
which only names the aggregate in the reasons (`val_loss (min) 0.2 -> 0.1`).

Tolerances: `absolute` is in the metric's units; `relative` is a percentage of the champion's
absolute value. **A champion value of 0 under a relative tolerance**: the relative change is
undefined (`delta_pct` is None), so any worsening from 0 is a regression whatever the percentage
(a percentage of 0 allows nothing), no change is `unchanged` and an improvement is `improved`; the
metric's `reason` says so.

`regressed`, `out_of_bounds` and `nan` follow the metric's severity: `fail` fails the gate, `warn`
is counted as a warning, `info` is only reported. That is the result's `outcome`
(ok | fail | warn | info).

Noise: with a sigma part in `max_regression` (`"3sigma"`), each result is then judged again against
the noise the gate read (`evidence`; ci_track/gate/noise_gate.py). Numbers in words: gate/numbers.py.

Metrics that are not configured are reported, never gated: `info` (with their delta) when the
champion has them too, `new` when it does not, and champion metrics absent from the candidate are
`removed`.

The verdict: `regression` when any metric's outcome is `fail` (with or without a champion: a NaN
or a breached bound fails on its own), else `no-champion` when there was no champion, else `pass`.
`Comparison.exit_code()`: pass 0, regression 1 (0 when the override label accepts it), no-champion
0 with `no_champion: pass` and 1 with `no_champion: fail`; with `gate=False` always 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from ci_track.gate.config import Config, MetricRule
from ci_track.gate.noise_gate import NoiseEvidence, apply_noise
from ci_track.gate.numbers import (
    SLACK,
    change_words,
    clearly_above,
    finite,
    format_delta,
    format_delta_beyond,
    format_percent,
    format_percent_beyond,
    format_value,
    format_values_apart,
    short_change_words,
)
from ci_track.gate.results import Comparison, MetricResult, diff_params
from ci_track.tracking.runs import RelatedRun, Run

# ---------------------------------------------------------------- numbers in words


def _delta(candidate: float | None, champion: float | None) -> tuple[float | None, float | None]:
    if candidate is None or champion is None or not (finite(candidate) and finite(champion)):
        return None, None
    delta = candidate - champion
    pct = None if champion == 0 else delta / abs(champion) * 100.0
    return delta, pct


# ---------------------------------------------------------------- the comparison


def compare(
    candidate: Run,
    champion: Run | None,
    config: Config,
    *,
    champion_source: str | None = None,
    notices: tuple[str, ...] = (),
    related_runs: tuple[RelatedRun, ...] = (),
    evidence: NoiseEvidence | None = None,
) -> Comparison:
    """Judge `candidate` against `champion` (None: no champion was found) under `config`'s rules."""
    champion_metrics: Mapping[str, float] = champion.metrics if champion is not None else {}
    has_champion = champion is not None
    results = [  # then with its noise, when the gate read any (noise_gate.py)
        apply_noise(
            _judge(rule, candidate.metrics.get(name), champion_metrics.get(name), config, has_champion=has_champion),
            rule,
            evidence,
        )
        for name, rule in config.metrics.items()
    ]
    if champion is not None:
        results = _unusable_champion(results, config, champion)
    for name in sorted(set(candidate.metrics) - set(config.metrics)):
        results.append(_unconfigured(name, candidate.metrics[name], champion_metrics.get(name)))
    for name in sorted(set(champion_metrics) - set(candidate.metrics) - set(config.metrics)):
        value = champion_metrics[name]
        reason = f"{name} was {format_value(value)} in the champion run and is absent from the candidate"
        results.append(_one_sided(name, "removed", None, value, reason))
    if any(r.outcome == "fail" for r in results):
        verdict = "regression"
    elif champion is None:
        verdict = "no-champion"
    else:
        verdict = "pass"
    return Comparison(
        candidate=candidate,
        champion=champion,
        champion_source=champion_source,
        metrics=tuple(results),
        params=diff_params(champion.params if champion is not None else None, candidate.params),
        verdict=verdict,
        no_champion_policy=config.no_champion,
        notices=notices,
        related_runs=related_runs,
    )


def _unusable_champion(results: list[MetricResult], config: Config, champion: Run) -> list[MetricResult]:
    """A champion that has none of the gated metrics cannot serve as a baseline: fail closed on each.

    One gated metric the champion lacks is a warning (`new`, see `_judge`): the rule is newer than
    the champion. When it lacks every metric that has a goal, the champion is unusable (renamed
    metrics, or a run that never logged them), and passing would judge nothing at all.
    """
    judged = [r for r in results if r.goal and r.severity == "fail" and r.candidate is not None]
    if not judged or any(r.champion is not None for r in judged):
        return results
    reason = (
        f"the champion run {champion.run_id} has none of the gated metrics "
        f"({', '.join(r.name for r in judged[:5])}{', …' if len(judged) > 5 else ''}): it cannot serve as a "
        "baseline, so the gate fails closed (promote a run that logs them, with --force if needed)"
    )
    names = {r.name for r in judged}
    return [
        dataclasses.replace(r, outcome="fail", reason=f"{r.name}: {reason}", short=f"{r.name} no baseline")
        if r.name in names
        else r
        for r in results
    ]


def _severity_outcome(severity: str) -> str:
    return {"fail": "fail", "warn": "warn", "info": "info"}[severity]


def _judge(
    rule: MetricRule,
    candidate: float | None,
    champion: float | None,
    config: Config,
    *,
    has_champion: bool,
) -> MetricResult:
    key = rule.name
    name = metric_label(key, rule.aggregate)  # in words: "val_loss (min)" says which value was judged
    delta, pct = _delta(candidate, champion)
    allowed = rule.allowed_worsening() if rule.goal else None

    def result(
        status: str, outcome: str, reason: str, short: str, shown: tuple[str, str, str, str] | None = None
    ) -> MetricResult:
        return MetricResult(
            name=key,
            status=status,
            outcome=outcome,
            candidate=candidate,
            champion=champion,
            delta=delta,
            delta_pct=pct,
            configured=True,
            goal=rule.goal,
            severity=rule.severity,
            allowed=allowed,
            aggregate=rule.aggregate,
            reason=reason,
            short=short,
            shown=shown,
        )

    # 1. missing: the `missing` policy, never stricter than the metric's severity.
    if candidate is None:
        outcome = config.missing if rule.severity == "fail" else rule.severity
        where = f" (champion: {format_value(champion)})" if champion is not None else ""
        return result(
            "missing",
            outcome,
            f"{name} is missing from the candidate run{where}; missing: {config.missing}",
            f"{name} missing",
        )

    # 2. NaN / infinity.
    if not math.isfinite(candidate):
        shown = format_value(candidate)
        if not rule.allow_nan:
            return result(
                "nan",
                _severity_outcome(rule.severity),
                f"{name} is {shown} in the candidate run (set allow_nan: true to accept it)",
                f"{name} {shown}",
            )
        if _bound_breach(rule, candidate) is None:
            return result("nan", "ok", f"{name} is {shown}, accepted (allow_nan: true)", f"{name} {shown}")

    # 3. hard bounds, even when better than the champion.
    breach = _bound_breach(rule, candidate)
    if breach is not None:
        word, bound = breach
        shown_candidate, shown_bound = format_values_apart(candidate, bound)  # 0.3000001 is above 0.3
        reason = f"{name} {shown_candidate} is {word} the {'minimum' if word == 'below' else 'maximum'} "
        reason += shown_bound
        if champion is not None and math.isfinite(champion) and rule.goal and _better(rule.goal, candidate, champion):
            reason += f", although better than the champion's {format_value(champion)}: bounds are hard"
        sign = "<" if word == "below" else ">"
        return result(
            "out_of_bounds",
            _severity_outcome(rule.severity),
            reason,
            f"{name} {shown_candidate} {sign} {'min' if word == 'below' else 'max'} {shown_bound}",
            (format_value(champion), shown_candidate, format_delta(delta), format_percent(pct)),
        )

    # 4. nothing to compare with. A champion that lacks a gated metric is said out loud (a warning,
    # never a silent pass): the rule is newer than the champion, so only the bounds were checked.
    if champion is None:
        if not has_champion:
            return result("new", "ok", f"{name} {format_value(candidate)} (no champion to compare with)", f"{name} new")
        outcome = "warn" if rule.goal and rule.severity != "info" else "info"
        return result(
            "new",
            outcome,
            f"{name} {format_value(candidate)}: the champion run has no {name}, so it was not compared "
            "(only its bounds were checked); it will be once a run that logs it is promoted",
            f"{name} no baseline",
        )

    shown_champion, shown_candidate = format_values_apart(champion, candidate)
    change = f"{name} {shown_champion} -> {shown_candidate}"

    # 5. no direction: bounds only.
    if rule.goal is None:
        if candidate == champion:
            return result("unchanged", "ok", f"{change} (unchanged)", f"{name} unchanged")
        return result(
            "info", "ok", f"{change} ({change_words(delta, pct)}); no goal set, only bounds are checked", name
        )

    # 6. against the champion.
    if candidate == champion:
        return result("unchanged", "ok", f"{change} (unchanged)", f"{name} unchanged")
    if math.isnan(champion) or _better(rule.goal, candidate, champion):
        note = "; the champion's value was NaN" if math.isnan(champion) else ""
        return result(
            "improved", "ok", f"{change} ({change_words(delta, pct)}){note}", f"{name} {short_change_words(delta, pct)}"
        )
    # Worse from here on.
    if math.isinf(champion):
        return result(
            "regressed",
            _severity_outcome(rule.severity),
            f"{change}: worse than an infinite champion value, beyond any tolerance",
            f"{name} worse than {format_value(champion)}",
        )
    assert delta is not None
    worsening = abs(delta)
    # Show the change in the tolerance's own terms; without a tolerance, both.
    prefer = {"relative": "percent", "absolute": "delta"}.get(rule.tolerance_kind, "both")
    shown = change_words(delta, pct, prefer=prefer)
    short_change = short_change_words(delta, pct, prefer="delta" if prefer == "delta" else "percent")
    if rule.tolerance_kind == "none":
        return result(
            "regressed",
            _severity_outcome(rule.severity),
            f"{change} ({shown}), no worsening allowed",
            f"{name} {short_change} (none allowed)",
        )
    if rule.tolerance_kind == "relative" and champion == 0:
        return result(
            "regressed",
            _severity_outcome(rule.severity),
            f"{change} ({format_delta(delta)}): the relative change from 0 is undefined, so any worsening "
            f"exceeds the allowed {allowed}",
            f"{name} {format_delta(delta)} from 0 (allowed {allowed})",
        )
    limit = rule.tolerance if rule.tolerance_kind == "absolute" else rule.tolerance / 100.0 * abs(champion)
    if worsening <= limit or math.isclose(worsening, limit, rel_tol=SLACK):
        return result(
            "within_tolerance",
            "ok",
            f"{change} ({shown}), allowed {allowed}",
            f"{name} {short_change} (allowed {allowed})",
        )
    # Beyond the allowance: show as many digits as it takes to see it (+2.002%, not +2.0%, against +2%).
    # The values too: 0.5 -> 0.51 would read as exactly +0.01 when the candidate is 0.5100001.
    shown_champion, shown_candidate = format_values_apart(
        champion, candidate, enough=lambda old, new: clearly_above(abs(new - old), limit)
    )
    change = f"{name} {shown_champion} -> {shown_candidate}"
    if rule.tolerance_kind == "absolute":
        beyond = format_delta_beyond(delta, rule.tolerance)
        cells = (shown_champion, shown_candidate, beyond, format_percent(pct))
    else:
        assert pct is not None
        beyond = format_percent_beyond(pct, rule.tolerance)
        cells = (shown_champion, shown_candidate, format_delta(delta), beyond)
    return result(
        "regressed",
        _severity_outcome(rule.severity),
        f"{change} ({beyond}), allowed {allowed}",
        f"{name} {beyond} (allowed {allowed})",
        cells,
    )


def metric_label(name: str, aggregate: str | None) -> str:
    """`val_loss (min)` when the value judged is not the last one logged, else the name alone."""
    return name if aggregate in (None, "last") else f"{name} ({aggregate})"


def _bound_breach(rule: MetricRule, value: float) -> tuple[str, float] | None:
    if math.isnan(value):
        return None
    if rule.min is not None and value < rule.min:
        return "below", rule.min
    if rule.max is not None and value > rule.max:
        return "above", rule.max
    return None


def _better(goal: str, candidate: float, champion: float) -> bool:
    return candidate < champion if goal == "minimize" else candidate > champion


def _ungated(
    name: str,
    status: str,
    candidate: float | None,
    champion: float | None,
    reason: str,
    *,
    short: str,
    delta: float | None = None,
    delta_pct: float | None = None,
) -> MetricResult:
    """A metric no rule names: shown with its change (`info`, `new` or `removed`), never gated."""
    return MetricResult(
        name=name,
        status=status,
        outcome="info",
        candidate=candidate,
        champion=champion,
        delta=delta,
        delta_pct=delta_pct,
        configured=False,
        reason=reason,
        short=short,
    )


def _one_sided(name: str, status: str, candidate: float | None, champion: float | None, reason: str) -> MetricResult:
    """An unconfigured metric only one of the runs has (`new` or `removed`)."""
    return _ungated(name, status, candidate, champion, reason, short=f"{name} {status}")


def _unconfigured(name: str, candidate: float, champion: float | None) -> MetricResult:
    if champion is None:
        return _one_sided(
            name, "new", candidate, None, f"{name} {format_value(candidate)} (not in the champion run; not gated)"
        )
    delta, pct = _delta(candidate, champion)
    change = "unchanged" if candidate == champion else change_words(delta, pct)
    reason = f"{name} {format_value(champion)} -> {format_value(candidate)} ({change}; not gated)"
    return _ungated(name, "info", candidate, champion, reason, short=name, delta=delta, delta_pct=pct)
