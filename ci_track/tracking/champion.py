"""Where the champion is chosen, and which runs count at all (candidate.py finds the candidate).

Only runs that ci-track itself created **and completed** count, as candidate or as champion. A
run is complete once ci-track has written `ci.exit_code`, which `ci-track run` records last, after
every metric and after the final status (see tracking/upload.py); a run the training script opened
itself (an extra `mlflow.start_run()`, nested sweep trials) never carries it, and neither does a
run whose results are still in the spool. Candidates and champions are complete runs that
FINISHED with exit code 0. Other runs of the commit are listed for the report, never judged.

Every lookup is one server-side filtered, ordered `runs/search` with a tiny `max_results`, so
the cost does not grow with the experiment (on servers before MLflow 3.11, which cannot filter
out pull-request runs, a few more pages at most: see `MlflowClient.search_runs_lacking`).
The champion is per base branch; strategies, tried in the configured order:

- `alias`: the registered model's alias for the base branch (`@champion` on the default branch,
  `@champion-<branch>-<hash>` elsewhere, see `branch_alias`) and the run behind it; without a
  registered model, the base branch's run tagged `ci.champion=true` by `ci-track promote`;
- `best`: the best commit by the mean of `champion.metric` over its repeats among the base branch's
  last 20 complete runs (tracking/history.py), else the best complete run ever (its goal decides the order);
- `latest`: the newest complete run on the base branch, preferring one at the merge-base commit.

Runs made for pull requests (tagged `ci.pr_number`) never count as the base branch's runs, so a
fork's branch called `main` cannot become the champion. The candidate itself never counts.
A server or auth failure propagates (the gate fails closed), and so does a registry alias that
points at a run ci-track cannot vouch for; "nothing found" returns None.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence

from ci_track.errors import NotFoundError, UntrustedChampionError, UsageError
from ci_track.tracking.client import CREATE_ID_TAG, MlflowClient
from ci_track.tracking.runs import Run
from ci_track.vocabulary import CHAMPION_STRATEGIES as STRATEGIES

CHAMPION_TAG = "ci.champion"
PR_TAG = "ci.pr_number"  # runs made for a pull request never count as their branch's runs
EXIT_CODE_TAG = "ci.exit_code"  # the completion marker: written last by `ci-track run`
KEY_TAG = "ci.key"  # the report key the run was made under (a matrix job's model), when one was set


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


def tag_key(key: str) -> str:
    return f"tags.`{key}`"


# A complete, successful ci-track run: the filter every candidate and champion search carries.
COMPLETE_FILTER = f"{tag_key(EXIT_CODE_TAG)} = '0' and attributes.status = 'FINISHED'"


def is_complete(run: Run) -> bool:
    """ci-track recorded the run as complete and successful (the same test as COMPLETE_FILTER)."""
    return run.status == "FINISHED" and run.tags.get(EXIT_CODE_TAG) == "0"


def is_ci_track_run(run: Run) -> bool:
    """Created by `ci-track run` (its create id), as opposed to a run the training script opened itself."""
    return CREATE_ID_TAG in run.tags or EXIT_CODE_TAG in run.tags


def why_not_complete(run: Run) -> str:
    """In words, why `run` cannot be a candidate or a champion (for a run that is not `is_complete`)."""
    parent = run.tags.get("mlflow.parentRunId")
    if parent:
        return f"it is a nested run of {parent}, opened by the training script; only ci-track's own run is judged"
    if not is_ci_track_run(run):
        return "it was not created by `ci-track run` (a run the training script or someone else opened)"
    code = run.tags.get(EXIT_CODE_TAG)
    if run.status in ("RUNNING", "SCHEDULED") and code is None:
        return f"it is still {run.status}: compare it once `ci-track run` has finished"
    if code is None:
        return (
            f"ci-track has not recorded it as complete (status {run.status}, no {EXIT_CODE_TAG}): its results "
            "may still be in a spool file; run `ci-track sync`"
        )
    if code != "0":
        return f"its training command failed (exit code {code}, status {run.status})"
    return f"it ended {run.status}"


def branch_alias(alias: str, branch: str | None, default_branch: str | None) -> str:
    """The registry alias that holds `branch`'s champion.

    The default branch keeps the plain alias (`champion`), so existing registries keep working.
    Any other branch gets `<alias>-<slug>-<hash8>`: the slug keeps it readable (every character
    MLflow does not allow in an alias becomes `-`), the first 8 hex digits of the branch name's
    SHA-256 keep two branches that slug alike apart. The result matches MLflow's alias rule
    (`^[\\w\\-]*$`, at most 255 characters) and can never be a reserved name (`latest`, `v<n>`).
    """
    if not branch or branch == default_branch:
        return alias
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", branch).strip("-")[:60] or "branch"
    digest = hashlib.sha256(branch.encode("utf-8")).hexdigest()[:8]
    return f"{alias}-{slug}-{digest}"[:255]


def get_run_in_experiment(client: MlflowClient, run_id: str, experiment_id: str, *, role: str) -> Run:
    try:
        run = client.get_run(run_id)
    except NotFoundError:
        raise UsageError(f"{role} run {run_id!r} does not exist on {client.uri}") from None
    if run.experiment_id != experiment_id:
        raise UsageError(
            f"{role} run {run_id} belongs to experiment {run.experiment_id}, not to experiment {experiment_id}: "
            + _what_to_set(role)
        )
    return run


def _what_to_set(role: str) -> str:
    """The fix for a run of another experiment, by what named the run."""
    if role.startswith("champion (alias"):
        return (
            "the registered model's champion serves another experiment; give each experiment its own model "
            "(`champion.model`, --champion-model, CI_TRACK_CHAMPION_MODEL or the action's `champion-model` input)"
        )
    return (
        "name the experiment the run was made in (--experiment, CI_TRACK_EXPERIMENT or the action's "
        "`experiment` input, which later ci-track steps of the job inherit)"
    )


def find_champion(
    client: MlflowClient,
    experiment_id: str,
    *,
    candidate: Run,
    strategies: Sequence[str],
    base_branch: str | None,
    default_branch: str | None = None,
    model: str | None = None,
    alias: str = "champion",
    metric: str | None = None,
    metric_goal: str | None = None,
    champion_run_id: str | None = None,
    key: str | None = None,
) -> ChampionChoice | None:
    """The champion by the first strategy that finds one; with `key`, among the runs made under that key."""
    if champion_run_id:
        run = get_run_in_experiment(client, champion_run_id, experiment_id, role="champion")
        if not is_complete(run):
            raise UsageError(f"champion run {champion_run_id} cannot serve as the champion: {why_not_complete(run)}")
        return ChampionChoice(run=run, strategy="run-id", description=f"run {champion_run_id} (--champion-run-id)")
    for strategy in strategies:
        if strategy == "alias":
            choice = _by_alias(client, experiment_id, candidate, base_branch, default_branch, model, alias, key)
        elif strategy == "best":
            choice = _best(client, experiment_id, candidate, base_branch, metric, metric_goal, key)
        elif strategy == "latest":
            choice = _latest(client, experiment_id, candidate, base_branch, key)
        else:
            raise UsageError(f"unknown champion strategy {strategy!r} (valid: {', '.join(STRATEGIES)})")
        if choice is not None:
            return choice
    return None


def scope_filter(base_branch: str, key: str | None = None) -> str:
    """The base branch's runs, and with a report key only those made under it (`ci.key`, set by `ci-track run`).

    Several models in one experiment (a matrix job per model, each with its own `key`) each have their
    own champion and history: a ridge PR is never judged against the best lasso run.
    """
    branch = f"{tag_key('mlflow.source.git.branch')} = {quote_filter_value(base_branch)}"
    return f"{branch} and {tag_key(KEY_TAG)} = {quote_filter_value(key)}" if key else branch


def _base_filter(base_branch: str, key: str | None) -> str:
    """The base branch's complete runs; `_base_runs` also drops pull-request runs (PR_TAG)."""
    return f"{scope_filter(base_branch, key)} and {COMPLETE_FILTER}"


