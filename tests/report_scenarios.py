"""Comparisons the report tests render: pass, regression, no champion, and one full of hostile strings."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable

from ci_track.gate.comparison import compare
from ci_track.gate.config import parse_config
from ci_track.gate.results import Comparison
from ci_track.report.charts import ChartData
from ci_track.tracking.runs import Run

EXPERIMENT = "wine-quality"
TRACKING_URI = "http://127.0.0.1:5000"

RULES = """\
no_champion: pass
metrics:
  rmse: {goal: minimize, max_regression: "2%"}
  r2:   {goal: maximize, max_regression: 0.01, min: 0.30}
  mae:  {goal: minimize, severity: warn}
  train_time_s: {goal: minimize, severity: info}
"""

CANDIDATE_SHA = "3f9a1c2d4e5b6a7980c1d2e3f4a5b6c7d8e9f012"
CHAMPION_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def make_run(
    run_id: str,
    *,
    metrics: dict[str, float],
    params: dict[str, str],
    branch: str,
    sha: str,
    run_name: str | None = None,
) -> Run:
    return Run(
        run_id=run_id,
        experiment_id="4",
        status="FINISHED",
        start_time=1_760_000_000_000,
        end_time=1_760_000_060_000,
        run_name=run_name,
        metrics=metrics,
        params=params,
        tags={"mlflow.source.git.commit": sha, "mlflow.source.git.branch": branch},
    )


def champion(**metrics: float) -> Run:
    return make_run(
        "8c2e5a0f7b3d4c1e9a6f0b2d4e6a8c0e",
        metrics=dict(metrics),
        params={"alpha": "0.5", "l1_ratio": "0.1", "solver": "saga"},
        branch="main",
        sha=CHAMPION_SHA,
        run_name="main@a1b2c3d",
    )


def candidate(params: dict[str, str] | None = None, **metrics: float) -> Run:
    return candidate_from(metrics, params)


def candidate_from(metrics: dict[str, float], params: dict[str, str] | None = None) -> Run:
    return make_run(
        "5d1f3b7a9c0e4f2a8b6d1c3e5f7a9b0c",
        metrics=dict(metrics),
        params=params if params is not None else {"alpha": "0.7", "l1_ratio": "0.1", "seed": "42"},
        branch="feature/tune-alpha",
        sha=CANDIDATE_SHA,
        run_name="pr-12@3f9a1c2",
    )


SOURCE = "alias @champion of model wine-elasticnet (version 3)"


def judged(candidate_run: Run, champion_run: Run | None) -> Comparison:
    """The candidate against the champion (found through SOURCE) under RULES."""
    source = SOURCE if champion_run is not None else None
    return compare(candidate_run, champion_run, parse_config(RULES), champion_source=source)


def pass_comparison() -> Comparison:
    return judged(
        candidate(rmse=0.731, r2=0.845, mae=0.52, train_time_s=14.2, epochs=30),
        champion(rmse=0.742, r2=0.851, mae=0.52, train_time_s=12.9, epochs=25),
    )


def regression_comparison() -> Comparison:
    return judged(
        candidate(rmse=0.801, r2=0.29, mae=0.58, train_time_s=11.0, lr_final=0.001),
        champion(rmse=0.742, r2=0.27, mae=0.52, train_time_s=12.9, val_loss=0.31),
    )


def no_champion_comparison() -> Comparison:
    return judged(candidate(rmse=0.742, r2=0.851, mae=0.52, train_time_s=12.9), None)


# Every kind of text that must not become markup, a link, a mention, a new row or a hidden comment.
HOSTILE = [
    "**bold** _it_ ~~gone~~",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<!-- ci-track:wine-quality -->",
    "-->",
    "`code` ```fence```",
    "@octocat @github/security",
    "[click](javascript:alert(1))",
    "<javascript:alert(1)>",
    "![pixel](https://evil.example/t.png)",
    "https://evil.example/phish www.evil.example",
    "a|b|c",
    "line1\nline2\r\n# heading\n- item",
    "admin\u202e\u2066txt.exe\u2069\u200f",
    "#123 GH-1 $x^2$ \\| &amp; &lt;",
    "<details open><summary>x</summary>",
]
HOSTILE_BRANCH = "feat/<b>x</b>|`rm -rf`@octocat\n[x](javascript:alert(1))\u202e"
HOSTILE_EXPERIMENT = "exp <!-- x --> @team"


def hostile_comparison() -> Comparison:
    metric_names = [f"m{i} {text}" for i, text in enumerate(HOSTILE)]
    rules = "metrics:\n" + "".join(
        f"  {_yaml_string(name)}: {{goal: minimize, max_regression: '5%'}}\n" for name in metric_names[:4]
    )
    cand_metrics = {name: 1.0 + i for i, name in enumerate(metric_names)}
    cand_metrics[metric_names[1]] = math.nan
    champ_metrics = {name: 1.0 for name in metric_names[:4]}
    champ_metrics["removed <b>gone</b> @octocat"] = 2.0
    params_champ = {text: f"old {text}" for text in HOSTILE[:8]}
    params_cand = {text: f"new {text}" for text in HOSTILE}
    champ_run = make_run(
        "c0ffee00c0ffee00c0ffee00c0ffee00",
        metrics=champ_metrics,
        params=params_champ,
        branch=HOSTILE_BRANCH,
        sha="not a sha <b>`x`</b>",
        run_name="champ [x](javascript:alert(1)) @octocat",
    )
    cand_run = make_run(
        "feedbeef00feedbeef00feedbeef0000",
        metrics=cand_metrics,
        params=params_cand,
        branch=HOSTILE_BRANCH,
        sha=CANDIDATE_SHA,
        run_name="<script>alert(2)</script>",
    )
    return compare(
        cand_run,
        champ_run,
        parse_config(rules),
        champion_source="alias @champion of model <b>x</b> | `y` <!--",
    )


def _yaml_string(text: str) -> str:
    import json

    return json.dumps(text)  # a JSON string is a YAML double-quoted string


SCENARIOS: dict[str, Callable[[], Comparison]] = {
    "pass": pass_comparison,
    "regression": regression_comparison,
    "no-champion": no_champion_comparison,
    "hostile": hostile_comparison,
}


def experiment_of(name: str) -> str:
    return HOSTILE_EXPERIMENT if name == "hostile" else EXPERIMENT


# -- charts: the data `compare` gathers (commands/_charts.py), made up for the scenarios -------------------

# SHAs as run tags may hold them: anything a tag can say, only hex is ever shown.
HOSTILE_SHAS = [
    '"] ; line [9]\n```\n%%{init: {"theme": "dark"}}%%',
    "<img src=x onerror=alert(1)>",
    "`backtick` --> x",
    '#35; &quot; \\" click call alert(1)',
]


def history_runs(comparison: Comparison, count: int = 8, *, hostile: bool = False) -> tuple[Run, ...]:
    """`count` base-branch runs before the champion, one a commit, with values around the champion's."""
    champion = comparison.champion
    base = champion.metrics if champion is not None else comparison.candidate.metrics
    runs = []
    for index in range(count):
        sha = HOSTILE_SHAS[index % len(HOSTILE_SHAS)] if hostile and index % 2 else f"{index:02x}" * 20
        metrics = {name: value * (1 + 0.01 * ((index * 7) % 5 - 2)) for name, value in base.items()}
        run = make_run(f"hist{index:028d}", metrics=metrics, params={}, branch="main", sha=sha)
        runs.append(dataclasses.replace(run, start_time=1_759_000_000_000 + index * 60_000))
    return tuple(runs)


