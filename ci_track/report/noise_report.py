"""The noise-aware gate in the reports (pure): sigma, its source, z and the confidence per metric.

`noise_fields` is the JSON report's `noise` object of a metric (docs/json-report-schema.md);
`noise_lines` the plain lines the console and the markdown report show (they escape them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ci_track.gate.noise_gate import noise_lines

if TYPE_CHECKING:
    from ci_track.gate.comparison import MetricResult
    from ci_track.gate.noise import Decision

__all__ = ["noise_fields", "noise_lines"]


def _number(value: float | None) -> float | str | None:
    if value is None:
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decision_dict(decision: Decision) -> dict[str, Any]:
    return {
        "test": decision.test,
        "verdict": decision.verdict,
        "confident": decision.confident,
        "sigma": _number(decision.noise.sigma),
        "source": decision.noise.source,
        "noise_runs": decision.noise.n,
        "dof": _number(decision.noise.dof),
        "se": _number(decision.se),
        "z": _number(decision.z),
        "threshold": _number(decision.threshold),
        "change": _number(decision.change),
        "allowance": _number(decision.allowance),
        "allowance_from": decision.allowance_from,
        "candidate_runs": decision.candidate.n,
        "candidate_mean": _number(decision.candidate.mean),
        "candidate_sd": _number(decision.candidate.sd),
        "champion_runs": decision.champion.n,
        "champion_mean": _number(decision.champion.mean),
        "champion_sd": _number(decision.champion.sd),
        "reason": decision.reason,
    }


def noise_fields(result: MetricResult) -> dict[str, Any]:
    """`{"noise": {...}}` for a metric judged with its noise, else nothing."""
    view = result.noise
    if view is None:
        return {}
    body = decision_dict(view.decision)
    body["applied"] = view.applied
    body["drift"] = decision_dict(view.drift) if view.drift is not None else None
    return {"noise": body}
