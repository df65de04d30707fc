"""Metrics logged at many steps: the rule's `aggregate:` picks the value judged, on both runs.

End to end with a real training script on the MLflow client (`mlflow.log_metric(key, v, step=i)`),
the real CLI, a real git repository and a real MLflow server, requests counted through a proxy;
plus the pure step semantics and the configuration's validation.
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from pathlib import Path

import jsonschema
import pytest

from ci_track.errors import ConfigError
from ci_track.gate.aggregates import HistoryPoint, aggregate_history
from ci_track.gate.config import parse_config
from ci_track.settings import TrackingSettings
from ci_track.tracking.client import MlflowClient
from tests.cli_helpers import base_env, ci_track, commit_all, git, init_repo
from tests.fakes.fault_proxy import FaultProxy
from tests.mlflow_server import MlflowServer
from tests.unit.test_reports import documented_schema

TRAIN = """\
import json
import mlflow

with open("curve.json") as spec:
    curves = json.load(spec)
with mlflow.start_run():
    for key, values in curves.items():
        for step, value in enumerate(values):
            mlflow.log_metric(key, value, step=step)
print("trained")
"""

RULES = """\
experiment: {experiment}
base_branch: main
champion: {{strategy: latest}}
metrics:
  val_loss: {{goal: minimize{aggregate}}}
  acc: {{goal: maximize}}