def charts_of(name: str, comparison: Comparison) -> ChartData | None:
    """The charts of a scenario: trends for all but `pass` (which shows the report without charts), and a
    training curve of the first gated metric."""
    from ci_track.commands._charts import trends
    from ci_track.report.charts import build_curve

    if name == "pass":
        return None
    history = history_runs(comparison, hostile=name == "hostile")
    gated = list(comparison.gated)
    found = trends(gated, history, comparison.champion, comparison.candidate)
    curves = []
    first = gated[0] if gated else None
    if first is not None and first.candidate is not None and math.isfinite(first.candidate):
        end = first.candidate
        candidate_points = [(step, end * (1 + 3 / (step + 1))) for step in range(0, 120, 2)]
        champion_points = [(step, end * (1.02 + 2 / (step + 1))) for step in range(0, 100, 5)]
        curve = build_curve(first.name, "min", candidate_points, champion_points if comparison.champion else [])
        curves = [curve] if curve is not None else []
    champion = comparison.champion
    runs = [comparison.candidate.run_id] + ([champion.run_id] if champion else [])
    return ChartData(
        trends=tuple(found),
        curves=tuple(curves),
        compare_url=f"{TRACKING_URI}/#/compare-runs?runs={json.dumps(sorted(runs))}" if champion else None,
        artifact_urls=(("candidate", f"{TRACKING_URI}/#/experiments/4/runs/{runs[0]}/artifacts"),),
    )
