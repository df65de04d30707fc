"""One value per run out of a metric's logged history, as a rule's `aggregate:` asks (pure).

MLflow keeps every value a run logged for a key (`mlflow.log_metric("val_loss", v, step=i)`)
and reports the latest one. The gate judges that latest value unless the metric's rule says
otherwise:

- `last` (default): the value at the highest step; of several values at that step, the latest
  timestamp (MLflow's own "latest"). The gate reads it from the run itself: no history request.
- `min`, `max`: the smallest / largest of every logged value.
- `mean_last_N`: the mean of the last N distinct steps, each step's value being its latest
  timestamp (fewer steps than N: the mean of all of them).

NaN: without `allow_nan`, a NaN anywhere in the values an aggregate reads makes the aggregate NaN,
so the comparison's NaN rule fails the metric (a diverged step is not hidden by `min`). With
`allow_nan: true` NaN points are skipped; only NaN points give NaN (accepted, as for `last`).
Infinities are ordinary ordered values here (`max` of a history with +inf is +inf, which the
comparison then treats as not finite).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence


@dataclasses.dataclass(frozen=True)
class HistoryPoint:
    step: int
    timestamp: int
    value: float


def aggregate_history(points: Iterable[HistoryPoint], aggregate: str, *, allow_nan: bool = False) -> float | None:
    """The history reduced to one value; None for an empty history."""
    history = list(points)
    if allow_nan:
        finite_or_inf = [p for p in history if not math.isnan(p.value)]
        if not finite_or_inf:
            return math.nan if history else None
        history = finite_or_inf
    if not history:
        return None
    if aggregate == "last":
        return _per_step(history)[-1]
    values = [p.value for p in history]
    if aggregate in ("min", "max"):
        if any(math.isnan(v) for v in values):
            return math.nan
        return min(values) if aggregate == "min" else max(values)
    window = mean_window(aggregate)
    if window is None:
        raise ValueError(f"unknown aggregate {aggregate!r}")  # config.py only lets known ones through
    last_steps = _per_step(history)[-window:]
    return _mean(last_steps)


def mean_window(aggregate: str) -> int | None:
    prefix = "mean_last_"
    if aggregate.startswith(prefix) and aggregate[len(prefix) :].isdigit():
        return int(aggregate[len(prefix) :])
    return None


def _per_step(history: Sequence[HistoryPoint]) -> list[float]:
    """One value per distinct step, in step order: the latest timestamp wins, then the larger value (as MLflow)."""
    best: dict[int, HistoryPoint] = {}
    for point in history:
        kept = best.get(point.step)
        if kept is None or _later(point, kept):
            best[point.step] = point
    return [best[step].value for step in sorted(best)]


def _later(point: HistoryPoint, kept: HistoryPoint) -> bool:
    if point.timestamp != kept.timestamp:
        return point.timestamp > kept.timestamp
    # Same step and timestamp: MLflow's latest_metrics keeps the larger value; NaN compares as largest there.
    if math.isnan(point.value) or math.isnan(kept.value):
        return math.isnan(point.value)
    return point.value > kept.value


def _mean(values: Sequence[float]) -> float:
    if any(math.isnan(v) for v in values):
        return math.nan
    if any(math.isinf(v) for v in values):
        return math.fsum(values) if len({math.copysign(1, v) for v in values if math.isinf(v)}) == 1 else math.nan
    return math.fsum(values) / len(values)
