"""Where the champion is chosen: the candidate run of this commit and the base branch's champion.

Every lookup is one server-side filtered, ordered `runs/search` with a tiny `max_results`, so
the cost does not grow with the experiment. Strategies, tried in the configured order:

- `alias`: the registered model's alias (`registered-models/alias`) and the run behind it;
  without a registered model, the run tagged `ci.champion=true` by `ci-track promote`;
- `best`: the best FINISHED run on the base branch by `champion.metric` (its goal decides the order);
- `latest`: the newest FINISHED run on the base branch, preferring one at the merge-base commit.

Runs made for pull requests (tagged `ci.pr_number`) never count as the base branch's runs, so a
fork's branch called `main` cannot become the champion. The candidate itself never counts.
A server or auth failure propagates (the gate fails closed); "nothing found" returns None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ci_track.errors import NotFoundError, UsageError
from ci_track.mlflow_client import MlflowClient
from ci_track.runs import Run

CHAMPION_TAG = "ci.champion"
STRATEGIES = ("alias", "best", "latest")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChampionChoice:
    run: Run
    strategy: str  # alias | best | latest | run-id
    description: str  # in words, for the report: "alias champion of model wine (version 3)"
    model_version: str | None = None


def quote_filter_value(value: str) -> str:
    """Quote an untrusted value for an MLflow search filter (no escape syntax exists: pick a free quote)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise UsageError(f"cannot search MLflow for {value!r}: it contains both quote characters")


def _tag(key: str) -> str:
    return f"tags.`{key}`"


def get_run_in_experiment(client: MlflowClient, run_id: str, experiment_id: str, *, role: str) -> Run:
    try:
        run = client.get_run(run_id)
    except NotFoundError:
        raise UsageError(f"{role} run {run_id!r} does not exist on {client.uri}") from None
    if run.experiment_id != experiment_id:
        raise UsageError(
            f"{role} run {run_id} belongs to experiment {run.experiment_id}, not to experiment {experiment_id}"
        )
    return run


def find_candidate(client: MlflowClient, experiment_id: str, *, run_id: str | None, head_sha: str | None) -> Run:
    """`--run-id`, else the newest FINISHED run of the head commit."""
    if run_id:
        run = get_run_in_experiment(client, run_id, experiment_id, role="candidate")
        if run.status in ("RUNNING", "SCHEDULED"):
            raise UsageError(f"candidate run {run_id} is still {run.status}: compare it once it has finished")
        return run
    if not head_sha:
        raise UsageError("no candidate: not in a git checkout or CI build with a commit SHA; pass --run-id")
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=f"{_tag('mlflow.source.git.commit')} = {quote_filter_value(head_sha)} "
        "and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise UsageError(
            f"no FINISHED run for commit {head_sha[:12]} in experiment {experiment_id}: "
            "run `ci-track run` first, or pass --run-id"
        )
    return runs[0]


def find_champion(
    client: MlflowClient,
    experiment_id: str,
    *,
    candidate: Run,
    strategies: Sequence[str],
    base_branch: str | None,
    model: str | None = None,
    alias: str = "champion",
    metric: str | None = None,
    metric_goal: str | None = None,
    champion_run_id: str | None = None,
) -> ChampionChoice | None:
    if champion_run_id:
        run = get_run_in_experiment(client, champion_run_id, experiment_id, role="champion")
        return ChampionChoice(run=run, strategy="run-id", description=f"run {champion_run_id} (--champion-run-id)")
    for strategy in strategies:
        if strategy == "alias":
            choice = _by_alias(client, experiment_id, candidate, base_branch, model, alias)
        elif strategy == "best":
            choice = _best(client, experiment_id, candidate, base_branch, metric, metric_goal)
        elif strategy == "latest":
            choice = _latest(client, experiment_id, candidate, base_branch)
        else:
            raise UsageError(f"unknown champion strategy {strategy!r} (valid: {', '.join(STRATEGIES)})")
        if choice is not None:
            return choice
    return None


def _base_filter(base_branch: str) -> str:
    return (
        f"{_tag('mlflow.source.git.branch')} = {quote_filter_value(base_branch)} "
        f"and attributes.status = 'FINISHED' and {_tag('ci.pr_number')} IS NULL"
    )


def _first_other(runs: Sequence[Run], candidate: Run) -> Run | None:
    return next((run for run in runs if run.run_id != candidate.run_id), None)


def _by_alias(
    client: MlflowClient,
    experiment_id: str,
    candidate: Run,
    base_branch: str | None,
    model: str | None,
    alias: str,
) -> ChampionChoice | None:
    if model:
        version = client.get_model_version_by_alias(model, alias)
        if version is None or not version.run_id or version.run_id == candidate.run_id:
            return None
        run = get_run_in_experiment(client, version.run_id, experiment_id, role=f"champion (alias {alias!r})")
        return ChampionChoice(
            run=run,
            strategy="alias",
            description=f"alias @{alias} of model {model} (version {version.version})",
            model_version=version.version,
        )
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=f"{_tag(CHAMPION_TAG)} = 'true' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=2,
    )
    tagged = _first_other(runs, candidate)
    if tagged is None:
        return None
    return ChampionChoice(
        run=tagged, strategy="alias", description=f"run tagged {CHAMPION_TAG}=true by ci-track promote"
    )


def _best(
    client: MlflowClient,
    experiment_id: str,
    candidate: Run,
    base_branch: str | None,
    metric: str | None,
    goal: str | None,
) -> ChampionChoice | None:
    if not base_branch or not metric:
        return None
    direction = "DESC" if goal == "maximize" else "ASC"
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=_base_filter(base_branch),
        order_by=[f"metrics.`{metric}` {direction}", "attributes.start_time DESC"],
        max_results=2,
    )
    run = _first_other(runs, candidate)
    # Runs lacking the metric (or NaN) sort last: if the first is one of those, no run has it.
    if run is None or metric not in run.metrics or run.metrics[metric] != run.metrics[metric]:
        return None
    return ChampionChoice(
        run=run, strategy="best", description=f"best {metric} ({goal or 'minimize'}) on {base_branch}"
    )


def _latest(client: MlflowClient, experiment_id: str, candidate: Run, base_branch: str | None) -> ChampionChoice | None:
    if not base_branch:
        return None
    base_sha = candidate.tags.get("ci.base_sha")
    if base_sha:
        runs, _ = client.search_runs(
            [experiment_id],
            filter_string=f"{_base_filter(base_branch)} and "
            f"{_tag('mlflow.source.git.commit')} = {quote_filter_value(base_sha)}",
            order_by=["attributes.start_time DESC"],
            max_results=2,
        )
        run = _first_other(runs, candidate)
        if run is not None:
            return ChampionChoice(
                run=run, strategy="latest", description=f"latest on {base_branch} at merge-base {base_sha[:7]}"
            )
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=_base_filter(base_branch),
        order_by=["attributes.start_time DESC"],
        max_results=2,
    )
    run = _first_other(runs, candidate)
    if run is None:
        return None
    return ChampionChoice(run=run, strategy="latest", description=f"latest FINISHED run on {base_branch}")