"""


def curve(best: float, last: float, steps: int = 12) -> list[float]:
    """A validation curve that dips to `best` at two thirds of the way, then overfits up to `last`."""
    low = steps * 2 // 3
    down = [1.0 - (1.0 - best) * i / low for i in range(low + 1)]
    up = [best + (last - best) * i / (steps - low - 1) for i in range(1, steps - low)]
    return down + up


def _train(repo: Path, server: str, curves: dict[str, list[float]], message: str) -> None:
    (repo / "curve.json").write_text(json.dumps(curves))
    commit_all(repo, message)
    trained = ci_track("run", "--", sys.executable, "train.py", env=base_env(MLFLOW_TRACKING_URI=server), cwd=repo)
    assert trained.code == 0, trained.stderr


@pytest.fixture(scope="module")
def aggregated_experiment() -> str:
    return f"test-aggregates-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def overfitting_pr(
    tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer, aggregated_experiment: str
) -> Path:
    """main: best val_loss 0.20, last 0.25. The PR: best 0.10, last 0.30 (better model, stopped late).

    Module-scoped: training through the MLflow client takes seconds; each test only rewrites the rules.
    """
    experiment_name = aggregated_experiment
    repo = tmp_path_factory.mktemp("aggregates") / "repo"
    init_repo(repo, {"train.py": TRAIN, ".ci-track.yml": RULES.format(experiment=experiment_name, aggregate="")})
    _train(repo, mlflow_server.url, {"val_loss": curve(0.20, 0.25), "acc": [0.5, 0.8]}, "main model")
    git(repo, "checkout", "-q", "-b", "feature/deeper")
    _train(repo, mlflow_server.url, {"val_loss": curve(0.10, 0.30), "acc": [0.6, 0.8]}, "deeper model")
    return repo


def _compare(repo: Path, server: str, experiment: str, aggregate: str) -> tuple[int, dict, str]:
    (repo / ".ci-track.yml").write_text(RULES.format(experiment=experiment, aggregate=aggregate))
    result = ci_track(
        "compare", "--json-output", "report.json", "--markdown-output", "report.md",
        env=base_env(MLFLOW_TRACKING_URI=server), cwd=repo,
    )  # fmt: skip
    assert result.code in (0, 1), result.stderr
    document = json.loads((repo / "report.json").read_text())
    return result.code, document, result.stdout + (repo / "report.md").read_text()


def _val_loss(document: dict) -> dict:
    (found,) = [m for m in document["metrics"] if m["name"] == "val_loss"]
    return found


def test_the_last_value_blocks_a_model_whose_best_epoch_is_better(
    overfitting_pr: Path, mlflow_server: MlflowServer, aggregated_experiment: str
) -> None:
    experiment_name = aggregated_experiment
    code, document, _ = _compare(overfitting_pr, mlflow_server.url, experiment_name, "")
    assert code == 1
    metric = _val_loss(document)
    assert (metric["champion"], metric["candidate"], metric["status"]) == (0.25, 0.30, "regressed")
    assert "aggregate" not in metric  # `last`, the default, adds nothing to the report


def test_aggregate_min_judges_the_best_epoch_of_both_runs(
    overfitting_pr: Path, mlflow_server: MlflowServer, aggregated_experiment: str
) -> None:
    experiment_name = aggregated_experiment
    code, document, reports = _compare(overfitting_pr, mlflow_server.url, experiment_name, ", aggregate: min")
    assert code == 0, reports
    metric = _val_loss(document)
    assert metric["champion"] == pytest.approx(0.20) and metric["candidate"] == pytest.approx(0.10)
    assert (metric["status"], metric["aggregate"]) == ("improved", "min")
    jsonschema.validate(document, documented_schema())
    assert "val_loss (min) 0.2 -> 0.1" in metric["reason"]
    assert "| val\\_loss \\(min\\) | 0.2 | 0.1 |" in reports  # the markdown row names the aggregate
    assert "val_loss (min)" in reports.splitlines()[2]  # and so does the console table's first row


def test_aggregate_mean_last_n_and_max(
    overfitting_pr: Path, mlflow_server: MlflowServer, aggregated_experiment: str
) -> None:
    experiment_name = aggregated_experiment
    main_tail, pr_tail = curve(0.20, 0.25)[-4:], curve(0.10, 0.30)[-4:]  # 0.225 vs 0.2
    code, document, _ = _compare(overfitting_pr, mlflow_server.url, experiment_name, ", aggregate: mean_last_4")
    metric = _val_loss(document)
    assert metric["champion"] == pytest.approx(sum(main_tail) / 4)
    assert metric["candidate"] == pytest.approx(sum(pr_tail) / 4)
    assert (code, metric["status"], metric["aggregate"]) == (0, "improved", "mean_last_4")
    _, document, _ = _compare(overfitting_pr, mlflow_server.url, experiment_name, ", aggregate: max")
    assert (_val_loss(document)["champion"], _val_loss(document)["candidate"]) == (1.0, 1.0)


def test_history_reads_are_only_for_aggregated_metrics(
    overfitting_pr: Path, mlflow_server: MlflowServer, aggregated_experiment: str
) -> None:
    experiment_name = aggregated_experiment
    counts = {}
    for label, aggregate in (("last", ""), ("min", ", aggregate: min")):
        (overfitting_pr / ".ci-track.yml").write_text(RULES.format(experiment=experiment_name, aggregate=aggregate))
        with FaultProxy(mlflow_server.url) as proxy:
            result = ci_track(
                "compare",
                "--format",
                "json",
                "--no-charts",  # the charts' own reads: test_charts_cost_two_requests_and_show_the_judged_curve
                env=base_env(MLFLOW_TRACKING_URI=proxy.url),
                cwd=overfitting_pr,
            )
            assert result.code in (0, 1), result.stderr
            api = [r.path for r in proxy.requests if "/api/" in r.path]
        counts[label] = (len(api), sum("metrics/get-history" in path for path in api))
    # One metric with `aggregate: min`: one history per run (candidate and champion), nothing else changes.
    assert counts["last"][1] == 0
    assert counts["min"] == (counts["last"][0] + 2, 2), counts


def test_charts_cost_two_requests_and_show_the_judged_curve(
    overfitting_pr: Path, mlflow_server: MlflowServer, aggregated_experiment: str
) -> None:
    """With charts: the base branch's history (one bounded search) and one bulk history read for the curve."""
    (overfitting_pr / ".ci-track.yml").write_text(
        RULES.format(experiment=aggregated_experiment, aggregate=", aggregate: min")
    )
    paths: dict[str, list[str]] = {}
    documents = {}
    for label, flags in (("off", ["--no-charts"]), ("on", [])):
        with FaultProxy(mlflow_server.url) as proxy:
            result = ci_track(
                "compare", "--format", "json", *flags, env=base_env(MLFLOW_TRACKING_URI=proxy.url), cwd=overfitting_pr
            )
            assert result.code in (0, 1), result.stderr
            paths[label] = [r.path.split("?")[0] for r in proxy.requests if "/api/" in r.path]
        documents[label] = json.loads(result.stdout)
    extra = list(paths["on"])
    for path in paths["off"]:
        extra.remove(path)
    assert sorted(extra) == ["/api/2.0/mlflow/metrics/get-history-bulk-interval", "/api/2.0/mlflow/runs/search"]
    assert documents["off"]["charts"] is None
    charts = documents["on"]["charts"]
    (curve_data,) = charts["curves"]
    assert curve_data["metric"] == "val_loss" and curve_data["aggregate"] == "min"
    assert curve_data["steps"] == list(range(12)) and len(curve_data["champion"]) == 12
    val_loss = next(m for m in documents["on"]["metrics"] if m["name"] == "val_loss")
    assert val_loss["candidate"] in curve_data["candidate"]  # the judged minimum is a point of the curve
    (trend,) = [t for t in charts["trends"] if t["metric"] == "val_loss"]
    candidate_point = {
        "sha": documents["on"]["candidate"]["head_sha"],
        "value": val_loss["candidate"],
        "role": "candidate",
    }
    assert trend["points"][-1] == candidate_point and trend["points"][-2]["role"] == "champion"
    assert "/#/compare-runs?runs=" in charts["compare_url"]
    assert documents["on"]["markdown"].count("```mermaid") == len(charts["trends"]) + 1
    jsonschema.validate(documents["on"], documented_schema())


