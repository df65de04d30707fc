"""Training reuse on the tracking server: the one lookup of a run with the same fingerprint, and the copy.

`find_source` sends ONE bounded `runs/search` in the experiment: runs tagged with this
fingerprint that trained (`ci.training = trained`: a reused run never serves, so every reuse points
at the run that did the work) and are complete (champion.py's COMPLETE_FILTER: FINISHED, exit
code 0, `ci.exit_code` written last). Of those, `pick_source` (pure) keeps the ones this build may
trust: a run made for a fork's pull request serves only later builds of that same pull request, a
run made outside CI (`ci.provider = local`) serves only local runs. A source with repeats is its
whole repeat group, and only a group whose every attempt completed (as many complete runs as its
`ci.repeats` tag counts), so the noise gate sees the same attempts a retraining would give.

`copy_attempt` records a run for this commit from one source run: its params, every metric with
its full history (steps and timestamps, read with metrics/get-history: `aggregate:` rules and
charts read them), a reference to its artifacts (`ci.reused_artifact_uri`, nothing copied), and
`ci.reused_from`; the run then ends like a trained one (tracking/upload.py: FINISHED, then
`ci.exit_code` last), so compare, promote and the CI steps treat it as any complete run.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ci_track.gate.noise_gate import ATTEMPT_TAG, REPEAT_GROUP_TAG, REPEATS_TAG, SEED_TAG
from ci_track.tracking.champion import COMPLETE_FILTER, PR_TAG, is_complete, quote_filter_value, tag_key
from ci_track.tracking.runs import Run

if TYPE_CHECKING:
    from ci_track.ci.context import CIContext
    from ci_track.tracking.client import MlflowClient

FINGERPRINT_TAG = "ci.fingerprint"
TRAINING_TAG = "ci.training"  # trained | reused: how this run's numbers came to be
REUSED_FROM_TAG = "ci.reused_from"  # the run that trained (never another reused run)
REUSED_ARTIFACTS_TAG = "ci.reused_artifact_uri"  # where the trainer's artifacts (the model) are
# Set by ci-track only: a --tag or run.tags of the same name is dropped (a fork must not forge a source).
RESERVED_TAGS = (FINGERPRINT_TAG, TRAINING_TAG, REUSED_FROM_TAG, REUSED_ARTIFACTS_TAG)

LOOKUP_PAGE = 50  # runs read by the one lookup: a repeat group (<= 20) and runs this build may not trust
_REPEATS_COUNT = re.compile(r"^(\d+) runs?:")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReuseSource:
    runs: tuple[Run, ...]  # one run, or a repeat group's attempts in attempt order

    @property
    def trainer(self) -> Run:
        return self.runs[-1]

    def by_seed(self) -> dict[int, Run]:
        """The attempts by their seed (`ci.seed`; attempt i has seed i), for `run --repeat`."""
        return {_number(run.tags.get(SEED_TAG)) or n: run for n, run in enumerate(self.runs, 1)}


def _number(text: str | None) -> int:
    """A tag holding a whole number, else 0 (a tag is text anyone with write access could have set)."""
    return int(text) if text and text.isdigit() else 0


def lookup_filter(fingerprint: str) -> str:
    return (
        f"{tag_key(FINGERPRINT_TAG)} = {quote_filter_value(fingerprint)} and "
        f"{tag_key(TRAINING_TAG)} = 'trained' and {COMPLETE_FILTER}"
    )


def find_source(client: MlflowClient, experiment_id: str, fingerprint: str, context: CIContext) -> ReuseSource | None:
    """The newest trusted complete training with this fingerprint (one `runs/search`), or None."""
    runs, _ = client.search_runs(
        [experiment_id],
        filter_string=lookup_filter(fingerprint),
        order_by=["attributes.start_time DESC"],
        max_results=LOOKUP_PAGE,
    )
    return pick_source(runs, fingerprint, context)


def may_serve(run: Run, context: CIContext) -> bool:
    """Whether this build may take `run`'s numbers as its own (the trust rule, see the module docstring)."""
    if run.tags.get("ci.fork") == "true":
        return (
            context.is_fork
            and context.pr_number is not None
            and run.tags.get(PR_TAG) == str(context.pr_number)
            and run.tags.get("ci.repository") == context.repository
        )
    # A developer's machine is not the CI: its environment beyond the declared inputs is unknown.
    return not (run.tags.get("ci.provider") == "local" and context.provider != "local")


def _eligible(run: Run, fingerprint: str, context: CIContext) -> bool:
    return (
        is_complete(run)
        and run.tags.get(FINGERPRINT_TAG) == fingerprint
        and run.tags.get(TRAINING_TAG) == "trained"
        and not run.tags.get(REUSED_FROM_TAG)
        and may_serve(run, context)
    )


def pick_source(runs: Sequence[Run], fingerprint: str, context: CIContext) -> ReuseSource | None:
    """Of the lookup's runs (newest first), the newest eligible run, with its whole repeat group (pure)."""
    eligible = [run for run in runs if _eligible(run, fingerprint, context)]
    refused: set[str] = set()
    for run in eligible:
        group = run.tags.get(REPEAT_GROUP_TAG)
        if not group:
            return ReuseSource(runs=(run,))
        if group in refused:
            continue
        members = [r for r in eligible if r.tags.get(REPEAT_GROUP_TAG) == group and r.head_sha == run.head_sha]
        count = _REPEATS_COUNT.match(run.tags.get(REPEATS_TAG, ""))
        if count is None or int(count.group(1)) != len(members):
            refused.add(group)  # an attempt failed or is missing: retraining would not give this group
            continue
        members.sort(key=lambda r: _number(r.tags.get(ATTEMPT_TAG)))
        return ReuseSource(runs=tuple(members))
    return None


def copy_attempt(
    client: MlflowClient,
    source: Run,
    *,
    experiment_id: str,
    run_name: str | None,
    tags: Mapping[str, str],
) -> tuple[Run, list[dict[str, Any]]]:
    """Create this commit's run from `source` (its params logged) and read the metrics to send at its end.

    The metrics keep the source's steps, timestamps and values, so the latest value, every
    aggregate and every chart read the same numbers. One metrics/get-history per metric key.
    """
    run_tags = {
        **tags,
        TRAINING_TAG: "reused",
        REUSED_FROM_TAG: source.run_id,
    }
    if source.artifact_uri:
        run_tags[REUSED_ARTIFACTS_TAG] = source.artifact_uri
    run = client.create_run(experiment_id, run_name=run_name, tags=run_tags)
    if source.params:
        client.log_batch(run.run_id, params=dict(source.params))
    metrics: list[dict[str, Any]] = []
    for key in sorted(source.metrics):
        metrics.extend(
            {"key": key, "value": point.value, "step": point.step, "timestamp": point.timestamp}
            for point in client.get_metric_history(source.run_id, key)
        )
    return run, metrics


def reuse_notes(client: MlflowClient, experiment_id: str, candidate: Run) -> tuple[str, ...]:
    """The candidate's training was skipped (ci_track/tracking/reuse.py): say whose numbers these are."""
    source = candidate.tags.get(REUSED_FROM_TAG)
    if not source:
        return ()
    return (f"training skipped: inputs unchanged since run {source} ({client.run_url(experiment_id, source)})",)
