"""The comparison as data (pure, frozen): each metric judged, the params diff, the verdict.

Made by gate/comparison.py's `compare`, read by the decision, the headline and every report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ci_track.tracking.runs import RelatedRun, Run

if TYPE_CHECKING:
    from ci_track.gate.noise_gate import NoiseView

STATUSES = (
    "improved",
    "unchanged",
    "within_tolerance",
    "regressed",
    "out_of_bounds",
    "missing",
    "nan",
    "new",
    "removed",
    "info",
)


# Each metric status in words, for the reports.
STATUS_LABELS = {
    "improved": "improved",
    "unchanged": "unchanged",
    "within_tolerance": "within tolerance",
    "regressed": "regressed",
    "out_of_bounds": "out of bounds",
    "missing": "missing",
    "nan": "NaN/inf",
    "new": "new",
    "removed": "removed",
    "info": "info",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MetricResult:
    """One metric judged: its values, what happened (`status`) and what it means for the gate (`outcome`)."""

    name: str
    status: str  # one of STATUSES
    outcome: str  # ok | fail | warn | info
    candidate: float | None  # None: absent from the candidate run
    champion: float | None  # None: no champion, or the champion lacks it
    delta: float | None  # candidate - champion, when both are finite
    delta_pct: float | None  # delta as a percentage of |champion|; None when undefined (champion 0)
    configured: bool
    goal: str | None = None
    severity: str | None = None  # the rule's severity; None when not configured
    allowed: str | None = None  # the tolerance in words: "+2%", "-0.01", "none"
    aggregate: str | None = None  # the rule's aggregate (last, min, max, mean_last_N); None when not configured
    reason: str  # in words: "rmse 0.742 -> 0.801 (+7.9%), allowed +2%"
    short: str  # for the headline: "rmse +7.9% (allowed +2%)"
    # champion, candidate, delta and delta % as the reason shows them, when a failure or warning
    # needed more digits than the default to visibly break its rule (0.5 -> 0.51001 is +2.002%, not
    # +2.0%, against +2%); None: the default formats. The report tables show the same.
    shown: tuple[str, str, str, str] | None = None
    noise: NoiseView | None = None  # σ, z and the noise-aware decision (ci_track/gate/noise_gate.py)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParamChange:
    name: str
    change: str  # changed | added | removed
    champion: str | None
    candidate: str | None


def diff_params(champion: Mapping[str, str] | None, candidate: Mapping[str, str]) -> tuple[ParamChange, ...]:
    """What changed in the params; nothing when there is no champion to compare with."""
    if champion is None:
        return ()
    changes = []
    for name in sorted(set(champion) | set(candidate)):
        old, new = champion.get(name), candidate.get(name)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        changes.append(ParamChange(name=name, change=change, champion=old, candidate=new))
    return tuple(changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Comparison:
    candidate: Run
    champion: Run | None
    champion_source: str | None  # which rule found the champion, in words
    metrics: tuple[MetricResult, ...]  # configured first (file order), then new/info, then removed
    params: tuple[ParamChange, ...]  # sorted by name
    verdict: str  # pass | regression | no-champion
    no_champion_policy: str = "pass"
    notices: tuple[str, ...] = ()  # shown above the table: how the runs were chosen, what was skipped
    related_runs: tuple[RelatedRun, ...] = ()  # nested and extra runs of the candidate's training, not judged
    accepted: str | None = None  # a regression accepted by the override label: the notice (ci_track/gate/override.py)

    @property
    def failures(self) -> tuple[MetricResult, ...]:
        return tuple(m for m in self.metrics if m.outcome == "fail")

    @property
    def warnings(self) -> tuple[MetricResult, ...]:
        return tuple(m for m in self.metrics if m.outcome == "warn")

    @property
    def failure_count(self) -> int:
        return len(self.failures)

    @property
    def warning_count(self) -> int:
        return len(self.warnings)

    @property
    def gated(self) -> tuple[MetricResult, ...]:
        return tuple(m for m in self.metrics if m.configured)

    @property
    def others(self) -> tuple[MetricResult, ...]:
        return tuple(m for m in self.metrics if not m.configured)

    @property
    def passed(self) -> bool:
        """The gate's decision (what the commit status and delete-on-pass follow)."""
        return self.exit_code() == 0

    def exit_code(self, no_champion_policy: str | None = None, *, gate: bool = True) -> int:
        """0 pass, 1 regression; no-champion is 0 with policy `pass`, 1 with `fail`. `gate=False`: always 0."""
        if not gate:
            return 0
        if self.verdict == "regression":
            return 0 if self.accepted else 1
        if self.verdict == "no-champion":
            return 0 if (no_champion_policy or self.no_champion_policy) == "pass" else 1
        return 0

    @property
    def headline(self) -> str:
        """One line of at most 140 characters: the verdict and why (commit status description)."""
        from ci_track.gate.headline import headline

        return headline(self)