def test_the_client_reads_every_value_of_a_long_history(mlflow_server: MlflowServer, experiment_name: str) -> None:
    """More values than one page and several values per step: nothing sampled, nothing lost."""
    with MlflowClient(TrackingSettings(uri=mlflow_server.url)) as client:
        experiment = client.get_or_create_experiment(experiment_name)
        run = client.create_run(experiment.experiment_id)
        points = [
            {"key": "loss", "value": float(i % 997), "step": i // 2, "timestamp": 1000 + i} for i in range(30_000)
        ]
        client.log_batch(run.run_id, metrics=points)
        history = client.get_metric_history(run.run_id, "loss")
        assert client.get_metric_history(run.run_id, "absent") == []
    assert len(history) == 30_000  # two pages: 25,000 + 5,000
    assert sorted((p.step, p.timestamp) for p in history) == [(i // 2, 1000 + i) for i in range(30_000)]
    assert aggregate_history(history, "max") == 996.0
    assert aggregate_history(history, "last") == float(29_999 % 997)  # step 14,999's later value


# ---------------------------------------------------------------- step semantics (pure)


def _points(*triples: tuple[int, int, float]) -> list[HistoryPoint]:
    return [HistoryPoint(step=s, timestamp=t, value=v) for s, t, v in triples]


def test_several_values_at_one_step() -> None:
    history = _points((0, 1, 0.9), (1, 5, 0.4), (1, 3, 0.1), (2, 7, 0.5), (2, 6, 0.2))
    assert aggregate_history(history, "last") == 0.5  # highest step, its latest timestamp
    assert aggregate_history(history, "min") == 0.1  # over every value, whatever its step
    assert aggregate_history(history, "max") == 0.9
    assert aggregate_history(history, "mean_last_2") == pytest.approx((0.4 + 0.5) / 2)  # one value per step
    assert aggregate_history(history, "mean_last_50") == pytest.approx((0.9 + 0.4 + 0.5) / 3)
    assert aggregate_history([], "min") is None


def test_nan_in_the_history_follows_allow_nan() -> None:
    history = _points((0, 1, 0.5), (1, 2, math.nan), (2, 3, 0.3))
    for aggregate in ("min", "max", "mean_last_3"):
        assert math.isnan(aggregate_history(history, aggregate))  # type: ignore[arg-type]
        assert not math.isnan(aggregate_history(history, aggregate, allow_nan=True))  # type: ignore[arg-type]
    assert aggregate_history(history, "min", allow_nan=True) == 0.3
    assert aggregate_history(history, "last") == 0.3
    assert math.isnan(aggregate_history(_points((0, 1, math.nan)), "min", allow_nan=True))  # type: ignore[arg-type]
    assert aggregate_history(_points((0, 1, 1.0), (1, 2, math.inf)), "max") == math.inf


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("last", "last"), ("min", "min"), ("MAX", "max"), ("mean_last_5", "mean_last_5"), ("", "last")],
)
def test_aggregate_spellings(value: str, parsed: str) -> None:
    assert (
        parse_config(f"metrics:\n  loss: {{goal: minimize, aggregate: {value}}}\n").metrics["loss"].aggregate == parsed
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("mean", "spelled mean_last_N, e.g. mean_last_5"),
        ("mean_last_0", "spelled mean_last_N"),
        ("{mean_last: 5}", "must be last, min, max or mean_last_N"),
        ("minimum", "did you mean 'min'?"),
        ("5", "must be last, min, max or mean_last_N"),
    ],
)
def test_bad_aggregates_fail_with_one_line(value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(f"metrics:\n  loss:\n    goal: minimize\n    aggregate: {value}\n")
    assert str(error.value).startswith(".ci-track.yml:4: metrics.loss.aggregate must be")
    assert fragment in str(error.value)