def _base_runs(client: MlflowClient, experiment_id: str, filter_string: str, order_by: list[str]) -> list[Run]:
    """The first two matching runs that were not made for a pull request (two: one may be the candidate).

    Excluding runs that carry a tag server-side needs `IS NULL`, which only MLflow 3.11+ accepts:
    the client decides how (client-side over a first page, then per server version: the same runs).
    """
    return client.search_runs_lacking(
        [experiment_id], tag=PR_TAG, filter_string=filter_string, order_by=order_by, max_results=2
    )


def _first_other(runs: Sequence[Run], candidate: Run) -> Run | None:
    return next((run for run in runs if run.run_id != candidate.run_id), None)


def resolve_branch_alias(
    client: MlflowClient, model: str, alias: str, branch: str | None, default_branch: str | None
) -> str:
    """The alias name that holds `branch`'s champion in `model` (see `branch_alias`).

    When the repository's default branch is unknown, the plain alias belongs to the branch of the
    run behind it: `branch` uses it if it is unset or already `branch`'s, else its own alias.
    """
    if default_branch is not None or not branch:
        return branch_alias(alias, branch, default_branch)
    plain = client.get_model_version_by_alias(model, alias)
    if plain is None or not plain.run_id:
        return alias
    try:
        owner = client.get_run(plain.run_id).branch
    except NotFoundError:
        owner = None
    return alias if owner in (None, branch) else branch_alias(alias, branch, None)


