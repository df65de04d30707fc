"""Which run of this commit the gate judges (the candidate), and the other runs its training opened.

The candidate is the newest complete ci-track run of the head commit (or `--run-id`); see champion.py
for what "complete" means. The related runs (nested runs, extra `mlflow.start_run()`s) are listed in
the report and never judged.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ci_track.errors import UsageError
from ci_track.tracking.champion import (
    COMPLETE_FILTER,
    KEY_TAG,
    get_run_in_experiment,
    is_ci_track_run,
    is_complete,
    quote_filter_value,
    tag_key,
    why_not_complete,
)
from ci_track.tracking.runs import RelatedRun, Run

if TYPE_CHECKING:
    from ci_track.tracking.client import MlflowClient


_RELATED_LIMIT = 50  # runs opened during the candidate's training that the report lists


_COMMIT_PAGE = 20  # runs of one commit read to find its newest complete one (and newer failed attempts)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Candidate:
    run: Run
    notes: tuple[str, ...] = ()  # why this run and not a newer attempt, in words


def find_candidate(
    client: MlflowClient,
    experiment_id: str,
    *,
    run_id: str | None,
    head_sha: str | None,
    experiment_name: str | None = None,
    key: str | None = None,
) -> Candidate:
    """`--run-id` (which must be a complete ci-track run), else the newest complete run of the head commit
    (with `key`, of those made under it: the matrix job's own model, never a sibling job's run)."""
    where = f"experiment {experiment_name!r} ({experiment_id})" if experiment_name else f"experiment {experiment_id}"
    if run_id:
        run = get_run_in_experiment(client, run_id, experiment_id, role="candidate")
        if not is_complete(run):
            raise UsageError(f"candidate run {run_id} cannot be compared: {why_not_complete(run)}")
        return Candidate(run=run)
    if not head_sha:
        raise UsageError("no candidate: not in a git checkout or CI build with a commit SHA; pass --run-id")
    commit = f"{tag_key('mlflow.source.git.commit')} = {quote_filter_value(head_sha)}"
    if key:
        commit += f" and {tag_key(KEY_TAG)} = {quote_filter_value(key)}"
    # One page of the commit's runs, newest first: the newest complete one is the candidate, and the
    # ci-track attempts newer than it say why an older run was chosen.
    runs, more = client.search_runs(
        [experiment_id], filter_string=commit, order_by=["attributes.start_time DESC"], max_results=_COMMIT_PAGE
    )
    chosen = next((run for run in runs if is_complete(run)), None)
    if chosen is None and more:
        found, _ = client.search_runs(
            [experiment_id],
            filter_string=f"{commit} and {COMPLETE_FILTER}",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        chosen = found[0] if found else None
    attempts = [run for run in runs if is_ci_track_run(run) and not run.tags.get("mlflow.parentRunId")]
    newer = attempts if chosen is None else [run for run in attempts if _started_after(run, chosen)]
    failed = [f"run {run.run_id} ({why_not_complete(run)})" for run in newer if not is_complete(run)]
    if chosen is None:
        detail = f"; newer attempts: {'; '.join(failed[:3])}" if failed else ""
        keyed = (
            f" under key {key!r} (tag ci.key: give `ci-track run` the same key, CI_TRACK_KEY or report.key)"
            if key
            else ""
        )
        raise UsageError(
            f"no complete FINISHED run of ci-track for commit {head_sha[:12]} in {where}{keyed}{detail}: "
            "run `ci-track run` first, or pass --run-id"
        )
    notes = tuple(
        f"a newer attempt of this commit is not judged: {text}; comparing run {chosen.run_id} instead"
        for text in failed[:3]
    )
    return Candidate(run=chosen, notes=notes)


def _started_after(run: Run, other: Run) -> bool:
    return (run.start_time or 0) > (other.start_time or 0) and run.run_id != other.run_id


def find_related_runs(client: MlflowClient, experiment_id: str, candidate: Run) -> tuple[RelatedRun, ...]:
    """Runs the training script opened while the candidate trained: nested runs and extra runs (one search).

    Found by time (started within the candidate's run) and then kept only when they belong to it:
    a nested run whose parent chain reaches the candidate, or a run at the candidate's commit (or
    the merge commit CI checked out) that ci-track did not create. Listed in the report, never judged.
    """
    if not candidate.start_time:
        return ()
    clauses = [f"attributes.start_time >= {int(candidate.start_time)}"]
    if candidate.end_time:
        clauses.append(f"attributes.start_time <= {int(candidate.end_time)}")
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=" and ".join(clauses),
        order_by=["attributes.start_time ASC"],
        max_results=_RELATED_LIMIT,
    )
    parents = {run.run_id: run.tags.get("mlflow.parentRunId") for run in runs}
    commits = {sha for sha in (candidate.head_sha, candidate.tags.get("ci.merge_sha")) if sha}
    related: list[RelatedRun] = []
    for run in runs:
        if run.run_id == candidate.run_id:
            continue
        if _descends_from(run.run_id, candidate.run_id, parents):
            related.append(_related(run, "nested", f"nested run of {run.tags.get('mlflow.parentRunId')}"))
        elif run.head_sha in commits and not is_ci_track_run(run) and not run.tags.get("mlflow.parentRunId"):
            related.append(_related(run, "extra", "extra run opened by the training script"))
    return tuple(related)


def _descends_from(run_id: str, ancestor: str, parents: dict[str, str | None]) -> bool:
    seen: set[str] = set()
    current = parents.get(run_id)
    while current and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _related(run: Run, kind: str, note: str) -> RelatedRun:
    return RelatedRun(run_id=run.run_id, run_name=run.run_name, kind=kind, status=run.status, note=note)
