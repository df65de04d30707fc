"""The data of the report's charts, gathered for `compare` (ci_track/report/charts.py draws them, pure).

Cost, whatever the size of the experiment: the trend reuses the base branch's history the gate
read in its one bounded search (tracking/history.py: `run_gate` asks for it when charts are on, and
a rule with a sigma part reads it anyway), so it costs at most that one search; the training curves
cost one `metrics/get-history-bulk-interval` request per charted metric (candidate and champion in
the same request), DEFAULT_MAX_CURVES of them. A failure to read a curve (a server without that
endpoint, MLflow before 2.10) leaves the curve out with a note: charts never decide the gate.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ci_track.errors import TrackingError
from ci_track.report.charts import (
    DEFAULT_MAX_CHARTS,
    DEFAULT_MAX_CURVES,
    ChartData,
    Curve,
    Trend,
    build_curve,
    build_trend,
)

if TYPE_CHECKING:
    from ci_track.commands._gate import GateOutcome
    from ci_track.gate.results import MetricResult
    from ci_track.tracking.client import MlflowClient
    from ci_track.tracking.runs import Run


def _band(result: MetricResult) -> tuple[float, float] | None:
    """The band the noise-aware gate allows around the champion (champion ± its allowance), where it measured noise."""
    view = result.noise
    if view is None or result.champion is None:
        return None
    allowance = view.decision.allowance
    if allowance is None or not math.isfinite(allowance) or allowance <= 0:
        return None
    return result.champion - allowance, result.champion + allowance


def trends(results: list[MetricResult], history: tuple[Run, ...], champion: Run | None, candidate: Run) -> list[Trend]:
    """A trend for each of the first DEFAULT_MAX_CHARTS gated metrics the history and both sides have."""
    from ci_track.gate.comparison import metric_label

    found: list[Trend] = []
    for result in results:
        if len(found) >= DEFAULT_MAX_CHARTS:
            break
        if result.candidate is None:
            continue
        points = [
            (run.head_sha, run.start_time, run.metrics[result.name])
            for run in history
            if result.name in run.metrics and run.run_id != candidate.run_id
        ]
        champion_point = None
        if champion is not None and result.champion is not None:
            champion_point = (champion.head_sha, champion.start_time, result.champion)
        trend = build_trend(
            result.name,
            metric_label(result.name, result.aggregate),
            points,
            champion=champion_point,
            candidate=(candidate.head_sha, result.candidate),
            band=_band(result),
        )
        if trend is not None:
            found.append(trend)
    return found


def curves(
    client: MlflowClient, results: list[MetricResult], candidate: Run, champion: Run | None
) -> tuple[list[Curve], list[str]]:
    """Training curves of the first DEFAULT_MAX_CURVES gated metrics the candidate has; (curves, notes)."""
    found: list[Curve] = []
    notes: list[str] = []
    wanted = [r for r in results if r.candidate is not None and r.name in candidate.metrics][:DEFAULT_MAX_CURVES]
    for result in wanted:
        run_ids = [candidate.run_id] + ([champion.run_id] if champion is not None else [])
        try:
            histories = client.get_metric_histories(run_ids, result.name)
        except TrackingError as error:
            why = error.status or error
            notes.append(f"no training curve of {result.name}: the server did not give its history ({why})")
            continue
        curve = build_curve(
            result.name,
            result.aggregate,
            histories.get(candidate.run_id, []),
            histories.get(champion.run_id, []) if champion is not None else [],
        )
        if curve is not None:
            found.append(curve)
    return found, notes


def gather_charts(client: MlflowClient, outcome: GateOutcome) -> ChartData:
    """Everything the charts of `outcome`'s report show (see the module docstring for the cost)."""
    comparison = outcome.comparison
    candidate, champion = comparison.candidate, comparison.champion
    gated = list(comparison.gated)
    found_curves, notes = curves(client, gated, candidate, champion)
    compare_url = None
    artifact_urls = [("candidate", client.artifacts_url(candidate.experiment_id, candidate.run_id))]
    if champion is not None:
        compare_url = client.compare_url(
            [candidate.experiment_id, champion.experiment_id], [candidate.run_id, champion.run_id]
        )
        artifact_urls.append(("champion", client.artifacts_url(champion.experiment_id, champion.run_id)))
    return ChartData(
        trends=tuple(trends(gated, outcome.history, champion, candidate)),
        curves=tuple(found_curves),
        compare_url=compare_url,
        artifact_urls=tuple(artifact_urls),
        notes=tuple(notes),
    )