def _by_alias(
    client: MlflowClient,
    experiment_id: str,
    candidate: Run,
    base_branch: str | None,
    default_branch: str | None,
    model: str | None,
    alias: str,
    key: str | None,
) -> ChampionChoice | None:
    if model:
        name = resolve_branch_alias(client, model, alias, base_branch, default_branch)
        version = client.get_model_version_by_alias(model, name)
        if version is None or not version.run_id or version.run_id == candidate.run_id:
            return None
        run = get_run_in_experiment(client, version.run_id, experiment_id, role=f"champion (alias {name!r})")
        if base_branch and run.branch and run.branch != base_branch:
            # The plain alias of a registry whose default branch is unknown here: another branch's champion.
            return None
        if not is_complete(run):
            raise UntrustedChampionError(
                f"alias @{name} of model {model} (version {version.version}) points at run {run.run_id}, which "
                f"cannot serve as the champion: {why_not_complete(run)}; point the alias at a complete run "
                "(`ci-track rollback`, or `ci-track promote --force` on the base branch)"
            )
        return ChampionChoice(
            run=run,
            strategy="alias",
            description=f"alias @{name} of model {model} (version {version.version})",
            model_version=version.version,
        )
    if not base_branch:
        return None
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=f"{tag_key(CHAMPION_TAG)} = 'true' and {_base_filter(base_branch, key)}",
        order_by=["attributes.start_time DESC"],
        max_results=2,
    )
    tagged = _first_other(runs, candidate)
    if tagged is None:
        return None
    return ChampionChoice(
        run=tagged,
        strategy="alias",
        description=f"run tagged {CHAMPION_TAG}=true on {base_branch} by ci-track promote",
    )


def _best(
    client: MlflowClient,
    experiment_id: str,
    candidate: Run,
    base_branch: str | None,
    metric: str | None,
    goal: str | None,
    key: str | None,
) -> ChampionChoice | None:
    if not base_branch or not metric:
        return None
    from ci_track.tracking.history import best_by_mean_run

    # Ranked by the mean over each commit's repeats in the recent window, never by one lucky run.
    ranked = best_by_mean_run(client, experiment_id, candidate, base_branch, metric, goal, key=key)
    if ranked is not None:
        best, count = ranked
        how = f"mean of {count} runs" if count > 1 else "1 run"
        return ChampionChoice(
            run=best, strategy="best", description=f"best {metric} ({goal or 'minimize'}, {how}) on {base_branch}"
        )
    direction = "DESC" if goal == "maximize" else "ASC"
    runs = _base_runs(
        client,
        experiment_id,
        _base_filter(base_branch, key),
        [f"metrics.`{metric}` {direction}", "attributes.start_time DESC"],
    )
    run = _first_other(runs, candidate)
    # Runs lacking the metric (or NaN) sort last: if the first is one of those, no run has it.
    if run is None or metric not in run.metrics or run.metrics[metric] != run.metrics[metric]:
        return None
    return ChampionChoice(
        run=run, strategy="best", description=f"best {metric} ({goal or 'minimize'}) on {base_branch}"
    )


def _latest(
    client: MlflowClient, experiment_id: str, candidate: Run, base_branch: str | None, key: str | None
) -> ChampionChoice | None:
    if not base_branch:
        return None
    base_sha = candidate.tags.get("ci.base_sha")
    if base_sha:
        at_base = f"{tag_key('mlflow.source.git.commit')} = {quote_filter_value(base_sha)}"
        runs = _base_runs(
            client,
            experiment_id,
            f"{_base_filter(base_branch, key)} and {at_base}",
            ["attributes.start_time DESC"],
        )
        run = _first_other(runs, candidate)
        if run is not None:
            return ChampionChoice(
                run=run, strategy="latest", description=f"latest on {base_branch} at merge-base {base_sha[:7]}"
            )
    runs = _base_runs(client, experiment_id, _base_filter(base_branch, key), ["attributes.start_time DESC"])
    run = _first_other(runs, candidate)
    if run is None:
        return None
    return ChampionChoice(run=run, strategy="latest", description=f"latest complete run on {base_branch}")
